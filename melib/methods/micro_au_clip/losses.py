"""Micro-AU CLIP's losses (Wei et al. 2026, arXiv 2603.16302, Sec. III-C to III-D; network in
:mod:`melib.methods.micro_au_clip.model`).

- Eq. 8     :func:`gd_loss`              ``1/N ||W_d - Y||^2`` on GDA's dependency weights, batch mean
- Eq. 9-11  :func:`miaucl`               per-AU CLIP loss with same-state targets, summed over AUs
- Eq. 12    :func:`au_multitask_ce`      sum over AUs of each AU's 2-way cross-entropy
- Eq. 12    :func:`micro_au_clip_total`  ``MultiTask + alpha L_MiAUC + beta L_GD`` (alpha, beta per dataset
  in :data:`MICRO_AU_CLIP_TRADE_OFFS`)

MiAUCL normalises its features inside (cosine similarity, Eq. 9).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

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
