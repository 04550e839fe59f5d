"""One-line warnings: ``fedsim: warning: ...`` on stderr, each message once per process."""

from __future__ import annotations

import sys

_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"fedsim: warning: {message}", file=sys.stderr, flush=True)
