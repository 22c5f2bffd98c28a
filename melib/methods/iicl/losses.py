"""IICL's losses (Li & Zhao 2021, "Intra- and Inter-Contrastive Learning for Micro-expression AU Detection").

- Eq. 1-2  :func:`push_apart`      hinge on the squared distance (onset vs apex / close-to-apex; shared, :mod:`melib.losses`)
- Eq. 3    :func:`pull_together`   mean squared distance (apex vs close-to-apex; shared)
- Eq. 4    :func:`negative_pairs`  batch pairs whose multi-hot AU vectors have zero dot product
- Eq. 5    :func:`inter_loss`      hinge on the squared distance of the negative apex pairs
- Eq. 1-5  :func:`iicl_losses`     all four contrastive terms as a dict ``oa, oc, ac, na``
- Eq. 6    :func:`au_bce`          multi-label binary cross-entropy (shared)
- Eq. 7    :func:`iicl_total`      the weighted sum, with IntraCL / InterCL switches (Table 1)

Baselines of IICL Table 2: :func:`contrastive_loss` ("CL") and :func:`triplet_loss` ("TL"), shared.
Features go in raw, shape ``(B, D)``; the contrastive losses L2-normalise them inside.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ...losses import (  # noqa: F401  (shared; re-exported)
    DEFAULT_MARGIN,
    _check_labels,
    au_bce,
    au_positive_weights,
    contrastive_loss,
    normalize,
    pull_together,
    push_apart,
    squared_distance,
    triplet_loss,
)

DEFAULT_LAMBDA = 0.1  # lambda in Eq. 7


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
