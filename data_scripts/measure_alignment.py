"""Measure face detection, 68 landmarks and clip alignment on full frames of the synthetic SAMM layout.

    python data_scripts/measure_alignment.py --root /tmp/samm                      # dlib, 12 frames per clip
    python data_scripts/measure_alignment.py --root /tmp/samm --frames-per-clip 0  # every frame
    python data_scripts/measure_alignment.py --root /tmp/samm --backend mediapipe --locate dlib
    python data_scripts/measure_alignment.py --root /tmp/samm_small --make 2 --frame-size 640x360

Prints one row per clip and ``all`` (:func:`melib.face.check.alignment_summary`: share of frames with a
face found, 300-W NME median / 90th percentile, crop offset against the template after ``align_clip``,
seconds per frame) and writes it to ``<MELIB_OUTPUTS>/alignment/alignment_<backend>.md`` (name from
:func:`output_name`; per-frame rows beside it as ``.csv``), both atomically. ``--make N`` first writes an
N-subject SAMM layout at ``--root`` when nothing is there (as ``make_synthetic.py --layout samm`` does).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # make_synthetic, also when imported by the tests
from make_synthetic import frame_size  # noqa: E402

from melib import config, io  # noqa: E402
from melib.data.synthetic import layouts  # noqa: E402
from melib.face import BACKENDS  # noqa: E402
from melib.face.check import alignment_report, alignment_summary, summary_markdown  # noqa: E402


def output_name(backend: str, locate: str | None = None, upsample: int | None = None) -> str:
    """``alignment_dlib``; ``alignment_mediapipe-in-dlib-box`` when another backend locates the face,
    ``alignment_dlib-upsample0`` with a non-default ``--upsample``."""
    return (f"alignment_{backend}" + (f"-in-{locate}-box" if locate else "")
            + (f"-upsample{upsample}" if upsample is not None else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="a synthetic dataset in the SAMM layout")
    parser.add_argument("--backend", choices=BACKENDS, default="dlib")
    parser.add_argument("--locate", choices=BACKENDS, default=None,
                        help="backend whose face box seeds --backend (e.g. mediapipe inside dlib's box)")
    parser.add_argument("--frames-per-clip", type=int, default=12, help="evenly spaced frames per clip; 0 = all")
    parser.add_argument("--crop-size", type=int, default=256, help="aligned crop size in px (default 256)")
    parser.add_argument("--margin", type=float, default=0.15, help="template margin per side (default 0.15)")
    parser.add_argument("--upsample", type=int, default=None, help="dlib HOG upsampling (default: dlib backend's 1)")
    parser.add_argument("--make", type=int, default=0, metavar="N",
                        help="write an N-subject synthetic SAMM layout at --root first when none is there")
    parser.add_argument("--clips-per-subject", type=int, default=2, help="with --make (default 2)")
    parser.add_argument("--frame-size", type=frame_size, default=layouts.SAMM_FRAME_SIZE,
                        help="with --make: WIDTHxHEIGHT (default 2040x1088, SAMM's)")
    args = parser.parse_args(argv)
    if args.frames_per_clip < 0:
        parser.error(f"--frames-per-clip must be >= 0 (0 = all); got {args.frames_per_clip}")
    options = {} if args.upsample is None else {"upsample": args.upsample}
    if options and args.backend != "dlib":
        parser.error("--upsample applies to --backend dlib")

    root = args.root.expanduser().resolve()
    if not (root / "synthetic.json").is_file():
        if args.make <= 0:
            parser.error(f"{root} holds no synthetic dataset; write one with make_synthetic.py --layout samm "
                         "or pass --make N")
        start = time.perf_counter()
        layouts.generate(root, "samm", args.frame_size, workers=1, progress=False, subjects=args.make,
                         clips_per_subject=args.clips_per_subject)
        print(f"wrote a {args.make}-subject SAMM layout at {root} in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    report = alignment_report(root, args.backend, args.frames_per_clip or None, args.crop_size, args.margin,
                              locate=args.locate, options=options)
    wall = time.perf_counter() - start
    table = summary_markdown(alignment_summary(report))
    width, height = report.settings["frame_size"]
    command = "python data_scripts/measure_alignment.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    text = (f"# Face detection and alignment on the synthetic SAMM layout: {args.backend}"
            f"{f' in {args.locate} boxes' if args.locate else ''}\n\n"
            f"Generated by `{command}`\n({len(report.clips)} clips, {len(report.frames)} frames of {width}x{height}, "
            f"{args.frames_per_clip or 'all'} per clip; crop {args.crop_size} px, margin {args.margin}; "
            f"options {options}; wall time {wall:.1f} s on {os.cpu_count()} CPU cores).\n\n{table}\n\n"
            "found / on face: share of frames with 68 points / with their centroid inside the true face. "
            "NME: 300-W (mean point error over the outer-eye-corner distance). crop offset: true landmarks under "
            "the clip's alignment vs the template, mean px over the fitted points in the crop (ideal: with the "
            "transform fitted to the true onset landmarks); crop shift, scale and rotation (absolute): onset "
            "transform vs the ideal one. s/frame: detection + landmarks.\n")
    out = config.outputs_root() / "alignment" / output_name(args.backend, args.locate, args.upsample)
    io.write_text(out.with_suffix(".md"), text)
    io.write_text(out.with_suffix(".csv"), report.frames.to_csv(index=False))
    print(table)
    print(f"{len(report.frames)} frames in {wall:.1f} s; written {out.with_suffix('.md')} and .csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
