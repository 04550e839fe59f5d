"""LEAF's FEMNIST and Shakespeare, naturally partitioned: one client per writer or per role.

Two routes give the same arrays for the same content. A local LEAF tree (``train/*.json`` and
``test/*.json``, or under ``data/``; each file ``{"users", "num_samples", "user_data"}``) is read
by ``load_femnist_split`` / ``load_shakespeare_split``; column arrays (the Hugging Face hub's
``flwrlabs/femnist`` and ``flwrlabs/shakespeare``) go through ``femnist_from_columns`` /
``shakespeare_from_columns``, which the JSON readers call too.

Client ids: the train split's users sorted by name are clients 0..U-1; a user seen only in the
test split (LEAF's by-user split) comes after them, also sorted. Both splits use that numbering,
and examples are ordered by client id (stably: each user's examples keep their order).

FEMNIST: 784 pixels in [0, 1] per row (LEAF writes grey levels / 255, white background = 1)
become float32 (N, 1, 28, 28); 62 classes (digits, upper case, lower case). Shakespeare: each
x is 80 characters, y the next one, both as ids into LEAF's 80-letter ``ALL_LETTERS``; a
character outside it gets id 79 (LEAF's ``ALL_LETTERS.find`` gives -1, which its one-hot label
encoding and Python indexing take as the last letter).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedsim._checks import check_float, check_int
from fedsim.data._dataset import Dataset, DataSplit
from fedsim.errors import DataError
from fedsim.rng import numpy_stream

FEMNIST_CLASSES = 62
FEMNIST_SIDE = 28
_FEMNIST_PIXELS = FEMNIST_SIDE * FEMNIST_SIDE
_PIXEL_TOLERANCE = 1e-6  # float noise around [0, 1] is clipped; anything further is an error

# LEAF models/utils/language_utils.py
ALL_LETTERS = "\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}"
SHAKESPEARE_VOCAB = len(ALL_LETTERS)  # 80
SHAKESPEARE_SEQ_LEN = 80
UNKNOWN_LETTER_ID = SHAKESPEARE_VOCAB - 1
_ASCII = 128
# Code point -> letter id; every code point >= 128 is looked up at index 128 (unknown).
_LETTER_IDS = np.full(_ASCII + 1, UNKNOWN_LETTER_ID, dtype=np.int64)
_LETTER_IDS[[ord(c) for c in ALL_LETTERS]] = np.arange(SHAKESPEARE_VOCAB)
_TOKEN_CHUNK = 1 << 16  # rows tokenized at once, bounding the temporary code point buffer


# ---- shared converters ---------------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _image_array(image: Any) -> np.ndarray:
    # A PIL image (the hub's column) in any mode is taken as 8-bit grey, as LEAF does.
    if hasattr(image, "convert") and getattr(image, "mode", "L") != "L":
        image = image.convert("L")
    return np.asarray(image)


def femnist_pixels(images: Any, where: str = "femnist") -> np.ndarray:
    """float32 (N, 1, 28, 28) in [0, 1] from uint8 grey levels (0..255) or from values in [0, 1].

    ``images``: an array (N, 784), (N, 28, 28) or (N, 1, 28, 28), or a sequence of PIL images or
    arrays. uint8 is divided by 255 (the float32 quotient equals LEAF's float64 value rounded
    to float32); any other numeric dtype must already lie in [0, 1].
    """
    if isinstance(images, np.ndarray):
        arr = images
    else:
        items = list(images)
        if not items:
            return np.zeros((0, 1, FEMNIST_SIDE, FEMNIST_SIDE), dtype=np.float32)
        try:
            arr = np.stack([_image_array(im) for im in items])
        except (ValueError, TypeError) as error:
            raise DataError(f"{where}: images are not all {FEMNIST_SIDE}x{FEMNIST_SIDE} ({_one_line(error)})") from None
    n = arr.shape[0] if arr.ndim else 0
    if arr.ndim not in (2, 3, 4) or arr.shape[1:] not in (
        (_FEMNIST_PIXELS,), (FEMNIST_SIDE, FEMNIST_SIDE), (1, FEMNIST_SIDE, FEMNIST_SIDE)
    ):
        raise DataError(f"{where}: each image must have {_FEMNIST_PIXELS} = 28x28 pixels, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / np.float32(255.0)
    elif arr.dtype.kind in "iuf":
        x = arr.astype(np.float32, copy=False)
        if x.size:
            if not np.isfinite(x).all():
                raise DataError(f"{where}: pixel values must be finite")
            low, high = float(x.min()), float(x.max())
            if low < -_PIXEL_TOLERANCE or high > 1.0 + _PIXEL_TOLERANCE:
                raise DataError(
                    f"{where}: pixel values must lie in [0, 1] (uint8 for 0..255), got [{low:g}, {high:g}]"
                )
            if low < 0.0 or high > 1.0:
                x = np.clip(x, 0.0, 1.0)
    else:
        raise DataError(f"{where}: pixel values must be numbers, got dtype {arr.dtype}")
    return x.reshape(n, 1, FEMNIST_SIDE, FEMNIST_SIDE)


def _int_labels(labels: Any, num_classes: int, where: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.size == 0:
        return np.zeros(0, dtype=np.int64)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{where}: labels must be a flat list of integers, got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
        raise DataError(f"{where}: labels must lie in 0..{num_classes - 1}, got {y.min()}..{y.max()}")
    return y.astype(np.int64)


def _check_strings(texts: Sequence[Any], width: int, where: str, what: str) -> None:
    for i, text in enumerate(texts):
        if not isinstance(text, str) or len(text) != width:
            got = f"{len(text)} characters" if isinstance(text, str) else f"a {type(text).__name__}"
            raise DataError(f"{where}: {what}[{i}] must be a string of {width} character(s), got {got}")


def letter_ids(texts: Sequence[str], width: int) -> np.ndarray:
    """int64 (N, width) ids into ``ALL_LETTERS`` of N strings of ``width`` characters (checked)."""
    out = np.empty((len(texts), width), dtype=np.int64)
    for start in range(0, len(texts), _TOKEN_CHUNK):
        chunk = texts[start:start + _TOKEN_CHUNK]
        codes = np.frombuffer("".join(chunk).encode("utf-32-le", "surrogatepass"), dtype="<u4")
        out[start:start + len(chunk)] = _LETTER_IDS[np.minimum(codes, _ASCII)].reshape(len(chunk), width)
    return out


def _client_dataset(x: np.ndarray, y: np.ndarray, users: Any, order: Sequence[str] | None,
                    num_classes: int, name: str, vocab_size: int | None, where: str) -> Dataset:
    names = [str(u) for u in (users.tolist() if isinstance(users, np.ndarray) else users)]
    if not len(x) == len(y) == len(names):
        raise DataError(f"{where}: columns differ in length: {len(x)} inputs, {len(y)} labels, {len(names)} users")
    order = sorted(set(names)) if order is None else [str(u) for u in order]
    index = {u: i for i, u in enumerate(order)}
    if len(index) != len(order):
        raise DataError(f"{where}: the client order names a user twice")
    ids = np.fromiter((index.get(u, -1) for u in names), dtype=np.int64, count=len(names))
    keep = np.flatnonzero(ids >= 0)
    rows = keep[np.argsort(ids[keep], kind="stable")]
    if len(rows) == len(ids) and (np.diff(ids) >= 0).all():  # already in client order: no copy
        return Dataset(x=x, y=y, num_classes=num_classes, name=name, vocab_size=vocab_size, client_ids=ids)
    return Dataset(x=x[rows], y=y[rows], num_classes=num_classes, name=name, vocab_size=vocab_size,
                   client_ids=ids[rows])


def femnist_from_columns(images: Any, labels: Any, writer_ids: Any, *, writers: Sequence[str] | None = None,
                         name: str = "femnist") -> Dataset:
    """One FEMNIST split from columns: images (see ``femnist_pixels``), labels 0..61, writer ids.

    ``writers`` is the client order (client id = position; see ``client_order``), by default the
    sorted distinct writer ids; rows of writers not in it are dropped. Rows are ordered by client
    id, each writer's rows in their given order.
    """
    where = f"{name} columns"
    x = femnist_pixels(images, where)
    y = _int_labels(labels, FEMNIST_CLASSES, where)
    return _client_dataset(x, y, writer_ids, writers, FEMNIST_CLASSES, name, None, where)


def shakespeare_from_columns(xs: Any, ys: Any, character_ids: Any, *, roles: Sequence[str] | None = None,
                             name: str = "shakespeare") -> Dataset:
    """One Shakespeare split from columns: 80-character strings, next characters, role ids.

    Inputs become int64 (N, 80) ids into ``ALL_LETTERS``, labels int64 (N,) ids of the next
    character (80 classes, vocab_size 80). ``roles`` orders the clients as ``writers`` does in
    ``femnist_from_columns``.
    """
    where = f"{name} columns"
    xs = xs.tolist() if isinstance(xs, np.ndarray) else list(xs)
    ys = ys.tolist() if isinstance(ys, np.ndarray) else list(ys)
    _check_strings(xs, SHAKESPEARE_SEQ_LEN, where, "x")
    _check_strings(ys, 1, where, "y")
    x = letter_ids(xs, SHAKESPEARE_SEQ_LEN)
    y = letter_ids(ys, 1).reshape(-1)
    return _client_dataset(x, y, character_ids, roles, SHAKESPEARE_VOCAB, name, SHAKESPEARE_VOCAB, where)


def client_order(
    train_users: Iterable[Any], test_users: Iterable[Any] = (), max_clients: int | None = None
) -> list[str]:
    """Users in client id order: the train users sorted by name, then users only in the test
    split, sorted. ``max_clients`` keeps the first k of each of the two groups."""
    if max_clients is not None:
        max_clients = check_int("dataset.max_clients", max_clients, 1, allowed="a positive integer or null")
    train = sorted({str(u) for u in train_users})
    seen = set(train)
    test_only = sorted({str(u) for u in test_users} - seen)
    if max_clients is not None:
        train, test_only = train[:max_clients], test_only[:max_clients]
    return train + test_only


def split_by_client(dataset: Dataset, test_fraction: float, seed: int) -> DataSplit:
    """Each client's examples split at random into train and test, as LEAF's by-sample split.

    A client with n >= 2 examples keeps max(1, int((1 - test_fraction) * n)) for training and
    gives the rest (at least one) to test; a client with one example keeps it for training.
    Client ids carry over; the draw is ``numpy_stream(seed, "leaf-split", client)``.
    """
    test_fraction = check_float(
        "dataset.test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True
    )
    if dataset.client_ids is None:
        raise DataError(f"{dataset.name}: split_by_client needs a naturally partitioned dataset (client ids)")
    train, test = [], []
    ids = dataset.client_ids
    order = np.argsort(ids, kind="stable")
    bounds = np.flatnonzero(np.diff(ids[order])) + 1
    for members in np.split(order, bounds):
        if not len(members):
            continue
        n = len(members)
        n_train = n if n < 2 else min(max(1, int((1.0 - test_fraction) * n)), n - 1)
        drawn = numpy_stream(seed, "leaf-split", int(ids[members[0]])).permutation(members)
        train.append(drawn[:n_train])
        test.append(drawn[n_train:])
    return DataSplit(train=dataset.subset(_sorted_union(train)), test=dataset.subset(_sorted_union(test)))


def _sorted_union(parts: list[np.ndarray]) -> np.ndarray:
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.intp)


# ---- LEAF JSON trees ------------------------------------------------------------------------


def _split_dirs(directory: Path) -> tuple[Path, Path]:
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(
            f"{directory}: no such directory (expected a LEAF tree with train/ and test/ folders of .json files)"
        )
    for base in (directory, directory / "data"):
        if (base / "train").is_dir() and (base / "test").is_dir():
            return base / "train", base / "test"
    raise DataError(f"{directory}: no LEAF train/ and test/ folders in it (nor in its data/)")


def _json_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not files:
        raise DataError(f"{folder}: no LEAF .json files")
    return files


def _leaf_users(path: Path) -> Iterator[tuple[str, list, list]]:
    """(user, x list, y list) of each user that ``path`` lists, after checking the file's layout."""
    try:
        with path.open("rb") as fh:
            doc = json.load(fh)
    except (OSError, ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError(f"{path}: not a readable LEAF JSON file ({_one_line(error)})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}: a LEAF file must hold a JSON object, got {type(doc).__name__}")
    for key in ("users", "num_samples", "user_data"):
        if key not in doc:
            raise DataError(f"{path}: missing key {key!r} (a LEAF file has users, num_samples and user_data)")
    users, counts, user_data = doc["users"], doc["num_samples"], doc["user_data"]
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise DataError(f"{path}: 'users' must be a list of strings")
    if len(set(users)) != len(users):
        raise DataError(f"{path}: 'users' names a user more than once")
    if not isinstance(counts, list) or len(counts) != len(users) or not all(type(c) is int for c in counts):
        raise DataError(f"{path}: 'num_samples' must be {len(users)} integers, one per user")
    if not isinstance(user_data, dict):
        raise DataError(f"{path}: 'user_data' must be an object keyed by user")
    # user_data may hold more users than 'users' lists (LEAF's by-sample split keeps dropped ones).
    for user, count in zip(users, counts):
        entry = user_data.get(user)
        if not isinstance(entry, dict) or not isinstance(entry.get("x"), list) or not isinstance(entry.get("y"), list):
            raise DataError(f"{path}: user_data[{user!r}] must be an object with lists 'x' and 'y'")
        x, y = entry["x"], entry["y"]
        if len(x) != len(y):
            raise DataError(f"{path}: user {user!r} has {len(x)} x but {len(y)} y")
        if count != len(y):
            raise DataError(f"{path}: num_samples says {count} for user {user!r}, but it has {len(y)} examples")
        yield user, x, y


def _femnist_user(x: list, y: list, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        rows = np.asarray(x)
    except ValueError as error:  # ragged rows
        raise DataError(f"{where}: x rows must each be {_FEMNIST_PIXELS} numbers ({_one_line(error)})") from None
    if rows.size == 0:
        rows = np.zeros((0, _FEMNIST_PIXELS), dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != _FEMNIST_PIXELS:
        raise DataError(f"{where}: x rows must each be {_FEMNIST_PIXELS} numbers, got shape {rows.shape}")
    if rows.dtype.kind not in "iuf":
        raise DataError(f"{where}: x values must be numbers in [0, 1], got {rows.dtype}")
    return femnist_pixels(rows, where), _int_labels(y, FEMNIST_CLASSES, where)


def _shakespeare_user(x: list, y: list, where: str) -> tuple[list, list]:
    _check_strings(x, SHAKESPEARE_SEQ_LEN, where, "x")
    _check_strings(y, 1, where, "y")
    return x, y


def _read_tree(directory: Path, read_user) -> tuple[dict[str, list], dict[str, list], Path, Path]:
    """Per split, user -> [converted (x, y) of each file listing the user]; and the two folders."""
    train_dir, test_dir = _split_dirs(directory)
    splits = []
    for folder in (train_dir, test_dir):
        per_user: dict[str, list] = {}
        for path in _json_files(folder):
            for user, x, y in _leaf_users(path):
                if y:
                    per_user.setdefault(user, []).append(read_user(x, y, f"{path}: user {user!r}"))
        splits.append(per_user)
    return splits[0], splits[1], train_dir, test_dir


def _columns(per_user: dict[str, list], order: list[str], empty_x: Any) -> tuple[Any, Any, list[str]]:
    """Concatenated (x, y, user) columns of the users in ``order`` that the split holds."""
    xs, ys, users = [], [], []
    for user in order:
        for x, y in per_user.get(user, ()):
            xs.append(x)
            ys.append(y)
            users.extend([user] * len(y))
    if isinstance(empty_x, np.ndarray):
        return (np.concatenate(xs) if xs else empty_x), (np.concatenate(ys) if ys else np.zeros(0, np.int64)), users
    return [s for part in xs for s in part], [s for part in ys for s in part], users


def _check_nonempty(dataset: Dataset, folder: Path, max_clients: int | None) -> Dataset:
    if not len(dataset):
        kept = "" if max_clients is None else f" of the first max_clients={max_clients} users"
        raise DataError(f"{folder}: no examples{kept}")
    return dataset


def load_femnist_split(directory: Path, max_clients: int | None = None, name: str = "femnist") -> DataSplit:
    """FEMNIST from a LEAF tree: float32 (N, 1, 28, 28) images in [0, 1], 62 classes, one client
    per writer (``client_order``), ``max_clients`` keeping the first k writers by name."""
    client_order((), (), max_clients)  # validates max_clients before any file is read
    train_users, test_users, train_dir, test_dir = _read_tree(directory, _femnist_user)
    order = client_order(train_users, test_users, max_clients)
    empty = np.zeros((0, 1, FEMNIST_SIDE, FEMNIST_SIDE), dtype=np.float32)
    train = femnist_from_columns(*_columns(train_users, order, empty), writers=order, name=name)
    test = femnist_from_columns(*_columns(test_users, order, empty), writers=order, name=name)
    return DataSplit(
        train=_check_nonempty(train, train_dir, max_clients), test=_check_nonempty(test, test_dir, max_clients)
    )


def load_shakespeare_split(directory: Path, max_clients: int | None = None, name: str = "shakespeare") -> DataSplit:
    """Shakespeare from a LEAF tree: int64 (N, 80) letter ids, the next letter as label (80
    classes, vocab_size 80), one client per role, ``max_clients`` keeping the first k roles."""
    client_order((), (), max_clients)  # validates max_clients before any file is read
    train_users, test_users, train_dir, test_dir = _read_tree(directory, _shakespeare_user)
    order = client_order(train_users, test_users, max_clients)
    train = shakespeare_from_columns(*_columns(train_users, order, []), roles=order, name=name)
    test = shakespeare_from_columns(*_columns(test_users, order, []), roles=order, name=name)
    return DataSplit(
        train=_check_nonempty(train, train_dir, max_clients), test=_check_nonempty(test, test_dir, max_clients)
    )
