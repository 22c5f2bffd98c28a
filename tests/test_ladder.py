"""The learnability ladder (melib.ladder) and per-AU ROC-AUC (melib.metrics.au_auc)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melib import data, ladder
from melib.data import synthetic as syn
from melib.metrics import au_auc


def _manifest(n_subjects: int = 8, per_subject: int = 12) -> pd.DataFrame:
    subjects = [f"sub{s:02d}" for s in range(1, n_subjects + 1) for _ in range(per_subject)]
    return pd.DataFrame({"subject": subjects})


def test_au_auc_matches_hand_counts_and_is_nan_for_a_single_class():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.2], [0.5, 0.8]])
    auc = au_auc(y, s)
    assert auc[0] == pytest.approx(0.75)  # positives 0.9, 0.4 vs negatives 0.2, 0.5: 3 of 4 pairs ordered
    assert np.isnan(auc[1])
    with pytest.raises(ValueError, match="shape"):
        au_auc(y, s[:, :1])


def test_probe_reads_a_linear_signal_and_not_noise():
    rng = np.random.default_rng(0)
    manifest = _manifest()
    y = (rng.random((len(manifest), 2)) < 0.4).astype(int)
    noise = rng.standard_normal((len(manifest), 50))
    signal = noise.copy()
    signal[:, :2] += 3.0 * y  # two features carry the labels
    good = ladder.probe(signal, y, manifest)
    bad = ladder.probe(noise, y, manifest)
    assert au_auc(y, good).min() > 0.85  # C = 0.05 regularises hard; 48 of 50 features are noise
    assert abs(np.nanmean(au_auc(y, bad)) - 0.5) < 0.15


def test_probe_never_sees_the_test_subjects():
    """One-hot subject identity carries nothing about unseen subjects: every held-out clip of a fold
    gets the same score (the training prior), however well identity predicts labels in training."""
    from melib.splits import subject_kfold

    manifest = _manifest(8, 10)
    subject_id = manifest["subject"].str[3:].astype(int).to_numpy()
    y = (subject_id % 2 == 0).astype(int)[:, None]  # the label is a property of the subject
    x = np.eye(9)[subject_id]
    scores = ladder.probe(x, y, manifest)
    for split in subject_kfold(manifest, k=4):
        _, test = split.masks(manifest)
        assert np.ptp(scores[test, 0]) < 1e-9
    # and the prior shift makes it worse than chance, as README explains for the null
    assert au_auc(y, scores)[0] < 0.5


def test_the_ladder_runs_on_the_tiny_dataset(tiny_synthetic):
    manifest = data.read_annotations("synthetic", tiny_synthetic)
    results = ladder.run_ladder(manifest, [4, 12], ["truth", "dis", "apex", "onset"], progress=False)
    table = ladder.ladder_table(results)
    assert list(table.index) == [ladder.REPRESENTATIONS[r] for r in ("truth", "dis", "apex", "onset")]
    assert list(table.columns) == ["AU4", "AU12", "avg F1", "avg AUC"]
    assert ((table[["AU4", "AU12", "avg F1"]] >= 0) & (table[["AU4", "AU12", "avg F1"]] <= 1)).all().all()
    truth = ladder.features(manifest, "truth", progress=False)
    row = manifest.iloc[0]
    gt = syn.load_groundtruth(tiny_synthetic, row["subject"], row["clip"])["au_flow_onset_apex"]
    assert truth.shape == (8, 2 * ladder.FLOW_GRID ** 2)
    np.testing.assert_allclose(truth[0].reshape(16, 16, 2).mean((0, 1)), gt.mean((0, 1)), atol=1e-5)
    for r in results:
        assert r.scores.shape == (8, 2) and np.isfinite(r.scores).all()
    with pytest.raises(ValueError, match="unknown representation"):
        ladder.features(manifest, "apex_alone")


def test_emotion_probe_reads_a_class_signal_out_of_fold():
    from melib.metrics import uar

    rng = np.random.default_rng(1)
    manifest = _manifest(n_subjects=6, per_subject=15)
    y = rng.integers(0, 3, len(manifest))
    noise = rng.standard_normal((len(manifest), 30))
    signal = noise.copy()
    signal[np.arange(len(y)), y] += 3.0  # feature c lights up for class c
    good = ladder.emotion_probe(signal, y, manifest)
    assert good.shape == (len(y), 3) and np.allclose(good.sum(1), 1.0)
    assert uar(y, good.argmax(1), [0, 1, 2]) > 0.8
    bad = ladder.emotion_probe(noise, y, manifest)
    assert uar(y, bad.argmax(1), [0, 1, 2]) < 0.55  # chance is 1/3
