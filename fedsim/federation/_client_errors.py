"""One line for a failed ClientApp reply, whichever runtime wrapped it."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b[^:]*: .+")
_WRAPPERS = ("ray.exceptions.", "ClientAppException", "flwr.")  # how Flower's runtimes wrap the error


def client_error_line(reason: str) -> str:
    """One line for a failed reply's reason: the ClientApp's own exception line when the runtime
    wrapped it in a traceback (Ray's ``RayTaskError`` does), else its last line."""
    lines = [line.strip() for line in _ANSI.sub("", reason).splitlines() if line.strip()]
    raised = [line for line in lines if _EXCEPTION_LINE.match(line) and not line.startswith(_WRAPPERS)]
    return (raised or lines or ["(no reason given)"])[0 if raised else -1]
