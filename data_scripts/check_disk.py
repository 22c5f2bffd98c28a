"""Is there room on disk for what comes next? Fail early, with the numbers, instead of minutes later
with pip's or torch's ``[Errno 28] No space left on device``.

    python3 data_scripts/check_disk.py --need-gb 12 --for "installing .venv" .

Standard library only: the Makefile runs it with the system Python before ``.venv`` exists. The
amounts the Makefile asks for are measured in docs/setup.md ("Disk"); ``MIN_FREE_GB=0`` skips the check.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

GIB = 1024 ** 3


def free_gib(path: str | Path) -> float:
    """Free space, in GiB, on the file system that holds ``path`` (its nearest existing parent)."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free / GIB


def check(path: str | Path, need_gb: float, purpose: str) -> str:
    """Return a one-line report; raise ``SystemExit`` with a clear message when ``path`` has too little room."""
    free = free_gib(path)
    if free < need_gb:
        raise SystemExit(
            f"Not enough disk for {purpose}: {free:.1f} GiB free on the file system of {Path(path).resolve()}, "
            f"about {need_gb:g} GiB needed. Free some space (old runs under outputs/runs/, pytest's "
            f"/tmp/pytest-of-$USER/, other clones' .venv/) or set MIN_FREE_GB=0 to skip this check.")
    return f"disk: {free:.1f} GiB free at {Path(path).resolve()} (about {need_gb:g} GiB needed for {purpose})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default=".", help="a path on the file system to check")
    parser.add_argument("--need-gb", type=float, required=True, help="GiB that must be free (0 skips)")
    parser.add_argument("--for", dest="purpose", default="this step", help="what the space is for, for the message")
    args = parser.parse_args(argv)
    if args.need_gb <= 0:
        return
    print(check(args.path, args.need_gb, args.purpose))


if __name__ == "__main__":
    main()
