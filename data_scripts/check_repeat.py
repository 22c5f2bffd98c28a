"""Does a stored run repeat? Retrain it in scratch folders, once per torch thread count, and compare the
predictions with the stored run's, fold by fold.

    python data_scripts/check_repeat.py --method annotation_mimic --variant db+all --set classes=3class \\
        --subjects 10 --threads 1 2
    python data_scripts/check_repeat.py --method iicl --variant iicl --protocol kfold --subjects 10 --folds 0

The stored run is the one the same flags name under ``MELIB_OUTPUTS`` (train it first, e.g. with
``make report``); it is only read. Each repeat trains afresh under
``<outputs>/repeat/<run key>/threads<N>/`` (cleared first) with the same input caches (``MELIB_CACHE``)
and SelfME's stored motion learners (linked), so only the training itself is repeated. On this project's
CPU the convolutional methods repeat bit for bit at the stored run's thread count and not at another
(docs/setup.md, "Repeating a run").
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config, train  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.io import save_json  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", required=True, choices=list(runs.METHODS))
    p.add_argument("--variant", default=None, help="default: the method's full model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--protocol", default=None, help="kfold | loso (default: the paper's)")
    p.add_argument("--dataset", default="synthetic", choices=cli.DATASETS)
    p.add_argument("--root", default="")
    p.add_argument("--profile", default="fast", choices=("fast", "full"))
    p.add_argument("--reference", action="store_true", help="the method's CPU reference setting (docs/results.md)")
    p.add_argument("--subjects", type=int, default=None, help="N subjects with most clips; 0 = all")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config or schedule overrides")
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="torch thread counts to repeat with")
    p.add_argument("--folds", type=int, nargs="+", default=None, help="only these folds (default: all)")
    return p


def compare(stored: Path, repeat: Path, folds: list[int]) -> dict[str, object]:
    """Largest score difference per fold, and whether every saved array is equal."""
    diffs, identical = [], []
    for f in folds:
        a, b = (np.load(d / f"fold{f}" / "predictions.npz") for d in (stored, repeat))
        if sorted(a.files) != sorted(b.files) or a["scores"].shape != b["scores"].shape:
            raise SystemExit(f"fold {f}: {stored} and {repeat} hold predictions of different shape")
        diffs.append(float(np.abs(a["scores"].astype(np.float64) - b["scores"]).max()) if a["scores"].size else 0.0)
        identical.append(all(np.array_equal(a[k], b[k]) for k in a.files))
    return {"max_score_diff": max(diffs), "folds_identical": f"{sum(identical)}/{len(folds)}",
            "per_fold_max_diff": diffs}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if any(n < 1 for n in args.threads):
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    overrides = cli.parse_sets(args.set)
    if args.subjects is not None:
        overrides["subjects"] = args.subjects
    kwargs = dict(method=args.method, variant=args.variant, seed=args.seed, profile=args.profile,
                  protocol=args.protocol, dataset=args.dataset, root=args.root, reference=args.reference, **overrides)
    exp = runs.experiment(**kwargs)
    stored = runs.locate(exp)
    folds = args.folds if args.folds is not None else list(range(exp.n_folds))
    bad = [f for f in folds if not 0 <= f < exp.n_folds]
    if bad:
        raise SystemExit(f"{exp.label()}: folds {bad} out of range (0..{exp.n_folds - 1})")
    missing = sorted(set(folds) - set(stored.done_folds()))
    if missing:
        raise SystemExit(f"{stored.dir}: folds {missing} are not trained; train the run first (e.g. "
                         f"data_scripts/run_folds.py with the same flags), then check that it repeats")
    trained_by = {f.get("machine", {}).get("torch_threads") for f in stored.fold_results() if f["fold"] in folds}
    stored_threads = trained_by.pop() if len(trained_by) == 1 else None  # None: not recorded, or mixed
    scratch = config.outputs_root() / "repeat" / stored.dir.name
    print(config.describe_run({"run": exp.label(), "stored": str(stored.dir), "stored torch threads": stored_threads,
                               "folds": len(folds), "scratch": str(scratch)}))
    learners, rows = config.outputs_root() / "selfme", []
    for n in args.threads:
        root = scratch / f"threads{n}"
        shutil.rmtree(root / "runs", ignore_errors=True)  # a repeat trains from scratch, every time
        root.mkdir(parents=True, exist_ok=True)
        if learners.is_dir() and not (root / "selfme").exists():
            (root / "selfme").symlink_to(learners, target_is_directory=True)  # SelfME's stored motion learners
        with config.outputs_at(root), train.torch_threads(n):
            again = runs.experiment(**kwargs)
            key = runs.locate(again).dir.name
            if key != stored.dir.name:
                raise SystemExit(f"the repeat's run key {key} is not the stored {stored.dir.name}")
            for f in folds:
                repeat = runs.run(again, fold=f)
        row = {"torch threads": n, **compare(stored.dir, repeat.dir, folds)}
        if repeat.complete:  # every fold: the pooled headline metric of both
            before, after = stored.results()["metrics"], repeat.results()["metrics"]
            metric = "f1_avg" if "f1_avg" in before else "uf1"
            row |= {f"stored {metric}": before[metric], f"repeat {metric}": after[metric]}
        rows.append(row)
    table = pd.DataFrame(rows)
    print(table.drop(columns="per_fold_max_diff").to_string(index=False))
    save_json(scratch / "repeat.json", {"run": exp.label(), "stored": str(stored.dir),
                                         "stored_torch_threads": stored_threads, "folds": folds, "repeats": rows})
    print(f"saved {scratch / 'repeat.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
