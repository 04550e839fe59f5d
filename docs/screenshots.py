"""Screenshots of the built site, to look at what a reader sees (not committed).

    mkdocs build --strict -d /tmp/site
    python docs/screenshots.py /tmp/site /tmp/shots

Serves SITE_DIR with ``python -m http.server`` on a free port (stopped at the end, by its own PID),
and has headless Chromium (Debian's ``chromium``; no Playwright needed) capture the home page, a
tutorial and an API page at 1280x2000 into OUT_DIR as PNGs.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PAGES = {
    "index.png": "",
    "tutorial.png": "getting-started/",
    "api.png": "reference/api/run/",
    "configuration.png": "reference/configuration/",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site_dir", type=Path, help="a site built by mkdocs build")
    parser.add_argument("out_dir", type=Path, help="where the PNGs go")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not (args.site_dir / "index.html").is_file():
        parser.error(f"{args.site_dir} holds no built site (index.html): run mkdocs build -d {args.site_dir}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(args.site_dir)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):  # until the server answers
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        for name, path in PAGES.items():
            if not (args.site_dir / path / "index.html").is_file():
                print(f"skipped {name}: {path or 'index'} is not in the site")
                continue
            out = args.out_dir / name
            subprocess.run([args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--screenshot={out}", "--window-size=1280,2000", base + path],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            print(out)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
