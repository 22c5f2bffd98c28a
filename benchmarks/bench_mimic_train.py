"""Annotation-mimic training throughput: clips per second for one optimisation step (Eq. 8 with WSCL),
AMP off and on, for the single-branch baseline and the full dual-branch model.

Random tensors stand in for the cached 3-channel inputs, so only the network and losses are timed.
On CPU "AMP" is torch.autocast(bfloat16); on CUDA, bfloat16 autocast plus channels_last (as the harness).

Run:  python benchmarks/bench_mimic_train.py [--steps 5] [--device cpu|cuda] [--amp both|off]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py
from timing import throughput_main, train_step_rate  # noqa: E402

from melib.methods import annotation_mimic as am  # noqa: E402
from melib.methods.annotation_mimic.model import build_model  # noqa: E402

SETTINGS = {"fast (64 px)": (64, 16), "full (224 px)": (224, 128)}


def clips_per_second(variant: str, size: int, batch: int, amp: bool, device: torch.device, steps: int) -> float:
    torch.manual_seed(0)
    cfg, _, _ = am.preset("full", variant=variant)
    method = am.MimicMethod(cfg, None, ("negative", "positive", "surprise"), range(8))  # the harness's step
    model = build_model(variant, 3).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = {"image": torch.randn(batch, 3, size, size, device=device),
            "label": torch.randint(0, 3, (batch,), device=device),
            "aus": (torch.rand(batch, 8, device=device) > 0.7).float()}
    return train_step_rate(lambda: method.training_step(model, data), opt, batch, amp, device, steps)


def measure(variant: str, setting: tuple, amp: bool, device: torch.device, steps: int) -> float:
    size, batch = setting
    return clips_per_second(variant, size, batch, amp, device, steps)


def main() -> None:
    throughput_main(__doc__.splitlines()[0], SETTINGS, ("sb", "db+all"), "clips", measure)


if __name__ == "__main__":
    main()
