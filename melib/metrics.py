"""Evaluation metrics, computed once on predictions accumulated over all folds.

- AU detection (IICL, Micro-AU CLIP): per-AU F1 and accuracy on (N, n_AUs) 0/1 arrays, and their means.
- Emotion recognition (annotation mimic, SelfME; MEGC protocol): accuracy, UF1 (macro F1 over classes)
  and UAR (mean per-class recall), each from counts accumulated over all folds.

Accumulate first, then compute: averaging per-fold F1 over LOSO folds is a different (and, with one
subject per fold, unstable) quantity; every paper reproduced here reports the accumulated one.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd


def _binary_2d(name: str, y: np.ndarray) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (N, n_AUs); got shape {arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0/1 values (threshold scores first)")
    return arr.astype(np.int64)


def _au_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t, p = _binary_2d("y_true", y_true), _binary_2d("y_pred", y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} differ in shape")
    tp = (t & p).sum(0)
    fp = ((1 - t) & p).sum(0)
    fn = (t & (1 - p)).sum(0)
    tn = ((1 - t) & (1 - p)).sum(0)
    return tp, fp, fn, tn


def _safe_div(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den > 0)
    return out


def au_f1(y_true: np.ndarray, y_pred: np.ndarray, zero_division: float = 0.0) -> np.ndarray:
    """Per-AU F1 = 2TP / (2TP + FP + FN) over (N, n_AUs) 0/1 arrays; ``zero_division`` when undefined."""
    tp, fp, fn, _ = _au_counts(y_true, y_pred)
    return _safe_div(2 * tp, 2 * tp + fp + fn, zero_division)


def au_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-AU accuracy (TP + TN) / N."""
    tp, fp, fn, tn = _au_counts(y_true, y_pred)
    return (tp + tn) / np.maximum(tp + fp + fn + tn, 1)


def au_auc(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-AU ROC-AUC of continuous ``scores`` (N, n_AUs) against 0/1 ``y_true``, on pooled predictions.

    NaN for an AU whose labels hold a single class (AUC is undefined there).
    """
    from sklearn.metrics import roc_auc_score

    t = _binary_2d("y_true", y_true)
    s = np.asarray(scores, dtype=np.float64)
    s = s[:, None] if s.ndim == 1 else s
    if s.shape != t.shape:
        raise ValueError(f"y_true {t.shape} and scores {s.shape} differ in shape")
    return np.array([roc_auc_score(t[:, j], s[:, j]) if 0 < t[:, j].sum() < len(t) else np.nan
                     for j in range(t.shape[1])])


def au_auc_within_folds(y_true: np.ndarray, scores: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Per-AU mean over folds of each fold's own ROC-AUC (over the folds where the AU has both classes;
    NaN where none has). **A diagnostic, not the protocol**, which scores pooled predictions (:func:`au_auc`).

    Pooling puts the scores of different fold models on one scale. A pooled AUC far below this one (or
    below 0.5 while this one sits near 0.5) says the scores differ between folds more than they rank
    clips within a fold: e.g. each fold model answers about its training set's label prior, which is
    anti-correlated with the held-out fold's prevalence, so pooling ranks the folds backwards.
    """
    t = _binary_2d("y_true", y_true)
    s = np.asarray(scores, dtype=np.float64)
    s = s[:, None] if s.ndim == 1 else s
    f = np.asarray(folds)
    if s.shape != t.shape or f.shape != (len(t),):
        raise ValueError(f"y_true {t.shape}, scores {s.shape} and folds {f.shape} do not match")
    per_fold = np.array([au_auc(t[f == k], s[f == k]) for k in np.unique(f)]).reshape(-1, t.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an AU with no fold of both classes: NaN
        return np.nanmean(per_fold, axis=0)


def au_report(y_true: np.ndarray, y_pred: np.ndarray, au_names: Sequence[str]) -> pd.DataFrame:
    """Table with rows ``F1``, ``Acc``, ``Number`` (positives) and one column per AU plus ``AVG``."""
    f1, acc = au_f1(y_true, y_pred), au_accuracy(y_true, y_pred)
    if len(au_names) != len(f1):
        raise ValueError(f"{len(au_names)} AU names for {len(f1)} AU columns")
    positives = _binary_2d("y_true", y_true).sum(0)
    table = pd.DataFrame([f1, acc, positives.astype(float)], index=["F1", "Acc", "Number"], columns=list(au_names))
    table["AVG"] = [f1.mean(), acc.mean(), np.nan]
    return table


def _labels_1d(name: str, y: Sequence) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels; got shape {arr.shape}")
    return arr


def confusion(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> tuple[np.ndarray, list]:
    """Confusion counts ``C[i, j]`` = #(true = labels[i], predicted = labels[j]) and the label order."""
    t, p = _labels_1d("y_true", y_true), _labels_1d("y_pred", y_pred)
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} labels, y_pred {len(p)}")
    if labels is None:
        labels = sorted(set(t.tolist()) | set(p.tolist()))
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(v) for v in np.concatenate([t, p]).tolist() if v not in index})
    if unknown:
        raise ValueError(f"labels not in the class list {labels}: {unknown}")
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, ([index[v] for v in t.tolist()], [index[v] for v in p.tolist()]), 1)
    return counts, labels


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Fraction of clips whose predicted class equals the true class."""
    counts, _ = confusion(y_true, y_pred)
    return float(np.trace(counts) / max(counts.sum(), 1))


def uf1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted F1 (MEGC): ``(1/C) sum_c 2TP_c / (2TP_c + FP_c + FN_c)`` from accumulated counts.

    The mean runs over all C classes, as the papers divide: ``labels`` when given (a class never seen
    nor predicted then scores 0), else every class in ``y_true`` or ``y_pred``.
    """
    counts, _ = confusion(y_true, y_pred, labels)
    tp = np.diag(counts).astype(float)
    fp, fn = counts.sum(0) - tp, counts.sum(1) - tp
    return float(np.mean(_safe_div(2 * tp, 2 * tp + fp + fn, 0.0)))


def uar(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted average recall (MEGC): ``(1/C) sum_c TP_c / N_c`` over all C classes (``labels``
    when given, else every class in ``y_true`` or ``y_pred``); a class with no true sample scores 0."""
    counts, _ = confusion(y_true, y_pred, labels)
    return float(np.mean(_safe_div(np.diag(counts), counts.sum(1), 0.0)))


def au_detection_summary(targets: np.ndarray, scores: np.ndarray, aus: Sequence[int],
                         threshold: float = 0.5) -> dict:
    """What an AU-detection run stores in ``results.json``, from the predictions of all folds pooled:
    per-AU F1 and accuracy at ``scores > threshold`` and ROC-AUC (null for an AU with a single class),
    their averages (``auc_avg`` over the AUs that have one), the clip count and positives per AU."""
    y_true = np.asarray(targets).astype(int)
    y_pred = (np.asarray(scores) > threshold).astype(int)
    f1, acc = au_f1(y_true, y_pred), au_accuracy(y_true, y_pred)
    auc = au_auc(y_true, scores)
    return {"aus": [f"AU{a}" for a in aus], "f1": f1.tolist(), "acc": acc.tolist(),
            "auc": [None if np.isnan(a) else float(a) for a in auc],
            "f1_avg": float(f1.mean()), "acc_avg": float(acc.mean()),
            "auc_avg": float(np.nanmean(auc)) if np.isfinite(auc).any() else None,
            "n_clips": int(len(y_true)), "positives": y_true.sum(0).tolist()}


def emotion_summary(y_true: Sequence, scores: np.ndarray, classes: Sequence[str]) -> dict:
    """Emotion recognition on pooled predictions: ``acc``, ``uf1``, ``uar`` (over all C classes), the
    ``confusion`` counts, ``support``, ``n_clips``, and ``majority_uf1``/``majority_uar`` (always
    answering the most frequent class among these clips: a reference, not a method). ``scores`` is
    ``(N, C)``; the prediction is its argmax."""
    labels = list(range(len(classes)))
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(scores).argmax(1).astype(int)
    counts, _ = confusion(y_true, y_pred, labels)
    majority = np.full_like(y_true, int(np.bincount(y_true, minlength=len(labels)).argmax()))
    return {"classes": list(classes), "acc": accuracy(y_true, y_pred), "uf1": uf1(y_true, y_pred, labels),
            "uar": uar(y_true, y_pred, labels), "confusion": counts.tolist(), "n_clips": int(len(y_true)),
            "support": np.bincount(y_true, minlength=len(labels)).tolist(),
            "majority_uf1": uf1(y_true, majority, labels), "majority_uar": uar(y_true, majority, labels)}
