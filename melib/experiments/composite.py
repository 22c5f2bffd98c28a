"""The MEGC 2019 composite protocol for the emotion methods: LOSO over every subject of CASME II, SAMM and
SMIC-HS together (:mod:`melib.data.composite`), predictions pooled over the folds, UF1 and UAR on the
composite and on each dataset's part.

The run is an ordinary :mod:`melib.experiments.runs` experiment on ``dataset="megc"``: the method's
preset takes ``align="auto"`` there (SAMM's clips aligned with dlib, the others as stored), its run key
hashes the composite's three roots, and its ``results.json`` holds the pooled composite metrics.
:func:`part_scores` splits the pooled predictions by the subject ids' prefixes (``samm/006``).

Which methods: annotation mimic and SelfME recognise emotions. Annotation mimic runs a variant without
WSCL (default ``db+awm``, everything of ``db+all`` but the AU term), as SMIC-HS has no AU labels to align
features with. IICL and Micro-AU CLIP train AU detectors, and LOSO on the composite would train them on
SMIC-HS clips that carry no AU labels; Micro-AU CLIP's label-free 3-class reading rests on such a detector
(trained on CASME II and SAMM only and applied to SMIC-HS it would be a cross-dataset protocol, not MEGC's),
so neither runs here.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import metrics, train
from ..data import composite
from ..data.mappings import THREE_CLASSES
from ..methods import SPECS
from . import runs

#: The emotion methods that run on the composite and their default variant there (module docstring; each
#: spec's ``composite_variant``).
VARIANTS = {name: s.composite_variant for name, s in SPECS.items() if s.composite_variant}


def experiment(method: str, roots: composite.Roots = None, profile: str = "fast", variant: str | None = None,
               seed: int | None = 0, subjects: int = 0, **overrides: Any) -> runs.Experiment:
    """The composite run of ``method`` (:func:`melib.experiments.runs.experiment` on ``"megc"``).

    ``roots``: the three parts (:func:`melib.data.composite.parse_roots`); ``subjects``: per part, the
    subjects with the most clips (0: all); ``overrides``: config or schedule fields.
    """
    if method not in VARIANTS:
        raise ValueError(f"the MEGC composite is a 3-class emotion protocol: {sorted(VARIANTS)} run on it, "
                         f"not {method!r} (AU detection; SMIC-HS has no AU labels)")
    return runs.experiment(method, variant or VARIANTS[method], seed, profile, dataset=composite.NAME,
                           root=composite.format_roots(roots), subjects=subjects, **overrides)


def part_scores(predictions: Mapping[str, np.ndarray], classes: list[str] = THREE_CLASSES) -> pd.DataFrame:
    """UF1, UAR and accuracy of pooled predictions, on the composite and on each part present.

    ``predictions``: a run's pooled ``predictions.npz`` fields (``subject``, ``targets``, ``scores``); the
    prediction is the argmax of ``scores``. Every row averages over all ``classes`` (MEGC 2019), so a part
    lacking a class scores 0 on it. Columns ``clips, subjects, uf1, uar, acc``; index ``composite`` then
    the parts in :data:`melib.data.composite.PARTS` order.
    """
    subjects = np.asarray(predictions["subject"]).astype(str)
    parts = np.array([composite.split_subject(s)[0] for s in subjects])
    y_true = np.asarray(predictions["targets"]).astype(int)
    y_pred = np.asarray(predictions["scores"]).argmax(1).astype(int)
    labels = list(range(len(classes)))
    table = {}
    for name in ("composite", *composite.PARTS):
        mask = np.ones(len(parts), bool) if name == "composite" else parts == name
        if not mask.any():
            continue
        t, p = y_true[mask], y_pred[mask]
        table[name] = {"clips": int(mask.sum()), "subjects": int(len(set(subjects[mask]))),
                       "uf1": metrics.uf1(t, p, labels), "uar": metrics.uar(t, p, labels),
                       "acc": metrics.accuracy(t, p)}
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("part")


def run(exp: runs.Experiment, fold: int = -1, workers: int | None = None, progress: bool = False,
        **kwargs: Any) -> tuple[train.Run, pd.DataFrame | None]:
    """Load-or-train ``fold`` (-1: all) of a composite experiment; returns the run and, once every fold is
    done, :func:`part_scores` of its pooled predictions (``None`` before)."""
    if exp.manifest.attrs.get("dataset") != composite.NAME:
        raise ValueError(f"{exp.label()} is not a MEGC composite experiment; make it with composite.experiment")
    done = runs.run(exp, fold=fold, progress=progress, workers=workers, **kwargs)
    return done, part_scores(done.predictions()) if done.complete else None


__all__ = ["VARIANTS", "experiment", "part_scores", "run"]
