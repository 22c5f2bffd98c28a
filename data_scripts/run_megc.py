"""Run the emotion methods on the MEGC 2019 composite (CASME II + SAMM + SMIC-HS, 3 classes, LOSO) and print
UF1 and UAR on the composite and on each dataset's part.

    python data_scripts/run_megc.py --roots casme2=/data/CASME2,samm=/data/SAMM,smic=/data/SMIC --profile full
    python data_scripts/run_megc.py --methods selfme       # the parts at <MELIB_DATA>/CASME2, SAMM, SMIC
    python data_scripts/run_megc.py --synthetic /tmp/megc --subjects 3 --clips-per-subject 2 --tiny   # rehearsal

``--synthetic DIR`` first writes the synthetic dataset in the three official layouts under ``DIR``, each
part from its own seed (:func:`melib.data.composite.write_synthetic_parts`). Every fold is load-or-train
(:mod:`melib.experiments.runs`), so a second call prints the tables from the stored runs. Annotation
mimic runs its variant without AUs on the composite (:mod:`melib.experiments.composite`). The tables go to
stdout and to ``<MELIB_OUTPUTS>/megc/megc.md``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # make_synthetic's --frame-size parser, rehearse's TINY
from melib import config  # noqa: E402
from melib.data import composite as parts  # noqa: E402
from melib.experiments import composite  # noqa: E402
from melib.io import write_text  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from make_synthetic import frame_size as parse_frame_size  # noqa: E402
from rehearse import TINY  # noqa: E402

TABLE = Path("megc") / "megc.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--roots", default="",
                       help="'casme2=PATH,samm=PATH,smic=PATH' (parts left out: <MELIB_DATA>/NAME)")
    where.add_argument("--synthetic", type=Path, default=None, help="write (or reuse) three synthetic layouts here")
    parser.add_argument("--methods", nargs="+", choices=sorted(composite.VARIANTS), default=sorted(composite.VARIANTS))
    parser.add_argument("--profile", default="fast", choices=("fast", "full", "auto"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subjects", type=int, default=None,
                        help="per part, the subjects with the most clips (default all); with --synthetic also the "
                             "number written (default 3)")
    parser.add_argument("--clips-per-subject", type=int, default=2, help="--synthetic: clips per subject (default 2)")
    parser.add_argument("--size", type=int, default=128, help="--synthetic: face size in px (default 128)")
    parser.add_argument("--frame-size", type=parse_frame_size, default=(640, 360),
                        help="--synthetic: SAMM full-frame WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--tiny", action="store_true",
                        help="the rehearsal's settings: one epoch, batch 8, annotation mimic at 32 px (rehearse.TINY)")
    parser.add_argument("--epochs", type=int, default=None, help="override every method's epochs")
    parser.add_argument("--workers", type=int, default=1, help="processes for the input caches (default 1)")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    if args.synthetic is not None:
        roots = parts.write_synthetic_parts(args.synthetic, subjects=args.subjects or 3,
                                            clips_per_subject=args.clips_per_subject, size=args.size,
                                            frame_size=args.frame_size)
        print(f"synthetic parts ready in {time.perf_counter() - began:.0f} s: {parts.format_roots(roots)}")
    else:
        roots = args.roots or None
    sections = []
    for method in args.methods:
        started = time.perf_counter()
        overrides = dict(TINY[method]) if args.tiny else {}
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        exp = composite.experiment(method, roots, profile=args.profile, seed=args.seed, subjects=args.subjects or 0,
                                   **overrides)
        run, table = composite.run(exp, workers=args.workers)
        seconds = time.perf_counter() - started
        title = (f"{exp.label()}: {len(exp.clips)} clips, {exp.n_folds} LOSO folds, "
                 f"{', '.join(f'{k}={v}' for k, v in overrides.items()) or 'profile settings'}")
        text = markdown_table(table, digits=3)
        print(f"\n{title}\n{text}\n{seconds:.0f} s; run {config.display_path(run.dir)}")
        sections.append(f"## {title}\n\n{text}\n\n{seconds:.0f} s; run `{config.display_path(run.dir)}`\n")
    total = time.perf_counter() - began
    path = config.outputs_root() / TABLE
    write_text(path, "# MEGC 2019 composite (3 classes, LOSO, predictions pooled)\n\n"
               + f"Roots: `{parts.format_roots(roots)}`\n\n" + "\n".join(sections)
               + f"\nWritten by `python data_scripts/run_megc.py` in {total:.0f} s.\n")
    print(f"\n{total:.0f} s; tables written to {config.display_path(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
