"""Eulerian video magnification (Wu et al., SIGGRAPH 2012, "EVM").

EVM decomposes every frame into a Laplacian pyramid, band-passes each pyramid coefficient over
time, multiplies the band-passed signal by an amplification factor and adds it back. (The paper is not in
shared/papers; its sections are named rather than numbered below.)
For a translating image I(x, t) = f(x + delta(t)), the band-passed signal is B ~ delta(t) f'(x), so

    I(x, t) + alpha * B(x, t) ~ f(x + (1 + alpha) delta(t))      (EVM, 'first-order motion')

i.e. **displacements inside the pass band are multiplied by (1 + alpha)**, not by alpha.
The first-order approximation holds while (1 + alpha) delta(t) < lambda / 8 (EVM, 'bounds'), so
each pyramid level with representative spatial wavelength lambda gets

    delta = lambda_c / (8 (1 + alpha)),      alpha_l = min(alpha, lambda / (8 delta) - 1)
                                                     = min(alpha, (1 + alpha) lambda / lambda_c - 1),

clipped at 0: full alpha for wavelengths >= lambda_c, linearly less below. Choices made here:

* Level l (0 = finest) is given the wavelength ``2 ** (l + 2)`` px, the longest period in that band
  (level l holds wavelengths of roughly 2**(l+1) to 2**(l+2) px). Every band, the low-pass residual
  included, follows the rule above; none is switched off.
* Colour is processed in YIQ (as EVM does); Y gets alpha_l, I and Q get ``chrom_attenuation *
  alpha_l`` (default 0.1, EVM's setting for its motion examples). Grey input is processed as Y.
* The IIR filter is the difference of two first-order low-pass filters (as in EVM) whose
  coefficients come from the cut-offs in Hz: r = 1 - exp(-2 pi f / fps) (exponential smoothing).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "laplacian_pyramid",
    "collapse_laplacian_pyramid",
    "default_levels",
    "level_wavelengths",
    "level_alphas",
    "temporal_bandpass",
    "eulerian",
    "magnify_pair",
    "magnify_clip_frames",
    "rgb_to_yiq",
    "yiq_to_rgb",
]

# NTSC RGB -> YIQ matrix (rows Y, I, Q), as used by EVM for colour videos.
_RGB2YIQ = np.array([[0.299, 0.587, 0.114],
                     [0.595716, -0.274453, -0.321263],
                     [0.211456, -0.522591, 0.311135]], dtype=np.float64)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """Convert an RGB array (..., 3) to YIQ (float32), linear NTSC transform."""
    return (np.asarray(image, dtype=np.float32) @ _RGB2YIQ.T.astype(np.float32)).astype(np.float32)


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    """Convert a YIQ array (..., 3) back to RGB (float32)."""
    return (np.asarray(image, dtype=np.float32) @ _YIQ2RGB.T.astype(np.float32)).astype(np.float32)


# --------------------------------------------------------------------------- spatial pyramid
def default_levels(height: int, width: int, min_size: int = 8) -> int:
    """Number of pyramid levels (bands + residual) such that the coarsest side is >= ``min_size``."""
    levels, side = 1, min(height, width)
    while (side + 1) // 2 >= min_size:
        side = (side + 1) // 2
        levels += 1
    return levels


def laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid of a (H, W) or (H, W, C) image (Burt & Adelson), any size incl. odd.

    Returns ``levels`` float32 arrays: ``levels - 1`` band-pass images, finest first, then the
    low-pass residual. ``collapse_laplacian_pyramid`` inverts it exactly (up to float rounding).
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    current = np.asarray(image, dtype=np.float32)
    pyramid = []
    for _ in range(levels - 1):
        if min(current.shape[:2]) < 2:
            raise ValueError(f"image {image.shape[:2]} too small for {levels} pyramid levels")
        smaller = cv2.pyrDown(current)
        up = cv2.pyrUp(smaller, dstsize=(current.shape[1], current.shape[0]))
        pyramid.append(current - up.reshape(current.shape))
        current = smaller
    pyramid.append(current)
    return pyramid


def collapse_laplacian_pyramid(pyramid: Sequence[np.ndarray]) -> np.ndarray:
    """Rebuild the image from a Laplacian pyramid made by ``laplacian_pyramid``."""
    image = np.asarray(pyramid[-1], dtype=np.float32)
    for band in reversed(pyramid[:-1]):
        up = cv2.pyrUp(image, dstsize=(band.shape[1], band.shape[0]))
        image = band + up.reshape(band.shape)
    return image


def level_wavelengths(levels: int) -> np.ndarray:
    """Representative spatial wavelength (px of the input) of each level: ``2 ** (l + 2)``."""
    return 2.0 ** (np.arange(levels) + 2)


def level_alphas(alpha: float, levels: int, lambda_c: float = 16.0, attenuate: bool = True) -> np.ndarray:
    """Per-level amplification (EVM 'bounds'): min(alpha, (1+alpha) lambda/lambda_c - 1), >= 0."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if not attenuate:
        return np.full(levels, float(alpha))
    if lambda_c <= 0:
        raise ValueError(f"lambda_c must be > 0, got {lambda_c}")
    delta = lambda_c / (8.0 * (1.0 + alpha))
    per_level = level_wavelengths(levels) / (8.0 * delta) - 1.0
    return np.clip(np.minimum(alpha, per_level), 0.0, None)


# --------------------------------------------------------------------------- temporal filters
def _check_band(low: float, high: float, fps: float) -> None:
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not 0 <= low < high <= fps / 2:
        raise ValueError(f"need 0 <= low < high <= fps/2 = {fps / 2}; got low={low}, high={high}")


def temporal_bandpass(stack: np.ndarray, low: float, high: float, fps: float,
                      filter: str = "ideal") -> np.ndarray:
    """Band-pass a (T, ...) array along time (axis 0).

    ``"ideal"``: FFT over the whole clip, keep bins with low <= |f| <= high (non-causal).
    ``"iir"``: difference of two first-order low-pass filters with cut-offs ``high`` and ``low``
    (causal; starts from the first frame, so frame 0 gets zero output).
    """
    _check_band(low, high, fps)
    x = np.asarray(stack, dtype=np.float32)
    if filter == "ideal":
        freqs = np.fft.rfftfreq(x.shape[0], d=1.0 / fps)
        keep = (freqs >= low) & (freqs <= high)
        spectrum = np.fft.rfft(x, axis=0)
        spectrum[~keep] = 0
        return np.fft.irfft(spectrum, n=x.shape[0], axis=0).astype(np.float32)
    if filter == "iir":
        r_high = 1.0 - np.exp(-2.0 * np.pi * high / fps)
        r_low = 1.0 - np.exp(-2.0 * np.pi * low / fps)
        lp_high = x[0].copy()
        lp_low = x[0].copy()
        out = np.empty_like(x)
        for t in range(x.shape[0]):
            lp_high += r_high * (x[t] - lp_high)
            lp_low += r_low * (x[t] - lp_low)
            out[t] = lp_high - lp_low
        return out
    raise ValueError(f"filter must be 'ideal' or 'iir', got {filter!r}")


# --------------------------------------------------------------------------- entry points
def _to_work(arr: np.ndarray, colour: bool, name: str) -> np.ndarray:
    """float32 working copy: YIQ for colour, as-is for grey."""
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: expected uint8 or float frames, got dtype {arr.dtype}")
    return rgb_to_yiq(arr) if colour else arr.astype(np.float32)


def _finish(work: np.ndarray, colour: bool, like: np.ndarray) -> np.ndarray:
    out = yiq_to_rgb(work) if colour else work
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(like.dtype)
    return out.astype(like.dtype)


def _channel_weights(colour: bool, chrom_attenuation: float) -> np.ndarray | float:
    return np.array([1.0, chrom_attenuation, chrom_attenuation], np.float32) if colour else 1.0


def eulerian(frames: np.ndarray, alpha: float, low: float, high: float, fps: float,
             levels: int | None = None, filter: str = "ideal", lambda_c: float = 16.0,
             attenuate: bool = True, chrom_attenuation: float = 0.1) -> np.ndarray:
    """Eulerian motion magnification of a clip (Wu et al. 2012, 'first-order motion' and 'bounds').

    Parameters
    ----------
    frames : (T, H, W) grey or (T, H, W, 3) RGB, uint8 or float.
    alpha : amplification; in-band displacements become (1 + alpha) times larger.
    low, high : temporal pass band in Hz (0 <= low < high <= fps/2).
    fps : frame rate of the clip.
    levels : pyramid levels incl. residual (default: coarsest side >= 8 px).
    filter : ``"ideal"`` (FFT) or ``"iir"`` (two first-order low-passes).
    lambda_c, attenuate : spatial cut-off wavelength (px) and whether to apply the EVM taper.
    chrom_attenuation : factor on alpha for the I and Q channels of colour input.

    Returns
    -------
    Array of the input's shape and dtype; integer input is rounded and clipped to its range.
    """
    arr = np.asarray(frames)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
        raise ValueError(f"frames must be (T,H,W) or (T,H,W,3), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"need at least 2 frames, got {arr.shape[0]}")
    colour = arr.ndim == 4
    work = _to_work(arr, colour, "frames")
    n_levels = levels if levels is not None else default_levels(arr.shape[1], arr.shape[2])
    alphas = level_alphas(alpha, n_levels, lambda_c, attenuate)
    weights = _channel_weights(colour, chrom_attenuation)

    pyramids = [laplacian_pyramid(frame, n_levels) for frame in work]
    amplified_levels = []
    for level in range(n_levels):
        stack = np.stack([pyr[level] for pyr in pyramids])
        if alphas[level] == 0:
            amplified_levels.append(np.zeros_like(stack))
            continue
        band = temporal_bandpass(stack, low, high, fps, filter)
        amplified_levels.append(alphas[level] * band * weights)
    added = np.stack([collapse_laplacian_pyramid([lvl[t] for lvl in amplified_levels])
                      for t in range(arr.shape[0])])
    return _finish(work + added, colour, arr)


def magnify_pair(onset: np.ndarray, apex: np.ndarray, alpha: float, levels: int | None = None,
                 lambda_c: float = 16.0, attenuate: bool = True,
                 chrom_attenuation: float = 0.1) -> np.ndarray:
    """Magnified apex from an (onset, apex) pair: two-frame EVM.

    With two samples a temporal band-pass can only see the change apex - onset, so the onset is
    taken as the rest state and the result is

        apex + collapse_l( alpha_l * (L_l(apex) - L_l(onset)) ),

    with ``L_l`` the Laplacian level l and ``alpha_l`` from ``level_alphas`` (same spatial taper as
    ``eulerian``). A shift d from onset to apex becomes (1 + alpha) d. Shapes (H, W) or (H, W, 3),
    uint8 or float; output has the apex's shape and dtype.
    """
    on, ap = np.asarray(onset), np.asarray(apex)
    if on.shape != ap.shape:
        raise ValueError(f"onset shape {on.shape} differs from apex shape {ap.shape}")
    if ap.ndim not in (2, 3) or (ap.ndim == 3 and ap.shape[-1] != 3):
        raise ValueError(f"frames must be (H,W) or (H,W,3), got shape {ap.shape}")
    colour = ap.ndim == 3
    work_on, work_ap = _to_work(on, colour, "onset"), _to_work(ap, colour, "apex")
    n_levels = levels if levels is not None else default_levels(ap.shape[0], ap.shape[1])
    alphas = level_alphas(alpha, n_levels, lambda_c, attenuate)
    weights = _channel_weights(colour, chrom_attenuation)
    difference = laplacian_pyramid(work_ap - work_on, n_levels)  # the pyramid is linear
    amplified = [a * band * weights for a, band in zip(alphas, difference)]
    return _finish(work_ap + collapse_laplacian_pyramid(amplified), colour, ap)


def magnify_clip_frames(frames: np.ndarray, indices: Sequence[int] | int, alpha: float, low: float,
                        high: float, fps: float, **kwargs) -> np.ndarray:
    """Run ``eulerian`` on a whole clip and return only the frames at ``indices``.

    Useful for an apex (or onset/apex/offset) taken from a magnified clip, e.g. IICL's x10 input.
    ``kwargs`` go to ``eulerian``. An int index returns one frame, a sequence returns a stack.
    """
    arr = np.asarray(frames)
    single = isinstance(indices, (int, np.integer))
    wanted = [int(indices)] if single else [int(i) for i in indices]
    for i in wanted:
        if not -arr.shape[0] <= i < arr.shape[0]:
            raise IndexError(f"frame index {i} out of range for a clip of {arr.shape[0]} frames")
    magnified = eulerian(arr, alpha, low, high, fps, **kwargs)
    picked = magnified[wanted]
    return picked[0] if single else picked
