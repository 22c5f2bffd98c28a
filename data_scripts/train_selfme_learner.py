"""Pretrain SelfME's motion learner on a synthetic dataset of OTHER identities (the analogue of the
paper's VoxCeleb pretraining) and write the state dict that ``SelfMEConfig.checkpoint`` loads.

    python data_scripts/make_synthetic.py --out data/synthetic_dev --seed 1      # identities disjoint from the default set
    python data_scripts/train_selfme_learner.py --root data/synthetic_dev --steps 2000

melib ships the result for the fast profile (``melib/models/weights/selfme_learner_fast.pt``), trained
this way on the seed-1 dataset, so no subject of the default dataset (seed 0) was ever seen. Resumable.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402

from melib import data, loop, splits  # noqa: E402
from melib.methods import selfme as sm  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="synthetic dataset of identities the evaluation never uses")
    parser.add_argument("--profile", default="fast", choices=("fast", "full"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--frames-per-clip", type=int, default=15)
    parser.add_argument("--out", default=str(sm.SHIPPED_LEARNER))
    args = parser.parse_args(argv)
    cli.require_development(args.root)
    manifest = data.load_manifest("synthetic", args.root)
    cfg, _, _ = sm.preset(args.profile, learner_steps=args.steps, frames_per_clip=args.frames_per_clip, checkpoint="")
    start = time.perf_counter()
    model, info = sm.train_motion_learner(manifest, splits.loso_subjects(manifest), cfg, progress=True)
    history = info["history"]
    print(f"trained {args.steps} steps on {len(manifest)} clips of {manifest['subject'].nunique()} subjects in "
          f"{time.perf_counter() - start:.0f} s; last 50 steps: reconstruction {history[-50:, 1].mean():.3f}, "
          f"equivariance {history[-50:, 2].mean():.3f}")
    loop.save_checkpoint(Path(args.out), model.state_dict())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
