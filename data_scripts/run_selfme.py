"""Train and evaluate SelfME variants (Fan et al. 2023) under LOSO, 3 classes; print acc/UF1/UAR beside
the learnability ladder's yardsticks.

    python data_scripts/run_selfme.py                                      # fast profile, full model
    python data_scripts/run_selfme.py --reference --seeds 0 1 2            # docs/results.md's table
    python data_scripts/run_selfme.py --reference --variants farneback no_sc
    python data_scripts/run_selfme.py --profile full --dataset casme2 --root /data/CASME2 --weights imagenet
    python data_scripts/run_selfme.py --dataset smic --root /data/SMIC              # SMIC-HS: its own 3 classes

Motion learners, motion caches and every LOSO fold are load-or-train and resumable.
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config, io, ladder  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.methods import selfme as sm  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from melib.yardsticks import majority_row  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = cli.experiment_parser(__doc__.splitlines()[0], list(sm.VARIANTS), ["selfme"], sm.REFERENCE_CPU,
                                   "one LOSO subject index or -1 for all", datasets=cli.EMOTION_DATASETS)
    parser.add_argument("--checkpoint", default=None, help="motion learner start: '' (scratch) | shipped | file")
    args = parser.parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "weights", "checkpoint")}
    exps = cli.experiments("selfme", args, vit_image_size=args.image_size, **overrides)
    first = next(iter(exps.values()))
    clips = first.clips  # the 3-class clips
    print(cli.describe(args))
    rows = []
    for (variant, seed), exp in exps.items():
        run, per_fold = cli.timed_run(variant, seed, partial(runs.run, exp, fold=args.fold, progress=True))
        if run.results() is not None:
            m = run.results()["metrics"]
            rows.append({"variant": variant, "seed": seed, "acc": m["acc"], "uf1": m["uf1"], "uar": m["uar"],
                         "s per fold": per_fold})
    if not rows:
        return 0
    per_seed = pd.DataFrame(rows)
    shown = cli.mean_sd_table(per_seed, "variant", ("acc", "uf1", "uar"), 2)
    shown["s per fold"] = [f"{v:.0f}" for v in per_seed.groupby("variant", sort=False)["s per fold"].mean()]
    y = sm.class_index(clips)
    rungs = ladder.emotion_rungs(clips, y, ("farneback", "onset"))
    rungs.loc["majority class"] = majority_row(y, 3)
    text = (markdown_table(shown) + "\n\nYardsticks on the same clips and LOSO folds (linear probes of the learnability "
            "ladder, predicting the emotion):\n\n" + markdown_table(rungs.round(2))
            + f"\n\n{len(clips)} clips, {clips['subject'].nunique()} subjects, 3 classes, "
            f"profile {cli.resolve_profile(args)}"
            + (" (reference)" if args.reference else ""))
    print(text)
    out = config.outputs_root() / "selfme" / f"table_{args.dataset}_{first.profile}.md"
    io.write_text(out, text + "\n")
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
