"""Plots of training runs and results tables (every number drawn comes from a run folder on disk)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..train import Run


def training_curves(run: Run, terms: Sequence[str] | None = None, names: Mapping[str, str] | None = None) -> Figure:
    """Per-epoch mean of each loss term on the training subjects, one line per fold (from
    ``fold<k>/result.json``). ``names`` titles each panel with what the term is (for example a method
    module's ``LOSS_NAMES``: ``{"oa": "L_OA, onset vs apex (Eq. 1)"}``); a term without a name keeps its key,
    and ``loss`` reads "total loss"."""
    folds = run.fold_results()
    if not folds:
        raise FileNotFoundError(f"{run.dir}: no finished fold to plot")
    skip = {"epoch", "lr", "seconds"}
    terms = list(terms or [k for k in folds[0]["history"][0] if k not in skip])
    names = {"loss": "total loss", **dict(names or {})}
    fig, axes = plt.subplots(1, len(terms), figsize=(2.9 * len(terms), 2.7), squeeze=False, layout="constrained")
    for ax, term in zip(axes[0], terms):
        for fold in folds:
            history = fold["history"]
            ax.plot([h["epoch"] + 1 for h in history], [h[term] for h in history], marker=".",
                    label=f"fold {fold['fold']}")
        ax.set_title(names.get(term, term), fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel("mean over the epoch's batches", fontsize=8)
    if len(folds) <= 12:
        axes[0][-1].legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"Training losses, one line per fold ({len(folds)} folds)", fontsize=9)
    return fig


def f1_bars(table: pd.DataFrame, marks: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Grouped bars of a per-AU F1 table indexed by (method, source), e.g. ours beside the paper's.

    ``marks`` maps a yardstick's name (e.g. the flow probe, the onset-alone null) to its F1 per column,
    drawn as a horizontal line across each group of bars, one line style per yardstick."""
    labels = [" ".join(i) if isinstance(i, tuple) else str(i) for i in table.index]
    n, cols = len(table), list(table.columns)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cols)), 3.2))
    for i, (label, (_, row)) in enumerate(zip(labels, table.iterrows())):
        paper = "paper" in label
        ax.bar(np.arange(len(cols)) + (i - (n - 1) / 2) * width, row.to_numpy(dtype=float), width,
               label=label, alpha=0.45 if paper else 0.95, hatch="//" if paper else None)
    for k, (name, values) in enumerate((marks or {}).items()):
        style = [("black", "-"), ("dimgrey", "--"), ("tab:purple", ":")][k % 3]
        xs = [x for x, c in enumerate(cols) if c in values]
        ax.hlines([values[cols[x]] for x in xs], [x - 0.45 for x in xs], [x + 0.45 for x in xs], colors=style[0],
                  linestyles=style[1], lw=1.6, label=name)
    ax.set_xticks(range(len(cols)), cols)
    ax.set(ylabel="F1", ylim=(0, 1))
    ax.legend(fontsize=7, frameon=False, ncol=1, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
    from matplotlib.patches import Patch

    key = [Patch(color=plt.get_cmap("Greens")(1 / 1.5), label="negative pair: no AU in common"),
           Patch(facecolor=plt.get_cmap("Greens")(0.0), edgecolor="grey", label="shares an AU (or i >= j)")]
    ax.legend(handles=key, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def weight_matrix(weights: np.ndarray, names: Sequence[str], title: str = "") -> Figure:
    """A square matrix of pair weights in [0, 1] (e.g. annotation mimic's Jaccard AU similarity, Eq. 4)
    with each value written in its cell."""
    w = np.asarray(weights, dtype=float)
    fig, ax = plt.subplots(figsize=(0.42 * len(w) + 2.2, 0.42 * len(w) + 1.2))
    image = ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    for i in range(len(w)):
        for j in range(len(w)):
            if w[i, j] > 0:
                ax.text(j, i, f"{w[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6,
                        color="black" if w[i, j] > 0.6 else "white")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return fig


def confusion_matrix(counts: np.ndarray, classes: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix (rows: true class, columns: predicted), coloured by the share of each true
    class (recall on the diagonal), annotated with the counts."""
    c = np.asarray(counts, dtype=float)
    share = c / np.maximum(c.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.9 * len(classes) + 1.8, 0.9 * len(classes) + 1))
    shown = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(shown, ax=ax, fraction=0.046, label="share of the true class")
    for i in range(len(c)):
        for j in range(len(c)):
            ax.text(j, i, f"{int(c[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title, fontsize=9)
    return fig


def cam_grid(images: Sequence[np.ndarray], maps: dict[str, Sequence[np.ndarray]], titles: Sequence[str],
             alpha: float = 0.5, guides: Sequence[str] = ("h",), colorbar: str | None = None) -> Figure:
    """One column per image; the first row shows the image, each further row one kind of map
    (e.g. ``{"AU-CAM": [...], "Grad-CAM": [...]}``) laid over it, with dashed guides: ``"h"`` the
    horizontal middle (annotation mimic's eyes/mouth split), ``"v"`` the vertical one (SelfME's halves).
    ``colorbar``: when given, a colour bar of the maps' 0-1 scale beside the map rows, with this label."""
    rows = 1 + len(maps)
    fig, axes = plt.subplots(rows, len(images), figsize=(1.9 * len(images), 1.9 * rows), squeeze=False)
    for j, image in enumerate(images):
        axes[0][j].imshow(image, cmap="gray" if np.asarray(image).ndim == 2 else None)
        axes[0][j].set_title(titles[j], fontsize=7)
        for i, (name, cams) in enumerate(maps.items(), start=1):
            axes[i][j].imshow(image, cmap="gray" if np.asarray(image).ndim == 2 else None)
            axes[i][j].imshow(cams[j], cmap="jet", alpha=alpha, vmin=0, vmax=1)
            if "h" in guides:
                axes[i][j].axhline(np.asarray(image).shape[0] / 2 - 0.5, color="white", lw=0.6, ls="--")
            if "v" in guides:
                axes[i][j].axvline(np.asarray(image).shape[1] / 2 - 0.5, color="white", lw=0.6, ls="--")
            if j == 0:
                axes[i][j].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if colorbar and maps:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig.colorbar(ScalarMappable(Normalize(0, 1), cmap="jet"), ax=axes.ravel().tolist(), fraction=0.03,
                     label=colorbar)
    return fig


def label_colors(labels: Sequence[str], top: int = 8) -> dict[str, tuple]:
    """A fixed colour for each of the ``top`` most frequent labels (the rest: grey "other"), to pass to
    :func:`embedding_scatter` so that one label has one colour in every figure of a notebook."""
    counts = pd.Series(list(labels)).value_counts()
    palette = plt.get_cmap("tab10").colors
    return {name: palette[i % len(palette)] for i, name in enumerate(counts.index[:top])}


def embedding_scatter(points: np.ndarray, labels: Sequence[str], title: str = "", top: int = 8,
                      colors: Mapping[str, tuple] | None = None, key: str = "AU set (clips)") -> Figure:
    """2-D embedding (e.g. t-SNE of a network's features), one colour per label; labels beyond the
    ``top`` most frequent (or outside ``colors``, from :func:`label_colors`) are drawn grey as "other"."""
    pts = np.asarray(points, dtype=float)
    colors = dict(colors) if colors is not None else label_colors(labels, top)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    lab = np.asarray(labels, dtype=object)
    rest = ~np.isin(lab, list(colors))
    if rest.any():
        ax.scatter(pts[rest, 0], pts[rest, 1], s=10, c="lightgrey", label=f"other ({int(rest.sum())})")
    for name, color in colors.items():
        m = lab == name
        if m.any():
            ax.scatter(pts[m, 0], pts[m, 1], s=14, color=color, label=f"{name} ({int(m.sum())})")
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), title=key,
              title_fontsize=6)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("t-SNE 1 (no unit)", fontsize=7)
    ax.set_ylabel("t-SNE 2", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def loss_history(histories: dict[str, np.ndarray], names: Sequence[str]) -> Figure:
    """Loss curves of step-wise training logs: ``histories`` maps a label to a ``(steps, 1 + k)`` array
    (step, then one column per loss named in ``names``); one panel per loss, a running mean over 10 steps."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 2.8), squeeze=False, layout="constrained")
    for label, table in histories.items():
        table = np.asarray(table, dtype=float)
        if not len(table):
            continue
        kernel = np.ones(min(10, len(table))) / min(10, len(table))
        for k, ax in enumerate(axes[0]):
            ax.plot(table[len(kernel) - 1:, 0], np.convolve(table[:, k + 1], kernel, mode="valid"), label=label)
    for ax, name in zip(axes[0], names):
        ax.set_xlabel("step")
        ax.set_title(name, fontsize=9)
    axes[0, -1].legend(fontsize=7, frameon=False)
    return fig
