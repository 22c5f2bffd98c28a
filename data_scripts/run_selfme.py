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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
import pandas as pd  # noqa: E402

from melib import cli, config, data, io, ladder  # noqa: E402
from melib.methods import selfme as sm  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from melib.yardsticks import majority_row  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = cli.experiment_parser(__doc__.splitlines()[0], list(sm.VARIANTS), ["selfme"], sm.REFERENCE_CPU,
                                   "one LOSO subject index or -1 for all", datasets=cli.EMOTION_DATASETS)
    parser.add_argument("--checkpoint", default=None, help="motion learner start: '' (scratch) | shipped | file")
    args = parser.parse_args(argv)
    profile = cli.resolve_profile_args(args, sm.REFERENCE_CPU)
    overrides = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "weights", "checkpoint")}
    overrides["vit_image_size"] = args.image_size
    _, _, subjects = sm.preset(profile, args.dataset, **overrides)
    subjects = subjects if args.subjects is None else (args.subjects or None)
    manifest = data.load_manifest(args.dataset, args.root, subjects=subjects)
    clips = sm.select_clips(manifest)
    print(config.describe_run({"profile": profile, "profile_requested": args.profile}))
    rows = []
    for variant in args.variants:
        for seed in args.seeds:
            cfg, schedule, _ = sm.preset(profile, args.dataset, variant=variant, seed=seed, **overrides)
            run, per_fold = cli.timed_run(variant, seed, lambda: sm.run(manifest, cfg, schedule, fold=args.fold))
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
            + f"\n\n{len(clips)} clips, {clips['subject'].nunique()} subjects, 3 classes, profile {profile}"
            + (" (reference)" if args.reference else ""))
    print(text)
    out = config.outputs_root() / "selfme" / f"table_{args.dataset}_{'reference' if args.reference else profile}.md"
    io.write_text(out, text + "\n")
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
