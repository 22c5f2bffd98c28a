"""Why SelfME falls on the motion-only twin: is the motion image at fault, or SCViT? On the DEVELOPMENT
datasets (seed-1 identities), never on the evaluation one.

    python data_scripts/make_synthetic.py --out data/synthetic_dev --seed 1
    python data_scripts/make_synthetic.py --out data/synthetic_dev_motion --seed 1 --appearance 0
    python data_scripts/diagnose_selfme_motion.py --root data/synthetic_dev_motion data/synthetic_dev

Each row is one motion source of SelfME's fast profile (the ViT-size motion images SCViT is trained on).
Per row and dataset: the motion's end-point error against the true motion (px at the ViT size, over the
truly moving pixels, after undoing MA), the UF1 of a linear probe on the motion image's dx, dy channels
(average-pooled to 16 x 16, the learnability ladder's probe, LOSO; SCViT also gets |d|) and, with
``--train``, the UF1 of SCViT trained on it (the harness's load-or-train run, seed 0). The true motion
and the ladder's own Farneback rung (flow on the cropped face at the front end's size) are probe-only
yardsticks.

Reading: a source whose probe UF1 is high while SCViT's is low carries the emotion and SCViT does not
learn it; a source whose probe UF1 is low has lost it before SCViT sees it. Caveat: the shipped motion
learner was pretrained (without labels) on the seed-1 default-appearance identities, so its rows are
in-sample for the learner on ``synthetic_dev`` and on the same faces without appearance on the twin.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from melib import ladder, metrics  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.methods import selfme as sm  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402

#: row -> SelfME fast-profile overrides (the shipped learner, no fine-tuning, applied at each frame size)
SOURCES: dict[str, dict] = {
    "learned, 64 px frames (fast profile)": {},
    "learned, 128 px frames": dict(frame_size=128),
    "learned, 256 px frames": dict(frame_size=256),
    "TV-L1 (256 px frames)": dict(motion="tvl1"),
    "Farneback (256 px frames)": dict(motion="farneback"),
}


def motion_features(clips: pd.DataFrame, cache, grid: int = ladder.FLOW_GRID) -> np.ndarray:
    """``(N, 2 grid^2)``: each clip's cached motion (dx, dy at the ViT size, as SCViT receives it before
    the fixed ``motion_scale``) average-pooled to ``grid x grid`` (the ladder's flow features)."""
    return np.stack([ladder.pool(cache.load(row)["motion"].transpose(1, 2, 0), grid)
                     for row in clips.to_dict("records")])


def truth_features(clips: pd.DataFrame, size: int, grid: int = ladder.FLOW_GRID) -> np.ndarray:
    """The same features of the true onset -> apex motion at the ViT size."""
    root = clips.attrs.get("root", "")
    return np.stack([ladder.pool(sm.true_motion(root, row, size).transpose(1, 2, 0), grid)
                     for row in clips.to_dict("records")])


def probe_uf1(x: np.ndarray, y: np.ndarray, clips: pd.DataFrame) -> float:
    """UF1 over the 3 classes of the ladder's LOSO emotion probe (pooled out-of-fold predictions)."""
    pred = ladder.emotion_probe(x, y, clips, "loso").argmax(1)
    return float(metrics.uf1(y, pred, list(range(int(y.max()) + 1))))


def diagnose(root: str, sources: list[str], subjects: int, train: bool) -> pd.DataFrame:
    """One row per source (and the two yardsticks) on the dataset at ``root``."""
    exps = {name: runs.experiment("selfme", seed=None, profile="fast", root=root, subjects=subjects, **SOURCES[name])
            for name in sources}
    clips = next(iter(exps.values())).clips  # the 3-class clips, the same for every source
    y = sm.class_index(clips)
    rows = []
    for name, exp in exps.items():
        began = time.perf_counter()
        method, _ = runs.harness(exp)
        epe = sm.motion_against_truth(clips, {"m": method.cache}, exp.config.vit_image_size)
        row = {"source": name, "EPE (px, moving)": epe["EPE m (moving)"].mean(),
               "true motion (px)": epe["true motion (px)"].mean(),
               "probe UF1": probe_uf1(motion_features(clips, method.cache), y, clips), "SCViT UF1": np.nan}
        if train:
            run = runs.run(exp)
            row["SCViT UF1"] = run.results()["metrics"]["uf1"]
        rows.append(row)
        print(f"  {name}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    size = sm.preset("fast", "synthetic")[0].vit_image_size
    rows.append({"source": "true motion (yardstick)", "probe UF1": probe_uf1(truth_features(clips, size), y, clips)})
    ladder_x = ladder.features(clips, "farneback", progress=False)
    rows.append({"source": "ladder's Farneback rung (yardstick)", "probe UF1": probe_uf1(ladder_x, y, clips)})
    return pd.DataFrame(rows).set_index("source")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", nargs="+", required=True, help="development datasets (make_synthetic.py --seed 1)")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--subjects", type=int, default=10, help="the subjects with most clips (default 10)")
    parser.add_argument("--train", action="store_true", help="also train SCViT on each source (load-or-train)")
    args = parser.parse_args(argv)
    for root in args.root:
        cli.require_development(root)
    for root in args.root:
        table = diagnose(root, args.sources, args.subjects, args.train)
        print(f"\n{root} ({args.subjects} subjects, 3 classes, LOSO, fast profile)\n")
        print(markdown_table(table.round(3)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
