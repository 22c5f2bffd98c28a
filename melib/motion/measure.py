"""Instruments that measure motion against a known answer (no data or face code: arrays in, numbers out).

Magnification. An ideal magnifier moves every onset pixel ``p`` to ``p + F t(p)``, with ``t`` the true
onset -> apex displacement and ``F`` the total factor asked for (EVM's ``alpha`` is the amplification
added, so ``F = 1 + alpha``; the learned magnifier takes ``factor = F`` itself). :func:`ideal_magnified` renders that
frame from the ground truth. :func:`fit_motion_factor` is the instrument: the factor ``k`` for which
the magnified frame, sampled at ``p + k t(p)``, correlates best with the onset over the moving pixels.
What it reports is the *effective* factor along the true motion pattern.

Optical flow. End-point error binned by the true displacement length (:func:`binned_epe`, built on
:func:`melib.motion.flow.endpoint_errors`). The per-clip pipelines that use these instruments on a
dataset live one layer up, in :mod:`melib.experiments.motion`.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy.ndimage import map_coordinates
from scipy.optimize import minimize_scalar
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .flow import endpoint_errors, flow_magnitude, to_gray
from .warp import invert_displacement

#: Edges (px) of the true-displacement bins used for EPE: sub-pixel bins, then larger motion.
EPE_EDGES: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0, 2.0, 4.0)


def motion_mask(flow: np.ndarray, fraction: float = 0.3, within: np.ndarray | None = None) -> np.ndarray:
    """Pixels whose displacement length is at least ``fraction`` of the largest (inside ``within``)."""
    length = flow_magnitude(flow)
    inside = np.ones(length.shape, bool) if within is None else np.asarray(within, bool)
    peak = float(length[inside].max()) if inside.any() else 0.0
    if peak <= 0:
        raise ValueError("the flow is zero everywhere (inside the mask): no motion to measure")
    return inside & (length >= fraction * peak)


def mask_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    """Bounding box ``(rows, cols)`` of a non-empty mask, grown by ``margin`` and clipped to the image."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        raise ValueError("mask selects no pixel")
    h, w = mask.shape
    return (slice(max(rows.min() - margin, 0), min(rows.max() + 1 + margin, h)),
            slice(max(cols.min() - margin, 0), min(cols.max() + 1 + margin, w)))


def ideal_magnified(apex: np.ndarray, flow: np.ndarray, factor: float) -> np.ndarray:
    """What a perfect magnifier returns: ``apex`` with its content moved on, so that every onset pixel
    ``p`` lands at ``p + factor * flow(p)`` (``flow`` = true onset -> apex motion, onset coordinates).

    The apex pixel ``y = p + flow(p)`` moves by ``(factor - 1) flow(p)``, with ``p`` found by inverting
    the flow; cubic-spline resampling. Starting from the apex keeps its lighting and its own sensor noise
    (independent of the onset's, as in a real recording). Same shape and dtype as ``apex``.
    """
    img = np.asarray(apex)
    motion = np.ascontiguousarray(flow, dtype=np.float32)
    source_x, source_y = invert_displacement(motion)  # p(y) with p + flow(p) = y
    onward = np.float32(factor - 1.0) * cv2.remap(motion, source_x, source_y, cv2.INTER_LINEAR,
                                                  borderMode=cv2.BORDER_REPLICATE)
    mapx, mapy = invert_displacement(onward)
    # cubic splines at exact positions (cv2.remap rounds them to 1/32 px, a bias at this scale)
    channels = img.reshape(*img.shape[:2], -1).astype(np.float64)
    out = np.stack([map_coordinates(channels[..., c], [mapy, mapx], order=3, mode="mirror")
                    for c in range(channels.shape[2])], axis=-1).reshape(img.shape)
    if img.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(img.dtype)


def min_jacobian(flow: np.ndarray, factor: float) -> float:
    """Smallest determinant of the map ``p -> p + factor * flow(p)``; <= 0 means the motion folds
    the image over itself, so no magnifier (and no ideal frame) can be right there."""
    f = np.asarray(flow, np.float64) * factor
    du_dy, du_dx = np.gradient(f[..., 0])
    dv_dy, dv_dx = np.gradient(f[..., 1])
    return float(((1 + du_dx) * (1 + dv_dy) - du_dy * dv_dx).min())


def fit_motion_factor(reference: np.ndarray, moved: np.ndarray, pattern: np.ndarray, mask: np.ndarray,
                      max_factor: float, step_px: float = 0.4) -> tuple[float, float]:
    """Factor ``k`` of the motion ``pattern`` that carries ``reference`` onto ``moved``, and the correlation.

    Maximises the correlation of ``reference(p)`` with ``moved(p + k pattern(p))`` over the ``mask``
    pixels (grey, cubic-spline sampling; correlation ignores a change of brightness or contrast).
    A grid over ``[0, max_factor]`` whose neighbours move the fastest pixel by ``step_px`` finds the
    peak, a bounded scalar search refines it. Returns ``(k, correlation)``.
    """
    m = np.asarray(mask, bool)
    if not m.any():
        raise ValueError("mask selects no pixel")
    ref, mov = to_gray(reference, "reference"), to_gray(moved, "moved").astype(np.float64)
    ys, xs = np.nonzero(m)
    px, py = pattern[ys, xs, 0].astype(np.float64), pattern[ys, xs, 1].astype(np.float64)
    fastest = float(np.hypot(px, py).max())
    if fastest <= 0:
        raise ValueError("the motion pattern is zero on the mask")
    r = ref[ys, xs].astype(np.float64)

    def correlation(k: float) -> float:
        sampled = map_coordinates(mov, [ys + k * py, xs + k * px], order=3, mode="nearest")
        return float(np.corrcoef(sampled, r)[0, 1])

    step = step_px / fastest
    grid = np.arange(0.0, max_factor + step, step)
    scores = np.array([correlation(k) for k in grid])
    best = grid[int(np.nanargmax(scores))]
    found = minimize_scalar(lambda k: -correlation(k), bounds=(max(best - step, 0.0), best + step),
                            method="bounded", options={"xatol": 1e-3})
    return float(found.x), float(-found.fun)


def projected_factor(flow: np.ndarray, pattern: np.ndarray, mask: np.ndarray) -> float:
    """Least-squares factor of a measured flow along a pattern, ``<f, t> / <t, t>`` over the mask:
    what a flow method "reads" as the magnification (1.0 = the pattern exactly)."""
    m = np.asarray(mask, bool)
    f, t = np.asarray(flow, np.float64)[m], np.asarray(pattern, np.float64)[m]
    return float((f * t).sum() / (t * t).sum())


def image_quality(image: np.ndarray, reference: np.ndarray, box: tuple[slice, slice] | None = None
                  ) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``image`` against ``reference`` on grey levels 0-255, inside ``box``."""
    a = to_gray(image, "image") * 255.0
    b = to_gray(reference, "reference") * 255.0
    if box is not None:
        a, b = a[box], b[box]
    with np.errstate(divide="ignore"):  # identical images: PSNR = inf
        psnr = float(peak_signal_noise_ratio(b, a, data_range=255.0))
    return psnr, float(structural_similarity(b, a, data_range=255.0))


def apex_likeness(frames: np.ndarray, apex_index: int, mask: np.ndarray | None = None) -> np.ndarray:
    """How far each frame has moved from the onset towards the apex: ``<I_t - I_0, D> / <D, D>`` with
    ``D = I_apex - I_0`` (grey, inside ``mask``): 0 at the onset, 1 at the apex. Linear in the frames,
    so band-passing this signal shows what EVM's temporal filter does to the movement."""
    grey = np.stack([to_gray(f, "frame") for f in frames]).astype(np.float64)
    inside = np.ones(grey.shape[1:], bool) if mask is None else np.asarray(mask, bool)
    change = grey[:, inside] - grey[0, inside]
    direction = change[apex_index]
    if not np.any(direction):
        raise ValueError("apex and onset frames are identical")
    return change @ direction / (direction @ direction)


def binned_epe(flow: np.ndarray, truth: np.ndarray, mask: np.ndarray,
               edges: Sequence[float] = EPE_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """Sum of end-point errors and pixel count per bin of the true displacement length, inside ``mask``.

    Bin ``i`` holds ``edges[i] <= |truth| < edges[i+1]``. Sums (not means) so clips can be pooled.
    """
    error = endpoint_errors(flow, truth)
    length = flow_magnitude(truth)
    which = np.digitize(length, edges) - 1  # -1 below the first edge, len(edges)-1 above the last
    keep = np.asarray(mask, bool) & (which >= 0) & (which < len(edges) - 1)
    n_bins = len(edges) - 1
    sums = np.bincount(which[keep], weights=error[keep], minlength=n_bins)
    counts = np.bincount(which[keep], minlength=n_bins)
    return sums, counts
