"""SelfME's losses (Fan et al. 2023; networks in :mod:`melib.methods.selfme.model`).

- Eq. 6    :func:`multiscale_reconstruction`  the motion learner's reconstruction over an image pyramid (FOMM's)
- Eq. 7-8  :func:`equivariance`               keypoints under a random TPS mapped back, lambda_eqv
- Eq. 14   :func:`symmetric_contrastive`      supervised contrastive loss over identical or mirrored face regions
- Eq. 16   ``L_c = L_cls + omega L_sc`` with :data:`SELFME_OMEGA` (the Method's training step)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

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
