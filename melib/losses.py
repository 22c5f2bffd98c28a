"""The losses the papers share, each citing the equation it implements; each paper's own losses live in
its package (``melib.methods.<paper>.losses``) and build on these.

- :func:`normalize`, :func:`squared_distance`  L2-normalised features and their squared distances, which lie in
  ``[0, 4]`` and equal ``2 - 2 cos`` (IICL's "normalized features", Sec. 2.1)
- :func:`push_apart`, :func:`pull_together`    the hinge and the pull on squared distances (IICL Eqs. 1-3;
  IICL's inter-class term and its Table 2 baselines use them too)
- :func:`contrastive_loss`                      Hadsell et al. 2006 ("CL", a baseline of IICL Table 2)
- :func:`triplet_loss`                          Schroff et al. 2015, FaceNet ("TL", a baseline of IICL Table 2)
- :func:`au_similarity`                         the Jaccard overlap of AU sets (annotation mimic Eq. 4; the
  AU-similarity explorer's weight)
- :func:`au_bce`, :func:`au_positive_weights`   multi-label BCE (IICL Eq. 6) and melib's "balanced" weights

The papers' own: :mod:`melib.methods.iicl.losses` (Eqs. 1-7), :mod:`melib.methods.annotation_mimic.losses`
(Eqs. 4-8), :mod:`melib.methods.micro_au_clip.losses` (Eqs. 8-12), :mod:`melib.methods.selfme.losses`
(Eqs. 6-8, 14, 16).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_MARGIN = 1.0  # delta in Eqs. 1, 2, 5 ("set to 1 following [23]")


def _check_pair(a: Tensor, b: Tensor, what: str) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"{what}: expected two (B, D) feature tensors of equal shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def _check_labels(au_labels: Tensor, batch: int, what: str) -> None:
    if au_labels.ndim != 2 or au_labels.shape[0] != batch:
        raise ValueError(f"{what}: expected multi-hot AU labels of shape ({batch}, M), "
                         f"got {tuple(au_labels.shape)}")


def normalize(features: Tensor) -> Tensor:
    """L2-normalise each row of ``(B, D)`` features (the f(I) of IICL Eqs. 1-5)."""
    return F.normalize(features, p=2, dim=1, eps=1e-12)


def squared_distance(f1: Tensor, f2: Tensor) -> Tensor:
    """Row-wise squared Euclidean distance ``||f1_i - f2_i||_2^2`` of two ``(B, D)`` tensors."""
    return (f1 - f2).pow(2).sum(dim=1)


def push_apart(f1: Tensor, f2: Tensor, margin: float = DEFAULT_MARGIN) -> Tensor:
    """IICL Eq. 1 (f1 = onset, f2 = apex) and Eq. 2 (f2 = close-to-apex).

    ``1/N sum_i max(0, delta - ||f(I_1i) - f(I_2i)||^2)`` on L2-normalised features.
    """
    _check_pair(f1, f2, "push_apart (IICL Eq. 1/2)")
    return F.relu(margin - squared_distance(normalize(f1), normalize(f2))).mean()


def pull_together(f1: Tensor, f2: Tensor) -> Tensor:
    """IICL Eq. 3: ``1/N sum_i ||f(I_ai) - f(I_ci)||^2`` on L2-normalised apex/close features."""
    _check_pair(f1, f2, "pull_together (IICL Eq. 3)")
    return squared_distance(normalize(f1), normalize(f2)).mean()


def au_positive_weights(labels: np.ndarray | Tensor, max_weight: float = 50.0) -> Tensor:
    """Class-balancing weight of each AU's positives: negatives / positives in ``labels`` ``(B, M)`` 0/1,
    clipped to ``[1, max_weight]``; 1 for an AU without positives (not in any paper: melib's
    ``"balanced"`` option of IICL's BCE and Micro-AU CLIP's multitask CE). Returns ``(M,)`` float32."""
    y = np.asarray(labels.detach().cpu() if torch.is_tensor(labels) else labels, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"au_positive_weights: labels must be (B, M), got shape {y.shape}")
    positives = y.sum(0)
    ratio = np.where(positives > 0, (len(y) - positives) / np.maximum(positives, 1), 1.0)
    return torch.from_numpy(np.clip(ratio, 1.0, max_weight).astype(np.float32))


def au_bce(logits: Tensor, labels: Tensor, pos_weight: Tensor | None = None) -> Tensor:
    """IICL Eq. 6: binary cross-entropy per AU, averaged over the M AUs and the batch.

    Eq. 6 as printed lacks the leading minus sign; this is the usual (positive) BCE,
    ``-mean[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]``, computed from logits for stability.
    ``pos_weight`` (M,) multiplies the positive term per AU (not in the paper; melib's class-balanced
    option weights each AU by its negatives/positives ratio); ``None`` is Eq. 6 as published.
    """
    if logits.shape != labels.shape or logits.ndim != 2:
        raise ValueError(f"au_bce (IICL Eq. 6): logits {tuple(logits.shape)} and labels "
                         f"{tuple(labels.shape)} must both be (B, M)")
    if pos_weight is not None and pos_weight.shape != (logits.shape[1],):
        raise ValueError(f"au_bce: pos_weight must have shape ({logits.shape[1]},); got {tuple(pos_weight.shape)}")
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits), reduction="mean",
                                              pos_weight=None if pos_weight is None else pos_weight.to(logits))


def contrastive_loss(f1: Tensor, f2: Tensor, same: Tensor, margin: float = DEFAULT_MARGIN) -> Tensor:
    """Hadsell, Chopra & LeCun 2006, Sec. 2.1 Eq. 4 (the "CL" baseline of IICL Table 2).

    ``mean[ same * 1/2 D^2 + (1 - same) * 1/2 max(0, m - D)^2 ]`` with ``D = ||f1 - f2||_2`` (not
    squared) on L2-normalised features; ``same`` is 1 for similar pairs, 0 for dissimilar ones
    (Hadsell's Y is the opposite convention).
    """
    _check_pair(f1, f2, "contrastive_loss")
    if same.shape != (f1.shape[0],):
        raise ValueError(f"contrastive_loss: same must have shape ({f1.shape[0]},), got {tuple(same.shape)}")
    same = same.to(f1.dtype)
    dist = squared_distance(normalize(f1), normalize(f2)).clamp_min(1e-12).sqrt()
    return (same * 0.5 * dist.pow(2) + (1 - same) * 0.5 * F.relu(margin - dist).pow(2)).mean()


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = DEFAULT_MARGIN) -> Tensor:
    """Schroff et al. 2015 (FaceNet) Sec. 3.1 triplet loss, the "TL" baseline of IICL Table 2.

    ``mean_i max(0, ||a_i - p_i||^2 - ||a_i - n_i||^2 + alpha)`` on L2-normalised embeddings.
    FaceNet used alpha = 0.2; the default here is IICL's delta = 1 ("following [23]").
    """
    _check_pair(anchor, positive, "triplet_loss (anchor, positive)")
    _check_pair(anchor, negative, "triplet_loss (anchor, negative)")
    a, p, n = normalize(anchor), normalize(positive), normalize(negative)
    return F.relu(squared_distance(a, p) - squared_distance(a, n) + margin).mean()


def au_similarity(aus: Tensor) -> Tensor:
    """Eq. 4: Jaccard similarity ``w_ij = |AU_i & AU_j| / |AU_i | AU_j|`` of multi-hot ``(N, M)`` AUs.

    ``w_ij = 0`` where both AU sets are empty (the authors' ``get_au_similarity`` gives 0/0 = NaN).
    """
    if aus.ndim != 2:
        raise ValueError(f"au_similarity (Eq. 4): expected (N, M) multi-hot AUs, got {tuple(aus.shape)}")
    a = (aus > 0).to(torch.float64)
    inter = a @ a.T
    union = a.sum(1, keepdim=True) + a.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(inter))
