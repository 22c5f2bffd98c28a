"""Micro-AU CLIP's modules on top of the CLIP towers (Wei et al. 2026, arXiv 2603.16302, Fig. 2):
LSI (Sec. III-B) and GSD (Sec. III-C).

LSI
---
For each AU, the patch tokens under its Table I landmarks (:data:`AU_LANDMARKS`, :func:`au_landmark_index`)
are picked from the ``h x w`` grid (Eq. 1, :func:`landmark_token_index`, :func:`pick_landmark_tokens`)
and fused by **PTA** (Eqs. 2-3, :class:`PatchTokenAttention`) into the local AU feature ``F~_n``; Table VI's
mean and max pooling are its alternatives.

GSD
---
**GDA** (Eqs. 4-7, :class:`GlobalDependencyAttention`) attends over the N AU features, turns the attention
into the dependency weights ``W_d`` (Eq. 5), adds the global feature ``F_G = W_d F~ W^V`` (Eq. 6) to every
AU feature and classifies each with its own 2-way head (Eq. 7); Table VII's Add+MLP and Cat+MLP are
:class:`MLPFusion`. Every per-AU network is a :class:`PerAUMLP`.

Choices where the paper is open
-------------------------------
- Table I is printed in dlib's 0-based numbering, so :data:`AU_LANDMARKS` is the table as printed (see there).
- Eq. 1: column ``floor(x w / W0)``, row ``floor(y h / H0)`` (the patch containing the landmark), clipped
  to the grid; the paper's ``x h / h0`` pairs x with h, which only differs for non-square inputs.
- PTA and the Eq. 7 classifier are separate small MLPs per AU (independent pipelines, Sec. III-B;
  per-AU tasks, Eq. 12); hidden widths ``d // 2``.
- GDA is single-head (``D_h = d``); Eq. 5's FC maps the flattened ``N x N`` attention to N scores
  (``gda_fc="flatten"``; ``"columns"`` scores AU j from the attention it receives).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Table I, dlib 68-point indices. The table is already 0-based (dlib's numbering): 48 and 54 are
#: dlib's 0-based mouth corners (1-based they would be a left-eye point and the upper lip), 19-24 is
#: mirror-symmetric only 0-based (inner halves of both brows), and 7, 8, 9 centre on dlib's 0-based chin
#: tip 8. AU7's 38, 41, 44, 47 (upper-inner/lower-outer right lid, upper-outer/lower-inner left lid) are
#: not mirror pairs in either numbering; they are kept as printed.
AU_LANDMARKS: dict[int, tuple[int, ...]] = {
    1: (19, 20, 21, 22, 23, 24),
    2: (19, 20, 21, 22, 23, 24),
    4: (19, 20, 21, 22, 23, 24),
    7: (38, 41, 44, 47),
    12: (48, 54),
    14: (55, 59, 60, 64),
    15: (48, 54),
    17: (7, 8, 9, 57),
}

POOLINGS = ("pta", "mean", "max")    # Table VI
GDA_FCS = ("flatten", "columns")
FUSIONS = ("gda", "add_mlp", "cat_mlp")   # Table VII


# ---------------------------------------------------------------------------------------------------
# LSI (Sec. III-B): Eq. 1 token picking and PTA (Eqs. 2-3)
# ---------------------------------------------------------------------------------------------------

def au_landmark_index(aus: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Table I as a padded ``(N, L_max)`` long index and its ``(N, L_max)`` bool mask (True = real point)."""
    unknown = [a for a in aus if a not in AU_LANDMARKS]
    if unknown:
        raise ValueError(f"no Table I landmarks for AU {unknown}; known: {sorted(AU_LANDMARKS)}")
    width = max(len(AU_LANDMARKS[a]) for a in aus)
    index = torch.zeros(len(aus), width, dtype=torch.long)
    mask = torch.zeros(len(aus), width, dtype=torch.bool)
    for n, au in enumerate(aus):
        points = AU_LANDMARKS[au]
        index[n, :len(points)] = torch.tensor(points)
        index[n, len(points):] = points[0]  # padding repeats a real point; the mask hides it
        mask[n, :len(points)] = True
    return index, mask


def landmark_token_index(landmarks: Tensor, image_size: tuple[int, int], grid_size: tuple[int, int],
                         rounding: str = "floor") -> Tensor:
    """Eq. 1: flat token index ``row * w + col`` of each ``(x, y)`` landmark (pixels of an ``H0 x W0`` image).

    ``col = floor(x w / W0)``, ``row = floor(y h / H0)``: the patch that contains the landmark
    (``rounding="round"``: nearest integer, a literal reading of Eq. 1); clipped to the grid, so a
    landmark outside the image (dlib places some) takes the border token. Tokens are numbered
    row-major, as open_clip flattens its patch grid.
    """
    if landmarks.shape[-1] != 2:
        raise ValueError(f"landmarks must end in (x, y), got shape {tuple(landmarks.shape)}")
    if rounding not in ("floor", "round"):
        raise ValueError(f"rounding must be 'floor' or 'round', got {rounding!r}")
    (h0, w0), (h, w) = image_size, grid_size
    to_int = torch.floor if rounding == "floor" else torch.round
    col = to_int(landmarks[..., 0].double() * w / w0).long().clamp(0, w - 1)
    row = to_int(landmarks[..., 1].double() * h / h0).long().clamp(0, h - 1)
    return row * w + col


def pick_landmark_tokens(tokens: Tensor, landmarks: Tensor, index: Tensor, image_size: tuple[int, int],
                         grid_size: tuple[int, int], rounding: str = "floor") -> tuple[Tensor, Tensor]:
    """Eq. 1 for every AU: ``(B, h*w, d)`` tokens, ``(B, 68, 2)`` landmarks, ``(N, L)`` Table I index ->
    the tokens ``K_{n,j}^V`` ``(B, N, L, d)`` and their flat token indices ``(B, N, L)``."""
    if tokens.ndim != 3 or tokens.shape[1] != grid_size[0] * grid_size[1]:
        raise ValueError(f"tokens must be (B, {grid_size[0] * grid_size[1]}, d), got {tuple(tokens.shape)}")
    if landmarks.ndim != 3 or landmarks.shape[0] != tokens.shape[0]:
        raise ValueError(f"landmarks must be (B, 68, 2) for B={tokens.shape[0]}, got {tuple(landmarks.shape)}")
    token_idx = landmark_token_index(landmarks[:, index.to(landmarks.device)], image_size, grid_size, rounding)
    batch = torch.arange(tokens.shape[0], device=tokens.device)[:, None, None]
    return tokens[batch, token_idx.to(tokens.device)], token_idx


class PerAUMLP(nn.Module):
    """N independent two-layer MLPs ``Linear-ReLU-Linear``, applied to ``(B, N, ..., d_in)`` at once."""

    def __init__(self, n: int, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(n, d_in, hidden))
        self.b1 = nn.Parameter(torch.empty(n, hidden))
        self.w2 = nn.Parameter(torch.empty(n, hidden, d_out))
        self.b2 = nn.Parameter(torch.empty(n, d_out))
        for w, b, fan_in in ((self.w1, self.b1, d_in), (self.w2, self.b2, hidden)):  # nn.Linear's init
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        extra = (None,) * (x.ndim - 3)  # broadcast the biases over the dims between N and d
        hid = F.relu(torch.einsum("bn...i,nih->bn...h", x, self.w1) + self.b1[(slice(None), *extra)])
        return torch.einsum("bn...h,nho->bn...o", hid, self.w2) + self.b2[(slice(None), *extra)]


class PatchTokenAttention(nn.Module):
    """PTA, Eqs. 2-3: ``W_j^n = softmax_j MLP_n(K_{n,j})``, ``F~_n = sum_j W_j^n K_{n,j}`` (per-AU MLPs).

    ``pooling="mean"`` / ``"max"`` are the Table VI alternatives (weights then uniform / ``None``).
    """

    def __init__(self, n_aus: int, dim: int, hidden: int | None = None, pooling: str = "pta"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.mlp = PerAUMLP(n_aus, dim, hidden or dim // 2, 1) if pooling == "pta" else None

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(B, N, L, d)`` tokens, ``(N, L)`` mask -> ``F~`` ``(B, N, d)`` and weights ``(B, N, L)`` (0 at padding)."""
        mask = mask.to(tokens.device)
        if self.pooling == "max":
            return tokens.masked_fill(~mask[..., None], float("-inf")).amax(dim=2), None
        if self.pooling == "mean":
            weights = (mask / mask.sum(1, keepdim=True)).to(tokens.dtype).expand(tokens.shape[:3])
        else:
            scores = self.mlp(tokens).squeeze(-1).masked_fill(~mask, float("-inf"))  # MLP(K_{n,j})
            weights = torch.softmax(scores, dim=2)                                    # Eq. 2
        return torch.einsum("bnl,bnld->bnd", weights, tokens), weights               # Eq. 3


# ---------------------------------------------------------------------------------------------------
# GSD (Sec. III-C): GDA, Eqs. 4-7
# ---------------------------------------------------------------------------------------------------

class GlobalDependencyAttention(nn.Module):
    """GDA, Eqs. 4-7, with the per-AU 2-way heads.

    ``A = softmax(Q K^T / sqrt(d))`` with ``Q = F~ W^Q``, ``K = F~ W^K`` (Eq. 4, one head, ``D_h = d``);
    ``W_d = softmax(ReLU(FC(A)))`` over the N AUs (Eq. 5); ``F_G = W_d F~ W^V`` (Eq. 6);
    ``P_n = softmax(MLP_n(F_G + F~_n))`` (Eq. 7; logits returned, the softmax lives in the loss).
    ``fc="flatten"``: FC on the flattened ``N x N`` A; ``"columns"``: one shared FC on each column of A.
    """

    def __init__(self, n_aus: int, dim: int, head_hidden: int | None = None, fc: str = "flatten"):
        super().__init__()
        if fc not in GDA_FCS:
            raise ValueError(f"gda_fc must be one of {GDA_FCS}, got {fc!r}")
        self.fc_mode, self.scale = fc, dim ** -0.5
        self.w_q = nn.Linear(dim, dim, bias=False)
        self.w_k = nn.Linear(dim, dim, bias=False)
        self.w_v = nn.Linear(dim, dim, bias=False)
        self.fc = nn.Linear(n_aus * n_aus, n_aus) if fc == "flatten" else nn.Linear(n_aus, 1)
        self.heads = PerAUMLP(n_aus, dim, head_hidden or dim // 2, 2)

    def forward(self, local: Tensor) -> dict[str, Tensor]:
        """``F~`` ``(B, N, d)`` -> ``attention`` (B, N, N), ``dependency_weights`` (B, N), ``global_feature``
        (B, d), ``au_features`` ``F_G + F~_n`` (B, N, d) and ``logits`` (B, N, 2)."""
        attn = torch.softmax(self.w_q(local) @ self.w_k(local).transpose(1, 2) * self.scale, dim=-1)  # Eq. 4
        z = self.fc(attn.flatten(1)) if self.fc_mode == "flatten" else self.fc(attn.transpose(1, 2)).squeeze(-1)
        w_d = torch.softmax(F.relu(z), dim=-1)                                  # Eq. 5
        f_g = torch.einsum("bn,bnd->bd", w_d, self.w_v(local))                  # Eq. 6
        final = local + f_g[:, None]                                            # Eq. 7 input
        return {"attention": attn, "dependency_weights": w_d, "global_feature": f_g,
                "au_features": final, "logits": self.heads(final)}


class MLPFusion(nn.Module):
    """Table VII's alternatives to GDA: ``F_G = MLP(sum_n F~_n)`` (``"add_mlp"``) or ``MLP([F~_1; ...; F~_N])``
    (``"cat_mlp"``), then Eq. 7 as in GDA (``P_n = softmax(MLP_n(F_G + F~_n))``). The paper gives no
    detail: here the MLP is ``Linear-ReLU-Linear`` with hidden width ``d``; there are no dependency
    weights, so no GD loss applies."""

    def __init__(self, n_aus: int, dim: int, mode: str = "add_mlp", head_hidden: int | None = None):
        super().__init__()
        if mode not in ("add_mlp", "cat_mlp"):
            raise ValueError(f"MLPFusion mode must be 'add_mlp' or 'cat_mlp', got {mode!r}")
        self.mode = mode
        d_in = dim * n_aus if mode == "cat_mlp" else dim
        self.mlp = nn.Sequential(nn.Linear(d_in, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.heads = PerAUMLP(n_aus, dim, head_hidden or dim // 2, 2)

    def forward(self, local: Tensor) -> dict[str, Tensor]:
        """``F~`` ``(B, N, d)`` -> ``global_feature`` (B, d), ``au_features`` (B, N, d), ``logits`` (B, N, 2)."""
        f_g = self.mlp(local.flatten(1) if self.mode == "cat_mlp" else local.sum(1))
        final = local + f_g[:, None]
        return {"global_feature": f_g, "au_features": final, "logits": self.heads(final)}
