"""What the training-throughput benchmarks share: a header line naming the machine, and items per
second of a step function (one warm-up call, CUDA synchronised)."""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch


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
