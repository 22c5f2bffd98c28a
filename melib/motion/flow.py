"""Dense optical flow (TV-L1, Farneback, DIS), optical strain, flow images and the 3-channel input
of "Mimicking the annotation process" (Ruan et al. 2022, Sec. 3.1.1, Fig. 2).

Convention everywhere: ``flow[y, x] = (dx, dy)`` such that ``a(x) ~ b(x + flow(x))`` for
``optical_flow(a, b)`` (OpenCV's convention), float32 of shape (H, W, 2), x to the right, y down.

Input images may be uint8 in [0, 255] or float in [0, 1] (values slightly outside are clipped; a
float image in [0, 255] raises), grey (H, W) or RGB (H, W, 3), converted to grey with ITU-R 601
weights. Internally each method gets the type it works best with: TV-L1 float [0, 1] (OpenCV
rescales it to 0..255), Farneback float [0, 255] (its thresholds assume that scale), DIS uint8
(the only type it accepts; rounding limits it on sub-pixel motion, see benchmarks/bench_flow.py).

Measured here (benchmarks/bench_flow.py): OpenCV's TV-L1 shrinks the fractional part of a shift by
about 20% (a uniform 0.2 px shift comes out near 0.16 px, whatever tau/lambda/theta/warps), while
Farneback and DIS stay within ~5-10% on sub-pixel motion; integer-size shifts are exact for all.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

from .magnify import magnify_pair

__all__ = [
    "TVL1_DEFAULT",
    "TVL1_FAST",
    "FARNEBACK_DEFAULT",
    "DIS_DEFAULT",
    "to_gray",
    "optical_flow",
    "onset_apex_flow",
    "flow_magnitude",
    "optical_strain",
    "flow_to_hsv_image",
    "endpoint_error",
    "global_translation",
    "minmax_threshold",
    "mimic_input",
]

#: OpenCV's own TV-L1 defaults (Zach et al. 2007 / Sanchez et al. 2013 parameters).
TVL1_DEFAULT: dict[str, Any] = dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5,
                                    epsilon=0.01, inner_iterations=30, outer_iterations=10,
                                    scale_step=0.8, gamma=0.0, median_filtering=5)
#: Faster preset: 3 scales, 3 warps, looser stopping; 2.3x (224 px, shared notes) to ~4x (256 px,
#: benchmarks/bench_flow.py) faster, with the same EPE on small facial-scale motion.
TVL1_FAST: dict[str, Any] = {**TVL1_DEFAULT, "nscales": 3, "warps": 3, "epsilon": 0.02}
#: Farneback tuned for small facial motion: few levels (motion is < a few px), a 15 px box window
#: for robustness to noise, 5 iterations; poly_n=5 with poly_sigma=1.1 as OpenCV recommends.
FARNEBACK_DEFAULT: dict[str, Any] = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=5,
                                         poly_n=5, poly_sigma=1.1, flags=0)
#: DIS with OpenCV's "medium" preset; keys are overrides applied after the preset.
DIS_DEFAULT: dict[str, Any] = dict(preset="medium")

_TVL1_SETTERS = {"tau": "setTau", "lambda_": "setLambda", "theta": "setTheta",
                 "nscales": "setScalesNumber", "warps": "setWarpingsNumber", "epsilon": "setEpsilon",
                 "inner_iterations": "setInnerIterations", "outer_iterations": "setOuterIterations",
                 "scale_step": "setScaleStep", "gamma": "setGamma",
                 "median_filtering": "setMedianFiltering"}
_DIS_SETTERS = {"finest_scale": "setFinestScale", "patch_size": "setPatchSize",
                "patch_stride": "setPatchStride",
                "gradient_descent_iterations": "setGradientDescentIterations",
                "variational_refinement_iterations": "setVariationalRefinementIterations",
                "variational_refinement_alpha": "setVariationalRefinementAlpha",
                "variational_refinement_delta": "setVariationalRefinementDelta",
                "variational_refinement_gamma": "setVariationalRefinementGamma",
                "use_mean_normalization": "setUseMeanNormalization",
                "use_spatial_propagation": "setUseSpatialPropagation"}
_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def to_gray(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Grey float32 image in [0, 1] from uint8 [0, 255] or float [0, 1], grey or RGB."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., :3]
    elif img.ndim != 2:
        raise ValueError(f"{name}: expected (H,W) or (H,W,3) image, got shape {img.shape}")
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    elif np.issubdtype(img.dtype, np.floating):
        lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
        if lo < -0.5 or hi > 1.5:
            raise ValueError(f"{name}: float images must be in [0, 1]; got range [{lo:.3g}, {hi:.3g}]"
                             " (pass uint8, or divide by 255)")
        img = np.clip(img, 0.0, 1.0).astype(np.float32)
    else:
        raise TypeError(f"{name}: expected uint8 or float dtype, got {img.dtype}")
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img, dtype=np.float32)


def _merge(defaults: dict[str, Any], params: dict[str, Any], method: str) -> dict[str, Any]:
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(f"unknown {method} parameter(s) {unknown}; allowed: {sorted(defaults)}")
    return {**defaults, **params}


def _tvl1(a: np.ndarray, b: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    preset = params.pop("preset", "default")
    presets = {"default": TVL1_DEFAULT, "fast": TVL1_FAST}
    if preset not in presets:
        raise ValueError(f"tvl1 preset must be 'default' or 'fast', got {preset!r}")
    settings = _merge(presets[preset], params, "tvl1")
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    for key, value in settings.items():
        getattr(solver, _TVL1_SETTERS[key])(value)
    return solver.calc(a, b, None)


def _farneback(a: np.ndarray, b: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    s = _merge(FARNEBACK_DEFAULT, params, "farneback")
    return cv2.calcOpticalFlowFarneback(a * 255.0, b * 255.0, None, s["pyr_scale"], s["levels"],
                                        s["winsize"], s["iterations"], s["poly_n"],
                                        s["poly_sigma"], s["flags"])


def _dis(a: np.ndarray, b: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    settings = _merge({**DIS_DEFAULT, **dict.fromkeys(_DIS_SETTERS)}, params, "dis")
    if settings["preset"] not in _DIS_PRESETS:
        raise ValueError(f"dis preset must be one of {sorted(_DIS_PRESETS)}, got {settings['preset']!r}")
    solver = cv2.DISOpticalFlow_create(_DIS_PRESETS[settings.pop("preset")])
    for key, value in settings.items():
        if value is not None:
            getattr(solver, _DIS_SETTERS[key])(value)
    a8, b8 = (np.rint(x * 255.0).astype(np.uint8) for x in (a, b))
    return solver.calc(a8, b8, None)


_METHODS = {"tvl1": _tvl1, "farneback": _farneback, "dis": _dis}


def optical_flow(a: np.ndarray, b: np.ndarray, method: str = "tvl1", **params: Any) -> np.ndarray:
    """Dense flow from ``a`` to ``b``: (H, W, 2) float32 with ``a(x) ~ b(x + flow(x))``.

    ``method``: ``"tvl1"`` (Zach et al. 2007; ``preset="default"|"fast"`` plus any key of
    ``TVL1_DEFAULT``), ``"farneback"`` (keys of ``FARNEBACK_DEFAULT``) or ``"dis"`` (Kroeger et al.
    2016; ``preset="ultrafast"|"fast"|"medium"`` plus DIS setters in snake_case, e.g.
    ``variational_refinement_iterations``).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    ga, gb = to_gray(a, "a"), to_gray(b, "b")
    if ga.shape != gb.shape:
        raise ValueError(f"image shapes differ: a {ga.shape} vs b {gb.shape}")
    flow = _METHODS[method](ga, gb, dict(params))
    return np.asarray(flow, dtype=np.float32)


def onset_apex_flow(frames: Sequence[np.ndarray] | np.ndarray, apex: int, onset: int = 0,
                    method: str = "tvl1", **params: Any) -> np.ndarray:
    """Flow from ``frames[onset]`` to ``frames[apex]`` of a clip (indices relative to ``frames``)."""
    n = len(frames)
    for label, index in (("onset", onset), ("apex", apex)):
        if not -n <= index < n:
            raise IndexError(f"{label} index {index} out of range for a clip of {n} frames")
    return optical_flow(frames[onset], frames[apex], method=method, **params)


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """Per-pixel displacement length sqrt(dx^2 + dy^2), (H, W) float32."""
    f = _check_flow(flow)
    return np.hypot(f[..., 0], f[..., 1]).astype(np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the infinitesimal strain tensor of a flow field, (H, W) float32.

    With u, v the x, y displacements and derivatives by central differences (``np.gradient``,
    one-sided at the border): e_xx = du/dx, e_yy = dv/dy, e_xy = 0.5 (du/dy + dv/dx), and

        |e| = sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2)    (Frobenius norm of the symmetric tensor,
                                                   as in Liong et al.'s optical strain for MEs).
    Rotations and translations give zero strain.
    """
    f = _check_flow(flow).astype(np.float64)
    du_dy, du_dx = np.gradient(f[..., 0])
    dv_dy, dv_dx = np.gradient(f[..., 1])
    e_xy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx ** 2 + dv_dy ** 2 + 2.0 * e_xy ** 2).astype(np.float32)


def flow_to_hsv_image(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field: hue = direction, value = magnitude, full saturation; uint8 RGB.

    Direction is atan2(dy, dx) in image coordinates (y down), 0 deg (red) = rightwards. Value is
    magnitude / ``max_magnitude`` (default: the field's maximum), clipped to 1; zero flow is black.
    """
    f = _check_flow(flow).astype(np.float32)
    magnitude, angle = cv2.cartToPolar(f[..., 0], f[..., 1], angleInDegrees=True)
    scale = float(magnitude.max()) if max_magnitude is None else float(max_magnitude)
    if scale < 0:
        raise ValueError(f"max_magnitude must be >= 0, got {max_magnitude}")
    value = np.clip(magnitude / scale, 0, 1) if scale > 0 else np.zeros_like(magnitude)
    hsv = np.zeros(f.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = np.rint(angle / 2.0).astype(np.int32) % 180  # OpenCV 8-bit hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.rint(value * 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def endpoint_errors(flow: np.ndarray, true_flow: np.ndarray) -> np.ndarray:
    """Per-pixel end-point error ``||flow - true_flow||`` (H, W): melib's one EPE definition."""
    f, t = _check_flow(flow), _check_flow(true_flow)
    if f.shape != t.shape:
        raise ValueError(f"flow shape {f.shape} differs from true_flow shape {t.shape}")
    return np.hypot(f[..., 0].astype(np.float64) - t[..., 0], f[..., 1].astype(np.float64) - t[..., 1])


def endpoint_error(flow: np.ndarray, true_flow: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Average end-point error mean ||flow - true_flow|| over ``mask`` (all pixels if None)."""
    error = endpoint_errors(flow, true_flow)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != error.shape:
            raise ValueError(f"mask shape {m.shape} differs from flow shape {error.shape}")
        if not m.any():
            raise ValueError("mask selects no pixel")
        error = error[m]
    return float(error.mean())


def global_translation(a: np.ndarray, b: np.ndarray, iterations: int = 10,
                       margin: int = 8, start: np.ndarray | None = None) -> np.ndarray:
    """One sub-pixel shift d = (dx, dy) with ``a(x) ~ b(x + d)``: Lucas-Kanade over the whole image.

    Gauss-Newton on sum (a(x) - b(x + d))^2 over pixels at least ``margin`` px from the border; b is
    resampled with cubic splines (``scipy.ndimage.map_coordinates``; OpenCV's remap rounds
    positions to 1/32 px, too coarse here). Accurate to ~1e-3 px on smooth textures, used to
    measure magnification. Inputs are grey arrays of any numeric dtype and scale. ``start`` is an
    initial (dx, dy), needed for shifts beyond about a pixel (e.g. from phase correlation).
    """
    fa, fb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if fa.shape != fb.shape or fa.ndim != 2:
        raise ValueError(f"need two grey images of equal shape, got {fa.shape} and {fb.shape}")
    if min(fa.shape) <= 2 * margin + 2:
        raise ValueError(f"image {fa.shape} too small for margin={margin}")
    inner = (slice(margin, -margin), slice(margin, -margin))
    yy, xx = np.mgrid[0:fa.shape[0], 0:fa.shape[1]].astype(np.float64)
    d = np.zeros(2) if start is None else np.asarray(start, np.float64).copy()
    for _ in range(iterations):
        warped = map_coordinates(fb, [yy + d[1], xx + d[0]], order=3, mode="nearest")
        gy, gx = (g[inner].ravel() for g in np.gradient(warped))
        r = (fa - warped)[inner].ravel()
        hessian = np.array([[gx @ gx, gx @ gy], [gx @ gy, gy @ gy]])
        step = np.linalg.solve(hessian, np.array([gx @ r, gy @ r]))
        d += step
        if np.abs(step).max() < 1e-6:
            break
    return d


def _check_flow(flow: np.ndarray) -> np.ndarray:
    f = np.asarray(flow)
    if f.ndim != 3 or f.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {f.shape}")
    return f


# --------------------------------------------------------------------------- annotation mimic input
def minmax_threshold(magnitude: np.ndarray, threshold: float = 1.5) -> np.ndarray:
    """Min-max scale to [0, 1], then zero every value below ``threshold`` x the scaled map's mean.

    Order as in the authors' public code (the paper gives none): scale first, threshold second.
    A constant map becomes all zeros.
    """
    m = np.asarray(magnitude, dtype=np.float32)
    span = float(m.max() - m.min())
    scaled = (m - m.min()) / span if span > 0 else np.zeros_like(m)
    scaled[scaled < threshold * scaled.mean()] = 0.0
    return scaled


def mimic_input(onset: np.ndarray, apex: np.ndarray, offset: np.ndarray,
                magnified_apex: np.ndarray | None = None, target: str = "raw",
                threshold: float = 1.5, alpha: float = 5.0, method: str = "tvl1",
                flow_params: dict[str, Any] | None = None) -> np.ndarray:
    """Annotation-mimic input (Ruan et al. 2022, Sec. 3.1.1, Fig. 2): (H, W, 3) float32 in [0, 1].

    Channel 0: grey magnified apex. Channels 1, 2: flow magnitudes onset -> target and offset ->
    target (target = apex for ``"raw"``, the paper's choice on CASME II; the magnified apex for
    ``"magnified"``, its choice on SAMM), each passed through ``minmax_threshold``.
    The paper magnifies with the learned method of Oh et al. at factor 6; if ``magnified_apex`` is
    None, the Eulerian two-frame ``magnify_pair(onset, apex, alpha)`` stands in for it (EVM alpha 5:
    motion becomes 1 + 5 = 6 times larger, the paper's factor).
    ``flow_params`` default to TV-L1 with ``scale_step=0.5``, the setting of the authors' code.
    """
    if target not in ("raw", "magnified"):
        raise ValueError(f"target must be 'raw' or 'magnified', got {target!r}")
    shapes = {"onset": np.shape(onset), "apex": np.shape(apex), "offset": np.shape(offset)}
    if magnified_apex is None:  # float frames may overshoot [0, 1] after magnification
        magnified_apex = magnify_pair(onset, apex, alpha)
        if np.issubdtype(magnified_apex.dtype, np.floating):
            magnified_apex = np.clip(magnified_apex, 0.0, 1.0)
    shapes["magnified_apex"] = np.shape(magnified_apex)
    if len({s[:2] for s in shapes.values()}) != 1:
        raise ValueError(f"frames must share height and width, got {shapes}")
    if flow_params is None:
        flow_params = {"scale_step": 0.5} if method == "tvl1" else {}
    goal = apex if target == "raw" else magnified_apex
    on_mag = flow_magnitude(optical_flow(onset, goal, method, **flow_params))
    off_mag = flow_magnitude(optical_flow(offset, goal, method, **flow_params))
    grey = to_gray(magnified_apex, "magnified_apex")
    return np.stack([grey, minmax_threshold(on_mag, threshold),
                     minmax_threshold(off_mag, threshold)], axis=-1).astype(np.float32)

