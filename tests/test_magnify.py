"""Eulerian magnification (melib.motion.magnify) on synthetic translating textures with known motion.

Frames are sums of plane waves evaluated analytically at x + delta(t), so the input motion is exact.
EVM predicts displacements multiplied by (1 + alpha) (Wu et al. 2012, 'first-order motion'); output motion is
measured with ``global_translation`` (Lucas-Kanade, ~1e-3 px, checked in test_flow.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from melib.motion.flow import global_translation
from melib.motion.magnify import (
    collapse_laplacian_pyramid,
    default_levels,
    eulerian,
    laplacian_pyramid,
    level_alphas,
    magnify_clip_frames,
    magnify_pair,
    temporal_bandpass,
)

SIZE, FPS = 128, 30.0
SMOOTH, FINE = (48.0, 96.0), (8.0, 32.0)  # texture wavelength ranges in px


def texture(dx: float, dy: float, wavelengths=SMOOTH, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Grey float32 image around 128: 24 plane waves sampled at (x + dx, y + dy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.zeros_like(xx)
    for _ in range(24):
        lam, theta, phase = rng.uniform(*wavelengths), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.cos(2 * np.pi * ((xx + dx) * np.cos(theta) + (yy + dy) * np.sin(theta)) / lam + phase)
    return (128 + 100 * out / np.sqrt(48)).astype(np.float32)


def sinusoidal_clip(freq: float, amplitude: float = 0.15, n: int = 30, wavelengths=SMOOTH):
    delta = amplitude * np.sin(2 * np.pi * freq * np.arange(n) / FPS)
    return np.stack([texture(d, 0.5 * d, wavelengths) for d in delta]), delta


def gain(frames: np.ndarray, delta: np.ndarray, wavelengths=SMOOTH) -> float:
    """Least-squares slope of the measured x-shift (vs the unshifted texture) on delta_x."""
    reference = texture(0.0, 0.0, wavelengths)
    shifts = np.array([global_translation(frame, reference)[0] for frame in frames])
    return float(shifts @ delta / (delta @ delta))


# ----------------------------------------------------------------------------- pyramid and filters
@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (33, 31, 3)])
def test_laplacian_pyramid_round_trip_any_size(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    levels = default_levels(*shape[:2])
    pyramid = laplacian_pyramid(image, levels)
    assert len(pyramid) == levels and pyramid[0].shape == shape
    assert min(pyramid[-1].shape[:2]) >= 8 and min(pyramid[-1].shape[:2]) < 16
    np.testing.assert_allclose(collapse_laplacian_pyramid(pyramid), image, atol=1e-5)


def test_level_alphas_follow_evm_wavelength_rule():
    # wavelengths 4, 8, 16, 32 px; lambda_c = 16: (1 + alpha) lambda / lambda_c - 1, capped at alpha
    np.testing.assert_allclose(level_alphas(10, 4, lambda_c=16), [1.75, 4.5, 10, 10])
    np.testing.assert_allclose(level_alphas(2, 3, lambda_c=32), [0, 0, 0.5])  # negative -> 0
    np.testing.assert_allclose(level_alphas(10, 4, attenuate=False), [10, 10, 10, 10])


def test_ideal_bandpass_keeps_in_band_and_removes_out_of_band():
    t = np.arange(60) / FPS
    inside, outside = np.sin(2 * np.pi * 3 * t), np.sin(2 * np.pi * 10 * t)
    signal = (5.0 + inside + outside)[:, None]  # DC + 3 Hz + 10 Hz
    out = temporal_bandpass(signal, 2, 4, FPS, "ideal")[:, 0]
    np.testing.assert_allclose(out, inside, atol=1e-5)


def test_iir_bandpass_matches_its_frequency_response():
    r_hi, r_lo = 1 - np.exp(-2 * np.pi * 4 / FPS), 1 - np.exp(-2 * np.pi * 1 / FPS)
    t = np.arange(300) / FPS
    for freq in (0.1, 2.0, 12.0):
        z = np.exp(-2j * np.pi * freq / FPS)
        response = abs(r_hi / (1 - (1 - r_hi) * z) - r_lo / (1 - (1 - r_lo) * z))
        out = temporal_bandpass(np.sin(2 * np.pi * freq * t)[:, None], 1, 4, FPS, "iir")[:, 0]
        assert np.abs(out[150:]).max() == pytest.approx(response, rel=0.03)
    constant = temporal_bandpass(np.full((20, 2), 7.0), 1, 4, FPS, "iir")
    assert np.abs(constant).max() < 1e-5  # DC is blocked


def test_bad_band_and_filter_raise():
    stack = np.zeros((10, 4, 4), np.float32)
    with pytest.raises(ValueError, match="fps/2"):
        temporal_bandpass(stack, 2, 20, FPS)
    with pytest.raises(ValueError, match="filter"):
        temporal_bandpass(stack, 2, 4, FPS, filter="butter")


# ----------------------------------------------------------------------------- magnification
def test_in_band_translation_is_multiplied_by_one_plus_alpha():
    frames, delta = sinusoidal_clip(freq=3.0)
    # Without the spatial taper the only error is EVM's first-order approximation: (1+alpha)*0.15
    # = 1.65 px against wavelengths >= 48 px costs < 1% (measured 0.996), so allow 2%.
    plain = gain(eulerian(frames, 10, 2, 4, FPS, attenuate=False), delta)
    assert plain == pytest.approx(11, rel=0.02)
    # With the taper, texture energy leaking into the 4-8 px bands gets a smaller alpha, measured
    # 0.97 of 11 (benchmarks/bench_magnify.py); allow 0.92-1.02.
    tapered = gain(eulerian(frames, 10, 2, 4, FPS), delta)
    assert 0.92 * 11 < tapered < 1.02 * 11


def test_out_of_band_motion_is_not_amplified():
    frames, delta = sinusoidal_clip(freq=10.0)
    assert gain(eulerian(frames, 10, 2, 4, FPS), delta) == pytest.approx(1.0, abs=0.02)


def test_attenuation_reduces_amplification_of_fine_texture():
    frames, delta = sinusoidal_clip(freq=3.0, wavelengths=FINE)
    full = gain(eulerian(frames, 5, 2, 4, FPS, attenuate=False), delta, FINE)
    tapered = gain(eulerian(frames, 5, 2, 4, FPS, lambda_c=16), delta, FINE)
    assert full == pytest.approx(6, rel=0.05)
    assert tapered < 0.8 * full


def test_shape_and_dtype_are_preserved():
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (8, 33, 41, 3), dtype=np.uint8)
    out = eulerian(colour, 20, 2, 6, FPS)
    assert out.shape == colour.shape and out.dtype == np.uint8
    assert np.any(out != colour)
    grey64 = rng.random((8, 30, 30))
    out64 = eulerian(grey64, 5, 2, 6, FPS, filter="iir")
    assert out64.shape == grey64.shape and out64.dtype == np.float64
    np.testing.assert_array_equal(eulerian(colour, 0, 2, 6, FPS), colour)  # alpha 0: identity
    with pytest.raises(ValueError, match="shape"):
        eulerian(rng.random((8, 30, 30, 2)), 5, 2, 6, FPS)


def test_pair_mode_multiplies_onset_to_apex_shift():
    onset, apex = texture(0.0, 0.0), texture(0.1, -0.05)
    shift = global_translation(magnify_pair(onset, apex, 10), onset)
    # Same taper loss as the clip test (measured 0.974): allow 0.92-1.02 of (1 + alpha) * shift.
    assert 0.92 * 1.1 < shift[0] < 1.02 * 1.1
    assert 0.92 * -0.55 > shift[1] > 1.02 * -0.55
    colour = np.stack([onset, apex, onset], -1).astype(np.uint8)
    out = magnify_pair(colour, colour[..., ::-1], 4)
    assert out.shape == colour.shape and out.dtype == np.uint8
    with pytest.raises(ValueError, match="differs"):
        magnify_pair(onset, apex[:-1], 3)


def test_clip_helper_returns_requested_magnified_frames():
    frames, _ = sinusoidal_clip(freq=3.0, n=12)
    full = eulerian(frames, 5, 2, 4, FPS)
    np.testing.assert_array_equal(magnify_clip_frames(frames, [0, 7], 5, 2, 4, FPS), full[[0, 7]])
    assert magnify_clip_frames(frames, 3, 5, 2, 4, FPS).shape == frames.shape[1:]
    with pytest.raises(IndexError, match="out of range"):
        magnify_clip_frames(frames, 12, 5, 2, 4, FPS)
