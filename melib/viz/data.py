"""Plots of a dataset manifest (notebook 01): AU statistics, timing, subjects, one clip's motion."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..data.mappings import FRAME_RATES



def au_columns(manifest: pd.DataFrame, aus: Sequence[int] | None = None) -> list[str]:
    """The manifest's multi-hot ``AU<n>`` columns (all, or those of ``aus``), in numeric order."""
    cols = sorted((c for c in manifest.columns if c.startswith("AU") and c[2:].isdigit()), key=lambda c: int(c[2:]))
    if aus is not None:
        wanted = [f"AU{a}" for a in aus]
        missing = [c for c in wanted if c not in cols]
        if missing:
            raise KeyError(f"manifest has no columns {missing}")
        cols = wanted
    return cols


def au_frequency(manifest: pd.DataFrame, aus: Sequence[int] | None = None, highlight: Sequence[int] = ()) -> Figure:
    """Bar chart of clips per AU; AUs in ``highlight`` (e.g. the 8-AU set the papers use) are coloured."""
    cols = au_columns(manifest, aus)
    counts = manifest[cols].sum()
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(cols)), 3.2))
    colors = ["tab:blue" if int(c[2:]) in set(highlight) else "tab:gray" for c in cols]
    ax.bar(range(len(cols)), counts.to_numpy(), color=colors)
    ax.set_xticks(range(len(cols)), [c[2:] for c in cols])
    for x, n in enumerate(counts):
        ax.text(x, n, str(int(n)), ha="center", va="bottom", fontsize=7)
    ax.set(xlabel="AU", ylabel="clips", title=f"AU frequency ({len(manifest)} clips)")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def au_cooccurrence(manifest: pd.DataFrame, aus: Sequence[int] | None = None, conditional: bool = True) -> Figure:
    """Heatmap of AU co-occurrence: P(column AU | row AU) when ``conditional``, else raw counts."""
    cols = au_columns(manifest, aus)
    x = manifest[cols].to_numpy(dtype=float)
    counts = x.T @ x
    values = counts / np.maximum(np.diag(counts)[:, None], 1) if conditional else counts
    fig, ax = plt.subplots(figsize=(0.5 * len(cols) + 2, 0.45 * len(cols) + 1.2))
    labels = [c[2:] for c in cols]
    import seaborn as sns  # here, not at import: seaborn pulls in ipywidgets when installed

    sns.heatmap(pd.DataFrame(values, index=labels, columns=labels), ax=ax, cmap="mako_r", square=True,
                annot=len(cols) <= 12, fmt=".2f" if conditional else ".0f", cbar_kws={"shrink": 0.7},
                annot_kws={"fontsize": 7})
    ax.set(xlabel="AU", ylabel="given AU", title="P(AU | given AU)" if conditional else "co-occurrence counts")
    return fig


def emotion_au_table(manifest: pd.DataFrame, aus: Sequence[int] | None = None) -> pd.DataFrame:
    """Clips per (emotion, AU), plus each emotion's clip count."""
    cols = au_columns(manifest, aus)
    table = manifest.groupby("emotion")[cols].sum()
    table.columns = [c[2:] for c in cols]
    table.insert(0, "clips", manifest.groupby("emotion").size())
    return table.sort_values("clips", ascending=False)


def phase_durations(manifest: pd.DataFrame, fps: float | None = None) -> pd.DataFrame:
    """Onset->apex, apex->offset and onset->offset durations in milliseconds, one row per clip."""
    fps = fps or FRAME_RATES[str(manifest["dataset"].iloc[0])]
    ms = 1000.0 / fps
    return pd.DataFrame({"onset->apex": (manifest["apex"] - manifest["onset"]) * ms,
                         "apex->offset": (manifest["offset"] - manifest["apex"]) * ms,
                         "onset->offset": (manifest["offset"] - manifest["onset"]) * ms})


def duration_histograms(manifest: pd.DataFrame, fps: float | None = None) -> Figure:
    """Histograms of the three phase durations (ms); clips with an estimated apex are excluded."""
    keep = ~manifest.get("apex_estimated", pd.Series(False, index=manifest.index)).astype(bool)
    durations = phase_durations(manifest[keep], fps)
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), sharey=True)
    for ax, (name, values) in zip(axes, durations.items()):
        ax.hist(values, bins=20, color="tab:blue", alpha=0.8)
        ax.axvline(values.median(), color="k", lw=1, ls="--", label=f"median {values.median():.0f} ms")
        ax.set(xlabel=f"{name} (ms)")
        ax.legend(fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("clips")
    return fig


def clips_per_subject(manifest: pd.DataFrame) -> Figure:
    """Bar chart of clips per subject (what a LOSO fold holds out)."""
    counts = manifest.groupby("subject").size()
    fig, ax = plt.subplots(figsize=(max(5, 0.3 * len(counts)), 3))
    ax.bar(range(len(counts)), counts.to_numpy(), color="tab:green")
    ax.set_xticks(range(len(counts)), counts.index, rotation=90, fontsize=7)
    ax.set(ylabel="clips", title=f"clips per subject ({len(counts)} subjects)")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def difference_image(onset: np.ndarray, frame: np.ndarray, gain: float = 8.0) -> np.ndarray:
    """Signed grey difference ``frame - onset`` amplified by ``gain``, mapped to [0, 1] around 0.5."""
    a, b = (np.asarray(f, dtype=np.float32) for f in (onset, frame))
    if a.ndim == 3:
        a, b = a.mean(-1), b.mean(-1)
    return np.clip(0.5 + gain * (b - a) / 255.0, 0.0, 1.0)


def motion_overlay(image: np.ndarray, flow: np.ndarray, step: int = 12, scale: float | None = None,
                   title: str = "") -> Figure:
    """Arrows of a displacement field (H, W, 2) drawn every ``step`` pixels on ``image``.

    Micro-motions are sub-pixel, so arrows are magnified: ``scale`` pixels of arrow per pixel of
    motion (default: the longest arrow spans about two grid steps). The factor is printed in the title.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    u, v = flow[ys, xs, 0], flow[ys, xs, 1]
    length = np.hypot(u, v)
    peak = float(length.max()) or 1.0
    scale = scale or 2.0 * step / peak
    keep = length > 0.05 * peak  # leave out arrows too short to see
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.quiver(xs[keep], ys[keep], u[keep] * scale, v[keep] * scale, length[keep], angles="xy", scale_units="xy",
              scale=1, cmap="autumn", width=0.004)
    ax.set_title(f"{title} (arrows x{scale:.0f}, max {peak:.2f} px)".strip(), fontsize=9)
    ax.axis("off")
    return fig


def appearance_figure(onset: np.ndarray, apex: np.ndarray, change: np.ndarray, gain: float = 8.0,
                      title: str = "") -> Figure:
    """Apex, apex - onset (x ``gain``) and the true relative appearance change at apex (synthetic
    ground truth ``appearance_apex``; blue = darker), side by side."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    axes[0].imshow(apex, cmap="gray" if np.asarray(apex).ndim == 2 else None)
    axes[0].set_title("apex", fontsize=9)
    axes[1].imshow(difference_image(onset, apex, gain), cmap="RdBu_r", vmin=0, vmax=1)
    axes[1].set_title(f"apex - onset (x{gain:g})", fontsize=9)
    change = np.asarray(change, dtype=np.float32)
    limit = max(float(np.abs(change).max()), 1e-3)
    im = axes[2].imshow(change, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[2].set_title("true appearance change at apex", fontsize=9)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.02, label="relative brightness")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def onset_apex_figure(onset: np.ndarray, apex: np.ndarray, gain: float = 8.0, title: str = "") -> Figure:
    """Onset, apex and their signed difference (x ``gain``) side by side."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    grey = "gray" if np.asarray(onset).ndim == 2 else None
    axes[0].imshow(onset, cmap=grey)
    axes[0].set_title("onset", fontsize=9)
    axes[1].imshow(apex, cmap=grey)
    axes[1].set_title("apex", fontsize=9)
    axes[2].imshow(difference_image(onset, apex, gain), cmap="RdBu_r", vmin=0, vmax=1)
    axes[2].set_title(f"apex - onset (x{gain:g})", fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
