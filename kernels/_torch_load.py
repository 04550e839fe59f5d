"""``torch.load`` of tensors and plain containers only, with its refusals as one line of our own.

torch's own refusal spans many lines and suggests ``weights_only=False``, which would run whatever
code the file names: never do that for a file from elsewhere. This says what the file is instead.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch


def load_tensors_only(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; ValueError (one line, naming the file)
    when the file is not a torch file or names anything but tensors and plain containers."""
    try:
        with warnings.catch_warnings():  # its note on pickle protocols would be a second line
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure is the same one-line verdict
        raise ValueError(f"{Path(path).name} cannot be loaded with weights_only=True: {refusal(error)}") from None


def refusal(error: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one line (no advice to unpickle it)."""
    text = str(error)
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    if found:
        reason = found.group(1).split(". ")[0].strip()
        if "global" in reason.lower():
            return f"it names objects other than tensors ({reason}), and loading it could run code"
        return f"it is not a file torch.save wrote, or it is damaged ({reason})"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return f"it is not a file torch.save wrote, or it is damaged ({type(error).__name__}: {lines[0] if lines else ''})"[:300]
