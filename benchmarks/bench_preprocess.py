"""Preprocessing throughput: clips per second of the cached front end on the default synthetic dataset.

Run:  python benchmarks/bench_preprocess.py [--subjects 26] [--workers 2]
Each recipe is computed into a fresh temporary cache (nothing reused), so the time is the full cost.
Prints machine info and a markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from melib import data
from melib.preprocess import FrontEnd, preprocess

RECIPES = {
    "IICL: onset + apex±3, Eulerian x10, 256 px": FrontEnd(),
    "pair: onset + apex, Eulerian x10, 224 px": FrontEnd(frames="pair", size=224),
    "triplet + TV-L1 onset->apex flow, 256 px": FrontEnd(frames="triplet", magnify="none", flow="tvl1"),
    "triplet + Farneback flow, 256 px": FrontEnd(frames="triplet", magnify="none", flow="farneback"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=26)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    manifest = data.load_manifest("synthetic", subjects=args.subjects)
    print(f"machine: {platform.platform()}, python {platform.python_version()}, cpu_count={os.cpu_count()}, "
          f"workers={args.workers}; {len(manifest)} clips")
    print("| recipe | clips | seconds | clips/s | whole dataset (min) |")
    print("|---|---:|---:|---:|---:|")
    for name, front in RECIPES.items():
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            preprocess(manifest, front, workers=args.workers, progress=False, root=root)
            seconds = time.perf_counter() - start
        rate = len(manifest) / seconds
        print(f"| {name} | {len(manifest)} | {seconds:.1f} | {rate:.2f} | {len(manifest) / rate / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
