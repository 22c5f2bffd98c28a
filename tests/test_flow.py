"""Optical flow, strain, flow images and the annotation-mimic input (melib.motion.flow).

Test pairs are analytic textures (sums of plane waves) sampled at x and x + d, so the true flow of
a(x) = b(x + d) is exactly d; no interpolation enters the ground truth.
"""
from __future__ import annotations

import numpy as np
import pytest

from melib.motion.flow import (
    endpoint_error,
    flow_magnitude,
    flow_to_hsv_image,
    global_translation,
    mimic_input,
    minmax_threshold,
    onset_apex_flow,
    optical_flow,
    optical_strain,
    to_gray,
)

SIZE = 128


def texture(dx=0.0, dy=0.0, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Plane-wave texture (wavelengths 6-48 px) at (x + dx, y + dy); dx, dy scalars or (H, W) maps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.zeros_like(xx)
    for lam in np.exp(rng.uniform(np.log(6), np.log(48), 48)):
        theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.sqrt(lam) * np.cos(2 * np.pi * ((xx + dx) * np.cos(theta) + (yy + dy) * np.sin(theta))
                                     / lam + phase)
    return out


def to_uint8(*images: np.ndarray) -> list[np.ndarray]:
    lo, hi = min(i.min() for i in images), max(i.max() for i in images)
    return [np.rint(20 + 215 * (i - lo) / (hi - lo)).astype(np.uint8) for i in images]


INTERIOR = np.zeros((SIZE, SIZE), bool)
INTERIOR[8:-8, 8:-8] = True


def test_global_translation_recovers_analytic_shift():
    b, a = texture(), texture(0.37, -0.21)
    np.testing.assert_allclose(global_translation(a, b), [0.37, -0.21], atol=2e-3)


# Tolerances (EPE, px) from measurements on these textures (3 seeds, 128 px): sub-pixel shift
# |d| = 0.28 px: TV-L1 0.054-0.058 (OpenCV's TV-L1 shrinks fractional motion by ~20%), Farneback
# 0.010, DIS 0.038-0.043 (uint8 input); 2.2 px shift: all <= 0.016. Limits are ~1.5x those.
@pytest.mark.parametrize("method, subpixel_tol", [("tvl1", 0.09), ("farneback", 0.02), ("dis", 0.065)])
def test_each_method_recovers_known_shifts(method, subpixel_tol):
    for shift, tol in (((0.25, -0.125), subpixel_tol), ((2.0, 1.0), 0.03)):
        a, b = to_uint8(texture(*shift), texture())
        truth = np.broadcast_to(np.float32(shift), (SIZE, SIZE, 2))
        flow = optical_flow(a, b, method)
        assert flow.shape == (SIZE, SIZE, 2) and flow.dtype == np.float32
        assert endpoint_error(flow, truth, INTERIOR) < tol, (method, shift)


def test_inputs_rgb_float_and_uint8_are_equivalent():
    a, b = to_uint8(texture(0.5, 0.25), texture())
    ref = optical_flow(a, b, "farneback")
    rgb = optical_flow(np.repeat(a[..., None], 3, -1), np.repeat(b[..., None], 3, -1), "farneback")
    flt = optical_flow(a / 255.0, b / 255.0, "farneback")
    np.testing.assert_allclose(rgb, ref, atol=1e-4)
    np.testing.assert_allclose(flt, ref, atol=1e-3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_gray(a.astype(np.float32))  # float image in 0..255
    with pytest.raises(TypeError, match="unknown tvl1"):
        optical_flow(a, b, "tvl1", lambda_c=3)
    with pytest.raises(ValueError, match="method"):
        optical_flow(a, b, "horn")
    # overrides reach the solver: DIS without variational refinement gives a different field
    plain = optical_flow(a, b, "dis", variational_refinement_iterations=0)
    assert np.abs(plain - optical_flow(a, b, "dis")).max() > 1e-3
    with pytest.raises(TypeError, match="unknown dis"):
        optical_flow(a, b, "dis", winsize=5)


def test_tvl1_fast_preset_recovers_shift():
    a, b = to_uint8(texture(1.5, -0.5), texture())
    fast = optical_flow(a, b, "tvl1", preset="fast")
    assert endpoint_error(fast, np.broadcast_to(np.float32([1.5, -0.5]), fast.shape), INTERIOR) < 0.1


def test_onset_apex_flow_uses_the_right_frames():
    frames = np.stack(to_uint8(texture(), texture(0.5, 0.0), texture(1.0, 0.5)))
    np.testing.assert_array_equal(onset_apex_flow(frames, apex=2, method="dis"),
                                  optical_flow(frames[0], frames[2], "dis"))
    with pytest.raises(IndexError, match="apex"):
        onset_apex_flow(frames, apex=3)


def test_strain_of_linear_deformation_matches_formula():
    yy, xx = np.mgrid[0:20, 0:30].astype(np.float64)
    a, b, c, d = 0.02, 0.05, -0.01, 0.03  # u = a x + b y, v = c x + d y
    flow = np.stack([a * xx + b * yy, c * xx + d * yy], -1)
    expected = np.sqrt(a**2 + d**2 + 2 * (0.5 * (b + c)) ** 2)
    np.testing.assert_allclose(optical_strain(flow), expected, rtol=1e-5)
    rotation = np.stack([-0.1 * yy, 0.1 * xx], -1)  # infinitesimal rotation: no strain
    np.testing.assert_allclose(optical_strain(rotation), 0, atol=1e-7)


def test_hsv_image_shape_black_zero_and_colour_direction():
    flow = np.zeros((10, 12, 2), np.float32)
    flow[:, 6:, 0] = 2.0  # right half moves right
    image = flow_to_hsv_image(flow)
    assert image.shape == (10, 12, 3) and image.dtype == np.uint8
    assert image[:, :6].max() == 0  # zero flow is black
    np.testing.assert_array_equal(image[0, 8], [255, 0, 0])  # rightwards = red, full value
    assert flow_to_hsv_image(flow, max_magnitude=4.0)[0, 8].max() == 128
    assert flow_to_hsv_image(np.zeros((4, 4, 2))).max() == 0


def test_magnitude_and_endpoint_error():
    flow = np.zeros((4, 4, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, 4.0
    np.testing.assert_allclose(flow_magnitude(flow), 5.0)
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    truth = np.zeros_like(flow)
    truth[1:] = flow[1:]
    assert endpoint_error(flow, truth) == pytest.approx(5.0 / 4)
    assert endpoint_error(flow, truth, mask) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="no pixel"):
        endpoint_error(flow, truth, np.zeros((4, 4), bool))


def test_minmax_threshold_scales_then_zeroes_below_mean_multiple():
    values = np.array([[0.0, 1.0, 2.0, 3.0, 14.0]])
    out = minmax_threshold(values, threshold=1.5)
    scaled = values / 14.0  # mean 20/70; 1.5 x mean = 0.4286: only 14/14 survives
    np.testing.assert_allclose(out, np.where(scaled >= 1.5 * scaled.mean(), scaled, 0))
    assert out.max() == 1.0 and np.count_nonzero(out) == 1
    np.testing.assert_allclose(minmax_threshold(values, threshold=0.0), scaled)
    assert not minmax_threshold(np.full((3, 3), 2.0)).any()


def test_mimic_input_channels():
    # onset: texture; apex: a smooth bump of motion in the upper-left quarter; offset: near onset.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    bump = 1.5 * np.exp(-((xx - 40) ** 2 + (yy - 40) ** 2) / (2 * 12.0 ** 2))
    onset, apex, offset = to_uint8(texture(), texture(bump, 0.5 * bump), texture(0.1 * bump, 0))
    out = mimic_input(onset, apex, offset)
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    for channel in (1, 2):
        values = out[..., channel]
        assert values.max() == pytest.approx(1.0)
        kept = values[values > 0]
        assert kept.size < values.size / 2  # thresholding zeroed most of the map
    moving = out[20:60, 20:60, 1].mean()
    assert moving > 5 * out[80:, 80:, 1].mean()  # onset->apex motion is found in the bump
    given = apex.copy()
    np.testing.assert_allclose(mimic_input(onset, apex, offset, magnified_apex=given)[..., 0],
                               to_gray(given), atol=1e-6)
    with pytest.raises(ValueError, match="target"):
        mimic_input(onset, apex, offset, target="apex")
    with pytest.raises(ValueError, match="height and width"):
        mimic_input(onset, apex, offset[:-1])
