"""Annotation mimic's losses (Ruan et al. 2022, "Mimicking the Annotation Process for Recognizing the Micro
Expressions"; network in :mod:`melib.methods.annotation_mimic.model`).

- Eq. 4    :func:`au_similarity`   Jaccard similarity of the multi-hot AU sets (0 where both empty; shared, :mod:`melib.losses`)
- Eq. 5    :func:`wscl`            weighted supervised contrastive loss, ``variant="paper"|"official"``
- Eq. 6    :func:`class_weights`   ``w_c = max(n) / n_c``
- Eq. 7    :func:`mimic_ce`        class-weighted cross-entropy summed over the eyes and mouth heads
- Eq. 8    :func:`mimic_total`     ``(1 - lambda) L_cls + lambda L_wscl``, lambda = 0.3

Unlike IICL's losses, :func:`wscl` uses the features as given (no normalisation inside).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ...losses import _check_labels, au_similarity  # noqa: F401  (shared; re-exported)

MIMIC_LAMBDA = 0.3        # lambda in Eq. 8 (Sec. 4.3)
MIMIC_TEMPERATURE = 0.1   # tau in Eq. 5 (the paper gives none; the authors' WeightedSupCoL uses 0.1)
OFFICIAL_LABEL_SMOOTHING = 0.1  # the authors' train.py: CrossEntropyLoss(..., label_smoothing=0.1)
WSCL_VARIANTS = ("paper", "official")
CE_REDUCTIONS = ("weighted_mean", "mean", "sum")
_OFFICIAL_EPS = 1e-5      # added to every exponential in the authors' loss.py


def class_weights(labels_or_counts: Tensor | Sequence[int], n_classes: int, *, counts: bool = False) -> Tensor:
    """Eq. 6: ``w_c = max(n_1, ..., n_C) / n_c`` as a float32 ``(n_classes,)`` tensor.

    ``labels_or_counts`` holds class indices (one per training sample) or, with ``counts=True``,
    the ``n_classes`` per-class counts. A class absent from the training data gets weight 0 (it is
    never a target; the authors' ``compute_data_weight`` leaves it out, shifting later classes).
    """
    values = torch.as_tensor(labels_or_counts).flatten()
    if counts:
        if values.numel() != n_classes or bool((values < 0).any()):
            raise ValueError(f"class_weights (Eq. 6): counts must be {n_classes} non-negative numbers, "
                             f"got {values.tolist()}")
        n = values.to(torch.float64)
    else:
        if values.is_floating_point() or (values.numel() and (values.min() < 0 or values.max() >= n_classes)):
            raise ValueError(f"class_weights (Eq. 6): labels must be integers in [0, {n_classes}); "
                             "pass counts=True for per-class counts")
        n = torch.bincount(values.long(), minlength=n_classes).to(torch.float64)
    if not bool((n > 0).any()):
        raise ValueError("class_weights (Eq. 6): no samples")
    w = torch.where(n > 0, n.max() / n.clamp_min(1), torch.zeros_like(n))
    return w.float()


def mimic_ce(head_logits: Tensor | Sequence[Tensor], targets: Tensor, weights: Tensor | None = None,
             label_smoothing: float = 0.0, reduction: str = "weighted_mean") -> Tensor:
    """Eq. 7: class-weighted cross-entropy summed over the heads (eyes + mouth; one head for sb).

    Parameters
    ----------
    head_logits
        ``(B, C)`` logits of each head (the softmax of Sec. 3.6 is applied here).
    targets
        ``(B,)`` class indices.
    weights
        ``(C,)`` class weights of Eq. 6 (:func:`class_weights`); ``None`` = unweighted.
    label_smoothing
        0 in the paper; the authors' code uses 0.1 (:data:`OFFICIAL_LABEL_SMOOTHING`).
    reduction
        ``"weighted_mean"`` (default): ``sum_i w_yi l_i / sum_i w_yi`` per head, as the authors'
        ``nn.CrossEntropyLoss(weight=...)``; ``"mean"``: divide by B; ``"sum"``: Eq. 7 as printed
        (no normaliser). Eq. 7 prints a sum; the default averages so that lambda of Eq. 8 weighs it
        against the batch-averaged WSCL as in the authors' training.
    """
    if reduction not in CE_REDUCTIONS:
        raise ValueError(f"mimic_ce: reduction must be one of {CE_REDUCTIONS}, got {reduction!r}")
    heads = [head_logits] if torch.is_tensor(head_logits) else list(head_logits)
    if not heads:
        raise ValueError("mimic_ce (Eq. 7): no head logits")
    total = heads[0].new_zeros(())
    for logits in heads:
        if logits.ndim != 2 or logits.shape[0] != targets.shape[0]:
            raise ValueError(f"mimic_ce (Eq. 7): logits {tuple(logits.shape)} do not fit "
                             f"targets {tuple(targets.shape)}")
        weight = None if weights is None else weights.to(logits)
        if reduction == "weighted_mean":
            loss = F.cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing)
        else:
            per_sample = F.cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing,
                                         reduction="none")
            loss = per_sample.sum() if reduction == "sum" else per_sample.mean()
        total = total + loss
    return total


def wscl(features: Tensor, aus: Tensor, temperature: float = MIMIC_TEMPERATURE, variant: str = "paper") -> Tensor:
    """Weighted supervised contrastive loss, Eqs. 4-5, averaged over the N anchors.

    With ``s_ik = X_F^i . X_F^k / tau`` and ``w`` from :func:`au_similarity` (Eq. 4):

    - ``"paper"``, Eq. 5 as printed: ``l_i = -1/(sum_k w_ik) sum_j 1[i != j] w_ij
      log(exp(s_ij) / sum_k exp(s_ik))``; the denominator runs over every k, the anchor included,
      and ``sum_k w_ik`` includes ``w_ii``.
    - ``"official"``, the authors' ``loss.py`` (``WeightedSupCoL``) on ``get_au_similarity``:
      ``e_ik = exp(s_ik) + 1e-5``, ``l_i = -1/(sum_k w_ik) sum_j w_ij log(e_ij / sum_{k != i} e_ik)``;
      the anchor is left out of the denominator and the self pair stays in the numerator (weight w_ii).

    ``features`` ``(N, D)`` are used as given (the official model L2-normalises them; the paper's
    X_F is not). An anchor whose weights sum to 0 (no AU at all) contributes 0; the authors' code
    gives NaN there. The loss is ``sum_i l_i / N`` (Eq. 5 prints a sum; both variants average, as
    the code does). N = 1 gives 0 (the authors skip WSCL then).
    """
    if variant not in WSCL_VARIANTS:
        raise ValueError(f"wscl: variant must be one of {WSCL_VARIANTS}, got {variant!r}")
    if features.ndim != 2:
        raise ValueError(f"wscl (Eq. 5): expected (N, D) features, got {tuple(features.shape)}")
    _check_labels(aus, features.shape[0], "wscl (Eq. 5)")
    n = features.shape[0]
    if n < 2:
        return features.sum() * 0.0
    w = au_similarity(aus.to(features.device)).to(features.dtype)
    s = features @ features.T / temperature
    eye = torch.eye(n, dtype=torch.bool, device=features.device)
    if variant == "paper":
        log_prob = torch.log_softmax(s, dim=1)
        numer = (w.masked_fill(eye, 0.0) * log_prob).sum(1)
    else:
        log_e = torch.logaddexp(s, torch.full_like(s, math.log(_OFFICIAL_EPS)))  # log(exp(s) + 1e-5)
        log_denom = torch.logsumexp(log_e.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
        numer = (w * (log_e - log_denom)).sum(1)
    norm = w.sum(1)
    per_anchor = torch.where(norm > 0, -numer / norm.clamp_min(1e-12), torch.zeros_like(numer))
    return per_anchor.mean()


def mimic_total(head_logits: Tensor | Sequence[Tensor], features: Tensor, targets: Tensor, aus: Tensor | None,
                weights: Tensor | None = None, lam: float = MIMIC_LAMBDA,
                temperature: float = MIMIC_TEMPERATURE, use_wscl: bool = True, wscl_variant: str = "paper",
                label_smoothing: float = 0.0, reduction: str = "weighted_mean") -> dict[str, Tensor]:
    """Eq. 8: ``L_total = (1 - lambda) L_cls + lambda L_wscl``, lambda = 0.3.

    ``L_cls`` is :func:`mimic_ce` (Eq. 7), ``L_wscl`` is :func:`wscl` (Eq. 5) on ``features``.
    With ``use_wscl=False`` (Table 4 rows without AU) or a batch of one, ``L_total = L_cls``
    unscaled, as the authors' ``train.py`` does when WSCL is skipped.

    Returns ``{"total", "cls"}`` plus ``"wscl"`` when it is used.
    """
    terms = {"cls": mimic_ce(head_logits, targets, weights, label_smoothing, reduction)}
    if use_wscl and features.shape[0] > 1:
        if aus is None:
            raise ValueError("mimic_total with use_wscl=True needs the multi-hot AU labels")
        terms["wscl"] = wscl(features, aus, temperature, wscl_variant)
        return {"total": (1 - lam) * terms["cls"] + lam * terms["wscl"], **terms}
    return {"total": terms["cls"], **terms}
