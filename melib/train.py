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
  is removed (the fold starts over) and an unreadable ``results.json`` is rebuilt from the folds;
- ``run.json`` (config, and the machine of the last call that had a fold to run; a look or a load of
  done folds leaves it as it is), ``fold<k>/result.json`` (timings, losses, the machine that trained that fold) and, once
  every fold is done, ``results.json`` (the method's metrics on the accumulated predictions).

A run lives in ``<outputs>/runs/<method>/<run key>/`` where the key hashes the method's config,
the schedule, the protocol and the data fingerprint: change any of them and a new run starts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import pickle
import platform
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from .progress import tqdm

from . import __version__, splits
from .cache import dataset_fingerprint
from .config import config_hash, display_path, outputs_root
from .io import (READ_ERRORS, atomic_path, damaged, describe, load_json, load_npz, save_json, save_npz,
                 zip_problem)


SCHEDULERS = ("step", "cosine_restarts", "exponential")
#: Where ``record_test_epochs`` writes each epoch's test predictions: analysis only (notebook 10).
ANALYSIS_DIR = "analysis_test_epochs"
#: Seconds of training between two resume checkpoints (``last.pt``). Writing one costs about 0.7 s for
#: a ResNet-18 pair with its optimizer state on this project's CPU, more than a fast-profile epoch, so
#: short runs write none; an interrupted run loses at most this much training. 0: after every epoch but the last.
CHECKPOINT_EVERY_S = 60.0
#: How a finished fold's ``model.pt`` stores floating-point weights: float16 halves a fold (ResNet-18:
#: 45 -> 22 MB); a tensor that float16 cannot hold (a value beyond +-65504) stays float32. Predictions are
#: always computed from the float32 model before it is stored; only analyses that reload a fold see the rounding.
WEIGHTS_DTYPE = torch.float16


@dataclass(frozen=True)
class Schedule:
    """Optimisation schedule, stepped once per epoch.

    ``scheduler="step"``: ``lr`` multiplied by ``lr_gamma`` every ``lr_step`` epochs (StepLR).
    ``scheduler="exponential"``: ``lr`` multiplied by ``lr_gamma`` after every epoch (ExponentialLR; SelfME).
    ``scheduler="cosine_restarts"``: cosine annealing from ``lr`` to 0 with warm restarts (SGDR,
    Loshchilov & Hutter 2017), the first period ``t_0`` epochs and each next ``t_mult`` times longer
    (``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``); ``lr_step``/``lr_gamma`` unused.
    """

    epochs: int = 80
    batch_size: int = 32
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = 40
    lr_gamma: float = 0.1
    seed: int = 0
    num_workers: int = 0
    amp: bool = True
    channels_last: bool = True
    # Added after runs existed: run_key hashes these only when they differ from the defaults below
    # (see schedule_key), so every run made before they existed keeps its key.
    scheduler: str = "step"
    t_0: int = 10
    t_mult: int = 2

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw'; got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}; got {self.scheduler!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr_step < 1:
            raise ValueError(f"epochs, batch_size and lr_step must be >= 1: {self}")
        if self.t_0 < 1 or self.t_mult < 1:
            raise ValueError(f"t_0 and t_mult must be >= 1: {self}")


#: Schedule fields added after runs existed, with the values every earlier run implicitly had.
_LATER_FIELDS = {"scheduler": "step", "t_0": 10, "t_mult": 2}


def schedule_key(schedule: Schedule) -> dict[str, Any]:
    """What :func:`run_key` hashes of a schedule: every field, except the later-added ones at their
    defaults, so a schedule that does not use them hashes exactly as before they existed."""
    return {k: v for k, v in dataclasses.asdict(schedule).items()
            if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


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


@dataclass
class Run:
    """A run folder: what is done and the accumulated predictions once every fold is."""

    dir: Path
    n_folds: int

    def fold_dir(self, fold: int) -> Path:
        return self.dir / f"fold{fold}"

    def done_folds(self) -> list[int]:
        """Folds with usable predictions; a damaged one is named in a warning and left out."""
        done = []
        for f in range(self.n_folds):
            if (self.fold_dir(f) / "predictions.npz").is_file():
                problem = self.fold_damage(f)
                if problem is None:
                    done.append(f)
                else:
                    damaged(*problem, f"fold {f} not used; run it again to retrain it")
        return done

    def fold_damage(self, fold: int) -> tuple[Path, str] | None:
        """``(file, reason)`` when a stored file of ``fold`` cannot be read, or its predictions or model lack
        their ``result.json``; None when all is well (or nothing is stored). ``model.pt`` is checked cheaply
        (a truncated zip), predictions and ``result.json`` are read whole."""
        d = self.fold_dir(fold)
        predictions, result, model = d / "predictions.npz", d / "result.json", d / "model.pt"
        for path, read in ((predictions, load_npz), (result, load_json)):
            try:
                if path.is_file():
                    read(path)
            except READ_ERRORS as error:
                return path, describe(error)
        for path in (predictions, model):
            if path.is_file() and not result.is_file():
                return path, f"its {result.name} is missing"
        if model.is_file() and _is_zip(model) and (problem := zip_problem(model)) is not None:
            return model, problem
        return None

    def set_aside(self, fold: int, problem: tuple[Path, str], action: str) -> Path:
        """Move a damaged fold's folder to ``<run>/damaged/fold<k>`` (replacing an earlier copy), with a warning."""
        target = self.dir / "damaged" / f"fold{fold}"
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.fold_dir(fold).rename(target)
        damaged(*problem, f"fold {fold} moved to {target}; {action}")
        return target

    @property
    def complete(self) -> bool:
        return len(self.done_folds()) == self.n_folds

    def predictions(self, folds: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """Predictions of every fold (or of ``folds``), concatenated (the accumulated protocol)."""
        folds = range(self.n_folds) if folds is None else folds
        missing = sorted(set(folds) - set(self.done_folds()))
        if missing:
            raise FileNotFoundError(f"{self.dir}: folds {missing} have no predictions yet; run them "
                                    f"(fold=<k>, or fold=-1 for all)")
        parts = [load_npz(self.fold_dir(f) / "predictions.npz") for f in folds]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def results(self) -> dict[str, Any] | None:
        """``results.json``, or None while folds are missing (or when it cannot be read: warned about;
        :func:`run_folds` rebuilds it from the folds)."""
        path = self.dir / "results.json"
        try:
            return load_json(path) if path.is_file() else None
        except READ_ERRORS as error:
            damaged(path, describe(error), "not used; run_folds rebuilds it from the folds")
            return None

    def fold_results(self) -> list[dict[str, Any]]:
        return [load_json(self.fold_dir(f) / "result.json") for f in self.done_folds()]

    def config(self) -> dict[str, Any]:
        """The method config the run was made with (``run.json``)."""
        saved = self.dir / "run.json"
        if not saved.is_file():
            raise FileNotFoundError(f"{saved} is missing: {self.dir} is not a run folder")
        return load_json(saved)["config"]

    def test_epoch_predictions(self) -> list[dict[str, np.ndarray]]:
        """**Analysis only.** Per epoch, the test predictions of every fold concatenated, as recorded
        by ``run_folds(..., record_test_epochs=True)`` (each has ``epoch`` and ``fold`` per row).

        They exist to measure what choosing an epoch by its test score inflates (notebook 10); the
        harness itself never reads them, and every reported result uses the final epoch.
        """
        per_fold = []
        for f in range(self.n_folds):
            files = sorted((self.fold_dir(f) / ANALYSIS_DIR).glob("epoch_*.npz"))
            if not files:
                raise FileNotFoundError(f"{self.fold_dir(f) / ANALYSIS_DIR}: no per-epoch test predictions "
                                        f"(run with record_test_epochs=True)")
            per_fold.append([load_npz(path) for path in files])
        epochs = min(len(p) for p in per_fold)
        return [{key: np.concatenate([p[e][key] for p in per_fold]) for key in per_fold[0][e]}
                for e in range(epochs)]

    def fold_state(self, fold: int) -> dict[str, torch.Tensor]:
        """The final-epoch model weights of ``fold`` (loaded with ``weights_only=True``)."""
        path = self.fold_dir(fold) / "model.pt"
        if not path.is_file():
            if (self.fold_dir(fold) / "predictions.npz").is_file():
                raise FileNotFoundError(f"{self.fold_dir(fold)}: this fold kept no weights (an analysis-only run, "
                                        "keep_weights=False); run it with keep_weights=True to retrain it (the "
                                        "same weights: seeds are fixed)")
            raise FileNotFoundError(f"{self.fold_dir(fold)}: no trained model (run that fold first)")
        state = _read_state(path, torch.device("cpu"))
        if isinstance(state, str):
            target = self.set_aside(fold, (path, state), "run the fold again to retrain it")
            raise FileNotFoundError(f"{path} was damaged ({state}); fold {fold} moved to {target}: "
                                    f"run it again to retrain it")
        return state["model"]


def trained_subjects(run: Run, rows: pd.DataFrame) -> list[str]:
    """The held-out subjects of a LOSO ``run`` whose fold model is on disk (folds in sorted subject order)."""
    subjects = splits.loso_subjects(rows)
    return [subjects[f] for f in range(len(subjects)) if (run.fold_dir(f) / "model.pt").is_file()]


def loso_fold_of(rows: pd.DataFrame, subject: str) -> int:
    """The LOSO fold (index in sorted subject order of ``rows``) that holds out ``subject``."""
    subjects = splits.loso_subjects(rows)
    if subject not in subjects:
        raise ValueError(f"subject {subject!r} is not among the run's subjects {subjects}")
    return subjects.index(subject)


def device_default() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_preset(presets: Mapping[str, Mapping[str, Any]], profile: str, config_cls: type,
                   overrides: Mapping[str, Any], base_config: Mapping[str, Any] | None = None,
                   method: str = "method") -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """A method's profile with overrides applied: ``(config fields, schedule fields, n_subjects)``.

    ``presets[profile]`` holds ``config``, ``schedule`` and ``subjects``; ``base_config`` comes first
    (dataset-dependent defaults). Each override goes to the config dataclass ``config_cls``, to
    :class:`Schedule`, or is ``subjects``; ``None`` values are ignored (notebook parameters default to
    the profile) and an unknown name raises, naming the method.
    """
    if profile not in presets:
        raise ValueError(f"profile must be one of {sorted(presets)} (resolve 'auto' first); got {profile!r}")
    base = presets[profile]
    cfg = {**dict(base_config or {}), **base["config"]}
    sched = dict(base["schedule"])
    subjects = base["subjects"]
    config_fields = {f.name for f in dataclasses.fields(config_cls)}
    schedule_fields = {f.name for f in dataclasses.fields(Schedule)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "subjects":
            subjects = value
        elif key in config_fields:
            cfg[key] = value
        elif key in schedule_fields:
            sched[key] = value
        else:
            raise ValueError(f"unknown {method} setting {key!r}")
    return cfg, sched, subjects


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
    _seed_everything(schedule.seed * 100_003 + split.fold * 1_009 - 1)
    train_set, test_set = method.datasets(train_rows, test_rows)
    model = method.build_model().to(device)
    if device.type == "cuda" and schedule.channels_last:
        model = model.to(memory_format=torch.channels_last)
    state = _read_state(final, device) if final.is_file() else None
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
        record = (test_set, manifest) if record_test_epochs else None
        history = _train(method, model, train_set, schedule, fold_dir, split.fold, key, device, progress, on_epoch_end,
                         record, checkpoint_every_s)
        save_json(fold_dir / "result.json", {
            "fold": split.fold, "n_train": len(train_rows), "n_test": len(test_rows),
            "test_subjects": list(split.test_subjects), "epochs": schedule.epochs,
            "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])),
            "final_losses": {k: v for k, v in history[-1].items() if k not in ("epoch", "seconds", "lr")},
            "history": history, "machine": machine_info(device),
            "weights": f"model.pt ({str(WEIGHTS_DTYPE).removeprefix('torch.')})" if keep_weights else "not kept"})
        # predictions from the float32 model in memory, before the weights are stored (rounded)
        _save_predictions(fold_dir / "predictions.npz", method, model, test_set, schedule, device, manifest, split.fold)
        if keep_weights:
            with atomic_path(final) as tmp:
                torch.save({"model": compact_state(model.state_dict()), "run_key": key, "fold": split.fold}, tmp)
        (fold_dir / "last.pt").unlink(missing_ok=True)
        return
    if not (fold_dir / "predictions.npz").is_file():
        _save_predictions(fold_dir / "predictions.npz", method, model, test_set, schedule, device, manifest, split.fold)


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


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _make_optimizer(model: nn.Module, s: Schedule, method: Method | None = None
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    groups = getattr(method, "param_groups", None)  # optional per-group learning rates (see Method)
    params = groups(model, s.lr) if groups is not None else [p for p in model.parameters() if p.requires_grad]
    if s.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    elif s.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    if s.scheduler == "cosine_restarts":
        return opt, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=s.t_0, T_mult=s.t_mult)
    if s.scheduler == "exponential":
        return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=s.lr_gamma)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=s.lr_step, gamma=s.lr_gamma)


def _to_device(batch: Mapping[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and value.ndim == 4 and value.is_floating_point():
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def _autocast(device: torch.device, schedule: Schedule):
    enabled = device.type == "cuda" and schedule.amp
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _train(method: Method, model: nn.Module, train_set: Dataset, s: Schedule, fold_dir: Path, fold: int, key: str,
           device: torch.device, progress: bool, on_epoch_end: Callable | None,
           record: tuple[Dataset, pd.DataFrame] | None = None, checkpoint_every_s: float = CHECKPOINT_EVERY_S
           ) -> list[dict]:
    optimizer, scheduler = _make_optimizer(model, s, method)
    resume = fold_dir / "last.pt"
    start, history = 0, []
    last_checkpoint = time.perf_counter()
    state = _read_state(resume, device) if resume.is_file() else None
    if isinstance(state, str):
        damaged(resume, state, "removed; the fold starts from its first epoch")
        resume.unlink(missing_ok=True)
    elif state is not None and state.get("run_key") == key:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, history = int(state["epoch"]) + 1, list(state["history"])
        if progress:
            print(f"[{method.name}] fold {fold}: resuming after epoch {start}/{s.epochs}")
    channels_last = device.type == "cuda" and s.channels_last
    epochs = tqdm(range(start, s.epochs), desc=f"{method.name} fold {fold}", initial=start, total=s.epochs,
                  disable=not progress)
    for epoch in epochs:
        generator = _seed_everything(s.seed * 100_003 + fold * 1_009 + epoch)
        loader = DataLoader(train_set, batch_size=s.batch_size, shuffle=True, drop_last=len(train_set) > s.batch_size,
                            num_workers=s.num_workers, generator=generator, pin_memory=device.type == "cuda")
        model.train()
        sums: dict[str, float] = {}
        n, tic = 0, time.perf_counter()
        for batch in loader:
            batch = _to_device(batch, device, channels_last)
            with _autocast(device, s):
                losses = method.training_step(model, batch)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            size = len(batch["index"])
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * size
            n += size
        logs = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - tic,
                **{name: total / max(n, 1) for name, total in sums.items()}}
        scheduler.step()
        history.append(logs)
        if record is not None:  # analysis only; written before the checkpoint, so a resumed run has every epoch
            _save_predictions(fold_dir / ANALYSIS_DIR / f"epoch_{epoch:03d}.npz", method, model, record[0], s, device,
                              record[1], fold, epoch=epoch)
        if epoch + 1 < s.epochs and time.perf_counter() - last_checkpoint >= checkpoint_every_s:
            with atomic_path(resume) as tmp:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch, "history": history,
                            "run_key": key}, tmp)
            last_checkpoint = time.perf_counter()
        epochs.set_postfix(loss=f"{logs.get('loss', float('nan')):.4f}")
        if on_epoch_end is not None:
            on_epoch_end(fold, epoch, logs)
    return history


def _read_state(path: Path, device: torch.device) -> dict[str, Any] | str:
    """A checkpoint, or why it cannot be read."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:  # torch's text suggests weights_only=False: wrong for a damaged file
        return f"{type(error).__name__}: not a readable torch checkpoint"
    except READ_ERRORS as error:
        return describe(error)


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"PK"


@torch.no_grad()
def _predict(method: Method, model: nn.Module, test_set: Dataset, s: Schedule,
             device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model.eval()
    loader = DataLoader(test_set, batch_size=s.batch_size, shuffle=False, num_workers=s.num_workers)
    scores, targets, index = [], [], []
    for batch in loader:
        batch = _to_device(batch, device, device.type == "cuda" and s.channels_last)
        with _autocast(device, s):
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
