"""What a run keeps on disk, read back: its folder, the folds that are done (a damaged one named, set aside and
retrained), the pooled predictions, results and each fold's final weights. :mod:`melib.train` writes it."""
from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import splits
from .io import READ_ERRORS, damaged, describe, load_json, load_npz, zip_problem
from .loop import read_checkpoint

#: Where ``record_test_epochs`` writes each epoch's test predictions: analysis only (notebook 10).
ANALYSIS_DIR = "analysis_test_epochs"


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
        if model.is_file() and is_zip(model) and (problem := zip_problem(model)) is not None:
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
        state = read_checkpoint(path, torch.device("cpu"))
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


def run_machine(run: Any) -> str:
    """Where a run's folds were trained: each fold's ``result.json`` records its machine; runs made before
    it did fall back to ``run.json`` (the last call that trained), whose thread count is then not shown,
    since earlier versions rewrote that record on every look at the run."""
    folds = [f.get("machine") for f in run.fold_results()] if run.dir.is_dir() else []
    if folds and all(folds):
        return "; ".join(sorted({_machine_line(m) for m in folds}))
    saved = run.dir / "run.json"
    machine = load_json(saved).get("machine", {}) if saved.is_file() else {}
    return _machine_line({k: v for k, v in machine.items() if k != "torch_threads"})


def _machine_line(machine: Mapping[str, Any]) -> str:
    """One line per machine of a table, with torch's CPU thread count where the record has it: on
    CPU the CNN methods repeat bit for bit only at the same count (docs/setup.md, "Repeating a run")."""
    if not machine:
        return ""
    where = machine.get("gpu") or f"{machine.get('cpu', '?')} CPU, {machine.get('cpu_count', '?')} cores"
    threads = machine.get("torch_threads")
    return f"{where}, torch {machine.get('torch', '?')}" + (
        f", {threads} torch thread{'s' if threads != 1 else ''}" if threads and not machine.get("gpu") else "")


def is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"PK"


__all__ = ["ANALYSIS_DIR", "Run", "is_zip", "loso_fold_of", "run_machine", "trained_subjects"]
