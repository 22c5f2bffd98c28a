"""Plots of training runs and results tables (every number drawn comes from a run folder on disk)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..train import Run


def training_curves(run: Run, terms: Sequence[str] | None = None) -> Figure:
    """Per-epoch mean of each loss term, one line per fold (from ``fold<k>/result.json``)."""
    folds = run.fold_results()
    if not folds:
        raise FileNotFoundError(f"{run.dir}: no finished fold to plot")
    skip = {"epoch", "lr", "seconds"}
    terms = list(terms or [k for k in folds[0]["history"][0] if k not in skip])
    fig, axes = plt.subplots(1, len(terms), figsize=(2.6 * len(terms), 2.5), squeeze=False)
    for ax, term in zip(axes[0], terms):
        for fold in folds:
            history = fold["history"]
            ax.plot([h["epoch"] + 1 for h in history], [h[term] for h in history], marker=".",
                    label=f"fold {fold['fold']}")
        ax.set(title=term, xlabel="epoch")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].legend(fontsize=7, frameon=False)
    return fig


def f1_bars(table: pd.DataFrame) -> Figure:
    """Grouped bars of a per-AU F1 table indexed by (method, source), e.g. ours beside the paper's."""
    labels = [" ".join(i) if isinstance(i, tuple) else str(i) for i in table.index]
    n, cols = len(table), list(table.columns)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cols)), 3.2))
    for i, (label, (_, row)) in enumerate(zip(labels, table.iterrows())):
        paper = "paper" in label
        ax.bar(np.arange(len(cols)) + (i - (n - 1) / 2) * width, row.to_numpy(dtype=float), width,
               label=label, alpha=0.45 if paper else 0.95, hatch="//" if paper else None)
    ax.set_xticks(range(len(cols)), cols)
    ax.set(ylabel="F1", ylim=(0, 1))
    ax.legend(fontsize=7, frameon=False, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def frames_strip(frames: np.ndarray, titles: Sequence[str]) -> Figure:
    """A row of images (e.g. onset, raw apex, magnified apex) with titles."""
    fig, axes = plt.subplots(1, len(frames), figsize=(2.4 * len(frames), 2.6))
    for ax, image, title in zip(np.atleast_1d(axes), frames, titles):
        ax.imshow(image, cmap="gray" if np.asarray(image).ndim == 2 else None)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    return fig


def pair_matrix(labels: np.ndarray, names: Sequence[str]) -> Figure:
    """Which pairs of a batch are negatives under IICL Eq. 4 (AU vectors with zero dot product)."""
    labels = np.asarray(labels, dtype=int)
    negative = (labels @ labels.T) == 0
    fig, ax = plt.subplots(figsize=(0.35 * len(labels) + 1.8, 0.35 * len(labels) + 1))
    ax.imshow(np.triu(negative, 1), cmap="Greens", vmin=0, vmax=1.5)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(f"negative pairs (Eq. 4): K = {int(np.triu(negative, 1).sum())}", fontsize=9)
    return fig
