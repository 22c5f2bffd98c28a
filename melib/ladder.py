"""The learnability ladder: how much of the AU labels a linear probe can read from each representation.

Every method notebook is judged against two rungs of this ladder: the *onset-alone null* (the
onset frame shows no expression at all, so whatever a probe scores there comes from identity and
label frequencies) and a *linear probe on optical flow* (the classical baseline). The rungs, from the
most informative to the least:

==================  =================================================================================
``truth``           true AU displacement onset->apex (synthetic ground truth): what flow should find
``tvl1``            TV-L1 optical flow onset->apex
``farneback``       Farneback optical flow
``dis``             DIS optical flow
``apex_minus_onset``  apex minus onset, grey
``magnified_apex``  the apex magnified against the onset (two-frame EVM), alone
``apex``            the raw apex frame alone: what an apex-only method sees
``onset``           the onset frame alone: the null
==================  =================================================================================

Flows are average-pooled to a 16 x 16 grid (x and y: 512 features), images to 32 x 32 grey (1024
features). The probe is a class-balanced logistic regression per AU on standardised features,
with a fixed ``C`` (chosen once for every representation, never on test subjects), trained
under the IICL protocol (subject-independent 4-fold), scored on predictions pooled over the folds:
F1 at probability 0.5 and ROC-AUC per AU.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .metrics import au_auc, au_f1
from .splits import make_splits

REPRESENTATIONS: dict[str, str] = {
    "truth": "true AU displacement",
    "tvl1": "TV-L1 flow",
    "farneback": "Farneback flow",
    "dis": "DIS flow",
    "apex_minus_onset": "apex minus onset",
    "magnified_apex": "magnified apex alone (EVM x10)",
    "apex": "raw apex alone",
    "onset": "onset alone (the null)",
}
#: The rungs that need no TV-L1 and no magnification: seconds on a laptop (the fast profile).
FAST_REPRESENTATIONS = ("truth", "farneback", "dis", "apex_minus_onset", "apex", "onset")
FLOW_GRID = 16
IMAGE_GRID = 32
PROBE_C = 0.05
MAGNIFY_ALPHA = 9.0  # EVM convention: motion becomes 1 + alpha = 10 times larger


@dataclasses.dataclass(frozen=True)
class LadderResult:
    """Out-of-fold probe scores of one representation and the metrics on the pooled predictions."""

    representation: str
    scores: np.ndarray     # (N, n_AUs) probabilities
    labels: np.ndarray     # (N, n_AUs) 0/1
    aus: tuple[str, ...]

    @property
    def f1(self) -> np.ndarray:
        return au_f1(self.labels, (self.scores >= 0.5).astype(int))

    @property
    def auc(self) -> np.ndarray:
        return au_auc(self.labels, self.scores)


def pool(image: np.ndarray, grid: int) -> np.ndarray:
    """Average-pool an ``(H, W[, C])`` array to ``grid x grid`` and flatten it (float32)."""
    arr = np.asarray(image, dtype=np.float32)
    return cv2.resize(arr, (grid, grid), interpolation=cv2.INTER_AREA).reshape(-1)


def _grey(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.float32)
    return frame.mean(axis=2) if frame.ndim == 3 else frame


def features(manifest: pd.DataFrame, representation: str, workers: int | None = None,
             progress: bool = True) -> np.ndarray:
    """``(N, F)`` features of one rung for every clip of ``manifest`` (flows and frames via the cached front end,
    faces aligned where the dataset ships full frames: :func:`melib.preprocess.default_align`)."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {representation!r}; known: {list(REPRESENTATIONS)}")
    rows = manifest.to_dict("records")
    if representation == "truth":
        from .data import synthetic

        root = manifest.attrs.get("root", "")
        if not root or not (Path(root) / "synthetic.json").is_file():
            raise ValueError("the 'truth' rung needs the synthetic dataset's ground truth "
                             f"(manifest root {root!r} has no synthetic.json)")
        return np.stack([pool(synthetic.load_groundtruth(root, r["subject"], r["clip"])["au_flow_onset_apex"],
                              FLOW_GRID) for r in rows])
    from .preprocess import FrontEnd, default_align, preprocess

    flow = representation if representation in ("tvl1", "farneback", "dis") else "none"
    magnify = "eulerian" if representation == "magnified_apex" else "none"
    dataset = manifest.attrs.get("dataset") or (str(manifest["dataset"].iloc[0]) if len(manifest) else "")
    front = FrontEnd(frames="pair", magnify=magnify, alpha=MAGNIFY_ALPHA if magnify != "none" else 0.0, flow=flow,
                     align=default_align(dataset))  # SAMM's full frames: the face, as the methods see it
    cache = preprocess(manifest, front, workers=workers, progress=progress, strict=True)
    out = []
    for r in rows:
        entry = cache.load(r)
        onset, apex = _grey(entry["frames"][0]), _grey(entry["frames"][1])
        if flow != "none":
            out.append(pool(entry["flow"], FLOW_GRID))
        elif representation == "apex_minus_onset":
            out.append(pool(apex - onset, IMAGE_GRID))
        elif representation == "onset":
            out.append(pool(onset, IMAGE_GRID))
        else:  # apex, magnified_apex
            out.append(pool(apex, IMAGE_GRID))
    return np.stack(out)


def probe(features_: np.ndarray, labels: np.ndarray, manifest: pd.DataFrame, protocol: str = "kfold", k: int = 4,
          seed: int = 0, c: float = PROBE_C) -> np.ndarray:
    """Out-of-fold probabilities ``(N, n_AUs)`` of a class-balanced logistic regression per AU.

    Features are standardised with the training subjects' statistics only. An AU with a single
    class among the training clips predicts that class's training frequency.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features_, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    scores = np.zeros(y.shape, dtype=np.float64)
    for split in make_splits(manifest, protocol, k=k, seed=seed):
        train, test = split.masks(manifest)
        scaler = StandardScaler().fit(x[train])
        xtr, xte = scaler.transform(x[train]), scaler.transform(x[test])
        for j in range(y.shape[1]):
            ytr = y[train, j]
            if ytr.min() == ytr.max():
                scores[test, j] = ytr.mean()
                continue
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
            scores[test, j] = model.fit(xtr, ytr).predict_proba(xte)[:, 1]
    return scores


def run_ladder(manifest: pd.DataFrame, aus: Sequence[int], representations: Sequence[str] = tuple(REPRESENTATIONS),
               protocol: str = "kfold", k: int = 4, seed: int = 0, workers: int | None = None,
               progress: bool = True) -> list[LadderResult]:
    """Probe every rung in ``representations`` on ``manifest`` for the AUs ``aus``."""
    names = tuple(f"AU{a}" for a in aus)
    missing = [n for n in names if n not in manifest.columns]
    labels = np.stack([manifest[n].to_numpy() if n in manifest else np.zeros(len(manifest), int) for n in names], 1)
    if missing and progress:
        print(f"no clip carries {missing}: their F1 is 0 by definition")
    results = []
    for rep in representations:
        x = features(manifest, rep, workers=workers, progress=progress)
        results.append(LadderResult(rep, probe(x, labels, manifest, protocol, k, seed), labels, names))
    return results


def ladder_table(results: Sequence[LadderResult]) -> pd.DataFrame:
    """One row per rung: per-AU F1, average F1 and average AUC (pooled over folds)."""
    rows = []
    for r in results:
        row = {"representation": REPRESENTATIONS[r.representation]}
        row.update({name: f for name, f in zip(r.aus, r.f1)})
        row["avg F1"] = float(np.mean(r.f1))
        row["avg AUC"] = float(np.nanmean(r.auc))
        rows.append(row)
    return pd.DataFrame(rows).set_index("representation")


def emotion_probe(features_: np.ndarray, labels: np.ndarray, manifest: pd.DataFrame, protocol: str = "loso",
                  k: int = 4, seed: int = 0, c: float = PROBE_C) -> np.ndarray:
    """Out-of-fold class probabilities ``(N, C)`` of a class-balanced multinomial logistic regression
    (``labels``: ints 0..C-1), features standardised on the training subjects only. The emotion
    counterpart of :func:`probe`, for the emotion-recognition notebooks (LOSO by default)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features_, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    n_classes = int(y.max()) + 1
    scores = np.zeros((len(y), n_classes), dtype=np.float64)
    for split in make_splits(manifest, protocol, k=k, seed=seed):
        train, test = split.masks(manifest)
        scaler = StandardScaler().fit(x[train])
        present = np.unique(y[train])
        if len(present) == 1:
            scores[np.ix_(test, present)] = 1.0
            continue
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        model.fit(scaler.transform(x[train]), y[train])
        scores[np.ix_(test, model.classes_)] = model.predict_proba(scaler.transform(x[test]))
    return scores


def emotion_rungs(manifest: pd.DataFrame, labels: np.ndarray, representations: Sequence[str] = ("farneback", "onset"),
                  protocol: str = "loso", progress: bool = False) -> pd.DataFrame:
    """Accuracy, UF1 and UAR (over all C classes, pooled out-of-fold predictions) of
    :func:`emotion_probe` on each rung: by default the flow probe and the onset-alone null."""
    from .metrics import accuracy, uf1, uar

    y = np.asarray(labels, dtype=np.int64)
    classes = list(range(int(y.max()) + 1))
    rows = []
    for rep in representations:
        pred = emotion_probe(features(manifest, rep, progress=progress), y, manifest, protocol).argmax(1)
        rows.append({"representation": REPRESENTATIONS[rep], "acc": accuracy(y, pred),
                     "uf1": uf1(y, pred, classes), "uar": uar(y, pred, classes)})
    return pd.DataFrame(rows).set_index("representation")
