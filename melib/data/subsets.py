"""Clip subsets defined by a rule on the labels: the clips carrying at least one of a dataset's studied AUs.

AU detection papers evaluate on the clips where their AUs occur; IICL states that rule in its text (its
package, :mod:`melib.methods.iicl`, keeps the paper's words and clip counts), and lists no clip names.
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .mappings import au_set


def with_studied_aus(manifest: pd.DataFrame, dataset: str | None = None, aus: Iterable[int] | None = None,
                emotions: Iterable[str] | None = None) -> pd.DataFrame:
    """The clips carrying at least one of ``aus`` (IICL's rule, Sec. 3.1: :data:`melib.methods.iicl.IICL_CLIPS`).

    Parameters
    ----------
    manifest
        From :func:`melib.data.read_annotations` (multi-hot ``AU<n>`` columns).
    dataset
        Picks the default ``aus`` (:func:`melib.data.au_set`: CASME II's 8 AUs, SAMM's 4); default
        ``manifest.attrs["dataset"]``, else the ``dataset`` column.
    aus
        The studied AUs, instead of the dataset's set.
    emotions
        Also keep only these emotions (e.g. :data:`melib.methods.iicl.IICL_CASME2_EMOTIONS`). Off by default: IICL's
        list reads as a description, and as a filter it cannot give 243 clips -- CASME II has about
        63-64 disgust + 32 happiness + 25 surprise + 99 others = 219-220 clips in those emotions.

    Returns
    -------
    The kept rows, index reset, ``attrs`` kept. Unknown: which clips the paper left out beyond this
    rule (CASME II 243 of about 255, SAMM 101 of 159), and how AU counts were
    taken for the ">= 15 samples" AU choice (left/right prefixes merged or not).
    """
    if dataset is None:
        dataset = manifest.attrs.get("dataset") or (str(manifest["dataset"].iloc[0]) if len(manifest) else None)
        if dataset is None:
            raise ValueError("pass dataset=...: the manifest is empty and has no attrs['dataset']")
    aus = tuple(au_set(dataset) if aus is None else aus)
    columns = [f"AU{a}" for a in aus if f"AU{a}" in manifest.columns]
    keep = manifest[columns].to_numpy().sum(axis=1) > 0 if columns else pd.Series(False, index=manifest.index).to_numpy()
    if emotions is not None:
        keep &= manifest["emotion"].str.lower().isin([e.lower() for e in emotions]).to_numpy()
    subset = manifest[keep].reset_index(drop=True)
    subset.attrs = dict(manifest.attrs)
    return subset
