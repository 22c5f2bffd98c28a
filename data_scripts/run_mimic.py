"""Train and evaluate annotation-mimic variants (Ruan et al. 2022) under LOSO; print acc/UF1/UAR.

    python data_scripts/run_mimic.py                                        # fast profile: sb + db+all
    python data_scripts/run_mimic.py --reference --seeds 0 1 2              # docs/results.md's table
    python data_scripts/run_mimic.py --profile full --dataset casme2 --root /data/CASME2 --weights imagenet
    python data_scripts/run_mimic.py --dataset smic --root /data/SMIC              # sb; db+all skipped (no AU labels)

On a dataset without AU labels (SMIC-HS) only the variants without WSCL (sb, db, db+awm) can train: the
others asked for are skipped with the reason (one printed line, also under the table); none left is an error.

Every LOSO fold is load-or-train and resumable: rerunning the same command continues where it
stopped, and a finished command re-prints its table in seconds.
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config, data, io, ladder  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.methods import annotation_mimic as am  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from melib.yardsticks import majority_row  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = cli.experiment_parser(__doc__.splitlines()[0], list(am.VARIANTS), ["sb", "db+all"], am.REFERENCE_CPU,
                                   "one LOSO subject index or -1 for all", datasets=cli.EMOTION_DATASETS)
    parser.add_argument("--config", default="paper", choices=("paper", "official"))
    parser.add_argument("--classes", default="3class", choices=("3class", "5class"))
    args = parser.parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "image_size", "weights")}
    overrides.update(config=args.config, classes=args.classes)
    asked = cli.experiments("annotation_mimic", args, **overrides)
    first = next(iter(asked.values()))
    print(cli.describe(args))
    try:  # without AU labels (SMIC-HS): the variants without WSCL only
        variants, skipped = am.trainable_variants(args.variants, first.clips)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    if skipped:
        print(skipped)
    rows = []
    for (variant, seed), exp in asked.items():
        if variant not in variants:
            continue
        run, per_fold = cli.timed_run(variant, seed, partial(runs.run, exp, fold=args.fold, progress=True))
        if run.results() is not None:
            m = run.results()["metrics"]
            rows.append({"variant": variant, "seed": seed, "acc": m["acc"], "uf1": m["uf1"], "uar": m["uar"],
                         "s per fold": per_fold})
    if not rows:
        return 0
    per_seed = pd.DataFrame(rows)
    shown = cli.mean_sd_table(per_seed, "variant", ("acc", "uf1", "uar"))
    shown["s per fold"] = [f"{v:.0f}" for v in per_seed.groupby("variant", sort=False)["s per fold"].mean()]
    kept = first.clips  # the clips of the class scheme, the same for every variant
    labels = {c: i for i, c in enumerate(data.emotion_classes(am.dataset_name(kept), args.classes))}
    y = np.array([labels[c] for c in am.class_labels(kept, args.classes)])
    rungs = ladder.emotion_rungs(kept, y, ("farneback", "onset"))
    rungs.loc["majority class"] = majority_row(y, len(labels))
    text = (markdown_table(shown) + "\n\nYardsticks on the same clips and LOSO folds "
            "(linear probes of the learnability ladder, predicting the emotion):\n\n" + markdown_table(rungs.round(3))
            + f"\n\n{len(kept)} clips, {kept['subject'].nunique()} subjects, {args.classes}, config {args.config}"
            + (f"\n\n{skipped}" if skipped else ""))
    print(text)
    out = config.outputs_root() / "mimic" / f"table_{args.dataset}_{first.profile}_{args.config}_{args.classes}.md"
    io.write_text(out, text + "\n")
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
