"""Where a token-based model looks: the landmark-to-token mapping of Micro-AU CLIP's LSI (Eq. 1) and
its patch-token attention per AU (PTA, Eqs. 2-3; the paper's Fig. 5), drawn on the input image."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _cells(token_index: np.ndarray, grid: tuple[int, int], size: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Flat row-major token indices -> ``(x, y, width, height)`` of their patches in image pixels."""
    (h, w), (height, width) = grid, size
    ch, cw = height / h, width / w
    return [((i % w) * cw, (i // w) * ch, cw, ch) for i in np.asarray(token_index).ravel()]


def _grid_lines(ax: plt.Axes, grid: tuple[int, int], size: tuple[int, int]) -> None:
    (h, w), (height, width) = grid, size
    for r in range(1, h):
        ax.axhline(r * height / h - 0.5, color="white", lw=0.4, alpha=0.6)
    for c in range(1, w):
        ax.axvline(c * width / w - 0.5, color="white", lw=0.4, alpha=0.6)


def landmark_tokens(image: np.ndarray, landmarks: np.ndarray, au_points: Mapping[int, Sequence[int]],
                    token_index: Mapping[int, Sequence[int]], grid: tuple[int, int], title: str = "") -> Figure:
    """The input ``image`` (H, W, 3) with the token grid, every AU's landmarks (``au_points``: AU ->
    dlib indices, Table I) and the patches Eq. 1 picks for it (``token_index``: AU -> flat indices)."""
    size = image.shape[:2]
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow(image)
    _grid_lines(ax, grid, size)
    colours = plt.get_cmap("tab10")
    for k, (au, points) in enumerate(au_points.items()):
        colour = colours(k % 10)
        for x, y, cw, ch in _cells(token_index[au], grid, size):
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), cw, ch, fill=True, alpha=0.18, color=colour, lw=0))
        pts = np.asarray(landmarks)[list(points)]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color=colour, edgecolor="black", lw=0.4, label=f"AU{au}")
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return fig


def token_attention(image: np.ndarray, weights: Mapping[int, np.ndarray], token_index: Mapping[int, np.ndarray],
                    grid: tuple[int, int], title: str = "") -> Figure:
    """One panel per AU: each picked patch shaded and labelled by its PTA weight ``W_j^n`` (Eq. 2; the
    weights of landmarks in the same patch add up, an AU's weights sum to 1): the paper's Fig. 5."""
    aus = list(weights)
    size = image.shape[:2]
    cols = min(4, len(aus))
    rows = int(np.ceil(len(aus) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.5 * rows), squeeze=False, layout="constrained")
    cmap = plt.get_cmap("magma")
    for ax, au in zip(axes.ravel(), aus):
        ax.imshow(image, alpha=0.55)
        _grid_lines(ax, grid, size)
        w = np.asarray(weights[au], dtype=float)
        idx = np.asarray(token_index[au])
        per_cell: dict[int, float] = {}
        for i, v in zip(idx, w):
            per_cell[int(i)] = per_cell.get(int(i), 0.0) + float(v)
        for i, v in per_cell.items():
            x, y, cw, ch = _cells([i], grid, size)[0]
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), cw, ch, color=cmap(0.25 + 0.75 * v), alpha=0.75, lw=0))
            ax.text(x + cw / 2, y + ch / 2, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white")
        ax.set_title(f"AU{au}", fontsize=8)
        ax.set_axis_off()
    for ax in axes.ravel()[len(aus):]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return fig


__all__ = ["landmark_tokens", "token_attention"]
