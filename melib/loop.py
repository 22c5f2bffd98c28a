"""The one training loop: one optimisation step, two ways to repeat it, one way to checkpoint it.

- :func:`fit_step`: a method's losses on one batch, backward of ``"loss"``, the optimiser step (bf16
  autocast on CUDA when the schedule asks). Benchmarks and tests time and check a step through it.
- **Epoch mode**, :func:`train_epochs`: the harness's (:func:`melib.train.run_folds`). Each epoch reseeds
  from (seed, fold, epoch) and shuffles the training set anew, so an interrupted fold that resumes from its
  checkpoint ends with the same weights as one that never stopped.
- **Step mode**, :func:`train_steps`: models trained on a stream of batches rather than a fixed training
  set: SelfME's motion learner (random frame pairs, Eq. 8) and the learned magnifier (synthetic pairs,
  Oh et al. Sec. 3.1). The caller hands it a batch per step and the loss of a batch; checkpoints every
  ``checkpoint_every`` steps and at the end.
- :func:`save_checkpoint` writes any checkpoint atomically (a run killed mid-write leaves the old one);
  :func:`read_checkpoint` reads one with ``weights_only=True`` and says why when it cannot. A damaged file is
  never used: :func:`set_aside` names it in a warning and moves it beside itself (``<name>.damaged``) before
  the work is done again (the fold harness moves a damaged fold to ``<run>/damaged/``, :mod:`melib.fold_store`).
"""
from __future__ import annotations

import pickle
import random
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .io import atomic_path, damaged, describe
from .progress import tqdm
from .schedule import Schedule

#: Seconds of training between two resume checkpoints (``last.pt``) in epoch mode. Writing one costs about
#: 0.7 s for a ResNet-18 pair with its optimizer state on this project's CPU, more than a fast-profile epoch,
#: so short runs write none; an interrupted run loses at most this much training. 0: after every epoch but the last.
CHECKPOINT_EVERY_S = 60.0

Losses = dict[str, torch.Tensor]


# ------------------------------------------------------------------------------------------ checkpoints
def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` (tensors and plain types: ``weights_only``-safe) to ``path`` atomically."""
    with atomic_path(Path(path)) as tmp:
        torch.save(dict(state), tmp)


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any] | str:
    """A checkpoint read with ``torch.load(weights_only=True)`` onto ``device``, or why it cannot be read."""
    try:
        return torch.load(Path(path), map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:  # torch's text suggests weights_only=False: wrong for a damaged file
        return f"{type(error).__name__}: not a readable torch checkpoint"
    except Exception as error:  # noqa: BLE001  io.READ_ERRORS, and a garbled pickle's struct.error, IndexError, ...
        return describe(error)


def set_aside(path: Path, reason: str, action: str) -> None:
    """Warn that ``path`` cannot be read (``reason``) and move it to ``<name>.damaged`` (replacing an earlier
    copy), so it is never used and can still be looked at; ``action`` says what follows."""
    aside = path.with_name(path.name + ".damaged")
    try:
        path.replace(aside)
        where = f"moved to {aside.name}"
    except OSError as error:  # cannot move it (permissions): leave it, it is replaced when the work is redone
        where = f"left in place ({describe(error)})"
    damaged(path, reason, f"{where}; {action}")


def resume_state(path: Path, device: str | torch.device = "cpu", start_over: str = "training starts over"
                 ) -> dict[str, Any] | None:
    """The resume checkpoint at ``path``, or None when there is none; a damaged one is named in a warning and
    set aside (:func:`set_aside`), and None returned (``start_over`` says what follows)."""
    if not path.is_file():
        return None
    state = read_checkpoint(path, device)
    if isinstance(state, str):
        set_aside(path, state, start_over)
        return None
    return state


# ------------------------------------------------------------------------------------------ one step
def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch from ``seed``; returns a torch generator seeded the same (batch order)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_optimizer(model: nn.Module, s: Schedule, method: Any = None
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The schedule's optimiser over ``model`` (the method's ``param_groups`` where it has them) and its
    learning-rate scheduler, stepped once per epoch."""
    groups = getattr(method, "param_groups", None)  # optional per-group learning rates (see train.Method)
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


def to_device(batch: Mapping[str, Any], device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """A batch's tensors on ``device`` (4-d float tensors channels-last when asked)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and value.ndim == 4 and value.is_floating_point():
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def autocast(device: torch.device, schedule: Schedule, amp: bool | None = None):
    """bf16 autocast on CUDA when ``amp`` (default: the schedule's); a no-op context on the CPU."""
    enabled = device.type == "cuda" and (schedule.amp if amp is None else amp)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def optimise(losses: Losses, optimizer: torch.optim.Optimizer) -> Losses:
    """Backward of ``losses["loss"]`` and one optimiser step (gradients cleared first); returns ``losses``."""
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    optimizer.step()
    return losses


def fit_step(method: Any, model: nn.Module, batch: Mapping[str, Any], optimizer: torch.optim.Optimizer,
             device: torch.device, schedule: Schedule, amp: bool | None = None) -> Losses:
    """One step of a method (:class:`melib.train.Method`): the batch to ``device``, ``method.training_step``'s
    losses (under bf16 autocast on CUDA when ``amp``, default the schedule's), then :func:`optimise`."""
    batch = to_device(batch, device, device.type == "cuda" and schedule.channels_last)
    with autocast(device, schedule, amp):
        losses = method.training_step(model, batch)
    return optimise(losses, optimizer)


# ------------------------------------------------------------------------------------------ epoch mode
def train_epochs(method: Any, model: nn.Module, train_set: Dataset, s: Schedule, resume: Path, fold: int,
                 key: str, device: torch.device, progress: bool = True,
                 on_epoch_end: Callable[[int, int, dict], None] | None = None,
                 record: Callable[[nn.Module, int], None] | None = None,
                 checkpoint_every_s: float = CHECKPOINT_EVERY_S) -> list[dict]:
    """Train ``model`` for the schedule's epochs (fold ``fold`` of run ``key``); returns one log per epoch.

    Resumes from ``resume`` (``last.pt``) when it belongs to run ``key``; writes it after an epoch once
    ``checkpoint_every_s`` seconds of training have passed since the last one, never after the final epoch.
    ``record(model, epoch)`` runs after each epoch, before its checkpoint (analysis only);
    ``on_epoch_end(fold, epoch, logs)`` after it.
    """
    optimizer, scheduler = make_optimizer(model, s, method)
    start, history = 0, []
    last_checkpoint = time.perf_counter()
    state = resume_state(resume, device, "the fold starts from its first epoch")
    if state is not None and state.get("run_key") == key:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, history = int(state["epoch"]) + 1, list(state["history"])
        if progress:
            print(f"[{method.name}] fold {fold}: resuming after epoch {start}/{s.epochs}")
    epochs = tqdm(range(start, s.epochs), desc=f"{method.name} fold {fold}", initial=start, total=s.epochs,
                  disable=not progress)
    for epoch in epochs:
        generator = seed_everything(s.seed * 100_003 + fold * 1_009 + epoch)
        loader = DataLoader(train_set, batch_size=s.batch_size, shuffle=True, drop_last=len(train_set) > s.batch_size,
                            num_workers=s.num_workers, generator=generator, pin_memory=device.type == "cuda")
        model.train()
        sums: dict[str, float] = {}
        n, tic = 0, time.perf_counter()
        for batch in loader:
            losses = fit_step(method, model, batch, optimizer, device, s)
            size = len(batch["index"])
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * size
            n += size
        logs = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - tic,
                **{name: total / max(n, 1) for name, total in sums.items()}}
        scheduler.step()
        history.append(logs)
        if record is not None:  # written before the checkpoint, so a resumed run has every epoch
            record(model, epoch)
        if epoch + 1 < s.epochs and time.perf_counter() - last_checkpoint >= checkpoint_every_s:
            save_checkpoint(resume, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "scheduler": scheduler.state_dict(), "epoch": epoch, "history": history,
                                     "run_key": key})
            last_checkpoint = time.perf_counter()
        epochs.set_postfix(loss=f"{logs.get('loss', float('nan')):.4f}")
        if on_epoch_end is not None:
            on_epoch_end(fold, epoch, logs)
    return history


# ------------------------------------------------------------------------------------------ step mode
def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable[tuple[int, Any]],
                losses_of: Callable[[Any], Losses], total: int, *, start: int = 0,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                lr_at: Callable[[int], float] | None = None, checkpoint: Path | None = None,
                checkpoint_every: int = 0, state_at: Callable[[int, list[dict]], dict] | None = None,
                history: list[dict] | None = None, desc: str = "training", progress: bool = True) -> list[dict]:
    """Train ``model`` over ``batches``, ``(step, batch)`` pairs from ``start`` to ``total``; returns the history
    (one ``{"step": step + 1, <loss>: float, ...}`` per step, after ``history``'s earlier steps).

    Each step: the learning rate ``lr_at(step)`` when given, ``losses_of(batch)`` (a dict with ``"loss"``, the
    term minimised; other entries, tensors or floats, are logged), :func:`optimise`, then ``scheduler.step()``
    when given. With ``checkpoint``, the state
    ``state_at(steps done, history)`` is written there atomically every ``checkpoint_every`` steps and after
    the last one; the caller reads it back (:func:`resume_state`) and passes ``start`` and ``history``.
    """
    history = list(history or [])
    model.train()
    bar = tqdm(batches, initial=start, total=total, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    for step, batch in bar:
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        losses = optimise(losses_of(batch), optimizer)
        if scheduler is not None:
            scheduler.step()
        history.append({"step": step + 1, **{k: float(v.detach() if torch.is_tensor(v) else v) for k, v in losses.items()}})
        bar.set_postfix({k: f"{v:.4f}" for k, v in history[-1].items() if k != "step"})
        done = step + 1
        due = done == total or (checkpoint_every > 0 and done % checkpoint_every == 0)  # 0: at the end only
        if checkpoint is not None and state_at is not None and due:
            save_checkpoint(checkpoint, state_at(done, history))
    bar.close()
    return history


__all__ = ["CHECKPOINT_EVERY_S", "autocast", "fit_step", "make_optimizer", "optimise", "read_checkpoint", "resume_state",
           "save_checkpoint", "seed_everything", "set_aside", "to_device", "train_epochs", "train_steps"]
