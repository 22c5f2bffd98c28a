"""The yardsticks every method is read against, and the one "did it learn" rule.

- the **onset-alone null**: a linear probe on the onset frame, which shows no expression (what identity and
  label frequencies give); the **majority class** (always answering the most frequent class) and chance (AUC 0.5)
  are floors too;
- the **flow probe**: a linear probe on Farneback optical flow, the classical bar a deep method should reach.

A run **learned** when its score is at least :data:`LEARN_MARGIN` above the best floor: the report, the run
scripts and every method notebook use :func:`learned` (directly or through :func:`au_verdict` and
:func:`emotion_verdict`), so one margin decides everywhere.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import metrics

#: How far above the best floor (onset null, majority class, chance) a score must be to count as learned.
LEARN_MARGIN = 0.05


def learned(score: float, floor: float, margin: float = LEARN_MARGIN) -> bool:
    """Whether ``score`` is at least ``margin`` above ``floor`` (:data:`LEARN_MARGIN`)."""
    return bool(score >= floor + margin)


def majority_row(y: Sequence[int], n_classes: int | None = None) -> list[float]:
    """The majority-class yardstick of class indices ``y``: ``[accuracy, UF1, UAR]`` of always answering the
    most frequent class (over ``n_classes`` classes, default those in ``y``)."""
    y = np.asarray(y, dtype=int)
    if y.size == 0:
        raise ValueError("majority_row: no labels")
    labels = list(range(n_classes if n_classes is not None else int(y.max()) + 1))
    guess = np.full_like(y, int(np.bincount(y, minlength=len(labels)).argmax()))
    return [float(np.mean(y == guess)), float(metrics.uf1(y, guess, labels)), float(metrics.uar(y, guess, labels))]


def au_verdict(auc: float, null_auc: float, flow_auc: float, margin: float = LEARN_MARGIN) -> str:
    """One line on a run's pooled average ROC-AUC against its yardsticks.

    Parameters
    ----------
    auc
        The run's average over AUs of the pooled ROC-AUC (``results()["metrics"]["auc_avg"]``).
    null_auc
        The onset-alone null's average AUC on the same clips and folds (a linear probe on a frame
        that shows no expression: what identity and label frequencies give).
    flow_auc
        The linear probe on Farneback flow, the classical bar a deep method should reach.
    margin
        How far above ``max(null_auc, 0.5)`` counts as clearly learned (:data:`LEARN_MARGIN`).

    Returns
    -------
    str
        ``"AUC 0.66: clearly above the onset null (0.48) and chance (0.50); below the flow probe (0.91)"``,
        or ``NOT clearly above`` / ``reaches`` as the numbers say.
    """
    floor = max(null_auc, 0.5)
    above = "clearly above" if learned(auc, floor, margin) else "NOT clearly above"
    bar = "reaches" if auc >= flow_auc else "below"
    return (f"AUC {auc:.2f}: {above} the onset null ({null_auc:.2f}) and chance (0.50); "
            f"{bar} the flow probe ({flow_auc:.2f})")


def emotion_verdict(uf1: float, uar: float, yardsticks: pd.DataFrame, probe: str, margin: float = LEARN_MARGIN) -> str:
    """One line on a run's pooled UF1 and UAR against the yardsticks of the same clips and folds.

    Parameters
    ----------
    uf1, uar
        The run's pooled unweighted F1 and unweighted average recall (``results()["metrics"]``).
    yardsticks
        One row per yardstick with columns ``uf1`` and ``uar`` (e.g. :func:`melib.ladder.emotion_rungs`
        plus a ``"majority class"`` row). Every row but ``probe`` is a floor (the onset-alone null,
        always answering the majority class): a run that learned sits above the best floor.
    probe
        The row of the bar a deep method should reach (the linear probe on optical flow).
    margin
        How far above the best floor, in both UF1 and UAR, counts as clearly learned (:data:`LEARN_MARGIN`).

    Returns
    -------
    str
        ``"UF1 0.74, UAR 0.77: clearly above the best floor (UF1 0.19, UAR 0.33); below the flow probe
        (UF1 0.86)"``, or ``NOT clearly above`` / ``reaches`` as the numbers say.
    """
    if probe not in yardsticks.index:
        raise KeyError(f"verdict: no yardstick row {probe!r}; rows are {list(yardsticks.index)}")
    floors = yardsticks.drop(index=probe)
    best_uf1, best_uar = float(floors["uf1"].max()), float(floors["uar"].max())
    above = "clearly above" if learned(uf1, best_uf1, margin) and learned(uar, best_uar, margin) else "NOT clearly above"
    bar = float(yardsticks.loc[probe, "uf1"])
    return (f"UF1 {uf1:.2f}, UAR {uar:.2f}: {above} the best floor (UF1 {best_uf1:.2f}, UAR {best_uar:.2f}); "
            + ("reaches" if uf1 >= bar else "below") + f" the flow probe (UF1 {bar:.2f})")


def compute(dataset: str = "synthetic", root: str = "", subjects: int | None = None,
               progress: bool = True) -> dict[str, dict[str, float]]:
    """Linear probes on Farneback flow and on the onset frame alone (the null) for AU detection
    (4-fold and LOSO, avg F1 / AUC) and 3-class emotion (LOSO, UF1 / UAR / acc), cached by data."""
    from . import config, data, ladder
    from .cache import dataset_fingerprint
    from .io import load_json, save_json
    from .data import au_set, three_class_clips, three_class_index

    manifest = data.load_manifest(dataset, root, subjects=subjects)
    path = config.outputs_root() / "report" / f"yardsticks-{config.config_hash({'data': dataset_fingerprint(manifest), 'v': 1})}.json"
    if path.is_file():
        return load_json(path)
    out: dict[str, dict[str, float]] = {}
    aus = au_set("casme2" if dataset == "synthetic" else dataset) if data.has_au_labels(manifest) else ()
    for protocol in ("kfold", "loso") if aus else ():  # no AU yardsticks where the clips carry no AU labels
        table = ladder.ladder_table(ladder.run_ladder(manifest, aus, ("farneback", "onset"), protocol=protocol,
                                                      progress=progress))
        for rep, label in (("farneback", "flow probe"), ("onset", "onset null")):
            r = table.loc[ladder.REPRESENTATIONS[rep]]
            out[f"{label}, {protocol}"] = {"f1_avg": float(r["avg F1"]), "auc_avg": float(r["avg AUC"]),
                                           **{a: float(r[a]) for a in table.columns if a.startswith("AU")}}
    clips = three_class_clips(manifest)
    rungs = ladder.emotion_rungs(clips, three_class_index(clips), ("farneback", "onset"))
    for rep, label in (("farneback", "flow probe"), ("onset", "onset null")):
        out[f"{label}, emotion"] = {k: float(v) for k, v in rungs.loc[ladder.REPRESENTATIONS[rep]].items()}
    save_json(path, out)
    return out


__all__ = ["LEARN_MARGIN", "au_verdict", "compute", "emotion_verdict", "learned", "majority_row"]
