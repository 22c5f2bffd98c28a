"""Which clips are alike: the AU-similarity explorer's computations (:mod:`melib.viz.explorer` draws and
wires them), with no widget and no figure.

By AU labels, the Jaccard weight of annotation mimic's Eq. 4 (:func:`melib.losses.au_similarity`,
:func:`au_neighbours`); by a trained method's features, cosine similarity (:func:`feature_neighbours`,
features of a run folder from :func:`load_features`); an AU combination in words (:func:`au_names`,
:func:`query_summary`); and the clips from what :func:`melib.viz.explorer.au_explorer` accepts
(:func:`load_clips`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..splits import clip_ids
from .data import au_columns

#: FACS names of the AUs the readers meet (shown as tooltips and in the query line).
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser", 6: "cheek raiser",
    7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser", 11: "nasolabial deepener",
    12: "lip corner puller", 13: "sharp lip puller", 14: "dimpler", 15: "lip corner depressor",
    16: "lower lip depressor", 17: "chin raiser", 18: "lip pucker", 20: "lip stretcher", 23: "lip tightener",
    24: "lip pressor", 25: "lips part", 26: "jaw drop", 38: "nostril dilator", 39: "nostril compressor",
    43: "eyes closed", 45: "blink",
}


def clip_id(row: Mapping[str, Any]) -> str:
    """One row's ``"subject/clip"`` (:func:`melib.splits.clip_ids` for a whole manifest)."""
    return f"{row['subject']}/{row['clip']}"


def _multi_hot(manifest: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    return manifest[list(cols)].to_numpy(dtype=np.float64)


def au_label(aus: Sequence[int]) -> str:
    """``[1, 2]`` -> ``"AU1+AU2"`` (``"no AU"`` when empty)."""
    return "+".join(f"AU{a}" for a in aus) or "no AU"


def au_neighbours(manifest: pd.DataFrame, query: str | Sequence[int], k: int = 5) -> pd.DataFrame:
    """The ``k`` clips most similar to ``query`` by AU labels: Jaccard ``|A & B| / |A | B|`` (Eq. 4).

    Parameters
    ----------
    manifest
        One row per clip with multi-hot ``AU<n>`` columns (:func:`melib.data.load_manifest`).
    query
        A clip id ``"subject/clip"`` (the clip itself is left out) or AU numbers such as ``[1, 2]``.
    k
        How many clips to return.

    Returns
    -------
    DataFrame with columns ``clip``, ``aus``, ``emotion``, ``jaccard``, most similar first; ties keep
    manifest order.
    """
    import torch

    from ..losses import au_similarity

    cols = au_columns(manifest)
    ids = clip_ids(manifest).tolist()
    x = _multi_hot(manifest, cols)
    if isinstance(query, str):
        if query not in ids:
            raise KeyError(f"no clip {query!r} in the manifest (ids are 'subject/clip', e.g. {ids[0]!r})")
        q, skip = x[ids.index(query)], ids.index(query)
    else:
        unknown = [a for a in query if f"AU{a}" not in cols]
        if unknown:
            raise KeyError(f"AUs {unknown} are not in the manifest's AU columns {[c[2:] for c in cols]}")
        wanted = {int(a) for a in query}
        q, skip = np.array([float(int(c[2:]) in wanted) for c in cols]), None
    w = au_similarity(torch.from_numpy(np.vstack([x, q[None]])))[-1, :-1].numpy()
    return _ranked(manifest, ids, w, skip, k, "jaccard")


def feature_neighbours(manifest: pd.DataFrame, features: Mapping[str, np.ndarray] | pd.DataFrame, query: str,
                       k: int = 5) -> pd.DataFrame:
    """The ``k`` clips nearest to clip ``query`` by cosine similarity of ``features`` (clip id -> vector,
    or a DataFrame indexed by clip id); clips without features are left out."""
    table = features if isinstance(features, pd.DataFrame) else pd.DataFrame.from_dict(dict(features), orient="index")
    if query not in table.index:
        raise KeyError(f"no features for clip {query!r} ({len(table)} clips have features)")
    ids = clip_ids(manifest).tolist()
    have = [i for i in ids if i in table.index]
    f = table.loc[have].to_numpy(dtype=np.float64)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    q = f[have.index(query)]
    rows = manifest[[i in table.index for i in ids]]
    return _ranked(rows, have, f @ q, have.index(query), k, "cosine")


def _ranked(rows: pd.DataFrame, ids: Sequence[str], score: np.ndarray, skip: int | None, k: int, name: str) -> pd.DataFrame:
    order = [i for i in np.argsort(-score, kind="stable") if i != skip][:k]
    return pd.DataFrame({"clip": [ids[i] for i in order], "aus": [rows.iloc[i]["aus"] for i in order],
                         "emotion": [rows.iloc[i]["emotion"] for i in order], name: score[order]})


def au_names(aus: Sequence[int]) -> str:
    """``[1, 2]`` -> ``"AU1 (inner brow raiser) + AU2 (outer brow raiser)"`` (FACS names where known)."""
    return " + ".join(f"AU{a} ({AU_NAMES[a]})" if a in AU_NAMES else f"AU{a}" for a in aus)


def query_summary(manifest: pd.DataFrame, aus: Sequence[int]) -> str:
    """One line about an AU combination: its FACS names, how many clips carry exactly it and how
    many carry at least one of its AUs."""
    if not aus:
        return "no AU chosen: every clip has Jaccard 0"
    x = _multi_hot(manifest, au_columns(manifest)) > 0
    cols = au_columns(manifest)
    chosen = np.array([int(c[2:]) in set(aus) for c in cols])
    exact = int((x == chosen).all(axis=1).sum())
    some = int(x[:, chosen].any(axis=1).sum())
    return f"{au_names(aus)}: {exact} of {len(manifest)} clips carry exactly this set, {some} at least one of its AUs"


def _aus_of(manifest: pd.DataFrame, cid: str) -> list[int]:
    row = manifest[clip_ids(manifest) == cid].iloc[0]
    return [int(c[2:]) for c in au_columns(manifest) if row[c]]



def load_features(run_dir: str | Path, manifest: pd.DataFrame, fold: int = 0) -> pd.DataFrame:
    """Features of every clip of a run folder under one fold's model (``fold``: the one that held out
    that subject), indexed by clip id: SelfME's class token, annotation mimic's X_F. One model, so one
    feature space (pooling several fold models would group clips by fold)."""
    from ..io import load_json
    from ..methods import SPECS, spec_of_run
    from ..train import Run

    run_dir = Path(run_dir)
    info = load_json(run_dir / "run.json")
    run = Run(run_dir, int(info["k"]))
    module = spec_of_run(info["method"]).methods
    if not hasattr(module, "fold_features"):
        able = [n for n, s in SPECS.items() if hasattr(s.methods, "fold_features")]
        raise ValueError(f"{run_dir}: features of {info['method']!r} runs are not supported from a run folder alone "
                         f"({', '.join(able)} are); pass a mapping clip id -> vector instead")
    return module.fold_features(run, manifest, fold)


def load_clips(root_or_manifest: pd.DataFrame | str | Path, root: str | Path = "", dataset: str | None = None
               ) -> pd.DataFrame:
    """A manifest from what :func:`au_explorer` accepts.

    Parameters
    ----------
    root_or_manifest
        A manifest DataFrame (returned as is); a dataset name (``"synthetic"``, ``"casme2"``, ...) read
        from ``root`` or its default folder (:func:`melib.data.load_manifest`); or a dataset folder: a
        synthetic one is recognised by its ``synthetic.json``, any other needs ``dataset``.
    root
        The folder of a dataset given by name ("" = the default location).
    dataset
        The reader for a folder that is not a synthetic dataset.
    """
    from ..data import DATASETS, load_manifest, read_annotations

    if isinstance(root_or_manifest, pd.DataFrame):
        return root_or_manifest
    if isinstance(root_or_manifest, str) and root_or_manifest in DATASETS:
        return load_manifest(root_or_manifest, root or "")
    folder = Path(root_or_manifest).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{root_or_manifest!r} is neither a dataset name ({', '.join(DATASETS)}) nor a folder")
    name = dataset or ("synthetic" if (folder / "synthetic.json").is_file() else None)
    if name is None:
        raise ValueError(f"{folder} is not a synthetic dataset: say which reader it needs, "
                         f"au_explorer({str(folder)!r}, dataset=...) with one of {', '.join(DATASETS)}")
    return read_annotations(name, folder)


__all__ = ["AU_NAMES", "au_label", "au_names", "au_neighbours", "clip_id", "feature_neighbours", "load_clips",
           "load_features", "query_summary"]
