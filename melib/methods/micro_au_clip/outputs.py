"""Micro-AU CLIP's held-out outputs: every clip scored by the fold model that never saw its subject, and what its features group by."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from ... import splits, train
from ...io import load_json
from .inputs import MicroAUCLIPDataset, input_cache
from .method import fold_model, run_config


# ------------------------------------------------------------------------------ label-free MER (III-E)
def _check_run_manifest(run: train.Run, rows: pd.DataFrame, needed: Sequence[str] | None = None) -> list[str]:
    """The run's LOSO subjects, after checking that ``rows`` is the run's manifest and the folds holding
    out ``needed`` subjects (default: every fold) are done."""
    saved = load_json(run.dir / "run.json")
    subjects = splits.loso_subjects(rows)
    if [f["test_subjects"][0] for f in saved["folds"]] != subjects or saved["n_clips"] != len(rows):
        raise ValueError(f"manifest does not match the run in {run.dir} (its subjects and clip count differ)")
    needed = subjects if needed is None else [str(x) for x in needed]
    missing = [f for f in range(len(subjects))
               if subjects[f] in needed and not (run.fold_dir(f) / "model.pt").is_file()]
    if missing:
        raise FileNotFoundError(f"{run.dir}: folds {missing} have no model; pooled held-out outputs need every "
                                "LOSO fold, run them first (fold=-1)")
    return subjects


def _held_out_batches(run: train.Run, rows: pd.DataFrame, clips: pd.DataFrame, root: str | Path | None,
                      device: torch.device, batch_size: int):
    """Yield ``(model, batch, outputs)`` for every clip of ``clips`` (a subset of the run's manifest
    ``rows``), each scored by the model of the fold that held out its subject."""
    subjects = _check_run_manifest(run, rows, clips["subject"].astype(str).unique())
    cfg = run_config(run)
    cache = input_cache(rows, cfg, root)
    for f, subject in enumerate(subjects):
        test = clips[clips["subject"].astype(str) == subject]
        if test.empty:
            continue
        model = fold_model(run, f, device)
        for batch in DataLoader(MicroAUCLIPDataset(test, cache, cfg.aus), batch_size=batch_size):
            out = model(batch["image"].to(device), batch["landmarks"].to(device), with_text=False)
            yield model, batch, out


@torch.no_grad()
def held_out_outputs(run: train.Run, manifest: pd.DataFrame, keys: Sequence[str] = ("au_features", "probs"),
                     root: str | Path | None = None, device: str | torch.device | None = None,
                     batch_size: int = 32, clips: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """The model outputs ``keys`` (see :meth:`MicroAUCLIP.forward`) of every clip of a complete LOSO
    run, each from the fold model that never saw its subject; arrays in ``manifest``'s row order, plus
    ``"index"`` (the rows' labels). ``manifest`` must be the run's. ``clips``: only these rows of
    ``manifest`` (in their order), which needs only the folds of their subjects."""
    rows = manifest.reset_index(drop=True)
    wanted = rows if clips is None else rows.loc[[manifest.index.get_loc(i) for i in clips.index]]
    device = torch.device(device) if device is not None else train.device_default()
    collected: dict[str, dict[int, np.ndarray]] = {k: {} for k in keys}
    for _, batch, out in _held_out_batches(run, rows, wanted, root, device, batch_size):
        for k in keys:
            if k not in out:
                raise KeyError(f"the model gives no {k!r} (this variant's outputs: {sorted(out)})")
            collected[k].update(zip(batch["index"].tolist(), out[k].float().cpu().numpy()))
    result = {k: np.stack([v[i] for i in wanted.index]) for k, v in collected.items()}
    return {**result, "index": (manifest if clips is None else clips).index.to_numpy()}


@torch.no_grad()
def fold_outputs(run: train.Run, manifest: pd.DataFrame, fold: int, keys: Sequence[str] = ("au_features",),
                 root: str | Path | None = None, device: str | torch.device | None = None,
                 batch_size: int = 32) -> dict[str, np.ndarray]:
    """The outputs ``keys`` of ONE LOSO fold's model on every clip of ``manifest`` (the run's).

    Each fold model has its own feature space, so features pooled from several fold models (as
    :func:`held_out_outputs` gives them) cluster by fold; a t-SNE or a similarity that compares clips
    needs one model. Its training clips are fitted and its held-out subject's are not, so the result
    marks them.

    Parameters
    ----------
    run
        A LOSO run whose fold ``fold`` has a trained model.
    manifest
        The run's manifest.
    fold
        The LOSO fold: the index of its held-out subject in sorted subject order.
    keys
        Outputs of :meth:`MicroAUCLIP.forward` to collect.

    Returns
    -------
    dict
        ``keys`` as arrays in ``manifest``'s row order, ``held_out`` (bool: the clip's subject is the
        one this fold held out), ``subject`` (that subject) and ``index`` (the rows' labels).
    """
    rows = manifest.reset_index(drop=True)
    subjects = splits.loso_subjects(rows)
    if not 0 <= fold < len(subjects):
        raise ValueError(f"fold must be a LOSO fold in 0..{len(subjects) - 1}; got {fold}")
    _check_run_manifest(run, rows, needed=[subjects[fold]])
    cfg = run_config(run)
    device = torch.device(device) if device is not None else train.device_default()
    model = fold_model(run, fold, device)
    collected: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    loader = DataLoader(MicroAUCLIPDataset(rows, input_cache(rows, cfg, root), cfg.aus), batch_size=batch_size)
    for batch in loader:
        out = model(batch["image"].to(device), batch["landmarks"].to(device), with_text=False)
        for k in keys:
            if k not in out:
                raise KeyError(f"the model gives no {k!r} (this variant's outputs: {sorted(out)})")
            collected[k].append(out[k].float().cpu().numpy())
    result = {k: np.concatenate(v) for k, v in collected.items()}
    held = rows["subject"].astype(str).to_numpy() == subjects[fold]
    return {**result, "held_out": held, "subject": subjects[fold], "index": manifest.index.to_numpy()}


def label_pair_similarity(features: np.ndarray, labels: np.ndarray, groups: Sequence[Any] | None = None) -> pd.DataFrame:
    """Mean cosine similarity of pairs of one AU's features, by the AU's state in the two clips.

    The paper's Fig. 6 in numbers: MiAUCL (Eq. 10) should make two clips that share the AU's state
    alike and two that differ unlike. Pairs are counted only inside a group (e.g. the held-out subject,
    so that both features of a pair come from the same fold model); ``None`` is one group.

    Parameters
    ----------
    features
        ``(n, D)`` one AU's features (normalised here).
    labels
        ``(n,)`` that AU's 0/1 labels.
    groups
        ``(n,)`` group of each clip, or ``None``.

    Returns
    -------
    pandas.DataFrame
        Rows ``both active``, ``both inactive``, ``active vs inactive``; columns ``cosine`` (the mean
        over the pairs, NaN without pairs) and ``pairs``.
    """
    z = np.asarray(features, dtype=float)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    y = np.asarray(labels).astype(bool)
    if len(z) != len(y):
        raise ValueError(f"features ({len(z)}) and labels ({len(y)}) must have one row per clip")
    g = np.zeros(len(y)) if groups is None else np.asarray(groups)
    upper = np.triu(np.ones((len(y), len(y)), dtype=bool), 1) & (g[:, None] == g[None, :])
    cos = z @ z.T
    kinds = {"both active": y[:, None] & y[None, :], "both inactive": ~y[:, None] & ~y[None, :],
             "active vs inactive": y[:, None] != y[None, :]}
    rows = {}
    for name, mask in kinds.items():
        pick = cos[upper & mask]
        rows[name] = {"cosine": float(pick.mean()) if len(pick) else float("nan"), "pairs": int(len(pick))}
    return pd.DataFrame.from_dict(rows, orient="index")



def held_out_neighbours(features: np.ndarray, labels: np.ndarray, held_out: np.ndarray) -> dict[str, float]:
    """Where one fold model puts its held-out subject's clips, measured by nearest neighbours (cosine).

    Reads a t-SNE of :func:`fold_outputs` in numbers: does a held-out clip sit next to training clips of
    its own label (the features generalise), or next to the other clips of its subject whatever their
    label (the features carry the subject)?

    Parameters
    ----------
    features
        ``(n, D)`` one AU's features of every clip under one fold model.
    labels
        ``(n,)`` that AU's 0/1 labels.
    held_out
        ``(n,)`` bool, the clips of the fold's held-out subject (at least two, and some training clips).

    Returns
    -------
    dict
        ``nearest_is_held_out``: share of held-out clips whose nearest other clip is held out too, and
        ``held_out_share``: what that share would be by chance (held-out clips among the others);
        ``label_match``: share of held-out clips whose nearest *training* clip has their label, and
        ``label_match_chance``: the same for a training clip drawn at random.
    """
    z = np.asarray(features, dtype=float)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    y, held = np.asarray(labels).astype(int), np.asarray(held_out, dtype=bool)
    if not (len(z) == len(y) == len(held)) or held.sum() < 2 or (~held).sum() < 1:
        raise ValueError("held_out_neighbours: one row per clip, at least two held-out and one training clip")
    cos = z @ z.T
    np.fill_diagonal(cos, -np.inf)
    rows = np.flatnonzero(held)
    nearest = cos[rows].argmax(1)
    train_idx = np.flatnonzero(~held)
    nearest_train = train_idx[cos[np.ix_(rows, train_idx)].argmax(1)]
    return {"nearest_is_held_out": float(held[nearest].mean()), "held_out_share": float((held.sum() - 1) / (len(y) - 1)),
            "label_match": float((y[nearest_train] == y[rows]).mean()),
            "label_match_chance": float(np.mean([(y[train_idx] == v).mean() for v in y[rows]]))}
