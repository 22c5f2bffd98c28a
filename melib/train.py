"""The fold-wise training harness every method uses.

A method hands the harness four things (see :class:`Method`): a model factory, a dataset factory,
a training step that returns its losses, and a prediction step. The harness owns everything else:

- subject-independent folds from :mod:`melib.splits` (``fold = -1`` runs them all);
- a fixed schedule (SGD, Adam or AdamW; step decay or cosine annealing with warm restarts). The
  final-epoch model is evaluated; no epoch or checkpoint is ever chosen by looking at the held-out
  subjects;
- seeds fixed per (fold, epoch), so an interrupted run that resumes ends with the same weights as
  one that never stopped; AMP (bf16) and channels_last on CUDA only;
- load-or-train: ``<run>/fold<k>/model.pt`` exists -> load, else train (resuming from
  ``last.pt``, written atomically after an epoch once ``checkpoint_every_s`` have passed since the
  last one; never after the final epoch, whose model goes straight to ``model.pt``) and save;
- lean folds: a finished fold keeps its predictions, ``result.json`` and the final weights alone, without
  optimizer state, in float16 (:data:`WEIGHTS_DTYPE`; half the bytes; loading casts back to the model's
  float32). An analysis-only run (``keep_weights=False``: the pitfalls' seeds and splits) keeps no weights;
  asking it for them later retrains the fold, which gives the same weights (seeds fixed);
- per-fold predictions in ``predictions.npz``, so metrics accumulated over all folds come from disk;
- damaged state is never used: a fold whose ``predictions.npz``, ``result.json`` or ``model.pt`` cannot
  be read (or whose predictions lack their ``result.json``) is named in a warning, moved to
  ``<run>/damaged/fold<k>/`` (replacing an earlier copy) and trained again; an unreadable ``last.pt``
  is set aside as ``last.pt.damaged`` (the fold starts over) and an unreadable ``results.json`` is rebuilt from the folds;
- ``run.json`` (config, and the machine of the last call that had a fold to run; a look or a load of
  done folds leaves it as it is), ``fold<k>/result.json`` (timings, losses, the machine that trained that fold) and, once
  every fold is done, ``results.json`` (the method's metrics on the accumulated predictions).

The loop itself (one step, the epochs, the resume checkpoint) is :mod:`melib.loop`'s epoch mode.

A run lives in ``<outputs>/runs/<method>/<run key>/`` where the key hashes the method's config,
the schedule, the protocol and the data fingerprint: change any of them and a new run starts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import platform
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import __version__, splits
from .cache import dataset_fingerprint
from .config import config_hash, display_path, outputs_root
from .fold_store import ANALYSIS_DIR, Run, is_zip, loso_fold_of, trained_subjects  # noqa: F401
from .io import save_json, save_npz
from .loop import (CHECKPOINT_EVERY_S, autocast, fit_step, make_optimizer, read_checkpoint,  # noqa: F401
                   save_checkpoint, seed_everything, to_device, train_epochs)
from .schedule import SCHEDULERS, Schedule, resolve_preset, schedule_key  # noqa: F401

#: How a finished fold's ``model.pt`` stores floating-point weights: float16 halves a fold (ResNet-18:
#: 45 -> 22 MB); a tensor that float16 cannot hold (a value beyond +-65504) stays float32. Predictions are
#: always computed from the float32 model before it is stored; only analyses that reload a fold see the rounding.
WEIGHTS_DTYPE = torch.float16


class Method(Protocol):
    """What a method gives the harness. Batches are dicts; tensors arrive on the right device.

    ``datasets`` receives row subsets of the manifest; each item must carry ``"index"``, the row's
    index label, so predictions can be matched to clips and subjects.
    """

    name: str

    def config(self) -> dict[str, Any]: ...                  # hashed into the run key
    def build_model(self) -> nn.Module: ...
    def datasets(self, train: pd.DataFrame, test: pd.DataFrame) -> tuple[Dataset, Dataset]: ...
    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]: ...  # has "loss"
    def predict_step(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]: ...
    def evaluate(self, predictions: dict[str, np.ndarray]) -> dict[str, Any]: ...
    # Optional: ``param_groups(model, lr) -> list[dict]``, torch optimizer groups (each may set its own
    # ``lr``, scaled by the scheduler like the rest); without it every trainable parameter gets ``lr``.


def device_default() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_key(method: Method, schedule: Schedule, manifest: pd.DataFrame, protocol: str, k: int,
            split_seed: int, record_test_epochs: bool = False) -> str:
    """The run's folder name: a hash of method config, schedule, protocol, folds and data; an analysis
    run that records per-epoch test predictions gets its own folder (the flag is hashed only when set,
    so every other run keeps its key)."""
    extra = {"record_test_epochs": True} if record_test_epochs else {}
    return config_hash({"method": method.name, "config": method.config(), "schedule": schedule_key(schedule),
                        "protocol": protocol, "k": k, "split_seed": split_seed,
                        "data": dataset_fingerprint(manifest), **extra})


def run_folds(method: Method, manifest: pd.DataFrame, schedule: Schedule, fold: int = -1,
              protocol: str = "kfold", k: int = 4, split_seed: int = 0, out_dir: str | Path | None = None,
              device: str | torch.device | None = None, progress: bool = True,
              on_epoch_end: Callable[[int, int, dict], None] | None = None, locate_only: bool = False,
              record_test_epochs: bool = False, checkpoint_every_s: float = CHECKPOINT_EVERY_S,
              keep_weights: bool = True) -> Run:
    """Train (or load) and predict the selected fold(s) of ``method`` on ``manifest``.

    Parameters
    ----------
    fold
        One fold index, or -1 for all. Out-of-range values raise before any work.
    out_dir
        Run folder; default ``<outputs>/runs/<method>/<run key>``.
    on_epoch_end
        Called as ``on_epoch_end(fold, epoch, logs)`` after each epoch (after its checkpoint, when one is written).
    checkpoint_every_s
        Write the resume checkpoint ``last.pt`` after an epoch once this many seconds of training have
        passed since the fold started or since the last one (0: after every epoch but the final one).
        Resuming gives the same weights either way; it is not part of the run key.
    locate_only
        Train nothing: return the run folder (what is done, and the pooled results once every fold is).
    record_test_epochs
        **Analysis only** (notebook 10): after every epoch also predict the test fold and save it under
        ``fold<k>/analysis_test_epochs/``. Training is unchanged (every epoch reseeds from the fold and
        epoch), the run gets its own key, and nothing in the harness selects on these predictions: the
        run's predictions and results are the final epoch's, as always.
    keep_weights
        Store each fold's final weights (``model.pt``, :data:`WEIGHTS_DTYPE`). False for runs whose later
        use needs only predictions and metrics (not part of the run key: a fold done without weights counts
        as done; asked again with True, it is retrained for its weights).
    """
    folds = splits.make_splits(manifest, protocol, k=k, seed=split_seed)
    selected = splits.select_folds(folds, fold)
    device = torch.device(device) if device is not None else device_default()
    key = run_key(method, schedule, manifest, protocol, k, split_seed, record_test_epochs)
    run = Run(Path(out_dir) if out_dir else outputs_root() / "runs" / method.name / key, len(folds))
    for split in [] if locate_only else selected:
        if (problem := run.fold_damage(split.fold)) is not None:
            run.set_aside(split.fold, problem, "retraining it")
    trains = not locate_only and any(not _fold_done(run.fold_dir(s.fold), keep_weights) for s in selected)
    if trains or not (run.dir / "run.json").is_file():  # a look, or a load of done folds, leaves the record
        save_json(run.dir / "run.json", {
            "method": method.name, "run_key": key, "config": method.config(), "schedule": dataclasses.asdict(schedule),
            "protocol": protocol, "k": len(folds), "split_seed": split_seed, "n_clips": len(manifest),
            "record_test_epochs": record_test_epochs,
            "folds": [{"fold": s.fold, "test_subjects": list(s.test_subjects)} for s in folds],
            "machine": machine_info(device), "melib": __version__})
    for split in [] if locate_only else selected:
        _run_fold(method, manifest.reset_index(drop=True), split, schedule, run, key, device, progress, on_epoch_end,
                  record_test_epochs, checkpoint_every_s, keep_weights)
    if run.complete:
        save_json(run.dir / "results.json", {"run_key": key, "method": method.name,
                                             "metrics": method.evaluate(run.predictions())})
    return run


def _run_fold(method: Method, manifest: pd.DataFrame, split: splits.Split, schedule: Schedule, run: Run,
              key: str, device: torch.device, progress: bool, on_epoch_end: Callable | None,
              record_test_epochs: bool = False, checkpoint_every_s: float = CHECKPOINT_EVERY_S,
              keep_weights: bool = True) -> None:
    fold_dir = run.fold_dir(split.fold)
    final = fold_dir / "model.pt"
    if _fold_done(fold_dir, keep_weights):
        if progress:
            print(f"[{method.name}] fold {split.fold}: done already ({display_path(fold_dir)})")
        return
    train_rows, test_rows = split.frames(manifest)
    # Everything that draws before training (dataset draws, weight init) starts from the fold's seed,
    # so the same command gives the same weights from scratch, not only when resuming.
    seed_everything(schedule.seed * 100_003 + split.fold * 1_009 - 1)
    train_set, test_set = method.datasets(train_rows, test_rows)
    model = method.build_model().to(device)
    if device.type == "cuda" and schedule.channels_last:
        model = model.to(memory_format=torch.channels_last)
    state = read_checkpoint(final, device) if final.is_file() else None
    if isinstance(state, str):
        run.set_aside(split.fold, (final, state), "retraining it")
        state = None
    if state is not None:
        if state.get("run_key") != key:
            raise RuntimeError(f"{final} belongs to run {state.get('run_key')}, not {key}; remove it")
        model.load_state_dict(state["model"])
        if progress:
            print(f"[{method.name}] fold {split.fold}: loaded {final} (training skipped)")
    else:
        record = None
        if record_test_epochs:  # analysis only: each epoch's test predictions
            def record(model: nn.Module, epoch: int) -> None:
                _save_predictions(fold_dir / ANALYSIS_DIR / f"epoch_{epoch:03d}.npz", method, model, test_set, schedule,
                                  device, manifest, split.fold, epoch=epoch)
        history = train_epochs(method, model, train_set, schedule, fold_dir / "last.pt", split.fold, key, device,
                               progress, on_epoch_end, record, checkpoint_every_s)
        save_json(fold_dir / "result.json", {
            "fold": split.fold, "n_train": len(train_rows), "n_test": len(test_rows),
            "test_subjects": list(split.test_subjects), "epochs": schedule.epochs,
            "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])),
            "final_losses": {k: v for k, v in history[-1].items() if k not in ("epoch", "seconds", "lr")},
            "history": history, "machine": machine_info(device),
            "weights": f"model.pt ({str(WEIGHTS_DTYPE).removeprefix('torch.')})" if keep_weights else "not kept"})
    # a fresh model's predictions come from its float32 weights, before they are stored (rounded) below
    if not (fold_dir / "predictions.npz").is_file():
        _save_predictions(fold_dir / "predictions.npz", method, model, test_set, schedule, device, manifest, split.fold)
    if state is None:
        if keep_weights:
            save_checkpoint(final, {"model": compact_state(model.state_dict()), "run_key": key, "fold": split.fold})
        (fold_dir / "last.pt").unlink(missing_ok=True)


def _fold_done(fold_dir: Path, keep_weights: bool) -> bool:
    """A fold needs no training: its predictions are stored, and its weights too when they are to be kept."""
    return (fold_dir / "predictions.npz").is_file() and (not keep_weights or (fold_dir / "model.pt").is_file())


def compact_state(state: Mapping[str, torch.Tensor], dtype: torch.dtype = WEIGHTS_DTYPE) -> dict[str, torch.Tensor]:
    """``state`` with every float32 tensor stored as ``dtype`` where that holds its values (finite after the
    cast); other tensors (integers, float32 beyond ``dtype``'s range) as they are. ``load_state_dict`` casts back."""
    out = {}
    for name, value in state.items():
        if value.dtype == torch.float32:
            cast = value.detach().to(dtype)
            value = cast if bool(torch.isfinite(cast).all()) or not bool(torch.isfinite(value).all()) else value
        out[name] = value.detach().cpu()
    return out


def _save_predictions(path: Path, method: Method, model: nn.Module, test_set: Dataset, schedule: Schedule,
                      device: torch.device, manifest: pd.DataFrame, fold: int, **extra: np.ndarray) -> None:
    scores, targets, index = _predict(method, model, test_set, schedule, device)
    rows = manifest.loc[index]
    save_npz(path, index=index, scores=scores, targets=targets, fold=np.full(len(index), fold),
             subject=rows["subject"].to_numpy(dtype=str), clip=rows["clip"].to_numpy(dtype=str),
             **{k: np.full(len(index), v) for k, v in extra.items()})


@torch.no_grad()
def _predict(method: Method, model: nn.Module, test_set: Dataset, s: Schedule,
             device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model.eval()
    loader = DataLoader(test_set, batch_size=s.batch_size, shuffle=False, num_workers=s.num_workers)
    scores, targets, index = [], [], []
    for batch in loader:
        batch = to_device(batch, device, device.type == "cuda" and s.channels_last)
        with autocast(device, s):
            score, target = method.predict_step(model, batch)
        scores.append(score.float().cpu().numpy())
        targets.append(target.cpu().numpy())
        index.append(batch["index"].cpu().numpy())
    if not scores:
        return np.zeros((0,)), np.zeros((0,)), np.zeros((0,), dtype=np.int64)
    return np.concatenate(scores), np.concatenate(targets), np.concatenate(index)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily use ``n`` torch CPU threads (``None``: leave the setting alone)."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def machine_info(device: torch.device | None = None) -> dict[str, Any]:
    """What a results table needs to say about where it ran."""
    import os

    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": str(device or device_default())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
