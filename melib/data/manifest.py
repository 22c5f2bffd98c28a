"""One call from a dataset name to its manifest, with the default locations resolved in one place."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import data_root
from .readers import DATASETS, read_annotations

#: Where each licensed dataset is looked for when no root is given (under MELIB_DATA).
DEFAULT_FOLDERS = {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC", "casme3a": "CASME3"}


def dataset_root(name: str, root: str | Path = "") -> Path:
    """``root`` if given, else the default: generated ``<MELIB_DATA>/synthetic`` or ``<MELIB_DATA>/<NAME>``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if str(root):
        return Path(root).expanduser()
    if name == "synthetic":
        from . import synthetic

        return synthetic.ensure()
    path = data_root() / DEFAULT_FOLDERS[name]
    if not path.is_dir():
        raise FileNotFoundError(f"{name} is licensed and not shipped: put it at {path} (or set MELIB_DATA, "
                                f"or pass root=...); README.md says which files go where")
    return path


def load_manifest(name: str, root: str | Path = "", subjects: int | None = None, clips: str = "all",
                  **kwargs) -> pd.DataFrame:
    """Read a dataset's manifest (see :func:`read_annotations`); ``subjects`` keeps the n subjects
    with the most clips (ties by name), the fast profiles' smaller stand-in for the whole dataset.
    ``clips="studied_aus"`` keeps the clips carrying at least one of the dataset's studied AUs
    (:func:`melib.data.subsets.with_studied_aus`; the rule IICL's text states); ``"all"`` keeps every clip.

    ``name="megc"`` is the MEGC 2019 composite (:func:`melib.data.composite.load_composite`): ``root`` is
    ``"casme2=PATH,samm=PATH,smic=PATH"`` (parts left out: their default location) and ``subjects``
    counts per part."""
    if clips not in ("all", "studied_aus"):
        raise ValueError(f"clips must be 'all' or 'studied_aus'; got {clips!r}")
    if name == "megc":
        from .composite import load_composite

        if clips != "all":
            raise ValueError("the MEGC composite is a 3-class emotion protocol; clips='studied_aus' (AU detection) "
                             "does not apply to it")
        return load_composite(str(root) or None, subjects=subjects, **kwargs)
    manifest = read_annotations(name, dataset_root(name, root), **kwargs)
    if clips == "studied_aus":
        from .subsets import with_studied_aus

        manifest = with_studied_aus(manifest, "casme2" if name == "synthetic" else name)
    return subset_subjects(manifest, subjects) if subjects else manifest


def subset_subjects(manifest: pd.DataFrame, n: int) -> pd.DataFrame:
    """The clips of the ``n`` subjects with the most clips (deterministic; index reset, attrs kept)."""
    counts = manifest.groupby("subject").size()
    if not 1 <= n:
        raise ValueError(f"subjects must be >= 1; got {n}")
    keep = sorted(counts.index, key=lambda s: (-counts[s], s))[:n]
    subset = manifest[manifest["subject"].isin(keep)].reset_index(drop=True)
    subset.attrs = dict(manifest.attrs)
    return subset


def _au_columns(rows: pd.DataFrame) -> list[str]:
    return [str(c) for c in rows.columns if re.fullmatch(r"AU\d+", str(c))]


def has_au_labels(rows: pd.DataFrame) -> bool:
    """Whether every row carries AU labels: ``AU<n>`` columns without a missing value (SMIC-HS's manifest
    has none; in the MEGC composite its rows hold NaN there)."""
    columns = _au_columns(rows)
    return bool(columns) and not rows[columns].isna().to_numpy().any()


def au_matrix(rows: pd.DataFrame, aus: Sequence[int]) -> np.ndarray:
    """(N, M) float32 multi-hot labels for ``aus``; an AU no clip carries is an all-zero column.

    Rows without any ``AU<n>`` column carry no AU labels at all (SMIC-HS): asking them for AUs raises
    ``ValueError`` rather than returning all-negative labels to train on.
    """
    if len(aus) and not _au_columns(rows):
        where = f" ({rows.attrs['dataset']})" if rows.attrs.get("dataset") else ""
        raise ValueError(f"the manifest{where} has no AU<n> columns: its clips carry no AU labels "
                         f"(SMIC-HS has none), so AUs {tuple(aus)} cannot be labelled")
    if len(aus) and not has_au_labels(rows):
        unlabelled = rows[rows[_au_columns(rows)].isna().any(axis=1)]
        where = sorted(set(unlabelled["dataset"].astype(str))) if "dataset" in rows else []
        raise ValueError(f"{len(unlabelled)} of {len(rows)} clips carry no AU labels (datasets {where}; "
                         f"SMIC-HS has none), so AUs {tuple(aus)} cannot be labelled")
    cols = [rows[f"AU{a}"].to_numpy(dtype=np.float32) if f"AU{a}" in rows else np.zeros(len(rows), np.float32)
            for a in aus]
    return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0), np.float32)


def three_class_clips(manifest: pd.DataFrame) -> pd.DataFrame:
    """The clips with a 3-class label (MEGC composite mapping, each clip in its own dataset's words, so the
    composite's rows too); ``others`` and unmapped emotions dropped."""
    from .mappings import map_emotions

    keep = [c is not None for c in map_emotions(manifest["dataset"], manifest["emotion"], "3class")]
    return manifest[keep]


def three_class_index(rows: pd.DataFrame) -> np.ndarray:
    """Each clip's index in :data:`~melib.data.mappings.THREE_CLASSES` (rows of :func:`three_class_clips`)."""
    from .mappings import THREE_CLASSES, map_emotions

    return np.array([THREE_CLASSES.index(c) for c in map_emotions(rows["dataset"], rows["emotion"], "3class")],
                    dtype=np.int64)
