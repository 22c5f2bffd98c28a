"""Class activation maps for any torch CNN: Grad-CAM (Selvaraju et al. 2017).

melib computes Grad-CAM itself instead of using the ``grad-cam`` package: that package requires
``opencv-python-headless``, which shares the ``cv2`` folder with the ``opencv-contrib-python`` melib
pins (TV-L1 lives there) and breaks it, and it would also upgrade numpy. The computation is the
standard one: channel weights = spatial mean of the score's gradient w.r.t. a layer's activations,
map = ReLU of the weighted channel sum, resized to the input and min-max scaled per sample.
Method-specific maps (annotation mimic's AU-CAM) live with their models.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _minmax(cam: Tensor) -> Tensor:
    flat = cam.flatten(1)
    lo, hi = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(cam)


def vit_reshape(grid: tuple[int, int], prefix_tokens: int = 1) -> Callable[[Tensor], Tensor]:
    """A ``reshape`` for :func:`grad_cam` on a ViT block: ``(B, prefix + h*w, D)`` tokens -> ``(B, D, h, w)``,
    dropping the class (prefix) tokens, as the grad-cam package's ``reshape_transform`` for ViTs does."""
    h, w = grid

    def reshape(tokens: Tensor) -> Tensor:
        if tokens.dim() != 3 or tokens.shape[1] != prefix_tokens + h * w:
            raise ValueError(f"expected (B, {prefix_tokens} + {h}*{w}, D) tokens, got {tuple(tokens.shape)}")
        return tokens[:, prefix_tokens:].transpose(1, 2).reshape(tokens.shape[0], -1, h, w)

    return reshape


def grad_cam(model: nn.Module, x: Tensor, layers: Sequence[nn.Module], score: Callable[[object], Tensor],
             size: tuple[int, int] | None = None, reshape: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """Grad-CAM maps ``(B, H, W)`` in [0, 1] of ``score(model(x))`` (a ``(B,)`` tensor, e.g. each
    sample's logit of its predicted class) at ``layers``.

    With several layers (e.g. the eyes and mouth branches of a dual-branch network) each map is
    placed at the input rows its layer sees: a layer whose activations are shorter than the
    input's aspect ratio implies covers a band; bands are stacked top to bottom in ``layers``' order
    and each band is scaled on its own. ``size`` defaults to the input's (H, W). ``reshape`` turns a
    layer's output into ``(B, C, h, w)`` first (a transformer's tokens: :func:`vit_reshape`).
    """
    acts: list[Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: acts.append(out)) for layer in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            inp = x.detach().requires_grad_(True)
            target = score(model(inp))
            grads = torch.autograd.grad(target.sum(), acts)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    h, w = size or tuple(x.shape[-2:])
    bands = []
    band_h = h // len(layers)
    for k, (a, g) in enumerate(zip(acts, grads)):
        if reshape is not None:
            a, g = reshape(a), reshape(g)
        cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
        rows = band_h if k < len(layers) - 1 else h - band_h * (len(layers) - 1)
        bands.append(_minmax(F.interpolate(cam, size=(rows, w), mode="bilinear", align_corners=False)[:, 0]))
    return torch.cat(bands, dim=1).detach()


def to_frame(cam: np.ndarray, size: int, crop: tuple[float, float] | None = None) -> np.ndarray:
    """A map of the (possibly centre-cropped) input, resized into whole-frame ``size`` x ``size`` coordinates;
    ``crop``: the crop's (start, end) as shares of the frame side (outside it the map is 0)."""
    cam = np.asarray(cam, dtype=np.float32)
    if crop is None:
        return cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR)
    lo, hi = (int(round(c * size)) for c in crop)
    out = np.zeros((size, size), np.float32)
    out[lo:hi, lo:hi] = cv2.resize(cam, (hi - lo, hi - lo), interpolation=cv2.INTER_LINEAR)
    return out


def true_au_index(row: Mapping[str, Any], aus: Sequence[int]) -> list[int]:
    """Positions in ``aus`` of the AUs the clip ``row`` carries (its ``AU<n>`` columns)."""
    return [j for j, a in enumerate(aus) if int(row.get(f"AU{a}", 0))]
