"""Generate the synthetic micro-expression dataset (CASME II layout, or another dataset's) with known true motion.

    python data_scripts/make_synthetic.py                       # default root, 26 subjects, seed 0
    python data_scripts/make_synthetic.py --out /tmp/syn --subjects 4 --clips-per-subject 2
    python data_scripts/make_synthetic.py --out data/synthetic_motion --appearance 0      # motion only
    python data_scripts/make_synthetic.py --out data/synthetic_easy --easy                # for teaching
    python data_scripts/make_synthetic.py --out data/synthetic_style --subject-style 1    # subjects with habits
    python data_scripts/make_synthetic.py --out data/synthetic_samm --layout samm         # SAMM's official layout
    python data_scripts/make_synthetic.py --out /tmp/samm --layout samm --subjects 2 --frame-size 640x360

``--layout samm|smic|casme3a`` writes the same clips in that dataset's official layout
(:mod:`melib.data.synthetic.layouts`: SAMM grayscale full frames, ``--frame-size`` default 2040x1088;
SMIC-HS bmp at 100 fps, ``others`` clips left out; CAS(ME)^3 part A at 30 fps); ``synthetic.json``
then also holds the written clips' ground truth (true apex included) under ``"layout"``.
``--layout casme2``, the default, is the dataset this script always wrote, byte for byte.

Knobs, recorded in synthetic.json and so in every cache key: ``--appearance`` (FACS appearance
changes; 0 = motion only), ``--amplitude-scale`` (multiplies the 0.3-2 px motion range),
``--clips-per-subject``, ``--subject-style`` (0 = labels independent of the subject, the default; > 0 gives
each subject its own emotion/AU mix and movement scale, as real subjects have; recorded only when > 0).
``--easy`` = stronger appearance, twice the motion, 15 clips per subject.

An existing complete dataset with the same settings is kept unless ``--force`` is given.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
from melib.data import synthetic  # noqa: E402
from melib.data.synthetic import layouts  # noqa: E402


def frame_size(text: str) -> tuple[int, int]:
    """``"2040x1088"`` -> ``(2040, 1088)`` (width x height)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"frame size must be WIDTHxHEIGHT, e.g. 2040x1088; got {text!r}") from None
    if width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"frame size must be at least 64x64; got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help=f"dataset root (default: {synthetic.default_root()})")
    parser.add_argument("--subjects", type=int, default=26, help="number of subjects (default 26)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", type=int, default=256, help="frame size in pixels (default 256)")
    parser.add_argument("--clips-per-subject", type=int, default=None,
                        help="clips per subject (default: 3-20 per subject, like CASME II)")
    parser.add_argument("--appearance", type=float, default=None,
                        help=f"strength of the FACS appearance changes (0 = motion only; default "
                             f"{synthetic.DEFAULT_APPEARANCE}, the calibrated realistic strength)")
    parser.add_argument("--amplitude-scale", type=float, default=None,
                        help="multiplies the 0.3-2 px motion amplitude range (default 1)")
    parser.add_argument("--subject-style", type=float, default=0.0,
                        help="per-subject emotion/AU propensities and movement scale (0 = none, the default; "
                             "1 = subjects range from mostly one class to mixed)")
    parser.add_argument("--easy", action="store_true",
                        help=f"teaching setting {synthetic.EASY_SETTINGS} (explicit flags override it)")
    parser.add_argument("--layout", choices=layouts.LAYOUTS, default="casme2",
                        help="the dataset whose official layout is written (default casme2)")
    parser.add_argument("--frame-size", type=frame_size, default=layouts.SAMM_FRAME_SIZE,
                        help="SAMM full-frame size WIDTHxHEIGHT (default 2040x1088, the real size; "
                             "must hold the --size face)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPU count, at most 8)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a matching dataset exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    out = (args.out or synthetic.default_root()).expanduser().resolve()
    knobs = dict(synthetic.EASY_SETTINGS) if args.easy else {}
    for name in ("appearance", "amplitude_scale", "clips_per_subject"):
        if getattr(args, name) is not None:
            knobs[name] = getattr(args, name)
    wanted = dict(subjects=args.subjects, seed=args.seed, size=args.size, clips_per_subject=knobs.get("clips_per_subject"),
                  appearance=knobs.get("appearance", synthetic.DEFAULT_APPEARANCE),
                  amplitude_scale=knobs.get("amplitude_scale", 1.0), subject_style=args.subject_style)
    start = time.perf_counter()
    if not args.force and layouts.is_complete(out, args.layout, args.frame_size, **wanted):
        status = "up to date, kept"
    else:
        layouts.generate(out, args.layout, args.frame_size, workers=args.workers, progress=not args.quiet, **wanted)
        status = "generated"
    info = synthetic.dataset_info(out)
    if args.layout != "casme2":
        written = info["layout"]
        status += (f" in the {args.layout} layout ({written['n_clips']} of {info['n_clips']} clips written, "
                   f"{written['fps']} fps; {len(written['left_out'])} left out)")
    print(f"synthetic dataset {status}: {out}\n  {info['n_clips']} clips, {info['n_frames']} frames, "
          f"{args.subjects} subjects, seed {args.seed}, appearance {wanted['appearance']}, "
          f"amplitude scale {wanted['amplitude_scale']}, subject style {wanted['subject_style']}; "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
