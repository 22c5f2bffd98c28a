"""Why the annotation-mimic *official* configuration stays near chance: one piece at a time, on the
DEVELOPMENT dataset (seed-1 identities), never on the evaluation one.

    python data_scripts/make_synthetic.py --out data/synthetic_dev --seed 1
    python data_scripts/diagnose_mimic_official.py --root data/synthetic_dev

Signal: the training cross-entropy of the two heads (Eq. 7, summed; 2 ln 3 = 2.20 is a uniform guess),
per epoch, on LOSO folds 0 and 1 of the 10 subjects with most clips, fast profile (64 px, 8 epochs
unless a row says otherwise). A configuration whose *training* loss stays at 2.2 does not fit the data
at all, so its test scores cannot be better than chance; no test score is read here.

Rows switch one piece of :class:`melib.methods.annotation_mimic.MimicConfig`: the training side, or one piece
of the official network (``net:`` rows, the network switches ``sa_gate``, ``dropout`` and ``feature_norm`` of
:class:`melib.methods.annotation_mimic.model.MimicNet`, which the run key hashes). Each row writes under its own
folder of ``--out``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402

from melib import config  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.io import load_json  # noqa: E402

PAPER_TRAINING = dict(label_smoothing=0.0, random_erasing="default", inference="softmax_sum", wscl_variant="paper")
OFFICIAL_TRAINING = dict(label_smoothing=0.1, random_erasing="official", inference="logit_sum", wscl_variant="official")
#: row -> MimicConfig / schedule overrides (3 classes)
ROWS: dict[str, dict] = {
    "paper": {},
    "official": dict(config="official"),
    "paper, 24 epochs": dict(epochs=24),
    "official, 24 epochs": dict(config="official", epochs=24),
    "official net, paper training": dict(config="official", **PAPER_TRAINING),
    "paper net, official training": dict(config="paper", **OFFICIAL_TRAINING),
    "paper net, official WSCL only": dict(config="paper", wscl_variant="official"),
    "paper net, label smoothing only": dict(config="paper", label_smoothing=0.1),
    "official, no erasing": dict(config="official", random_erasing="none"),
    "official, no WSCL": dict(config="official", lam=0.0),
    "net: official, sigmoid SA gate": dict(config="official", sa_gate="sigmoid"),
    "net: official, no dropout": dict(config="official", dropout="off"),
    "net: official, no feature normalisation": dict(config="official", feature_norm="off"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the development dataset (make_synthetic.py --seed 1)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--out", default="outputs/diagnose_mimic_official")
    args = parser.parse_args(argv)
    cli.require_development(args.root)
    print("| row | training CE by epoch, fold 0 | fold 1 | last epoch (mean of folds) |")
    print("|---|---|---|---:|")
    for row in args.rows:
        exp = runs.experiment("annotation_mimic", seed=None, profile="fast", root=args.root, subjects=10,
                              classes="3class", **ROWS[row])
        start, curves = time.perf_counter(), []
        with config.outputs_at(Path(args.out).resolve() / slug(row)):  # runs/<method>/<key> under it
            for fold in (0, 1):
                run = runs.run(exp, fold=fold)
                curves.append([h["cls"] for h in load_json(run.fold_dir(fold) / "result.json")["history"]])
        text = [" ".join(f"{v:.2f}" for v in c) for c in curves]
        print(f"| {row} | {text[0]} | {text[1]} | {(curves[0][-1] + curves[1][-1]) / 2:.2f} |", flush=True)
        print(f"  ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


def slug(row: str) -> str:
    return row.replace(":", "").replace(",", "").replace(" ", "_")


if __name__ == "__main__":
    raise SystemExit(main())
