"""Train and evaluate IICL variants over the subject-independent 4-fold protocol; print the F1 table.

    python data_scripts/run_iicl.py                                   # fast profile: senet + iicl, 8 subjects
    python data_scripts/run_iicl.py --variants senet intracl intercl iicl --subjects 0 --epochs 12
    python data_scripts/run_iicl.py --reference --variants senet intracl intercl iicl --seeds 0 1 2  # docs/results.md's table
    python data_scripts/run_iicl.py --profile full --dataset casme2 --root /data/CASME2 --weights vggface_se50.pt

Every fold is load-or-train and resumable: re-running the same command after an interruption
continues where it stopped, and a finished command re-prints its table in seconds.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config, io  # noqa: E402
from melib.data import synthetic  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.methods import iicl  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = cli.experiment_parser(__doc__.splitlines()[0], sorted(iicl.VARIANTS), ["senet", "iicl"], iicl.REFERENCE_CPU,
                                   "one fold (0-3) or -1 for all",
                                   (("epochs", int), ("batch-size", int), ("lr", float), ("image-size", int),
                                    ("crop-size", int), ("alpha", float)))
    parser.add_argument("--backbone-size", choices=("18", "50"), default=None)
    parser.add_argument("--bce", choices=("paper", "balanced"), default=None,
                        help="Eq. 6 as published, or positives weighted by each AU's negatives/positives ratio")
    parser.add_argument("--batchnorm", choices=("joint", "separate"), default=None,
                        help="contrastive variants: onset/close/apex as one BatchNorm batch (joint) or one each")
    parser.add_argument("--workers", type=int, default=None, help="preprocessing processes")
    args = parser.parse_args(argv)
    flags = ("epochs", "batch_size", "lr", "image_size", "crop_size", "alpha", "backbone_size", "weights", "batchnorm",
             "bce")
    exps = cli.experiments("iicl", args, **{k: getattr(args, k) for k in flags})
    first = next(iter(exps.values()))
    manifest, cfg = first.manifest, first.config
    print(cli.describe(args))
    print(f"{args.dataset}: {len(manifest)} clips, {manifest['subject'].nunique()} subjects")
    first_seed, by_seed = {}, {}
    for (variant, seed), exp in exps.items():
        start = time.perf_counter()
        run = runs.run(exp, fold=args.fold, progress=True, workers=args.workers)
        by_seed.setdefault(variant, []).append(run)
        first_seed.setdefault(variant, run)  # the first seed's run: diagnostics and amplitude tables
        folds = run.fold_results()
        per_epoch = sum(f["seconds_per_epoch"] for f in folds) / max(len(folds), 1)
        print(f"{variant} seed {seed}: {time.perf_counter() - start:.0f} s, {per_epoch:.1f} s/epoch, run {run.dir}")
    paper_set = "samm" if args.dataset == "samm" else "casme2"
    if len(args.seeds) > 1:
        text = markdown_table(iicl.format_seed_table(iicl.seed_table(by_seed, paper_set)))
    else:
        text = markdown_table(iicl.f1_table(first_seed, paper_set))
    complete = [v for v, run in first_seed.items() if run.complete]
    if complete:
        aus = [f"AU{a}" for a in cfg.aus]
        checks = pd.concat({iicl.LABELS[v]: iicl.diagnostics(first_seed[v], manifest, cfg.aus).iloc[0]
                            for v in complete}, axis=1).T
        text += f"\n\nWhat the networks learned (seed {args.seeds[0]}; pooled over folds; the AU columns are ROC-AUC):\n\n" + markdown_table(checks)
        if args.dataset == "synthetic":
            clips = synthetic.clip_table(manifest.attrs["root"])
            by_amp = pd.DataFrame({iicl.LABELS[v]: iicl.f1_by_amplitude(first_seed[v], clips, aus)["AVG"]
                                   for v in complete})
            counts = iicl.f1_by_amplitude(first_seed[complete[0]], clips, aus)["clips"]
            text += "\n\nAverage F1 by true motion amplitude:\n\n" + markdown_table(by_amp.assign(clips=counts))
    print(text)
    seeds = "_seeds" if len(args.seeds) > 1 else ""
    out = config.outputs_root() / "iicl" / f"f1_table_{args.dataset}_{first.profile}{seeds}.md"
    io.write_text(out, text + "\n")
    print(f"tables written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
