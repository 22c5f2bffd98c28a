"""IICL training throughput: samples (clips) per second for one optimisation step, AMP off and on.

A sample is one clip: the baseline (senet) sees its apex, IICL its onset, close-to-apex and apex.
Synthetic random tensors stand in for the cached frames, so only the network and losses are timed.
On CPU "AMP" is torch.autocast(bfloat16); on CUDA, bfloat16 autocast plus channels_last (as the harness).

Run:  python benchmarks/bench_iicl_train.py [--steps 5] [--device cpu|cuda]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py
from timing import throughput_main, train_step_rate  # noqa: E402

from melib.methods import iicl  # noqa: E402
from melib.methods.iicl.model import build_model, get_variant  # noqa: E402

SETTINGS = {"fast (SE-ResNet-18, 64 px)": ("18", 64, 16), "full (SE-ResNet-50, 224 px)": ("50", 224, 32)}


def samples_per_second(variant: str, size: str, crop: int, batch: int, amp: bool, device: torch.device,
                       steps: int) -> float:
    torch.manual_seed(0)
    cfg, _, _ = iicl.preset("full", variant=variant)
    method, v = iicl.IICLMethod(cfg, cache=None), get_variant(variant)  # the harness's step, on a fixed batch
    model = build_model(v, len(cfg.aus), backbone_size=size).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = {k: torch.randn(batch, 3, crop, crop, device=device) for k in v.inputs}
    data["aus"] = (torch.rand(batch, len(cfg.aus), device=device) > 0.7).float()
    return train_step_rate(lambda: method.training_step(model, data), opt, batch, amp, device, steps)


def measure(variant: str, setting: tuple, amp: bool, device: torch.device, steps: int) -> float:
    size, crop, batch = setting
    return samples_per_second(variant, size, crop, batch, amp, device, steps)


def main() -> None:
    throughput_main(__doc__.splitlines()[0], SETTINGS, ("senet", "iicl"), "samples", measure)


if __name__ == "__main__":
    main()
