"""Annotation-mimic losses (Ruan et al. 2022, Eqs. 4-8) against hand-computed examples."""
import math

import pytest
import torch

from melib.losses import au_similarity
from melib.methods.annotation_mimic.losses import class_weights, mimic_ce, mimic_total, wscl

E = math.e
EPS = 1e-5  # the authors' loss.py adds it to every exponential


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


# s = F F^T with tau = 1:  s11=1 s12=0 s13=1 / s22=1 s23=1 / s33=2
FEATS = t([[1, 0], [0, 1], [1, 1]])
# AU sets {1, 2}, {2}, {3}: w12 = 1/2, w13 = w23 = 0, w_ii = 1
AUS = t([[1, 1, 0], [0, 1, 0], [0, 0, 1]])


def test_au_similarity_eq4_jaccard_and_empty_sets():
    aus = t([[1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    w = au_similarity(aus)
    expected = t([[1, 0.5, 0, 0], [0.5, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    assert torch.equal(w, expected)  # both empty -> 0, not 0/0


def test_wscl_paper_eq5_hand_example():
    # anchor 1: -(1/1.5) * 0.5 * log(e^0 / (e^1 + e^0 + e^1)); anchor 2 alike (its row is 0, 1, 1);
    # anchor 3 shares no AU with anyone: its only weight is w33, which the 1[i != j] removes -> 0
    l1 = -(1 / 1.5) * 0.5 * math.log(1 / (2 * E + 1))
    l2 = -(1 / 1.5) * 0.5 * math.log(1 / (1 + E + E))
    expected = (l1 + l2 + 0.0) / 3
    assert wscl(FEATS, AUS, temperature=1.0).item() == pytest.approx(expected, abs=1e-12)


def test_wscl_paper_temperature_scales_the_similarities():
    # tau = 0.5 doubles every s: anchor 1 -> -(1/3) log(e^0 / (2 e^2 + 1))
    expected = 2 * (-(1 / 3) * math.log(1 / (2 * E ** 2 + 1))) / 3
    assert wscl(FEATS, AUS, temperature=0.5).item() == pytest.approx(expected, abs=1e-12)


def test_wscl_official_hand_example():
    # e_ik = exp(s_ik) + 1e-5, anchor left out of the denominator, self pair kept with weight w_ii = 1
    e = lambda s: math.exp(s) + EPS  # noqa: E731
    den1 = e(0) + e(1)
    l1 = (1 * -math.log(e(1) / den1) + 0.5 * -math.log(e(0) / den1)) / 1.5
    den2 = e(0) + e(1)
    l2 = (0.5 * -math.log(e(0) / den2) + 1 * -math.log(e(1) / den2)) / 1.5
    den3 = e(1) + e(1)
    l3 = 1 * -math.log(e(2) / den3) / 1.0
    expected = (l1 + l2 + l3) / 3
    got = wscl(FEATS, AUS, temperature=1.0, variant="official").item()
    assert got == pytest.approx(expected, abs=1e-12)
    assert got != pytest.approx(wscl(FEATS, AUS, temperature=1.0).item(), abs=1e-3)


def test_wscl_empty_au_anchor_contributes_zero_without_nan():
    feats = t([[1, 0], [0.5, -1]]).requires_grad_(True)
    aus = t([[1, 0], [0, 0]])  # sample 2 has no AU
    # paper: anchor 1 has only w11 (removed by 1[i != j]) -> 0; anchor 2 has no weight -> 0
    paper = wscl(feats, aus, temperature=1.0)
    assert paper.item() == 0.0
    # official: anchor 1 keeps its self pair: -log(e11 / e12) with s11 = 1, s12 = 0.5; anchor 2 -> 0
    official = wscl(feats, aus, temperature=1.0, variant="official")
    expected = -math.log((math.exp(1) + EPS) / (math.exp(0.5) + EPS)) / 2
    assert official.item() == pytest.approx(expected, abs=1e-12)
    (paper + official).backward()
    assert torch.isfinite(feats.grad).all()


def test_wscl_uses_features_as_given_and_batch_of_one_is_zero():
    assert wscl(2 * FEATS, AUS).item() != pytest.approx(wscl(FEATS, AUS).item(), abs=1e-3)
    one = wscl(FEATS[:1].clone().requires_grad_(True), AUS[:1])
    assert one.item() == 0.0 and one.requires_grad
    with pytest.raises(ValueError):
        wscl(FEATS, AUS, variant="code")


def test_class_weights_eq6_known_counts():
    casme5 = [64, 32, 27, 25, 99]  # Table 2
    w = class_weights(casme5, 5, counts=True)
    assert torch.allclose(w, torch.tensor([99 / 64, 99 / 32, 99 / 27, 99 / 25, 1.0]))
    assert torch.equal(class_weights(torch.tensor([0, 0, 0, 1, 2, 2]), 3), torch.tensor([1.0, 3.0, 1.5]))
    assert torch.equal(class_weights([0, 0, 2], 3), torch.tensor([1.0, 0.0, 2.0]))  # absent class -> 0
    with pytest.raises(ValueError):
        class_weights([0, 5], 3)


def test_mimic_ce_eq7_hand_example():
    targets = torch.tensor([0, 1])
    eyes = t([[0, 0], [1, 0]])   # CE: log 2, log(1 + e)
    mouth = t([[2, 0], [0, 0]])  # CE: log(1 + e^-2), log 2
    w = torch.tensor([1.0, 3.0])
    eyes_sum = 1 * math.log(2) + 3 * math.log(1 + E)
    mouth_sum = 1 * math.log(1 + math.exp(-2)) + 3 * math.log(2)
    assert mimic_ce([eyes, mouth], targets, w, reduction="sum").item() == pytest.approx(eyes_sum + mouth_sum)
    assert mimic_ce([eyes, mouth], targets, w, reduction="mean").item() == pytest.approx((eyes_sum + mouth_sum) / 2)
    assert mimic_ce([eyes, mouth], targets, w).item() == pytest.approx((eyes_sum + mouth_sum) / 4)
    assert mimic_ce(eyes, targets).item() == pytest.approx((math.log(2) + math.log(1 + E)) / 2)
    # label smoothing 0.1: (1 - eps) CE + eps * mean_c(-log p_c); row (1, 0) -> log(1 + e) - 0.05
    smooth = mimic_ce(eyes, targets, label_smoothing=0.1).item()
    assert smooth == pytest.approx((math.log(2) + math.log(1 + E) - 0.05) / 2)


def test_mimic_total_eq8():
    targets = torch.tensor([0, 1, 1])
    eyes, mouth = t([[0, 0], [1, 0], [0, 2]]), t([[1, 1], [0, 0], [0, 1]])
    cls = mimic_ce([eyes, mouth], targets)
    l_wscl = wscl(FEATS, AUS)
    out = mimic_total([eyes, mouth], FEATS, targets, AUS)
    assert out["total"].item() == pytest.approx((0.7 * cls + 0.3 * l_wscl).item(), abs=1e-12)
    assert out["wscl"].item() == pytest.approx(l_wscl.item(), abs=1e-12)
    off = mimic_total([eyes, mouth], FEATS, targets, None, use_wscl=False)
    assert set(off) == {"total", "cls"} and off["total"].item() == pytest.approx(cls.item())
