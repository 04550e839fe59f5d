"""``dataset=npz``: a user's arrays in one numpy ``.npz`` file.

Keys ``x_train, y_train, x_test, y_test`` and, optionally, ``client_train`` (one client id per
training example: a natural partition, used by ``partition.kind=natural_id``). Loaded with
``allow_pickle=False``: an npz of object arrays is refused rather than unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from fedsim.data._arrays import build_split_parts
from fedsim.data._dataset import DataSplit
from fedsim.errors import ConfigError, DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_ALLOWED = "an .npz file holding x_train, y_train, x_test, y_test (optional client_train)"


def load_npz_split(path: str | Path | None, *, channels_last: bool = False) -> DataSplit:
    if path is None:
        raise ConfigError("dataset.path", None, _ALLOWED)
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("dataset.path", str(path), _ALLOWED + " (no such file)")
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise DataError(f"{file}: missing array(s) {', '.join(missing)} (it holds {', '.join(archive.files) or 'none'})")
            arrays = {k: archive[k] for k in (*NPZ_KEYS, "client_train") if k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        # allow_pickle=False raises ValueError for object arrays; a non-zip file, OSError/BadZipFile.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{file}: not a readable .npz of numeric arrays ({reason})") from None
    train, test = build_split_parts(
        "npz", arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
        arrays.get("client_train"), str(file), channels_last=channels_last,
    )
    return DataSplit(train=train, test=test)
