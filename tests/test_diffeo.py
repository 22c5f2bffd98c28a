"""Cubic B-spline expansion (SelfME Eq. 9), scaling and squaring (Arsigny et al. 2006) and folding checks."""
import math

import pytest
import torch

from melib.motion.diffeo import bspline_upsample, folding_fraction, integrate_velocity, jacobian_determinant


def coords(h: int, w: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    return xs, ys


def field(ux: torch.Tensor, uy: torch.Tensor) -> torch.Tensor:
    return torch.stack([ux, uy])[None]


# --- bspline_upsample (Eq. 9) -------------------------------------------------------------------

def test_constant_field_stays_constant():
    phi = torch.empty(2, 2, 5, 7)
    phi[:, 0], phi[:, 1] = 1.5, -0.25
    out = bspline_upsample(phi, (33, 61))
    assert out.shape == (2, 2, 33, 61)
    assert torch.allclose(out[:, 0], torch.full_like(out[:, 0], 1.5), atol=1e-5, rtol=0)
    assert torch.allclose(out[:, 1], torch.full_like(out[:, 1], -0.25), atol=1e-5, rtol=0)


@pytest.mark.parametrize("h, w, out_h, out_w", [(5, 7, 33, 61), (2, 3, 9, 4), (4, 4, 50, 50)])
def test_linear_field_reproduced_exactly(h, w, out_h, out_w):
    gx, gy = coords(h, w)                    # control-grid indices
    a, b, c = 0.7, -1.3, 2.0
    phi = field(a * gx + b * gy + c, -b * gx + 0.5 * gy)
    out = bspline_upsample(phi, (out_h, out_w))
    ox, oy = coords(out_h, out_w)
    px, py = ox * (w - 1) / (out_w - 1), oy * (h - 1) / (out_h - 1)   # output pixel -> grid units
    expected = field(a * px + b * py + c, -b * px + 0.5 * py)
    assert torch.allclose(out, expected, atol=1e-10, rtol=0)
    # the corner control points land on the corner pixels
    assert torch.allclose(out[..., [0, -1], :][..., [0, -1]], phi[..., [0, -1], :][..., [0, -1]], atol=1e-10)


def test_bspline_is_approximating_not_interpolating():
    gx, gy = coords(5, 5)
    phi = field((gx - 2.0) ** 2, torch.zeros_like(gx))       # curved: min 0 at the centre control point
    out = bspline_upsample(phi, (17, 17))                    # control point (2, 2) sits at pixel (8, 8)
    assert out[0, 0, 8, 8] > 0.1                             # smoothed above the control value 0
    assert out[0, 0, 8, 8] == pytest.approx(1 / 3, abs=1e-9)  # (1 + 4*0 + 1) / 6


def test_convex_hull_property_on_random_field():
    torch.manual_seed(0)
    phi = torch.randn(3, 2, 6, 8, dtype=torch.float64)
    out = bspline_upsample(phi, (41, 57))
    lo = phi.amin(dim=(-2, -1), keepdim=True)
    hi = phi.amax(dim=(-2, -1), keepdim=True)
    assert (out >= lo - 1e-12).all() and (out <= hi + 1e-12).all()
    assert out.std() < phi.std()                             # smoothing shrinks the spread


def test_upsample_gradient_dtype_and_device():
    phi = torch.randn(1, 2, 4, 5, requires_grad=True)
    out = bspline_upsample(phi, (16, 20))
    assert out.dtype == torch.float32 and out.device == phi.device
    out.sum().backward()
    assert phi.grad is not None and phi.grad.shape == phi.shape
    assert (phi.grad > 0).all()                              # every control point contributes
    assert bspline_upsample(phi.detach().double(), (16, 20)).dtype == torch.float64


@pytest.mark.parametrize("shape, size", [((2, 5, 7), (10, 10)), ((1, 3, 5, 7), (10, 10)),
                                         ((1, 2, 1, 7), (10, 10)), ((1, 2, 5, 1), (10, 10)),
                                         ((1, 2, 5, 7), (0, 10))])
def test_upsample_bad_shapes_raise(shape, size):
    with pytest.raises(ValueError):
        bspline_upsample(torch.zeros(shape), size)


# --- integrate_velocity (scaling and squaring) --------------------------------------------------

def test_zero_velocity_stays_zero():
    assert torch.equal(integrate_velocity(torch.zeros(2, 2, 20, 30)), torch.zeros(2, 2, 20, 30))


def test_constant_velocity_is_a_translation():
    v = torch.empty(1, 2, 32, 40, dtype=torch.float64)
    v[:, 0], v[:, 1] = 3.25, -1.5
    assert torch.allclose(integrate_velocity(v), v, atol=1e-10, rtol=0)


def test_small_smooth_velocity_is_first_order():
    torch.manual_seed(1)
    v = 0.3 * bspline_upsample(torch.randn(1, 2, 4, 5, dtype=torch.float64), (40, 50))
    u = integrate_velocity(v)
    diff = (u - v).abs().max()
    assert diff < 0.05 * v.abs().max()                       # second-order term only
    assert diff > 0                                          # but the composition did something


def test_rotation_velocity_gives_exact_rotation_in_the_centre():
    h, w, omega = 64, 96, 0.2
    xs, ys = coords(h, w)
    xc, yc = (w - 1) / 2, (h - 1) / 2
    v = field(-omega * (ys - yc), omega * (xs - xc))
    u = integrate_velocity(v, steps=8)
    c, s = math.cos(omega), math.sin(omega)
    rx, ry = xs - xc, ys - yc
    exact = field(c * rx - s * ry - rx, s * rx + c * ry - ry)
    centre = (slice(None), slice(None), slice(22, 42), slice(38, 58))   # within 10 px of the centre
    assert (u - exact)[centre].abs().max() < 0.01
    assert (v - exact)[centre].abs().max() > 0.1             # the velocity itself is not the rotation


def test_steps_zero_returns_v_and_negative_raises():
    v = torch.randn(1, 2, 8, 9)
    assert integrate_velocity(v, steps=0) is v
    with pytest.raises(ValueError):
        integrate_velocity(v, steps=-1)
    with pytest.raises(ValueError):
        integrate_velocity(torch.zeros(1, 3, 8, 9))


# --- Jacobian determinant and folding ----------------------------------------------------------

def test_jacobian_of_identity_and_uniform_scaling():
    assert torch.equal(jacobian_determinant(torch.zeros(2, 2, 10, 12)), torch.ones(2, 10, 12))
    xs, ys = coords(10, 12)
    s, cx, cy = 0.3, 5.0, 4.0
    det = jacobian_determinant(field(s * (xs - cx), s * (ys - cy)))
    assert det.shape == (1, 10, 12)
    assert torch.allclose(det, torch.full_like(det, (1 + s) ** 2), atol=1e-12)   # borders included


def test_band_fold_is_detected():
    xs, ys = coords(20, 40)
    ux = -2.0 * (xs - 20.0).clamp(-5.0, 5.0)                 # reverses x for |x - 20| < 5
    disp = field(ux, torch.zeros_like(ux))
    det = jacobian_determinant(disp)
    assert (det[0, :, 16:25] < 0).all() and (det[0, :, :14] == 1).all()
    frac = folding_fraction(disp)
    assert frac.shape == (1,)
    assert 9 / 40 <= frac.item() <= 13 / 40
    assert folding_fraction(torch.zeros(3, 2, 8, 8)).tolist() == [0.0, 0.0, 0.0]


def test_integration_removes_the_folds_of_a_large_bump():
    h, w = 64, 96
    xs, ys = coords(h, w)
    bump = 15.0 * torch.exp(-((xs - 48) ** 2 + (ys - 32) ** 2) / (2 * 5.0 ** 2))   # max du/dx ~ 1.8
    v = field(bump, 0.5 * bump)
    direct = folding_fraction(v)
    integrated = folding_fraction(integrate_velocity(v))
    assert direct.item() > 0.005
    assert integrated.item() < direct.item()
    assert integrated.item() == 0.0
