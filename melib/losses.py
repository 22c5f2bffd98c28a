"""Paper losses, each citing the equation it implements.

IICL (Li & Zhao 2021, "Intra- and Inter-Contrastive Learning for Micro-expression AU Detection"):

- Eq. 1-2  :func:`push_apart`      hinge on the squared distance (onset vs apex / close-to-apex)
- Eq. 3    :func:`pull_together`   mean squared distance (apex vs close-to-apex)
- Eq. 4    :func:`negative_pairs`  batch pairs whose multi-hot AU vectors have zero dot product
- Eq. 5    :func:`inter_loss`      hinge on the squared distance of the negative apex pairs
- Eq. 1-5  :func:`iicl_losses`     all four contrastive terms as a dict ``oa, oc, ac, na``
- Eq. 6    :func:`au_bce`          multi-label binary cross-entropy
- Eq. 7    :func:`iicl_total`      the weighted sum, with IntraCL / InterCL switches (Table 1)

Baselines of IICL Table 2: :func:`contrastive_loss` (Hadsell et al. 2006, "CL") and
:func:`triplet_loss` (Schroff et al. 2015, FaceNet, "TL").

Features go in raw, shape ``(B, D)``; the contrastive losses L2-normalise them inside ("normalized
features", IICL Sec. 2.1), so squared distances lie in ``[0, 4]`` and equal ``2 - 2 cos``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_MARGIN = 1.0  # delta in Eqs. 1, 2, 5 ("set to 1 following [23]")
DEFAULT_LAMBDA = 0.1  # lambda in Eq. 7


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


def negative_pairs(au_labels: Tensor, exclude_empty: bool = False) -> tuple[Tensor, Tensor]:
    """IICL Eq. 4: index pairs ``i < j`` whose multi-hot AU vectors have zero dot product.

    Parameters
    ----------
    au_labels
        ``(B, M)`` multi-hot AU labels (any numeric dtype).
    exclude_empty
        Eq. 4 read literally makes a clip with none of the M AUs a negative of every clip
        (default, ``False``). ``True`` leaves such clips out of all pairs.

    Returns
    -------
    i, j
        Long tensors of equal length K, lexicographically ordered.
    """
    if au_labels.ndim != 2:
        raise ValueError(f"negative_pairs (IICL Eq. 4): expected (B, M) labels, got {tuple(au_labels.shape)}")
    labels = (au_labels > 0).float()
    overlap = labels @ labels.T  # C_negative = Aus_i . Aus_j
    candidate = torch.triu(overlap == 0, diagonal=1)
    if exclude_empty:
        has_au = labels.sum(dim=1) > 0
        candidate &= has_au[:, None] & has_au[None, :]
    i, j = torch.nonzero(candidate, as_tuple=True)
    return i, j


def inter_loss(
    f_apex: Tensor, au_labels: Tensor, margin: float = DEFAULT_MARGIN, exclude_empty: bool = False
) -> Tensor:
    """IICL Eq. 5: ``1/K sum max(0, delta - ||f(I_ai) - f(I_aj)||^2)`` over the Eq. 4 negative pairs.

    With no negative pair in the batch (K = 0) it returns a zero that stays connected to the graph
    (zero gradient), never NaN.
    """
    if f_apex.ndim != 2:
        raise ValueError(f"inter_loss (IICL Eq. 5): expected (B, D) features, got {tuple(f_apex.shape)}")
    _check_labels(au_labels, f_apex.shape[0], "inter_loss (IICL Eq. 5)")
    i, j = negative_pairs(au_labels.to(f_apex.device), exclude_empty=exclude_empty)
    if i.numel() == 0:
        return f_apex.sum() * 0.0
    f = normalize(f_apex)
    return F.relu(margin - squared_distance(f[i], f[j])).mean()


def iicl_losses(
    f_onset: Tensor, f_apex: Tensor, f_close: Tensor, au_labels: Tensor, margin: float = DEFAULT_MARGIN
) -> dict[str, Tensor]:
    """All four IICL contrastive terms (Eqs. 1, 2, 3, 5) from raw ``(B, D)`` features.

    Returns ``{"oa": L_OA, "oc": L_OC, "ac": L_AC, "na": L_NA}``.
    """
    return {
        "oa": push_apart(f_onset, f_apex, margin),
        "oc": push_apart(f_onset, f_close, margin),
        "ac": pull_together(f_apex, f_close),
        "na": inter_loss(f_apex, au_labels, margin),
    }


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


def iicl_total(
    f_onset: Tensor | None,
    f_apex: Tensor,
    f_close: Tensor | None,
    logits_apex: Tensor,
    logits_close: Tensor | None,
    au_labels: Tensor,
    lam: float = DEFAULT_LAMBDA,
    margin: float = DEFAULT_MARGIN,
    use_intra: bool = True,
    use_inter: bool = True,
    pos_weight: Tensor | None = None,
) -> dict[str, Tensor]:
    """IICL Eq. 7: ``L_AUs_a + L_AUs_c + lambda (L_OA + L_OC + L_AC + L_NA)``, with ablation switches.

    ``use_intra`` adds L_OA, L_OC, L_AC and the close-to-apex BCE L_AUs_c (the paper introduces
    close-to-apex classification as part of IntraCL, Sec. 2.1); ``use_inter`` adds L_NA. With both
    off this is the SEnet baseline (apex BCE only); ``f_onset``, ``f_close`` and ``logits_close``
    may be ``None`` when ``use_intra`` is off.

    Returns a dict with ``"total"`` and each term used: ``bce_apex``, ``bce_close``, ``oa``, ``oc``,
    ``ac``, ``na``. ``pos_weight``: see :func:`au_bce`.
    """
    terms: dict[str, Tensor] = {"bce_apex": au_bce(logits_apex, au_labels, pos_weight)}
    contrastive: list[Tensor] = []
    if use_intra:
        if f_onset is None or f_close is None or logits_close is None:
            raise ValueError("iicl_total with use_intra=True needs f_onset, f_close and logits_close")
        terms["bce_close"] = au_bce(logits_close, au_labels, pos_weight)
        terms["oa"] = push_apart(f_onset, f_apex, margin)
        terms["oc"] = push_apart(f_onset, f_close, margin)
        terms["ac"] = pull_together(f_apex, f_close)
        contrastive += [terms["oa"], terms["oc"], terms["ac"]]
    if use_inter:
        terms["na"] = inter_loss(f_apex, au_labels, margin)
        contrastive.append(terms["na"])
    total = sum(v for k, v in terms.items() if k.startswith("bce_"))
    if contrastive:
        total = total + lam * sum(contrastive)
    return {"total": total, **terms}


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
