"""Train and evaluate Micro-AU CLIP variants (Wei et al. 2026) under LOSO; print AU F1/acc/AUC and the
emotion-label-free 3-class MER beside the learnability ladder's yardsticks.

    python data_scripts/run_micro_au_clip.py                                  # fast profile, full model
    python data_scripts/run_micro_au_clip.py --reference --seeds 0 1 2        # docs/results.md's table
    python data_scripts/run_micro_au_clip.py --reference --variants lsi_only no_cl local_origcl
    python data_scripts/run_micro_au_clip.py --profile full --dataset casme2 --root /data/CASME2 --weights openai

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
from melib.data.mappings import THREE_CLASSES  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.methods import micro_au_clip as mac  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from melib.yardsticks import majority_row  # noqa: E402

DETECTION = ("f1_avg", "acc_avg", "auc_avg")
LABEL_FREE = ("uf1", "uar", "acc")


def main(argv: list[str] | None = None) -> int:
    parser = cli.experiment_parser(__doc__.splitlines()[0], list(mac.VARIANTS), ["full"], mac.REFERENCE_CPU,
                                   "one LOSO subject index or -1 for all")
    parser.add_argument("--ce", choices=mac.CE_MODES, default=None, help="multitask CE: paper | balanced")
    parser.add_argument("--no-label-free", action="store_true", help="skip the label-free MER (Eq. 13)")
    args = parser.parse_args(argv)
    exps = cli.experiments("micro_au_clip", args, **{k: getattr(args, k) for k in (
        "epochs", "batch_size", "lr", "image_size", "weights", "ce")})
    last = list(exps.values())[-1]  # its config and schedule close the table (the AUs are every variant's)
    manifest, cfg, schedule = last.manifest, last.config, last.schedule
    print(cli.describe(args))
    print(f"{args.dataset}: {len(manifest)} clips, {manifest['subject'].nunique()} subjects (LOSO)")
    rows, free_rows = [], []
    for (variant, seed), exp in exps.items():
        run, per_fold = cli.timed_run(variant, seed, partial(runs.run, exp, fold=args.fold, progress=True))
        results = run.results()
        if results is None:
            continue
        m = results["metrics"]
        rows.append({"variant": variant, "seed": seed, **{k: m[k] for k in DETECTION}, "s per fold": per_fold,
                     **{str(a): f for a, f in zip(m["aus"], m["f1"])}})
        if not args.no_label_free:
            free = mac.label_free_results(run, manifest)
            free_rows.append({"variant": variant, "seed": seed, **{k: free[k] for k in LABEL_FREE}})
    if not rows:
        return 0
    per_seed = pd.DataFrame(rows)
    aus = [c for c in per_seed.columns if c.startswith("AU")]
    text = ["AU detection, predictions pooled over every LOSO fold (mean ± sd over seeds):", "",
            markdown_table(cli.mean_sd_table(per_seed, "variant", [*DETECTION, *aus], 2))]
    rungs = ladder.ladder_table(ladder.run_ladder(manifest, cfg.aus, ("farneback", "onset"), protocol="loso",
                                                  progress=False))
    text += ["", "Yardsticks on the same clips and LOSO folds (linear probes of the learnability ladder):", "",
             markdown_table(rungs[["avg F1", "avg AUC"]].round(2))]
    if free_rows:
        names = [data.map_emotion(args.dataset, e, "3class") for e in manifest["emotion"]]
        kept = manifest[[n is not None for n in names]]
        y = np.array([THREE_CLASSES.index(n) for n in names if n is not None])
        free_rungs = ladder.emotion_rungs(kept, y, ("farneback", "onset"))
        free_rungs.loc["majority class"] = majority_row(y, 3)
        text += ["", "Emotion-label-free 3-class MER (Eq. 13; never trained on emotions), pooled over the folds:", "",
                 markdown_table(cli.mean_sd_table(pd.DataFrame(free_rows), "variant", LABEL_FREE, 2)), "",
                 "Supervised yardsticks for the same 3-class task (trained on the emotion labels):", "",
                 markdown_table(free_rungs[["uf1", "uar", "acc"]].round(2))]
    text += ["", f"{len(manifest)} clips, {manifest['subject'].nunique()} subjects, "
             f"profile {cli.resolve_profile(args)}"
             + (" (reference)" if args.reference else "") + f", model {cfg.model_name} at {cfg.image_size} px, "
             f"weights {cfg.weights}, flow {cfg.flow}, {schedule.epochs} epochs"]
    print("\n".join(text))
    out = config.outputs_root() / "micro_au_clip" / f"table_{args.dataset}_{last.profile}.md"
    io.write_text(out, "\n".join(text) + "\n")
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
