"""Accuracy (EPE) and speed of melib.motion.optical_flow on synthetic pairs with known flow.

Each pair: a textured image B(x) (a sum of random plane waves, evaluated analytically so no
interpolation error enters the truth), a smooth random displacement field d(x) (Gaussian-filtered
noise scaled to a given maximum length) and A(x) = B(x + d(x)); so the true flow A -> B is exactly d.
Optional Gaussian noise (grey levels out of 255) models sensor noise; images are stored as uint8.

Run:  python benchmarks/bench_flow.py [--size 256] [--seeds 2]
Prints machine info and a markdown table: EPE over the interior (8 px margin dropped) and "scale",
the least-squares slope of estimated on true flow (1 = unbiased, < 1 = motion under-estimated).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from melib.motion.flow import endpoint_error, flow_magnitude, optical_flow

METHODS = {  # label -> (method, params)
    "TV-L1 default": ("tvl1", {}),
    "TV-L1 fast": ("tvl1", {"preset": "fast"}),
    "Farneback": ("farneback", {}),
    "DIS medium": ("dis", {}),
}


def texture(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, waves: int = 64) -> np.ndarray:
    """Sum of plane waves, wavelengths log-uniform in [6, 64] px, amplitude ~ sqrt(wavelength)."""
    out = np.zeros_like(x)
    wavelengths = np.exp(rng.uniform(np.log(6), np.log(64), waves))
    for lam in wavelengths:
        theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.sqrt(lam) * np.cos(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / lam + phase)
    return out


def smooth_field(size: int, max_len: float, rng: np.random.Generator, sigma: float = 24.0) -> np.ndarray:
    """(H, W, 2) smooth random displacement field with maximum length ``max_len`` px."""
    field = np.stack([gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
                      for _ in range(2)], axis=-1)
    return field * (max_len / np.hypot(field[..., 0], field[..., 1]).max())


def make_pair(size: int, max_len: float, noise: float, seed: int):
    """(a, b, true_flow) with a(x) = b(x + true_flow(x)), uint8 images."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = smooth_field(size, max_len, rng)
    tex_seed = int(rng.integers(1 << 31))
    b = texture(xx, yy, np.random.default_rng(tex_seed))
    a = texture(xx + flow[..., 0], yy + flow[..., 1], np.random.default_rng(tex_seed))
    lo, hi = b.min(), b.max()

    def to_u8(img: np.ndarray) -> np.ndarray:
        img = 20 + 215 * (img - lo) / (hi - lo) + noise * rng.standard_normal(img.shape)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    return to_u8(a), to_u8(b), flow.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, python {platform.python_version()}, "
          f"cpu_count={os.cpu_count()}, cv2 {cv2.__version__}, cv2 threads={cv2.getNumThreads()}")
    print(f"image {args.size}x{args.size}, {args.seeds} pair(s) per row, EPE in px over the "
          f"interior (8 px margin dropped); time = median wall-clock per pair\n")

    mask = np.zeros((args.size, args.size), bool)
    mask[8:-8, 8:-8] = True
    print("| max |d| (px) | noise (grey lvls) | mean |d| (px) | method | EPE (px) | EPE / mean |d| "
          "| scale | ms/pair |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for max_len in (0.25, 1.0, 3.0):
        for noise in (0.0, 2.0):
            pairs = [make_pair(args.size, max_len, noise, seed) for seed in range(args.seeds)]
            mean_len = float(np.mean([flow_magnitude(t)[mask].mean() for _, _, t in pairs]))
            for label, (method, params) in METHODS.items():
                errors, times, scales = [], [], []
                for a, b, truth in pairs:
                    start = time.perf_counter()
                    flow = optical_flow(a, b, method, **params)
                    times.append(time.perf_counter() - start)
                    errors.append(endpoint_error(flow, truth, mask))
                    scales.append(float((flow[mask] * truth[mask]).sum() / (truth[mask] ** 2).sum()))
                epe = float(np.mean(errors))
                print(f"| {max_len:g} | {noise:g} | {mean_len:.3f} | {label} | {epe:.3f} | "
                      f"{epe / mean_len:.2f} | {np.mean(scales):.2f} | {1000 * np.median(times):.0f} |")


if __name__ == "__main__":
    main()
