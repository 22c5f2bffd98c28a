"""Figures of the motion front end: EVM's pyramid and bands, magnified frames, measured magnification
and artefacts, flow images, end-point error, timing and strain. Every function returns the figure; the
numbers come from :mod:`melib.experiments.motion` tables.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..motion.flow import flow_magnitude, flow_to_hsv_image
from ..motion.magnify import level_alphas, level_wavelengths
from .data import difference_image

#: One colour per magnifier / flow method / instrument, the same in every figure.
COLORS: dict[str, str] = {
    "evm_pair": "tab:blue", "evm_clip": "tab:cyan", "learned": "tab:orange", "ideal": "0.35",
    "tvl1": "tab:green", "farneback": "tab:purple", "dis": "tab:red", "zero flow": "0.6",
    "pattern fit": "black",
}
LABELS: dict[str, str] = {
    "evm_pair": "EVM, onset+apex", "evm_clip": "EVM, whole clip", "learned": "learned (Oh et al.)",
    "ideal": "ideal frame", "tvl1": "TV-L1", "farneback": "Farneback", "dis": "DIS", "zero flow": "zero flow",
    "none": "no magnification", "evm": "EVM, flow / (1+alpha)",
}


def _label(name: str) -> str:
    return LABELS.get(name, name)


def _clean(ax: plt.Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def _plain_log2(ax: plt.Axes) -> None:
    """Log-2 x axis labelled with plain numbers (4, 8, 16 rather than 2^2, 2^3, 2^4)."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))


def _crop(image: np.ndarray, box: tuple[slice, slice] | None) -> np.ndarray:
    return np.asarray(image) if box is None else np.asarray(image)[box]


def _median_band(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, group: str, points: bool = True) -> None:
    """Per group: faint points, the median line and the inter-quartile band over ``x``."""
    for name, part in table.groupby(group, sort=False):
        stats = part.groupby(x)[y].quantile([0.25, 0.5, 0.75]).unstack()
        color = COLORS.get(name, None)
        if points:
            ax.scatter(part[x], part[y], s=8, color=color, alpha=0.25, linewidths=0)
        ax.plot(stats.index, stats[0.5], marker="o", ms=4, color=color, label=_label(name))
        ax.fill_between(stats.index, stats[0.25], stats[0.75], color=color, alpha=0.15, linewidth=0)


# --------------------------------------------------------------------------- teaching EVM
def level_alpha_plot(alphas: Sequence[float], levels: int = 7, lambda_c: float = 16.0) -> Figure:
    """EVM's amplification per pyramid level (spatial wavelength), one line per alpha: the 'bounds' rule."""
    wavelengths = level_wavelengths(levels)
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    for alpha in alphas:
        ax.plot(wavelengths, level_alphas(alpha, levels, lambda_c), marker="o", ms=4, label=f"alpha = {alpha:g}")
    ax.axvline(lambda_c, color="0.5", ls=":", lw=1)
    ax.text(lambda_c, 0.02 * max(alphas), f" lambda_c = {lambda_c:g} px", fontsize=8, va="bottom", color="0.4")
    _plain_log2(ax)
    ax.set(xlabel="spatial wavelength of the pyramid level (px)", ylabel="amplification alpha_l",
           title="EVM amplifies fine detail less (spatial attenuation)")
    ax.legend(fontsize=8, frameon=False)
    _clean(ax)
    return fig


def pyramid_plot(pyramid: Sequence[np.ndarray], alpha: float, lambda_c: float = 16.0, max_levels: int = 5) -> Figure:
    """The first ``max_levels`` levels of a Laplacian pyramid (grey), titled with wavelength and alpha_l."""
    shown = list(pyramid[:max_levels])
    per_level = level_alphas(alpha, len(pyramid), lambda_c)
    fig, axes = plt.subplots(1, len(shown), figsize=(2.1 * len(shown), 2.4))
    for level, (ax, band) in enumerate(zip(np.atleast_1d(axes), shown)):
        grey = band.mean(axis=-1) if band.ndim == 3 else band
        limit = float(np.percentile(np.abs(grey), 99)) or 1.0
        ax.imshow(grey, cmap="gray", vmin=-limit, vmax=limit)
        ax.set_title(f"level {level}: ~{level_wavelengths(len(pyramid))[level]:g} px\nalpha_l = {per_level[level]:.1f}",
                     fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Laplacian pyramid (band-pass images), alpha = {alpha:g}", fontsize=10)
    return fig


def temporal_plot(times_ms: np.ndarray, signals: Mapping[str, np.ndarray], marks: Mapping[str, float] | None = None,
                  ylabel: str = "", title: str = "") -> Figure:
    """Signals over time (one line each) with vertical marks such as onset and apex."""
    fig, ax = plt.subplots(figsize=(5.2, 2.8))
    for label, values in signals.items():
        ax.plot(times_ms, values, label=label)
    for label, x in (marks or {}).items():
        ax.axvline(x, color="0.6", ls=":", lw=1)
        ax.text(x, ax.get_ylim()[1], f" {label}", fontsize=8, va="top", color="0.4")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set(xlabel="time from onset (ms)", ylabel=ylabel, title=title)
    ax.legend(fontsize=8, frameon=False)
    _clean(ax)
    return fig


# --------------------------------------------------------------------------- magnified frames
def magnified_grid(onset: np.ndarray, images: Mapping[str, np.ndarray], gain: float = 4.0,
                   box: tuple[slice, slice] | None = None, title: str = "") -> Figure:
    """Top: each image (cropped to ``box``); bottom: its signed difference from the onset x ``gain``."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.8), squeeze=False)
    for k, (label, image) in enumerate(images.items()):
        axes[0, k].imshow(_crop(image, box), cmap="gray" if np.ndim(image) == 2 else None)
        axes[0, k].set_title(label, fontsize=9)
        axes[1, k].imshow(_crop(difference_image(onset, image, gain), box), cmap="RdBu_r", vmin=0, vmax=1)
        axes[1, k].set_title(f"minus onset (x{gain:g})", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def error_maps(images: Mapping[str, np.ndarray], ideal: np.ndarray, box: tuple[slice, slice] | None = None,
               vmax: float = 40.0, title: str = "") -> Figure:
    """The ideal frame, then ``|image - ideal|`` (grey levels) of each magnified frame, one colour scale."""
    fig, axes = plt.subplots(1, len(images) + 1, figsize=(2.6 * (len(images) + 1) + 0.8, 2.7), layout="constrained")
    axes[0].imshow(_crop(ideal, box))
    axes[0].set_title("ideal (true motion x F)", fontsize=9)
    grey_ideal = np.asarray(ideal, np.float32).mean(axis=-1) if np.ndim(ideal) == 3 else np.asarray(ideal, np.float32)
    shown = None
    for ax, (label, image) in zip(axes[1:], images.items()):
        grey = np.asarray(image, np.float32).mean(axis=-1) if np.ndim(image) == 3 else np.asarray(image, np.float32)
        shown = ax.imshow(_crop(np.abs(grey - grey_ideal), box), cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"|{label} - ideal|", fontsize=9)
    for ax in axes:
        ax.axis("off")
    if shown is not None:
        fig.colorbar(shown, ax=list(axes[1:]), shrink=0.8, label="grey levels")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------- measured magnification
def factor_plot(table: pd.DataFrame) -> Figure:
    """Left: measured factor vs asked factor ``1 + alpha`` per magnifier (median, IQR, clips), with the
    instrument's reading on ideal frames. Right: measured vs asked amplitude in pixels, per clip."""
    valid = table[~table["folds"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.0))
    ideal = valid.drop_duplicates(["subject", "clip", "target"])
    ideal = ideal.assign(magnifier="ideal", factor=ideal["ideal_factor"])
    _median_band(left, ideal, "target", "factor", "magnifier", points=False)
    _median_band(left, valid, "target", "factor", "magnifier")
    top = float(valid["target"].max())
    left.plot([1, top], [1, top], color="0.6", ls="--", lw=1, label="asked (1 + alpha)")
    left.set(xlabel="asked factor 1 + alpha", ylabel="measured factor (pattern fit)",
             title="How much of the magnification arrives")
    left.legend(fontsize=8, frameon=False)
    for name, part in valid.groupby("magnifier", sort=False):
        right.scatter(part["target_amplitude"], part["measured_amplitude"], s=12, alpha=0.6,
                      color=COLORS.get(name), label=_label(name))
    limit = float(valid["target_amplitude"].max())
    right.plot([0, limit], [0, limit], color="0.6", ls="--", lw=1)
    right.set(xlabel="asked amplitude (1 + alpha) x true motion (px)", ylabel="measured amplitude (px)",
              title="Per clip and alpha: larger motion saturates")
    right.legend(fontsize=8, frameon=False)
    for ax in (left, right):
        _clean(ax)
    fig.tight_layout()
    return fig


def calibration_plot(table: pd.DataFrame) -> Figure:
    """Reading / truth of each instrument on frames whose motion is known (apex: factor 1; ideal frames)."""
    data = table.assign(ratio=table["reading"] / table["target"])
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    _median_band(ax, data, "target", "ratio", "instrument")
    ax.axhline(1.0, color="0.6", ls="--", lw=1)
    _plain_log2(ax)
    ax.set(xlabel="true factor of the motion (1 = unmagnified apex)", ylabel="reading / truth",
           title="Calibrating the measuring instruments")
    ax.legend(fontsize=8, frameon=False)
    _clean(ax)
    return fig


def quality_plot(table: pd.DataFrame) -> Figure:
    """PSNR and SSIM of each magnified frame against the ideal one, vs the asked factor."""
    data = table.dropna(subset=["psnr"])
    data = data[~data["folds"]]
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for ax, column, label in ((axes[0], "psnr", "PSNR vs ideal (dB)"), (axes[1], "ssim", "SSIM vs ideal")):
        _median_band(ax, data, "target", column, "magnifier")
        ax.set(xlabel="asked factor 1 + alpha", ylabel=label)
        _clean(ax)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle("Artefacts grow with alpha (face region)", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- optical flow
def hsv_wheel(size: int = 129) -> np.ndarray:
    """RGB key of :func:`flow_to_hsv_image`: direction as hue, length as brightness (black outside)."""
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j].astype(np.float32)
    image = flow_to_hsv_image(np.stack([xx, yy], axis=-1), max_magnitude=1.0)
    image[np.hypot(xx, yy) > 1] = 255
    return image


def flow_panel(image: np.ndarray, flows: Mapping[str, np.ndarray], truth: np.ndarray | None = None,
               box: tuple[slice, slice] | None = None, title: str = "") -> Figure:
    """Top: the frame, then HSV images of the truth and each flow (one brightness scale). Bottom (with
    truth): the colour key, the true displacement length and each flow's end-point error, all in px on
    one colour scale, so an error can be compared with the motion it is an error of."""
    fields = ({"truth": truth} if truth is not None else {}) | dict(flows)
    scale = max(float(np.percentile(flow_magnitude(f), 99.5)) for f in fields.values())
    rows = 2 if truth is not None else 1
    fig, axes = plt.subplots(rows, len(fields) + 1, figsize=(2.3 * (len(fields) + 1) + 0.8, 2.5 * rows + 0.3),
                             squeeze=False, layout="constrained")
    axes[0, 0].imshow(_crop(image, box))
    axes[0, 0].set_title("onset", fontsize=9)
    key = axes[rows - 1, 0] if rows == 2 else axes[0, 0].inset_axes([0.0, 0.0, 0.3, 0.3])
    key.imshow(hsv_wheel())
    key.set_title("colour = direction" if rows == 2 else "", fontsize=8)
    for k, (name, flow) in enumerate(fields.items(), start=1):
        axes[0, k].imshow(_crop(flow_to_hsv_image(flow, max_magnitude=scale), box))
        axes[0, k].set_title(_label(name), fontsize=9)
        if truth is None:
            continue
        error = flow_magnitude(truth) if name == "truth" else np.hypot(*(flow - truth).transpose(2, 0, 1))
        shown = axes[1, k].imshow(_crop(error, box), cmap="magma", vmin=0, vmax=scale)
        axes[1, k].set_title("true length" if name == "truth" else f"EPE, mean {error.mean():.3f} px", fontsize=8)
    for ax in list(axes.ravel()) + [key]:
        ax.axis("off")
    if truth is not None:
        fig.colorbar(shown, ax=list(axes[1, 1:]), shrink=0.8, label="px")
    fig.suptitle(title or "flow as colour", fontsize=10)
    return fig


def epe_plot(table: pd.DataFrame) -> Figure:
    """EPE vs true displacement bin, one axes per condition, one line per method, plus zero flow."""
    conditions = list(dict.fromkeys(table["condition"]))
    fig, axes = plt.subplots(1, len(conditions), figsize=(3.6 * len(conditions), 3.4), sharey=True, squeeze=False)
    for ax, condition in zip(axes[0], conditions):
        part = table[table["condition"] == condition]
        for method, rows in part.groupby("method", sort=False):
            centre = np.sqrt(rows["lo"] * rows["hi"])
            ax.plot(centre, rows["epe"], marker="o", ms=4, color=COLORS.get(method), label=_label(method),
                    ls="--" if method == "zero flow" else "-")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel="true displacement (px)", title=_label(condition))
        _clean(ax)
    axes[0, 0].set_ylabel("mean end-point error (px)")
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def timing_plot(table: pd.DataFrame) -> Figure:
    """Median seconds per flow pair for each method (bars) with the inter-quartile range."""
    stats = table.groupby("method", sort=False)["seconds"].quantile([0.25, 0.5, 0.75]).unstack()
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    ax.bar([_label(m) for m in stats.index], stats[0.5] * 1000, color=[COLORS.get(m) for m in stats.index],
           yerr=[(stats[0.5] - stats[0.25]) * 1000, (stats[0.75] - stats[0.5]) * 1000], capsize=3)
    for k, (value, top) in enumerate(zip(stats[0.5] * 1000, stats[0.75] * 1000)):
        ax.text(k, top * 1.12, f"{value:.0f} ms", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set(ylabel="ms per pair", title="Time per image pair")
    _clean(ax)
    return fig


def strain_bars(table: pd.DataFrame) -> Figure:
    """Mean strain per region for each AU group: from the flow, and (if known) from the true motion."""
    columns = ["strain"] + (["strain_true"] if table["strain_true"].notna().any() else [])
    fig, axes = plt.subplots(1, len(columns), figsize=(4.4 * len(columns), 3.2), sharey=True, squeeze=False)
    regions = list(dict.fromkeys(table["region"]))
    groups = list(dict.fromkeys(table["group"]))
    width = 0.8 / len(groups)
    for ax, column in zip(axes[0], columns):
        means = table.groupby(["group", "region"])[column].mean()
        for g, group in enumerate(groups):
            n = table.loc[table["group"] == group, "clip"].nunique()
            ax.bar(np.arange(len(regions)) + (g - (len(groups) - 1) / 2) * width,
                   [means.get((group, r), np.nan) for r in regions], width, label=f"{group} clips (n={n})")
        ax.set_xticks(range(len(regions)), regions)
        ax.set_title("from estimated flow" if column == "strain" else "from the true motion", fontsize=9)
        _clean(ax)
    axes[0, 0].set_ylabel("mean optical strain")
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def strain_maps(examples: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, Mapping[str, np.ndarray]]]) -> Figure:
    """One row per example ``title: (image, flow, strain, region masks)``: frame with regions, flow, strain."""
    fig, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.6 * len(examples)), squeeze=False)
    for row, (title, (image, flow, strain, masks)) in zip(axes, examples.items()):
        row[0].imshow(image)
        for k, mask in enumerate(masks.values()):
            row[0].contour(mask, levels=[0.5], colors=[plt.cm.tab10(k)], linewidths=1)
        row[0].set_title(f"{title}: regions", fontsize=9)
        row[1].imshow(flow_to_hsv_image(flow))
        row[1].set_title("flow", fontsize=9)
        shown = row[2].imshow(strain, cmap="inferno", vmin=0, vmax=float(np.percentile(strain, 99.5)))
        row[2].set_title("optical strain", fontsize=9)
        fig.colorbar(shown, ax=row[2], fraction=0.046)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig
