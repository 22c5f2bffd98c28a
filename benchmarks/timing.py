"""What the training-throughput benchmarks share: a header line naming the machine, and items per
second of a step function (one warm-up call, CUDA synchronised)."""
from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from melib import loop


def machine_line(device: torch.device) -> str:
    """One line: platform, CPU or GPU name, cores, torch version, threads and device."""
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"{platform.processor() or platform.machine()}"
    return (f"machine: {platform.platform()}, {name}, cpu_count={os.cpu_count()}, torch {torch.__version__}, "
            f"threads={torch.get_num_threads()}, device={device}")


def items_per_second(step: Callable[[], None], items_per_step: int, device: torch.device, steps: int) -> float:
    """``items_per_step * steps`` divided by the wall time of ``steps`` calls of ``step`` after one warm-up."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return items_per_step * steps / (time.perf_counter() - start)


def train_step_rate(losses: Callable[[], dict[str, torch.Tensor]], optimizer: torch.optim.Optimizer,
                    items_per_step: int, amp: bool, device: torch.device, steps: int) -> float:
    """Items per second of full optimisation steps: ``losses()`` (a method's ``training_step`` on a fixed batch,
    or a loss dict with ``"loss"``) under bf16 autocast when ``amp``, then the training loop's own update,
    :func:`melib.loop.optimise` (zero_grad, backward of ``"loss"``, step), as the harness trains."""
    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = losses()
        loop.optimise(out, optimizer)

    return items_per_second(step, items_per_step, device, steps)


def throughput_main(description: str, settings: dict[str, Any], variants: Sequence[str], unit: str,
                    measure: Callable[[str, Any, bool, torch.device, int], float]) -> None:
    """The command line every training-throughput benchmark shares: ``--steps --device --settings
    --amp``; prints the machine line and one Markdown row per (setting, variant) with
    ``measure(variant, settings[label], amp, device, steps)`` AMP off and on. ``settings[label]``
    is a tuple whose last element is the batch size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--settings", nargs="+", default=list(settings), choices=list(settings))
    parser.add_argument("--amp", choices=("both", "off"), default="both",
                        help="'off' skips AMP (bf16 autocast is very slow on CPUs without bf16 units)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(machine_line(device))
    print(f"| setting | variant | batch | AMP off ({unit}/s) | AMP on ({unit}/s) |")
    print("|---|---|---:|---:|---:|")
    for label in args.settings:
        setting = settings[label]
        for variant in variants:
            off = measure(variant, setting, False, device, args.steps)
            on = measure(variant, setting, True, device, args.steps) if args.amp == "both" else None
            print(f"| {label} | {variant} | {setting[-1]} | {off:.1f} | {'-' if on is None else f'{on:.1f}'} |",
                  flush=True)
