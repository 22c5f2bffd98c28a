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

Annotation mimic (Ruan et al. 2022, "Mimicking the Annotation Process for Recognizing the Micro
Expressions"; network in :mod:`melib.methods.annotation_mimic.model`):

- Eq. 4    :func:`au_similarity`   Jaccard similarity of the multi-hot AU sets (0 where both empty)
- Eq. 5    :func:`wscl`            weighted supervised contrastive loss, ``variant="paper"|"official"``
- Eq. 6    :func:`class_weights`   ``w_c = max(n) / n_c``
- Eq. 7    :func:`mimic_ce`        class-weighted cross-entropy summed over the eyes and mouth heads
- Eq. 8    :func:`mimic_total`     ``(1 - lambda) L_cls + lambda L_wscl``, lambda = 0.3

Unlike IICL's losses, :func:`wscl` uses the features as given (no normalisation inside).

Micro-AU CLIP (Wei et al. 2026, arXiv 2603.16302; network in :mod:`melib.methods.micro_au_clip.model`):

- Eq. 8     :func:`gd_loss`              ``1/N ||W_d - Y||^2`` on GDA's dependency weights, batch mean
- Eq. 9-11  :func:`miaucl`               per-AU CLIP loss with same-state targets, summed over AUs
- Eq. 12    :func:`au_multitask_ce`      sum over AUs of each AU's 2-way cross-entropy
- Eq. 12    :func:`micro_au_clip_total`  ``MultiTask + alpha L_MiAUC + beta L_GD`` (alpha, beta per dataset
  in :data:`MICRO_AU_CLIP_TRADE_OFFS`)

MiAUCL normalises its features inside (cosine similarity, Eq. 9).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
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


# ---------------------------------------------------------------------------------------------------
# Ruan et al. 2022, "Mimicking the Annotation Process for Recognizing the Micro Expressions"
# ---------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------
# Wei et al. 2026, "Micro-AU CLIP" (arXiv 2603.16302), Sec. III-C to III-D
# ---------------------------------------------------------------------------------------------------

MICRO_AU_CLIP_TEMPERATURE = 0.07  # MiAUCL's tau: the paper gives none; CLIP's initial 1/logit_scale
#: (alpha, beta) of Eq. 12, the best values of Tables IV-V; the synthetic data follows CASME II.
MICRO_AU_CLIP_TRADE_OFFS: dict[str, tuple[float, float]] = {
    "casme2": (0.6, 1.0), "samm": (1.0, 0.6), "synthetic": (0.6, 1.0)}
MIAUCL_TARGETS = ("shared", "diagonal")
MIAUCL_READINGS = ("softmax", "bce")  # how Eq. 11's "cross-entropy" against LM_n is read


def _check_au_labels(labels: Tensor, shape: tuple[int, ...], what: str) -> Tensor:
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(f"{what}: labels must have shape {tuple(shape)}, got {tuple(labels.shape)}")
    return labels > 0.5


def gd_loss(weights: Tensor, labels: Tensor) -> Tensor:
    """Micro-AU CLIP Eq. 8: ``L_GD = 1/N ||W_d - Y||_2^2``, averaged over the batch.

    ``weights`` ``(B, N)`` are GDA's dependency weights (a softmax over the N AUs, Eq. 5), ``labels``
    ``(B, N)`` the 0/1 AU labels Y, used as printed (not normalised), so since W_d sums to 1 the loss
    reaches 0 only for samples with exactly one active AU.
    """
    if weights.ndim != 2:
        raise ValueError(f"gd_loss (Eq. 8): weights must be (B, N), got {tuple(weights.shape)}")
    y = _check_au_labels(labels, weights.shape, "gd_loss (Eq. 8)").to(weights.dtype)
    return (weights - y).pow(2).sum(dim=1).div(weights.shape[1]).mean()


def miaucl(visual: Tensor, text: Tensor, labels: Tensor, temperature: float = MICRO_AU_CLIP_TEMPERATURE,
           targets: str = "shared", reading: str = "softmax") -> Tensor:
    """Micro-AU CLIP Eqs. 9-11: ``L_MiAUC = sum_n CL_n``, one CLIP-style contrastive loss per AU.

    For AU n: ``M_n[b1, b2] = cos(visual[b1, n], text[b2, n]) / tau`` (Eq. 9) and
    ``LM_n[b1, b2] = 1[y_{b1,n} = y_{b2,n}]`` (Eq. 10, ``targets="shared"``; ``"diagonal"`` is CLIP's
    identity, the "local OrigCL" row of Table VIII). ``tau`` is not in the paper (CLIP's initial 0.07).
    The paper only says "cross-entropy" between M_n and LM_n; two readings (``reading``):

    - ``"softmax"`` (default): CLIP's loss with soft targets, the mean of the two directions: the
      cross-entropy of M_n's row softmax against LM_n's rows normalised to sum 1, averaged over the rows,
      and the same over the columns. When ``text[b, n]`` depends on ``y_{b,n}`` alone (Micro-AU CLIP: one
      description per AU state), same-label columns of M_n are equal and ``"shared"`` and ``"diagonal"``
      give the same loss and gradient, so Table VIII's local OrigCL row cannot differ from MiAUCL.
    - ``"bce"``: every entry is its own binary decision, ``CL_n`` = the mean over the B x B entries of
      binary cross-entropy with logits between M_n and the targets; here shared and diagonal targets
      differ (a same-label pair is pulled together or pushed apart), as Table VIII's 0.782 vs 0.756 needs.

    Parameters
    ----------
    visual
        ``(B, N, D)`` AU visual features F^V (normalised here).
    text
        ``(B, N, D)`` text feature of each sample's own state of each AU, F^T (normalised here).
    labels
        ``(B, N)`` 0/1 AU labels.
    """
    if targets not in MIAUCL_TARGETS:
        raise ValueError(f"miaucl: targets must be one of {MIAUCL_TARGETS}, got {targets!r}")
    if reading not in MIAUCL_READINGS:
        raise ValueError(f"miaucl: reading must be one of {MIAUCL_READINGS}, got {reading!r}")
    if visual.ndim != 3 or visual.shape != text.shape:
        raise ValueError(f"miaucl (Eq. 9): visual and text must both be (B, N, D), got "
                         f"{tuple(visual.shape)} and {tuple(text.shape)}")
    y = _check_au_labels(labels, visual.shape[:2], "miaucl (Eq. 10)").T  # (N, B)
    v = F.normalize(visual, dim=-1)
    t = F.normalize(text, dim=-1)
    logits = torch.einsum("and,bnd->nab", v, t) / temperature  # M_n, (N, B, B), Eq. 9
    if targets == "shared":
        lm = (y[:, :, None] == y[:, None, :]).to(logits.dtype)  # LM_n, Eq. 10
    else:
        lm = torch.eye(visual.shape[0], dtype=logits.dtype, device=logits.device).expand_as(logits)
    if reading == "bce":
        return F.binary_cross_entropy_with_logits(logits, lm, reduction="none").mean((1, 2)).sum()  # Eq. 11
    rows = -(lm / lm.sum(2, keepdim=True) * torch.log_softmax(logits, dim=2)).sum(2).mean(1)
    cols = -(lm / lm.sum(1, keepdim=True) * torch.log_softmax(logits, dim=1)).sum(1).mean(1)
    return ((rows + cols) / 2).sum()  # Eq. 11


def au_multitask_ce(logits: Tensor, labels: Tensor, class_weights: Tensor | None = None) -> Tensor:
    """Micro-AU CLIP Eq. 12's MultiTask Loss: the sum over AUs of each AU's 2-way cross-entropy.

    ``logits`` ``(B, N, 2)`` (index 1 = active, Eq. 7), ``labels`` ``(B, N)`` 0/1; each AU's term is the
    batch mean. ``class_weights`` ``(N, 2)`` (not in the paper) weights each AU's classes as
    ``nn.CrossEntropyLoss(weight=...)`` does (weighted mean); ``None`` is the paper's loss.
    """
    if logits.ndim != 3 or logits.shape[2] != 2:
        raise ValueError(f"au_multitask_ce (Eq. 12): logits must be (B, N, 2), got {tuple(logits.shape)}")
    y = _check_au_labels(labels, logits.shape[:2], "au_multitask_ce (Eq. 12)").long()
    per = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="none").view_as(y)
    if class_weights is None:
        return per.mean(0).sum()
    if tuple(class_weights.shape) != (logits.shape[1], 2):
        raise ValueError(f"au_multitask_ce: class_weights must be ({logits.shape[1]}, 2), "
                         f"got {tuple(class_weights.shape)}")
    w = class_weights.to(logits).T.gather(0, y)  # (B, N): weight of each sample's class per AU
    return ((w * per).sum(0) / w.sum(0).clamp_min(1e-12)).sum()


def micro_au_clip_total(logits: Tensor, visual: Tensor, text: Tensor | None, weights: Tensor | None,
                        labels: Tensor, alpha: float = 0.6, beta: float = 1.0,
                        temperature: float = MICRO_AU_CLIP_TEMPERATURE, class_weights: Tensor | None = None,
                        miaucl_targets: str = "shared", miaucl_reading: str = "softmax") -> dict[str, Tensor]:
    """Micro-AU CLIP Eq. 12: ``Loss = MultiTask + alpha L_MiAUC + beta L_GD``.

    Defaults are CASME II's alpha = 0.6, beta = 1.0 (:data:`MICRO_AU_CLIP_TRADE_OFFS` has SAMM's
    1.0, 0.6). ``text=None`` drops MiAUCL (Table VIII "No CL"); ``weights=None`` drops L_GD (a model
    without GDA). ``visual`` is the MiAUCL visual feature (the model's ``au_features``).

    Returns ``{"total", "multitask"}`` plus ``"miaucl"`` and ``"gd"`` when used.
    """
    terms = {"multitask": au_multitask_ce(logits, labels, class_weights)}
    total = terms["multitask"]
    if text is not None:
        terms["miaucl"] = miaucl(visual, text, labels, temperature, miaucl_targets, miaucl_reading)
        total = total + alpha * terms["miaucl"]
    if weights is not None:
        terms["gd"] = gd_loss(weights, labels)
        total = total + beta * terms["gd"]
    return {"total": total, **terms}


# ---------------------------------------------------------------------------------------------------
# SelfME (Fan et al. 2023)
# ---------------------------------------------------------------------------------------------------

SELFME_TEMPERATURE = 0.07   # tau of Eq. 14 (Sec. 4.7: best at 0.07)
SELFME_OMEGA = 0.1          # omega of Eq. 16
#: Region order of :func:`symmetric_contrastive` and the mirror of each (UL <-> UR, BL <-> BR).
SC_REGIONS = ("UL", "UR", "BL", "BR")
SC_MIRROR = (1, 0, 3, 2)


def symmetric_contrastive(regions: Tensor, labels: Tensor, temperature: float = SELFME_TEMPERATURE) -> Tensor:
    """SelfME Eq. 14, the symmetric contrastive (SC) loss, in melib's reading of the garbled print.

    ``regions`` ``(B, 4, D)``: the averaged patch embeddings of the upper-left, upper-right, bottom-left
    and bottom-right regions (Eq. 13, order :data:`SC_REGIONS`); ``labels`` ``(B,)`` class indices.
    Embeddings are L2-normalised. For each sample i, region a, and region b in {a, mirror(a)}: the
    candidates are the samples c in region b except i itself when b == a (``A(i, a, b)``), the positives
    ``P(i, a, b)`` are the candidates with i's label, and the term is
    ``-1/|P| sum_p log(exp(z_i^a . z_p^b / t) / sum_c exp(z_i^a . z_c^b / t))`` (supervised contrastive
    learning over identical or symmetrical regions). The loss is the mean of the terms that have a
    positive (Eq. 14 sums over i; the mean keeps the scale independent of the batch size).
    """
    if regions.ndim != 3 or regions.shape[1] != len(SC_REGIONS):
        raise ValueError(f"symmetric_contrastive (SelfME Eq. 14): regions must be (B, 4, D) in the order "
                         f"{SC_REGIONS}, got {tuple(regions.shape)}")
    if labels.shape != (regions.shape[0],):
        raise ValueError(f"symmetric_contrastive: labels must be ({regions.shape[0]},), got {tuple(labels.shape)}")
    z = F.normalize(regions.float(), dim=-1)
    same = labels[:, None] == labels[None, :]
    not_self = ~torch.eye(len(labels), dtype=torch.bool, device=regions.device)
    terms = []
    for a in range(len(SC_REGIONS)):
        for b in (a, SC_MIRROR[a]):
            sim = z[:, a] @ z[:, b].T / temperature                          # (B, B): z_i^a . z_c^b / t
            candidates = not_self if a == b else torch.ones_like(not_self)   # A(i, a, b)
            positives = same & candidates                                    # P(i, a, b)
            log_prob = sim - torch.logsumexp(sim.masked_fill(~candidates, float("-inf")), dim=1, keepdim=True)
            count = positives.sum(1)
            has = count > 0
            terms.append(-(log_prob * positives).sum(1)[has] / count[has])
    all_terms = torch.cat(terms)
    if all_terms.numel() == 0:
        return regions.sum() * 0.0  # no positive anywhere (e.g. a batch of one): no signal, still differentiable
    return all_terms.mean()


SELFME_REC_SCALES = (1.0, 0.5, 0.25, 0.125)  # FOMM's pyramid, the iota of Eq. 6
SELFME_LAMBDA_REC = 10.0                      # lambda_rec per scale and feature map (FOMM's weights)
SELFME_LAMBDA_EQV = 10.0                      # lambda_eqv of Eq. 8 (FOMM)


def multiscale_reconstruction(prediction: Tensor, target: Tensor, scales: Sequence[float] = SELFME_REC_SCALES,
                              features=None, weight: float = SELFME_LAMBDA_REC) -> Tensor:
    """SelfME Eq. 6 summed as in Eq. 8: ``sum_iota sum_m lambda |F^{iota,m}(X^_t) - F^{iota,m}(X_t)| / n``.

    ``features`` maps a ``(B, 3, H, W)`` image to a list of feature maps (Eq. 6: VGG-19's, which need
    ImageNet weights). ``None`` is melib's weight-free substitute: the image itself and its horizontal and
    vertical differences as the "feature maps" at each scale (an L1 image-and-gradient pyramid), so
    edges, where small motions show, count as in a perceptual loss.
    """
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(f"multiscale_reconstruction (SelfME Eq. 6): prediction {tuple(prediction.shape)} and "
                         f"target {tuple(target.shape)} must both be (B, C, H, W)")
    total = prediction.new_zeros(())
    for scale in scales:
        p, t = ((prediction, target) if scale == 1 else
                (F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
                 for x in (prediction, target)))
        if features is None:
            maps = [(p, t), (p.diff(dim=-1), t.diff(dim=-1)), (p.diff(dim=-2), t.diff(dim=-2))]
        else:
            maps = list(zip(features(p), features(t)))
        for fp, ft in maps:
            total = total + weight * (fp - ft.detach()).abs().mean()
    return total


def equivariance(keypoints: Tensor, keypoints_transformed_back: Tensor, weight: float = SELFME_LAMBDA_EQV) -> Tensor:
    """SelfME Eq. 7 (times ``lambda_eqv`` of Eq. 8): ``|F_kp(X_s) - T(F_kp(T^{-1}-warped X_s))|``, the L1
    distance between the keypoints of a frame and those found in its randomly TPS-warped copy, mapped
    back through the known transform (:class:`melib.methods.selfme.model.RandomTPS`; FOMM's form of Eq. 7)."""
    if keypoints.shape != keypoints_transformed_back.shape or keypoints.shape[-1] != 2:
        raise ValueError(f"equivariance (SelfME Eq. 7): keypoints must both be (B, K, 2), got "
                         f"{tuple(keypoints.shape)} and {tuple(keypoints_transformed_back.shape)}")
    return weight * (keypoints - keypoints_transformed_back).abs().mean()
