"""Compute the motion front end (aligned, magnified frames; optional flow) for a dataset, cached on disk.

    python data_scripts/preprocess.py                                    # synthetic, IICL recipe (x10 Eulerian)
    python data_scripts/preprocess.py --dataset casme2 --root /data/CASME2 --frames pair --magnify learned --alpha 6
    python data_scripts/preprocess.py --frames triplet --magnify none --flow tvl1
    python data_scripts/preprocess.py --dataset samm --root /data/SAMM    # faces found and aligned (dlib) first

Idempotent and resumable: entries already in the cache are kept; a run killed at any moment leaves no
half-written entry, and the next run computes only what is missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
from melib import data  # noqa: E402
from melib.preprocess import ALIGNERS, FLOWS, FRAME_SETS, MAGNIFIERS, FrontEnd, default_align, preprocess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    defaults = FrontEnd()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic", choices=data.DATASETS)
    parser.add_argument("--root", default="", help="dataset root (default: MELIB_DATA/<dataset>; synthetic is generated)")
    parser.add_argument("--subjects", type=int, default=None, help="only the N subjects with the most clips")
    parser.add_argument("--frames", default=defaults.frames, choices=FRAME_SETS)
    parser.add_argument("--close", type=int, default=defaults.close, help="close-to-apex frames on each side")
    parser.add_argument("--align", default=None, choices=ALIGNERS,
                        help="face aligner (default: dlib on full-frame datasets such as SAMM, else none)")
    parser.add_argument("--size", type=int, default=defaults.size)
    parser.add_argument("--magnify", default=defaults.magnify, choices=MAGNIFIERS)
    parser.add_argument("--alpha", type=float, default=defaults.alpha)
    parser.add_argument("--learned-checkpoint", default="", help="weights for --magnify learned")
    parser.add_argument("--flow", default=defaults.flow, choices=FLOWS)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    manifest = data.load_manifest(args.dataset, args.root, subjects=args.subjects)
    align = args.align or default_align(args.dataset)
    front = FrontEnd(frames=args.frames, close=args.close, align=align, size=args.size, magnify=args.magnify,
                     alpha=args.alpha, learned_checkpoint=args.learned_checkpoint, flow=args.flow)
    print(f"{args.dataset}: {len(manifest)} clips; front end {dataclasses.asdict(front)}")
    start = time.perf_counter()
    cache = preprocess(manifest, front, workers=args.workers, progress=not args.quiet)
    seconds = time.perf_counter() - start
    failed = len(cache.missing(manifest))
    print(f"done in {seconds:.1f} s ({len(manifest) / max(seconds, 1e-9):.1f} clips/s); cache {cache.dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
