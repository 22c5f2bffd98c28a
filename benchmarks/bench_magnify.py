"""Measured amplification of melib.motion.magnify (Eulerian, Wu et al. 2012) against alpha.

A textured image f (sum of random plane waves, evaluated analytically) translates by
delta(t) = A sin(2 pi f0 t) * (1, 0.5) px. EVM predicts output frames f(x + (1 + alpha) delta(t))
(EVM, 'first-order motion'), so the expected displacement gain is 1 + alpha. Each output frame's shift against the
unshifted f is measured with ``global_translation`` (Lucas-Kanade, ~1e-3 px) and the gain is the
least-squares fit of measured x-shift on delta_x. For the IIR filter the expected gain is
|1 + alpha H(f0)|, H the filter's frequency response (it lags, so the fit uses sine and cosine
and skips the first second of warm-up). Pair mode: onset f(x), apex f(x + d), gain = shift / d.

Run:  python benchmarks/bench_magnify.py
"""
from __future__ import annotations

import os
import platform
import time

import cv2
import numpy as np

from melib.motion.flow import global_translation
from melib.motion.magnify import eulerian, magnify_pair

SIZE, FPS, F0, AMPLITUDE, LOW, HIGH = 128, 30.0, 3.0, 0.15, 2.0, 4.0
TEXTURES = {"smooth (wavelengths 48-96 px)": (48, 96), "fine (wavelengths 8-32 px)": (8, 32)}


def texture(x: np.ndarray, y: np.ndarray, wavelengths: tuple[float, float], seed: int = 0,
            waves: int = 24) -> np.ndarray:
    """128 +- ~100 grey levels: sum of plane waves with uniform wavelengths in the given range."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(x)
    for _ in range(waves):
        lam, theta, phase = rng.uniform(*wavelengths), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.cos(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / lam + phase)
    return 128 + 100 * out / np.sqrt(2 * waves)


def clip(shifts_x: np.ndarray, wavelengths: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    return np.stack([texture(xx + s, yy + 0.5 * s, wavelengths) for s in shifts_x]).astype(np.float32)


def iir_response(f: float, low: float, high: float, fps: float) -> complex:
    """Frequency response of the difference of two exponential low-passes used by ``eulerian``."""
    z = np.exp(-2j * np.pi * f / fps)
    lowpass = lambda r: r / (1 - (1 - r) * z)  # noqa: E731
    return lowpass(1 - np.exp(-2 * np.pi * high / fps)) - lowpass(1 - np.exp(-2 * np.pi * low / fps))


def measure_clip(frames: np.ndarray, reference: np.ndarray, start: int) -> float:
    """Amplitude of the measured x-shift at the driving frequency, divided by the input amplitude."""
    shifts = np.array([global_translation(frame, reference)[0] for frame in frames[start:]])
    t = np.arange(start, len(frames)) / FPS
    basis = np.stack([np.sin(2 * np.pi * F0 * t), np.cos(2 * np.pi * F0 * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, shifts, rcond=None)
    return float(np.hypot(*coef) / AMPLITUDE)


def main() -> None:
    print(f"machine: {platform.platform()}, python {platform.python_version()}, "
          f"cpu_count={os.cpu_count()}, cv2 {cv2.__version__}, cv2 threads={cv2.getNumThreads()}")
    print(f"{SIZE}x{SIZE} grey float frames, {FPS:g} fps, shift {AMPLITUDE} px x sin(2 pi {F0:g} Hz t), "
          f"pass band {LOW:g}-{HIGH:g} Hz, lambda_c = 16 px; error = measured / expected - 1\n")
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    print("| texture | mode | alpha | expected gain | measured gain | error | ms (magnify) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for tex_name, wavelengths in TEXTURES.items():
        reference = texture(xx, yy, wavelengths).astype(np.float32)
        for mode in ("ideal", "ideal, no attenuation", "iir", "pair"):
            n_frames = 90 if mode == "iir" else 30
            delta = AMPLITUDE * np.sin(2 * np.pi * F0 * np.arange(n_frames) / FPS)
            frames = clip(delta, wavelengths)
            for alpha in (2, 5, 10, 20):
                if mode == "pair":
                    apex = texture(xx + AMPLITUDE, yy + 0.5 * AMPLITUDE, wavelengths).astype(np.float32)
                    start = time.perf_counter()
                    out = magnify_pair(reference, apex, alpha)
                    elapsed = 1000 * (time.perf_counter() - start)
                    measured = global_translation(out, reference)[0] / AMPLITUDE
                    expected = 1 + alpha
                else:
                    start = time.perf_counter()
                    out = eulerian(frames, alpha, LOW, HIGH, FPS, filter=mode.split(",")[0],
                                   attenuate="no attenuation" not in mode)
                    elapsed = 1000 * (time.perf_counter() - start)
                    warmup = int(FPS) if mode == "iir" else 0
                    measured = measure_clip(out, reference, warmup)
                    response = iir_response(F0, LOW, HIGH, FPS) if mode == "iir" else 1.0
                    expected = abs(1 + alpha * response)
                print(f"| {tex_name} | {mode} | {alpha} | {expected:.2f} | {measured:.2f} | "
                      f"{measured / expected - 1:+.1%} | {elapsed:.0f} |")


if __name__ == "__main__":
    main()
