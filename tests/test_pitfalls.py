"""The four protocol pitfalls on hand-made predictions: each measure against a value worked out by hand."""
import numpy as np
import pandas as pd
import pytest

from melib import pitfalls


def onehot_scores(pred, n=3):
    s = np.zeros((len(pred), n))
    s[np.arange(len(pred)), pred] = 1.0
    return s


def test_epoch_by_test_picks_each_folds_best_epoch_and_beats_the_final_one():
    targets = np.array([0, 1, 2, 0, 1, 2])
    fold = np.array([0, 0, 0, 1, 1, 1])
    e0 = onehot_scores(np.array([0, 1, 2, 1, 1, 1]))  # fold 0 perfect, fold 1 1/3
    e1 = onehot_scores(np.array([1, 1, 1, 0, 1, 2]))  # fold 0 1/3, fold 1 perfect
    per_epoch = [{"scores": e, "targets": targets, "fold": fold} for e in (e0, e1)]
    r = pitfalls.epoch_by_test(per_epoch, 3)
    assert r["chosen_epochs"] == [0, 1]
    assert r["uf1_careless"] == pytest.approx(1.0) and r["uar_careless"] == pytest.approx(1.0)
    assert r["uar_honest"] == pytest.approx((0.5 + 1 + 0.5) / 3)  # final epoch: classes 0 and 2 half right


def test_per_fold_mean_differs_from_pooled():
    # fold 0: AU0 predicted perfectly; fold 1: AU0 wrong once (FP); AU1 only present in fold 1
    targets = np.array([[1, 0], [0, 0], [1, 1], [0, 0]])
    scores = np.array([[0.9, 0.1], [0.1, 0.1], [0.9, 0.9], [0.9, 0.1]])
    fold = np.array([0, 0, 1, 1])
    r = pitfalls.per_fold_mean_au({"targets": targets, "scores": scores, "fold": fold})
    # fold 0: only AU0 present, F1 1; fold 1: AU0 F1 2/3, AU1 F1 1 -> 5/6; mean 11/12
    assert r["f1_careless"] == pytest.approx((1 + 5 / 6) / 2)
    assert r["f1_honest"] == pytest.approx((0.8 + 1) / 2)  # pooled AU0: TP 2, FP 1 -> 4/5


def test_tuned_threshold_never_loses_and_finds_the_separating_cut():
    targets = np.array([[1], [1], [0], [0]])
    scores = np.array([[0.4], [0.3], [0.2], [0.1]])  # all below 0.5, but perfectly ranked
    r = pitfalls.test_threshold({"targets": targets, "scores": scores})
    assert r["f1_honest"] == 0.0 and r["f1_careless"] == pytest.approx(1.0)
    assert 0.2 < r["thresholds"][0] < 0.3


def test_summary_and_figure_from_a_seed_table():
    table = pd.DataFrame([{"pitfall": "test_threshold", "method": "iicl", "metric": "f1", "seed": s,
                           "honest": 0.4, "careless": 0.4 + d, "inflation": d} for s, d in enumerate([0.1, 0.2, 0.3])])
    summ = pitfalls.summary(table)
    assert summ.loc[0, "inflation_mean"] == pytest.approx(0.2) and summ.loc[0, "inflation_sd"] == pytest.approx(0.1)
    assert "+0.200 ± 0.100" in pitfalls.markdown(summ)
    fig = pitfalls.plot_inflation(summ, table)
    assert len(fig.axes[0].patches) == 1


def test_per_fold_mean_emotion_averages_over_each_folds_own_classes():
    targets = np.array([0, 0, 1, 2, 2])
    pred = np.array([0, 2, 1, 2, 0])
    fold = np.array([0, 0, 0, 1, 1])
    r = pitfalls.per_fold_mean_emotion({"targets": targets, "scores": onehot_scores(pred), "fold": fold}, 3)
    # fold 0: recalls class0 1/2, class1 1 -> 0.75; fold 1: class2 1/2 -> 0.5 (class 0 only predicted)
    assert r["uar_careless"] == pytest.approx((0.75 + 0.5) / 2)
    assert r["uar_honest"] == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_identity_prior_pays_off_under_a_random_split_only_when_labels_follow_the_subject():
    # subject A always shows AU4, subject B never: knowing the person is all a random split needs
    manifest = pd.DataFrame({"subject": ["A"] * 4 + ["B"] * 4, "clip": [f"c{i}" for i in range(8)],
                             "AU4": [1] * 4 + [0] * 4})
    rnd = pitfalls.identity_prior(manifest, (4,), "random_clips", seed=0, k=2)
    subj = pitfalls.identity_prior(manifest, (4,), "kfold", seed=0, k=2)
    assert set(rnd["fold"]) == set(subj["fold"]) == {0, 1}
    np.testing.assert_array_equal(rnd["scores"][:, 0], [1] * 4 + [0] * 4)  # own subject's training clips
    np.testing.assert_array_equal(subj["scores"][:, 0], [0] * 4 + [1] * 4)  # the other subject's
    r = pitfalls.random_split(rnd, subj)
    assert r["auc_careless"] == 1.0 and r["auc_honest"] == 0.0
    assert r["f1_careless"] == 1.0 and r["f1_honest"] == 0.0


def test_summary_and_markdown_keep_the_dataset_column():
    table = pd.DataFrame([{"dataset": d, "pitfall": "random_split", "method": "iicl", "metric": "auc", "seed": s,
                           "honest": 0.5, "careless": 0.5 + g, "inflation": g}
                          for d, gs in (("default", (0.0, 0.02)), ("subject-styled", (0.1, 0.2))) for s, g in enumerate(gs)])
    summ = pitfalls.summary(table)
    assert list(summ["dataset"]) == ["default", "subject-styled"]
    assert summ.loc[1, "inflation_mean"] == pytest.approx(0.15)
    text = pitfalls.markdown(summ)
    assert text.splitlines()[0].startswith("| dataset |") and "| subject-styled |" in text


def test_verdict_needs_the_mean_beyond_two_standard_errors():
    # three seeds, sd 0.02: SE of the mean = 0.0115, so 0.05 is beyond 2 SE and 0.02 is not
    assert pitfalls.verdict(0.05, 0.02, 3) == "inflates" and pitfalls.verdict(-0.05, 0.02, 3) == "deflates"
    assert pitfalls.verdict(0.02, 0.02, 3).startswith("inconclusive")
    assert pitfalls.verdict(0.5, float("nan"), 1).startswith("inconclusive")  # one seed: no standard error
