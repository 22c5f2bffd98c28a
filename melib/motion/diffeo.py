"""Diffeomorphic motion fields as in SelfME (Fan et al. 2023, Sec. 3.2): cubic B-spline expansion of a
low-resolution field to image size (Eq. 9), then the group exponential of that stationary velocity field
by scaling and squaring (Arsigny et al. 2006, "A Log-Euclidean framework for statistics on
diffeomorphisms"), plus the Jacobian determinant and the share of folding pixels to check the result.

Convention (as in :mod:`melib.motion.flow`): fields are torch tensors ``(B, 2, H, W)`` in pixels,
channel 0 the x (right) and channel 1 the y (down) displacement.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bspline_upsample", "integrate_velocity", "jacobian_determinant", "folding_fraction"]


def _check_field(field: Tensor, name: str) -> None:
    if field.ndim != 4 or field.shape[1] != 2:
        raise ValueError(f"{name} must have shape (B, 2, H, W); got {tuple(field.shape)}")
    if min(field.shape[-2:]) < 2:
        raise ValueError(f"{name} needs at least 2 x 2 pixels; got {tuple(field.shape[-2:])}")


def _cubic_bspline(t: Tensor) -> Tensor:
    """Uniform cubic B-spline ``beta(t)``, support ``|t| < 2``."""
    a = t.abs()
    inner = 2.0 / 3.0 - a ** 2 + a ** 3 / 2.0
    outer = (2.0 - a).clamp(min=0.0) ** 3 / 6.0
    return torch.where(a < 1.0, inner, outer)


def _basis(n_out: int, n_ctrl: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``(n_out, n_ctrl)`` matrix of Eq. 9's weights along one axis, border control points folded in.

    Control point ``i`` sits at output coordinate ``i (n_out - 1) / (n_ctrl - 1)``; the extra points
    ``c_{-1} = 2 c_0 - c_1`` and ``c_n = 2 c_{n-1} - c_{n-2}`` (linear extension) are written as
    combinations of the real ones, so constant and linear fields are reproduced exactly.
    """
    p = torch.linspace(0.0, n_ctrl - 1.0, n_out, dtype=torch.float64)       # output pixel in grid units
    k = torch.arange(-1, n_ctrl + 1, dtype=torch.float64)                  # control points incl. extension
    ext = _cubic_bspline(p[:, None] - k[None, :])                          # (n_out, n_ctrl + 2)
    m = ext[:, 1:-1].clone()
    m[:, 0] += 2.0 * ext[:, 0]
    m[:, 1] -= ext[:, 0]
    m[:, -1] += 2.0 * ext[:, -1]
    m[:, -2] -= ext[:, -1]
    return m.to(device=device, dtype=dtype)


def bspline_upsample(phi: Tensor, size: tuple[int, int]) -> Tensor:
    """Expand control-grid displacements ``(B, 2, h, w)`` to ``(B, 2, H, W)`` with cubic B-splines (Eq. 9).

    The ``h x w`` control points are spread uniformly so that the grid's corners fall on the output's
    corner pixel centres (control point ``i`` at output coordinate ``i (H - 1) / (h - 1)``); the grid
    is extended linearly at the border. Values are not rescaled: pass them in output pixels.
    As in Eq. 9 the control values are the spline's coefficients, so the spline *approximates* them:
    it reproduces constant and linear fields exactly and stays inside the control values' range, but
    it does not pass through the control values of a curved field (it smooths them).
    """
    if phi.ndim != 4 or phi.shape[1] != 2:
        raise ValueError(f"phi must have shape (B, 2, h, w); got {tuple(phi.shape)}")
    h, w = phi.shape[-2:]
    if h < 2 or w < 2:
        raise ValueError(f"the control grid needs h, w >= 2; got {(h, w)}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) with positive entries; got {size}")
    out_h, out_w = int(size[0]), int(size[1])
    by = _basis(out_h, h, phi.device, phi.dtype)
    bx = _basis(out_w, w, phi.device, phi.dtype)
    return torch.einsum("Yh,bchw,Xw->bcYX", by, phi, bx)


def _pixel_grid(h: int, w: int, like: Tensor) -> Tensor:
    """``(1, 2, h, w)`` pixel coordinates (x, y) on ``like``'s device and dtype."""
    ys = torch.arange(h, device=like.device, dtype=like.dtype)
    xs = torch.arange(w, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy])[None]


def _warp(field: Tensor, displacement: Tensor) -> Tensor:
    """Sample ``field`` at ``x + displacement(x)`` (pixels; bilinear, border padding)."""
    h, w = displacement.shape[-2:]
    pos = _pixel_grid(h, w, displacement) + displacement
    scale = torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], device=pos.device, dtype=pos.dtype)
    grid = pos.permute(0, 2, 3, 1) * scale - 1.0                            # align_corners=True
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=True)


def integrate_velocity(v: Tensor, steps: int = 7) -> Tensor:
    """Displacement of ``exp(v)`` for a stationary velocity ``v`` (B, 2, H, W) in pixels, by scaling
    and squaring (Arsigny et al. 2006; SelfME Sec. 3.2 after Eq. 9).

    ``u = v / 2**steps``, then ``steps`` times ``u <- u + u(x + u(x))`` (composition ``phi o phi``).
    ``steps=0`` returns ``v`` itself.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    _check_field(v, "v")
    if steps == 0:
        return v
    u = v / 2 ** steps
    for _ in range(steps):
        u = u + _warp(u, u)
    return u


def jacobian_determinant(displacement: Tensor) -> Tensor:
    """``(B, H, W)`` determinant of the Jacobian of ``x -> x + u(x)`` (central differences inside,
    one-sided at the border)."""
    _check_field(displacement, "displacement")
    (dux_dy, dux_dx), (duy_dy, duy_dx) = (torch.gradient(displacement[:, c], dim=(-2, -1)) for c in (0, 1))
    return (1.0 + dux_dx) * (1.0 + duy_dy) - dux_dy * duy_dx


def folding_fraction(displacement: Tensor) -> Tensor:
    """``(B,)`` share of pixels whose Jacobian determinant is ``<= 0`` (folding pixels)."""
    det = jacobian_determinant(displacement)
    return (det <= 0).to(displacement.dtype).mean(dim=(-2, -1))
