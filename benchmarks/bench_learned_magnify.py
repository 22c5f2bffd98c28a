"""Benchmark of the learned magnifier (Oh et al. 2018, melib.motion.learned).

Loads (or trains and caches) the model of a profile, then prints
1. the measured magnification factor vs alpha on held-out synthetic pairs (global sub-pixel motion),
2. the same on a face photo (Grace Hopper, matplotlib sample data; not a training texture)
   translated by a known sub-pixel shift,
3. the CPU time per pair at face-crop sizes.

    python benchmarks/bench_learned_magnify.py [--profile fast] [--checkpoint FILE] [--figure out.png]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import ndimage

from melib.motion.learned import (cached_weights_path, estimate_shift, load_or_train, magnify_pair, magnify_pairs,
                                  measure_magnification)
from melib.motion.learned.training import load_checkpoint, preset
from melib.train import torch_threads

ALPHAS = [1.0, 2.0, 3.0, 6.0, 10.0]
FACE_SHIFTS = [(0.6, -0.3), (-0.4, 0.5), (0.3, 0.8)]  # (dx, dy) in pixels at 128 x 128


def face_crop(size: int = 128) -> np.ndarray:
    """Grace Hopper's face, ``(size, size, 3)`` float in [0, 1]."""
    import matplotlib.cbook
    import matplotlib.image
    from skimage.transform import resize

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        image = matplotlib.image.imread(fh, format="jpg")
    return resize(image[110:366, 128:384] / 255.0, (size, size), anti_aliasing=True)


def translate(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Move the content by (dx, dy) px (cubic spline), quantised to 8 bits like a camera frame."""
    moved = ndimage.shift(image, (dy, dx, 0), order=3, mode="reflect")
    return np.round(np.clip(moved, 0, 1) * 255) / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="fast", choices=["fast", "full", "auto"])
    parser.add_argument("--checkpoint", default=None, help="user weights file (default: cache, else train)")
    parser.add_argument("--figure", default=None, help="save an onset/apex/magnified panel to this PNG")
    args = parser.parse_args()

    config = preset(args.profile)
    model = load_or_train(args.checkpoint, profile=config, device="cpu")
    if args.checkpoint is None:
        state = load_checkpoint(cached_weights_path(config))
        print(f"training time recorded in the checkpoint: {state['elapsed_s']:.0f} s for {state['step']} steps "
              "(load_or_train trains on 1 torch thread by default)")

    print("\n1. held-out synthetic pairs (seed 12345, whole frame moves 0.3-1 px, 16 pairs per alpha)")

    def network(x_a: torch.Tensor, x_b: torch.Tensor, alpha: float) -> torch.Tensor:
        return (model(x_a * 2 - 1, x_b * 2 - 1, alpha) + 1) / 2

    def apex_detail(x_a: torch.Tensor, x_b: torch.Tensor, alpha: float) -> torch.Tensor:
        return x_b + network(x_a, x_b, alpha) - network(x_a, x_b, 1.0)

    plain = measure_magnification(network, ALPHAS, n_pairs=16, config=config.data)
    detail = measure_magnification(apex_detail, ALPHAS, n_pairs=16, config=config.data)
    print(f"{'alpha':>6} {'network':>8} {'IQR':>5} {'angle':>6} {'apex-detail':>12} {'target':>7}")
    for row, row_detail in zip(plain, detail):
        print(f"{row['alpha']:6.1f} {row['factor_median']:8.2f} {row['factor_iqr']:5.2f} "
              f"{row['angle_median_deg']:5.1f}° {row_detail['factor_median']:12.2f} "
              f"{row['target_factor_median']:7.2f}")
    print("   factor = median <shift(x_a -> output), d> / |d|^2 over the pairs; network = magnify_pair output,\n"
          "   apex-detail = keep_apex_detail=True; target = the generator's own Y (checks the measurement)")

    face = face_crop()
    print(f"\n2. face photo 128x128, translated by {FACE_SHIFTS} px: factor per shift")
    print(f"{'alpha':>6} {'network':>26}   {'apex-detail':>26}")
    for alpha in ALPHAS:
        factors = {False: [], True: []}
        for dx, dy in FACE_SHIFTS:
            d = np.array([dx, dy])
            for keep in factors:
                out = magnify_pair(model, face, translate(face, dx, dy), alpha, keep_apex_detail=keep)
                factors[keep].append(estimate_shift(face, out) @ d / (d @ d))
        print(f"{alpha:6.1f} " + " ".join(f"{f:8.2f}" for f in factors[False]) + "   "
              + " ".join(f"{f:8.2f}" for f in factors[True]))

    print("\n3. CPU time per pair (wall clock; other processes on the machine change it a lot)")
    for threads in sorted({1, torch.get_num_threads()}):
        with torch_threads(threads):
            for size in (128, 224):
                img = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
                magnify_pair(model, img, img, 3.0)
                began = time.perf_counter()
                for _ in range(5):
                    magnify_pair(model, img, img, 3.0)
                single = (time.perf_counter() - began) / 5
                batch = np.stack([img] * 16)
                began = time.perf_counter()
                magnify_pairs(model, batch, batch, 3.0, batch_size=8)
                batched = (time.perf_counter() - began) / 16
                print(f"   {threads} thread(s), {size}x{size}: {1000 * single:.1f} ms one pair, "
                      f"{1000 * batched:.1f} ms/pair in batches of 8")

    if args.figure:
        save_panel(model, face, args.figure)


def save_panel(model: torch.nn.Module, face: np.ndarray, path: str) -> None:
    import matplotlib.pyplot as plt

    from melib.io import atomic_path

    apex = translate(face, 0.6, -0.3)
    panels = {"onset": face, "apex (0.6, -0.3) px": apex,
              "x3": magnify_pair(model, face, apex, 3.0), "x6": magnify_pair(model, face, apex, 6.0),
              "x6, keep_apex_detail": magnify_pair(model, face, apex, 6.0, keep_apex_detail=True)}
    panels["|apex - onset| x10"] = np.clip(np.abs(apex - face).mean(2) * 10, 0, 1)
    panels["|x6 - onset| x10 / 6"] = np.clip(np.abs(panels["x6"] - face).mean(2) * 10 / 6, 0, 1)
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.2))
    for ax, (title, img) in zip(axes, panels.items()):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", dpi=100)
    plt.close(fig)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
