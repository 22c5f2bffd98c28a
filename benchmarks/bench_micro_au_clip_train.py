"""Micro-AU CLIP training throughput: flow images per second for one optimisation step (Eq. 12:
multitask CE + MiAUCL + GD loss), AMP off and on, for the full model and the "no CL" ablation.

Random tensors stand in for the cached flow images and landmarks, so only the network and losses are
timed. The encoders fine-tune their last three blocks (the paper); the text tower runs every step when
it trains. On CPU "AMP" is torch.autocast(bfloat16); on CUDA bfloat16 autocast as the harness.

Run:  python benchmarks/bench_micro_au_clip_train.py [--steps 5] [--device cpu|cuda] [--amp both|off]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py
from timing import throughput_main, train_step_rate  # noqa: E402

from melib.methods import micro_au_clip as mac  # noqa: E402
from melib.face.template import TEMPLATE_68  # noqa: E402

#: label -> (model_name, image size, batch)
SETTINGS = {"fast (tiny, 56 px)": ("tiny", 56, 8), "CPU alt (ViT-S-16, 112 px)": ("ViT-S-16", 112, 8),
            "full (ViT-B-32, 224 px)": ("ViT-B-32", 224, 8)}


def images_per_second(variant: str, model_name: str, size: int, batch: int, amp: bool, device: torch.device,
                      steps: int) -> float:
    torch.manual_seed(0)
    cfg, _, _ = mac.preset("full", variant=variant, model_name=model_name, image_size=size)
    method = mac.MicroAUCLIPMethod(cfg, cache=None)
    model = mac.build_model(cfg).to(device)
    opt = torch.optim.SGD(method.param_groups(model, 0.01), lr=0.01, momentum=0.9)
    landmarks = (torch.tensor(TEMPLATE_68.copy(), dtype=torch.float32) * size)[None].repeat(batch, 1, 1)
    data = {"image": torch.randn(batch, 3, size, size), "landmarks": landmarks,
            "aus": (torch.rand(batch, len(cfg.aus)) > 0.7).float()}
    data = {k: v.to(device) for k, v in data.items()}

    return train_step_rate(lambda: method.training_step(model, data), opt, batch, amp, device, steps)


def measure(variant: str, setting: tuple, amp: bool, device: torch.device, steps: int) -> float:
    model_name, size, batch = setting
    return images_per_second(variant, model_name, size, batch, amp, device, steps)


def main() -> None:
    throughput_main(__doc__.splitlines()[0], SETTINGS, ("full", "no_cl"), "images", measure)


if __name__ == "__main__":
    main()
