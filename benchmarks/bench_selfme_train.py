"""SelfME training throughput, both stages: frame pairs per second for one motion-learner step (stage 1,
Eq. 8: multi-scale reconstruction + TPS equivariance, Adam) and motion images per second for one SCViT
step (stage 2, Eq. 16: cross-entropy + omega * SC loss), AMP off and on.

Random tensors stand in for the frames and cached motion images, so only the networks and losses are
timed (the input pipeline is `bench_gpu.py`'s job). Stage 1 uses the weight-free reconstruction pyramid
(the VGG-19 of Eq. 6 needs ImageNet weights). On CPU "AMP" is torch.autocast(bfloat16); on CUDA
bfloat16 autocast as the harness.

Run:  python benchmarks/bench_selfme_train.py [--steps 5] [--device cpu|cuda] [--amp both|off]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py
from timing import throughput_main, train_step_rate  # noqa: E402

from melib.methods import selfme as sm  # noqa: E402
from melib.methods.selfme.model import MotionLearner  # noqa: E402

#: label -> (profile, batch): each stage at its profile's frame and ViT size; batch 8 for both (the
#: learner's batch; SCViT trains with 8 in the fast profile and 32 in the paper)
SETTINGS = {"fast (64 px, 16-wide learner, 4-block ViT)": ("fast", 8),
            "full (256 px learner, ViT-S/16 at 224)": ("full", 8)}
STAGES = ("motion learner (Eq. 8)", "SCViT (Eq. 16)")


def measure(stage: str, setting: tuple, amp: bool, device: torch.device, steps: int) -> float:
    profile, batch = setting
    torch.manual_seed(0)
    cfg, _, _ = sm.preset(profile, checkpoint="")
    if stage == STAGES[0]:
        model = MotionLearner(cfg.num_kp, 3, cfg.expansion).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learner_lr, betas=(0.5, 0.999))
        source, target = (torch.rand(batch, 3, cfg.frame_size, cfg.frame_size, device=device) for _ in range(2))
        gen = torch.Generator().manual_seed(0)

        def loss() -> dict[str, torch.Tensor]:
            rec, eqv = sm.learner_losses(model, source, target, cfg, gen)
            return {"loss": rec + eqv}
    else:
        model = sm.build_model(cfg).to(device).train()
        method = sm.SelfMEMethod(cfg, cache=None)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        data = {"motion": torch.randn(batch, 3, cfg.vit_image_size, cfg.vit_image_size, device=device),
                "label": torch.arange(batch, device=device) % 3}

        def loss() -> dict[str, torch.Tensor]:
            return method.training_step(model, data)
    return train_step_rate(loss, opt, batch, amp, device, steps)


def main() -> None:
    throughput_main(__doc__.splitlines()[0], SETTINGS, STAGES, "samples", measure)


if __name__ == "__main__":
    main()
