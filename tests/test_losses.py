"""IICL losses (Eqs. 1-7) and the CL/TL baselines against hand-computed 2-D examples."""
import math

import pytest
import torch
import torch.nn.functional as F

from melib.losses import au_bce, au_positive_weights, contrastive_loss, pull_together, push_apart, triplet_loss
from melib.methods.iicl.losses import iicl_losses, iicl_total, inter_loss, negative_pairs

R2 = math.sqrt(2.0)


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_push_apart_eq1_hand_example():
    # normalised onsets (0.6, 0.8), (1, 0); apexes (0.8, -0.6), (1/sqrt2, 1/sqrt2)
    # squared distances: 0.2^2 + 1.4^2 = 2.0 and 2 - 2 cos45 = 2 - sqrt2
    onset, apex = t([[3, 4], [1, 0]]), t([[4, -3], [2, 2]])
    expected = (max(0.0, 1 - 2.0) + max(0.0, 1 - (2 - R2))) / 2  # = (sqrt2 - 1) / 2
    assert push_apart(onset, apex, margin=1.0).item() == pytest.approx(expected, abs=1e-12)
    # margin 3 makes both pairs active: (1 + (1 + sqrt2)) / 2
    assert push_apart(onset, apex, margin=3.0).item() == pytest.approx((2 + R2) / 2, abs=1e-12)


def test_pull_together_eq3_hand_example():
    apex, close = t([[1, 0], [0, 5]]), t([[1, 1], [0, 2]])
    # first pair 45 degrees apart: 2 - sqrt2; second pair identical after normalisation: 0
    assert pull_together(apex, close).item() == pytest.approx((2 - R2) / 2, abs=1e-12)


def test_losses_are_scale_invariant_because_features_are_normalised():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    assert push_apart(a, b).item() == pytest.approx(push_apart(10 * a, 0.1 * b).item(), abs=1e-6)
    assert pull_together(a, b).item() == pytest.approx(pull_together(3 * a, b).item(), abs=1e-6)


LABELS = torch.tensor([
    [1, 1, 0, 0],  # 0: AU1 + AU2
    [0, 0, 1, 0],  # 1: AU4
    [0, 1, 1, 0],  # 2: AU2 + AU4 (shares AU2 with 0, AU4 with 1)
    [0, 0, 0, 1],  # 3: AU12
    [0, 0, 0, 0],  # 4: none of the four AUs
])


def test_negative_pairs_eq4_exact_pairs():
    i, j = negative_pairs(LABELS)
    pairs = list(zip(i.tolist(), j.tolist()))
    assert pairs == [(0, 1), (0, 3), (0, 4), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
    i, j = negative_pairs(LABELS, exclude_empty=True)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 3), (1, 3), (2, 3)]


def test_inter_loss_eq5_hand_example():
    labels = torch.tensor([[1, 0], [0, 1], [1, 0]])  # negative pairs (0, 1) and (1, 2)
    apex = t([[1, 0], [1, 1], [-1, 0]])
    # (0,1): d^2 = 2 - sqrt2 -> hinge sqrt2 - 1; (1,2): 135 degrees, d^2 = 2 + sqrt2 -> 0; K = 2
    # pair (0, 2) shares AU1 and must not count (its d^2 = 4 would add nothing anyway, so also
    # check with a margin where it would)
    assert inter_loss(apex, labels, margin=1.0).item() == pytest.approx((R2 - 1) / 2, abs=1e-12)
    assert inter_loss(apex, labels, margin=5.0).item() == pytest.approx((3 + R2 + 3 - R2) / 2, abs=1e-12)


def test_inter_loss_without_negative_pairs_is_zero_with_finite_grad():
    feats = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([[1, 0], [1, 1], [1, 0], [1, 0]])  # all share AU "0": K = 0
    loss = inter_loss(feats, labels)
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.isfinite(feats.grad).all() and torch.all(feats.grad == 0)
    single = inter_loss(torch.randn(1, 3, requires_grad=True), torch.tensor([[0, 1]]))  # B = 1
    assert single.item() == 0.0 and not torch.isnan(single)


def test_iicl_losses_keys_and_values():
    onset, apex, close = t([[1, 0], [1, 0]]), t([[1, 1], [0, 1]]), t([[1, 1], [1, 0]])
    labels = torch.tensor([[1, 0], [0, 1]])
    out = iicl_losses(onset, apex, close, labels)
    assert sorted(out) == ["ac", "na", "oa", "oc"]
    assert out["oa"].item() == pytest.approx(((R2 - 1) + 0) / 2, abs=1e-12)  # d^2 = 2-sqrt2 and 2
    assert out["oc"].item() == pytest.approx(((R2 - 1) + 1) / 2, abs=1e-12)  # d^2 = 2-sqrt2 and 0
    assert out["ac"].item() == pytest.approx((0 + 2) / 2, abs=1e-12)          # d^2 = 0 and 2
    assert out["na"].item() == pytest.approx(R2 - 1, abs=1e-12)               # one pair, d^2 = 2-sqrt2


def test_au_bce_matches_torch_and_is_stable():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 8, generator=g, dtype=torch.float64)
    labels = (torch.rand(6, 8, generator=g) > 0.5).long()
    p, y = torch.sigmoid(logits), labels.double()
    by_hand = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert au_bce(logits, labels).item() == pytest.approx(by_hand.item(), abs=1e-12)
    assert au_bce(logits, labels).item() == pytest.approx(F.binary_cross_entropy(p, y).item(), abs=1e-12)
    extreme = au_bce(torch.tensor([[100.0, -100.0]]), torch.tensor([[0.0, 1.0]]))
    assert torch.isfinite(extreme) and extreme.item() == pytest.approx(100.0, rel=1e-4)
    with pytest.raises(ValueError, match="Eq. 6"):
        au_bce(logits, labels[:, :4])


def _parts(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    f = [torch.randn(4, 5, generator=g) for _ in range(3)]
    z = [torch.randn(4, 3, generator=g) for _ in range(2)]
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])
    return f, z, labels


@pytest.mark.parametrize("lam", [0.1, 0.7])
def test_iicl_total_eq7_is_weighted_sum(lam):
    (fo, fa, fc), (za, zc), labels = _parts()
    out = iicl_total(fo, fa, fc, za, zc, labels, lam=lam)
    parts = iicl_losses(fo, fa, fc, labels)
    expected = au_bce(za, labels) + au_bce(zc, labels) + lam * sum(parts.values())
    assert out["total"].item() == pytest.approx(expected.item(), abs=1e-6)
    assert sorted(out) == ["ac", "bce_apex", "bce_close", "na", "oa", "oc", "total"]


def test_iicl_total_ablation_switches():
    (fo, fa, fc), (za, zc), labels = _parts(2)
    inter = iicl_total(None, fa, None, za, None, labels, lam=0.1, use_intra=False)
    assert sorted(inter) == ["bce_apex", "na", "total"]
    assert inter["total"].item() == pytest.approx((au_bce(za, labels) + 0.1 * inter["na"]).item(), abs=1e-6)
    intra = iicl_total(fo, fa, fc, za, zc, labels, use_inter=False)
    assert "na" not in intra and {"oa", "oc", "ac", "bce_close"} <= set(intra)
    base = iicl_total(None, fa, None, za, None, labels, use_intra=False, use_inter=False)
    assert sorted(base) == ["bce_apex", "total"] and base["total"].item() == base["bce_apex"].item()
    with pytest.raises(ValueError, match="use_intra"):
        iicl_total(None, fa, None, za, None, labels)


def test_contrastive_loss_hadsell_hand_example():
    f1, f2 = t([[1, 0], [1, 0]]), t([[0, 1], [1, 1]])
    same = torch.tensor([1, 0])
    d_neg = math.sqrt(2 - R2)  # 45 degrees apart, dissimilar pair inside the margin
    expected = (0.5 * 2.0 + 0.5 * (1 - d_neg) ** 2) / 2
    assert contrastive_loss(f1, f2, same, margin=1.0).item() == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="same"):
        contrastive_loss(f1, f2, torch.tensor([1, 0, 1]))


def test_triplet_loss_facenet_hand_example():
    anchor, positive, negative = t([[1, 0], [1, 0]]), t([[1, 1], [0, 1]]), t([[0, 1], [1, 1]])
    # triplet 0: (2 - sqrt2) - 2 + 1 < 0 -> 0; triplet 1: 2 - (2 - sqrt2) + 1 = 1 + sqrt2
    assert triplet_loss(anchor, positive, negative, margin=1.0).item() == pytest.approx((1 + R2) / 2, abs=1e-12)
    assert triplet_loss(anchor, positive, negative, margin=0.2).item() == pytest.approx((0.2 + R2) / 2, abs=1e-12)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"\(4, 2\) and \(3, 2\)"):
        push_apart(torch.randn(4, 2), torch.randn(3, 2))
    with pytest.raises(ValueError, match="multi-hot"):
        inter_loss(torch.randn(4, 2), torch.ones(3, 5))


def test_au_bce_pos_weight_by_hand():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([3.0, 2.0])
    sp = torch.nn.functional.softplus
    # positive term -log sigmoid(z) = softplus(-z), weighted; negative term -log(1 - sigmoid(z)) = softplus(z)
    expected = (3.0 * sp(torch.tensor(-0.0)) + sp(torch.tensor(2.0)) + sp(torch.tensor(1.0))
                + 2.0 * sp(torch.tensor(1.0))) / 4
    assert au_bce(logits, labels, w).item() == pytest.approx(expected.item(), rel=1e-6)
    assert au_bce(logits, labels, torch.ones(2)).item() == pytest.approx(au_bce(logits, labels).item())
    with pytest.raises(ValueError, match="pos_weight"):
        au_bce(logits, labels, torch.ones(3))


def test_au_positive_weights_are_clipped_negative_positive_ratios():
    labels = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]] + [[0, 0, 0]] * 96)
    w = au_positive_weights(labels, max_weight=40.0)
    assert w.dtype == torch.float32 and w.tolist() == pytest.approx([40.0, 1.0, 40.0])  # 98/2 clipped; none -> 1
    assert au_positive_weights(labels[:4]).tolist() == pytest.approx([1.0, 1.0, 3.0])    # 2/2 -> 1, 3/1
    with pytest.raises(ValueError, match="B, M"):
        au_positive_weights(torch.zeros(3))


def test_symmetric_contrastive_matches_a_hand_computation():
    from melib.methods.selfme.losses import symmetric_contrastive

    torch.manual_seed(0)
    regions, labels, t = torch.randn(3, 4, 5), torch.tensor([0, 0, 1]), 0.5
    z = F.normalize(regions, dim=-1)
    mirror = {0: 1, 1: 0, 2: 3, 3: 2}
    terms = []
    for i in range(3):
        for a in range(4):
            for b in (a, mirror[a]):
                cands = [c for c in range(3) if not (b == a and c == i)]
                pos = [p for p in cands if labels[p] == labels[i]]
                if not pos:
                    continue
                denom = sum(math.exp(float(z[i, a] @ z[c, b]) / t) for c in cands)
                terms.append(-sum(math.log(math.exp(float(z[i, a] @ z[p, b]) / t) / denom) for p in pos) / len(pos))
    expected = sum(terms) / len(terms)
    assert symmetric_contrastive(regions, labels, t).item() == pytest.approx(expected, rel=1e-5)
    # sample 2 is alone in its class: only its mirror-region terms (where it is its own positive) count
    assert len(terms) == 2 * 4 * 2 + 4


def test_symmetric_contrastive_prefers_symmetric_same_class_embeddings():
    from melib.methods.selfme.losses import symmetric_contrastive

    labels = torch.tensor([0, 0, 1, 1])
    base = torch.eye(4)[labels * 2]                       # class 0 -> e0, class 1 -> e2
    symmetric = base[:, None].repeat(1, 4, 1)             # every region of a sample alike
    rng = torch.Generator().manual_seed(0)
    scrambled = torch.randn(4, 4, 4, generator=rng)
    assert symmetric_contrastive(symmetric, labels) < symmetric_contrastive(scrambled, labels)
    scrambled.requires_grad_(True)
    symmetric_contrastive(scrambled, labels).backward()
    assert scrambled.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="UL"):
        symmetric_contrastive(torch.zeros(2, 3, 4), torch.zeros(2))


def test_selfme_reconstruction_and_equivariance():
    from melib.methods.selfme.losses import equivariance, multiscale_reconstruction

    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    assert multiscale_reconstruction(target, target).item() == 0.0
    shifted = torch.roll(target, 1, dims=-1)
    near = target + 0.01
    # a constant offset only moves the image term (differences cancel); a shift moves everything
    assert multiscale_reconstruction(near, target, scales=(1.0,)).item() == pytest.approx(10 * 0.01, rel=1e-3)
    assert multiscale_reconstruction(shifted, target) > multiscale_reconstruction(near, target)
    feats = lambda x: [x.mean(1, keepdim=True)]  # noqa: E731 - a stand-in "VGG"
    assert multiscale_reconstruction(near, target, scales=(1.0,), features=feats).item() == pytest.approx(0.1, rel=1e-3)
    kp = torch.zeros(2, 5, 2)
    assert equivariance(kp, kp + 0.1).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Eq. 6"):
        multiscale_reconstruction(target, target[:, :1])
