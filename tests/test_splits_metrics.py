"""Protocol splits (no leakage, determinism, fold errors) and metrics against hand-computed values."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from melib import metrics, splits


def _manifest(counts: dict[str, int]) -> pd.DataFrame:
    rows = [{"subject": s, "clip": f"{s}_{i}"} for s, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows)


COUNTS = {f"sub{i:02d}": n for i, n in enumerate([9, 3, 7, 1, 5, 5, 2, 8, 4, 6], start=1)}


@pytest.mark.parametrize("protocol", ["kfold", "loso"])
def test_splits_have_no_subject_on_both_sides_and_cover_every_clip(protocol):
    manifest = _manifest(COUNTS)
    folds = splits.make_splits(manifest, protocol, k=4)
    assert len(folds) == (4 if protocol == "kfold" else len(COUNTS))
    tested = []
    for split in folds:
        assert not set(split.train_subjects) & set(split.test_subjects)
        assert set(split.train_subjects) | set(split.test_subjects) == set(COUNTS)
        train, test = split.masks(manifest)
        assert not (train & test).any() and (train | test).all()
        tested += list(manifest.index[test])
    assert sorted(tested) == list(manifest.index)  # every clip is tested exactly once


def test_kfold_is_deterministic_balanced_and_seed_dependent():
    manifest = _manifest(COUNTS)
    a = splits.subject_kfold(manifest, k=4, seed=0)
    assert a == splits.subject_kfold(manifest, k=4, seed=0)
    sizes = [int(s.masks(manifest)[1].sum()) for s in a]
    assert sum(sizes) == 50 and max(sizes) - min(sizes) <= 2
    # ties between equal counts are broken by the seed: some seed must give a different assignment
    assert any(splits.subject_kfold(manifest, k=4, seed=s) != a for s in range(1, 10))


def test_loso_holds_out_each_subject_once_in_sorted_order():
    folds = splits.loso(_manifest(COUNTS))
    assert [f.test_subjects for f in folds] == [(s,) for s in sorted(COUNTS)]


def test_select_folds_rejects_out_of_range_and_non_int():
    folds = splits.subject_kfold(_manifest(COUNTS), k=4)
    assert splits.select_folds(folds, -1) == folds
    assert splits.select_folds(folds, 3) == [folds[3]]
    with pytest.raises(ValueError, match="fold 4 is out of range.*4 folds"):
        splits.select_folds(folds, 4)
    with pytest.raises(ValueError, match="out of range"):
        splits.select_folds(folds, -2)
    with pytest.raises(TypeError):
        splits.select_folds(folds, "3")
    with pytest.raises(ValueError, match="k must be"):
        splits.subject_kfold(_manifest(COUNTS), k=11)


Y_TRUE = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
Y_PRED = np.array([[1, 1], [0, 1], [0, 1], [1, 0]])


def test_au_f1_and_accuracy_by_hand():
    # AU a: TP=1 FP=1 FN=1 -> F1 = 2/4; accuracy (TP+TN)/N = 2/4
    # AU b: TP=2 FP=1 FN=0 -> F1 = 4/5; accuracy 3/4
    np.testing.assert_allclose(metrics.au_f1(Y_TRUE, Y_PRED), [0.5, 0.8])
    np.testing.assert_allclose(metrics.au_accuracy(Y_TRUE, Y_PRED), [0.5, 0.75])
    np.testing.assert_allclose(metrics.au_f1(Y_TRUE, Y_PRED), f1_score(Y_TRUE, Y_PRED, average=None))
    table = metrics.au_report(Y_TRUE, Y_PRED, ["AU1", "AU2"])
    assert table.loc["F1", "AVG"] == pytest.approx(0.65)
    assert table.loc["Number"].tolist()[:2] == [2, 2]


def test_au_f1_undefined_is_zero_division_and_bad_input_is_rejected():
    assert metrics.au_f1(np.zeros((3, 1)), np.zeros((3, 1)))[0] == 0.0
    assert metrics.au_f1(np.zeros((3, 1)), np.zeros((3, 1)), zero_division=1.0)[0] == 1.0
    with pytest.raises(ValueError, match="0/1"):
        metrics.au_f1(np.array([[0.2]]), np.array([[1]]))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.au_f1(np.zeros((3, 2)), np.zeros((3, 1)))


def test_emotion_metrics_by_hand():
    t = ["a", "a", "a", "b", "b", "c"]
    p = ["a", "a", "b", "b", "c", "c"]
    # F1: a = 4/5, b = 2/4, c = 2/3 ; recall: a = 2/3, b = 1/2, c = 1
    assert metrics.uf1(t, p) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert metrics.uar(t, p) == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert metrics.accuracy(t, p) == pytest.approx(4 / 6)
    assert metrics.uf1(t, p) == pytest.approx(f1_score(t, p, average="macro"))
    assert metrics.uar(t, p) == pytest.approx(recall_score(t, p, average="macro"))


def test_accumulated_differs_from_mean_of_folds():
    # two folds: accumulated UF1 is not the mean of per-fold UF1
    t1, p1, t2, p2 = ["a", "b"], ["a", "a"], ["b", "b", "a"], ["b", "b", "b"]
    accumulated = metrics.uf1(t1 + t2, p1 + p2)
    mean_of_folds = (metrics.uf1(t1, p1) + metrics.uf1(t2, p2)) / 2
    assert accumulated != pytest.approx(mean_of_folds)


def test_confusion_rejects_unknown_labels():
    with pytest.raises(ValueError, match="not in the class list"):
        metrics.confusion(["a"], ["z"], labels=["a", "b"])


def test_uf1_and_uar_divide_by_all_classes():
    t, p = ["a", "a", "b"], ["a", "a", "b"]  # perfect on a and b; class c never occurs
    assert metrics.uf1(t, p) == 1.0 and metrics.uar(t, p) == 1.0
    assert metrics.uf1(t, p, labels=["a", "b", "c"]) == pytest.approx(2 / 3)
    assert metrics.uar(t, p, labels=["a", "b", "c"]) == pytest.approx(2 / 3)
    t, p = ["a", "a", "b"], ["a", "c", "b"]  # c predicted, never true: recall 0 and F1 0 for c
    assert metrics.uar(t, p) == pytest.approx((0.5 + 1 + 0) / 3)
    assert metrics.uar(t, p) == pytest.approx(recall_score(t, p, average="macro", zero_division=0))
    assert metrics.uf1(t, p) == pytest.approx(f1_score(t, p, average="macro", zero_division=0))


def test_within_fold_auc_separates_fold_offsets_from_ranking():
    folds = np.repeat([0, 1, 2], 6)
    y = np.array([1, 1, 1, 1, 1, 0,  1, 1, 1, 0, 0, 0,  1, 0, 0, 0, 0, 0])[:, None]
    # each fold model answers a constant: its training folds' prevalence, lowest where the held-out fold's is highest
    train_prior = np.array([(y[folds != k].mean()) for k in (0, 1, 2)])
    constant = train_prior[folds][:, None]
    assert metrics.au_auc(y, constant)[0] < 0.5  # pooled: the folds ranked backwards
    assert metrics.au_auc_within_folds(y, constant, folds)[0] == pytest.approx(0.5)  # no ranking inside any fold
    # perfect ranking inside every fold, shifted down where positives are frequent: within 1, pooled less
    ranked = 0.1 * y[:, 0] + np.array([-0.5, 0.0, 0.5])[folds]
    assert metrics.au_auc_within_folds(y, ranked[:, None], folds)[0] == pytest.approx(1.0)
    assert metrics.au_auc(y, ranked[:, None])[0] < 1.0
    # an AU with a single class in every fold has no within-fold AUC
    assert np.isnan(metrics.au_auc_within_folds(np.zeros((18, 1)), constant, folds)[0])
    with pytest.raises(ValueError, match="folds"):
        metrics.au_auc_within_folds(y, constant, folds[:-1])
