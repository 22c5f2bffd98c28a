"""Micro-AU CLIP losses (Wei et al. 2026, Eqs. 8-12) against hand-computed examples."""
import math

import pytest
import torch

from melib.methods.micro_au_clip.losses import (
    MICRO_AU_CLIP_TRADE_OFFS,
    au_multitask_ce,
    gd_loss,
    miaucl,
    micro_au_clip_total,
)

E = math.e


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_gd_loss_eq8_hand_example():
    weights = t([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    labels = t([[1, 0, 0], [0, 1, 1]])
    # sample 1: (0.5-1)^2 + 0.3^2 + 0.2^2 = 0.38; sample 2: 0.1^2 + 0.9^2 + 0.2^2 = 0.86; each / N = 3
    expected = (0.38 / 3 + 0.86 / 3) / 2
    assert gd_loss(weights, labels).item() == pytest.approx(expected, abs=1e-12)
    assert gd_loss(weights, labels.bool()).item() == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError):
        gd_loss(weights, labels[:, :2])


def test_miaucl_closed_forms_one_au():
    v = t([[[1, 0]], [[0, 1]]])  # (B=2, N=1, D=2): M = [[1, 0], [0, 1]] / tau with tau = 1
    # different states: LM = I, each row and column -> -log(e / (e + 1))
    differ = miaucl(v, v.clone(), t([[1], [0]]), temperature=1.0)
    assert differ.item() == pytest.approx(math.log(1 + 1 / E), abs=1e-12)
    # same state: LM all ones, targets 1/2 -> -(1/2)(log(e/(e+1)) + log(1/(e+1))) = log(1 + e) - 1/2
    same = miaucl(v, v.clone(), t([[1], [1]]), temperature=1.0)
    assert same.item() == pytest.approx(math.log(1 + E) - 0.5, abs=1e-12)
    # CLIP's diagonal targets ("local OrigCL", Table VIII) ignore the labels
    diag = miaucl(v, v.clone(), t([[1], [1]]), temperature=1.0, targets="diagonal")
    assert diag.item() == pytest.approx(math.log(1 + 1 / E), abs=1e-12)


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _miaucl_by_hand(visual, text, labels, tau):
    """Eqs. 9-11 with python lists: per AU, the mean of the row and the column cross-entropies."""
    b_size, n_aus = len(visual), len(visual[0])
    total = 0.0
    for n in range(n_aus):
        m = [[_cos(visual[i][n], text[j][n]) / tau for j in range(b_size)] for i in range(b_size)]
        lm = [[1.0 if labels[i][n] == labels[j][n] else 0.0 for j in range(b_size)] for i in range(b_size)]
        row = 0.0
        for i in range(b_size):
            log_z = math.log(sum(math.exp(m[i][j]) for j in range(b_size)))
            row += -sum(lm[i][j] / sum(lm[i]) * (m[i][j] - log_z) for j in range(b_size)) / b_size
        col = 0.0
        for j in range(b_size):
            log_z = math.log(sum(math.exp(m[i][j]) for i in range(b_size)))
            norm = sum(lm[i][j] for i in range(b_size))
            col += -sum(lm[i][j] / norm * (m[i][j] - log_z) for i in range(b_size)) / b_size
        total += (row + col) / 2
    return total


def test_miaucl_eq9_11_hand_example_two_aus():
    visual = [[[1, 0], [1, 1]], [[0, 2], [1, -1]], [[3, 4], [0, 1]]]       # (B=3, N=2, D=2)
    text = [[[1, 1], [2, 0]], [[-1, 1], [0, 3]], [[1, 0], [1, 2]]]
    labels = [[1, 0], [0, 0], [1, 1]]  # AU 1: samples 1 and 3 share the state; AU 2: samples 1 and 2
    expected = _miaucl_by_hand(visual, text, labels, 0.5)
    got = miaucl(t(visual), t(text), t(labels), temperature=0.5)
    assert got.item() == pytest.approx(expected, abs=1e-10)
    # cosine similarity: rescaling the features changes nothing
    assert miaucl(5 * t(visual), 0.1 * t(text), t(labels), temperature=0.5).item() == pytest.approx(expected, abs=1e-10)
    # default temperature 0.07
    assert miaucl(t(visual), t(text), t(labels)).item() == pytest.approx(
        _miaucl_by_hand(visual, text, labels, 0.07), abs=1e-8)


def test_miaucl_gradient_finite_and_batch_of_one_is_zero():
    v = torch.randn(1, 3, 4, requires_grad=True)
    loss = miaucl(v, torch.randn(1, 3, 4), torch.tensor([[1, 0, 1]]))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    v = torch.randn(4, 3, 4, requires_grad=True)
    miaucl(v, torch.randn(4, 3, 4), torch.randint(0, 2, (4, 3))).backward()
    assert torch.isfinite(v.grad).all()
    with pytest.raises(ValueError):
        miaucl(v, torch.randn(4, 3, 5), torch.randint(0, 2, (4, 3)))


LOGITS = t([[[0, 1], [2, 0]], [[1, 1], [0, 0]]])  # (B=2, N=2, 2)
LABELS = t([[1, 0], [0, 1]])
L11 = -math.log(E / (1 + E))       # sample 1, AU 1, label 1
L21 = math.log(2)                  # sample 2, AU 1, label 0, logits equal
L12 = -math.log(E ** 2 / (E ** 2 + 1))
L22 = math.log(2)


def test_multitask_eq12_sum_of_per_au_ce():
    expected = (L11 + L21) / 2 + (L12 + L22) / 2
    assert au_multitask_ce(LOGITS, LABELS).item() == pytest.approx(expected, abs=1e-12)


def test_multitask_class_weights_weighted_mean_per_au():
    w = t([[1, 3], [2, 1]])  # AU 1: negatives 1, positives 3; AU 2: negatives 2, positives 1
    expected = (3 * L11 + 1 * L21) / 4 + (2 * L12 + 1 * L22) / 3
    assert au_multitask_ce(LOGITS, LABELS, class_weights=w).item() == pytest.approx(expected, abs=1e-12)


def test_total_eq12_combines_the_terms():
    visual, text = torch.randn(2, 2, 3, dtype=torch.float64), torch.randn(2, 2, 3, dtype=torch.float64)
    weights = t([[0.7, 0.3], [0.4, 0.6]])
    out = micro_au_clip_total(LOGITS, visual, text, weights, LABELS)
    assert set(out) == {"total", "multitask", "miaucl", "gd"}
    assert out["total"].item() == pytest.approx(
        out["multitask"].item() + 0.6 * out["miaucl"].item() + 1.0 * out["gd"].item(), abs=1e-12)
    assert out["gd"].item() == pytest.approx(((0.7 - 1) ** 2 + 0.3 ** 2 + 0.4 ** 2 + 0.4 ** 2) / 4, abs=1e-12)
    alpha, beta = MICRO_AU_CLIP_TRADE_OFFS["samm"]
    assert (alpha, beta) == (1.0, 0.6) and MICRO_AU_CLIP_TRADE_OFFS["casme2"] == (0.6, 1.0)
    samm = micro_au_clip_total(LOGITS, visual, text, weights, LABELS, alpha=alpha, beta=beta)
    assert samm["total"].item() == pytest.approx(
        out["multitask"].item() + out["miaucl"].item() + 0.6 * out["gd"].item(), abs=1e-12)
    bare = micro_au_clip_total(LOGITS, visual, None, None, LABELS)
    assert set(bare) == {"total", "multitask"} and bare["total"].item() == out["multitask"].item()


def test_shared_and_diagonal_targets_coincide_when_the_text_depends_on_the_label_alone():
    # Micro-AU CLIP's text feature of a sample's AU n is one of two descriptions (active / inactive), so all
    # columns of M_n with the same label are equal, and Eq. 10's shared targets give CLIP's diagonal loss
    torch.manual_seed(0)
    b, n, d = 8, 3, 16
    labels = torch.randint(0, 2, (b, n))
    descriptions = torch.randn(2, n, d)
    text = descriptions[labels, torch.arange(n)]  # (B, N, D): the description of each sample's own state
    visual = torch.randn(b, n, d, requires_grad=True)
    shared = miaucl(visual, text, labels, targets="shared")
    (g_shared,) = torch.autograd.grad(shared, visual)
    diagonal = miaucl(visual, text, labels, targets="diagonal")
    (g_diagonal,) = torch.autograd.grad(diagonal, visual)
    assert torch.allclose(shared, diagonal, atol=1e-5) and torch.allclose(g_shared, g_diagonal, atol=1e-5)
    # with a text feature of its own per sample they differ
    own = text + 0.5 * torch.randn_like(text)
    assert not torch.allclose(miaucl(visual, own, labels, targets="shared"),
                              miaucl(visual, own, labels, targets="diagonal"), atol=1e-3)


def test_miaucl_bce_reading_separates_shared_from_diagonal_targets():
    """Eq. 11 read per entry (binary cross-entropy with logits, mean over B x B, summed over AUs): with one
    text per AU state, same-state columns are equal, so the softmax reading cannot tell shared targets from
    diagonal ones, but the BCE reading can: a same-state off-diagonal pair is a positive for one, a negative
    for the other."""
    import torch.nn.functional as F

    labels = torch.tensor([[1.0], [1.0], [0.0]])
    text = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]])  # one description per state
    visual = text.clone()
    soft = [miaucl(visual, text, labels, targets=t) for t in ("shared", "diagonal")]
    assert soft[0].item() == pytest.approx(soft[1].item())
    bce = {t: miaucl(visual, text, labels, targets=t, reading="bce").item() for t in ("shared", "diagonal")}
    logits = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) / 0.07  # cos / tau
    shared = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert bce["shared"] == pytest.approx(F.binary_cross_entropy_with_logits(logits, shared).item(), rel=1e-5)
    assert bce["diagonal"] == pytest.approx(F.binary_cross_entropy_with_logits(logits, torch.eye(3)).item(), rel=1e-5)
    assert bce["diagonal"] > bce["shared"] + 1.0  # the same-state pairs are pushed apart only by diagonal targets
    with pytest.raises(ValueError, match="reading"):
        miaucl(visual, text, labels, reading="hinge")
