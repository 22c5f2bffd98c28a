"""Every method behind one interface: which run a (method, variant, seed, profile, protocol) names, how
many folds it has, its shared inputs, and its load-or-train run.

``data_scripts/run_folds.py`` fans the folds of these runs out as jobs and ``melib.report`` reads them
back; both go through :func:`experiment` and :func:`run`, so a fold trained by a cluster job, by a
notebook or by ``run_<method>.py`` is the same folder on disk (the run key hashes config, schedule,
protocol and data) and is never trained twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import config, data, splits, train
from ..methods import SPECS, MethodSpec, spec


#: Every method's spec by name (:mod:`melib.methods.spec`; the registry is :data:`melib.methods.NAMES`).
METHODS = SPECS


@dataclass
class Experiment:
    """One run's recipe: the method, its resolved config and schedule, the manifest and protocol."""

    method: MethodSpec
    variant: str
    seed: int
    profile: str
    protocol: str
    manifest: pd.DataFrame = field(repr=False)
    config: Any = field(repr=False)
    schedule: train.Schedule = field(repr=False)

    @property
    def clips(self) -> pd.DataFrame:
        """The rows the method trains and evaluates on (e.g. only 3-class clips for emotion methods)."""
        return self.method.clips(self.manifest, self.config)

    @property
    def n_folds(self) -> int:
        return len(splits.make_splits(self.clips, self.protocol, k=4))

    def label(self) -> str:
        return f"{self.method.name}/{self.variant}/seed{self.seed}/{self.protocol}/{self.profile}"


def experiment(method: str, variant: str | None = None, seed: int | None = 0, profile: str = "auto",
               protocol: str | None = None, dataset: str = "synthetic", root: str = "", reference: bool = False,
               **overrides: Any) -> Experiment:
    """The run that (method, variant, seed, profile, protocol) names on ``dataset``; ``reference`` is the
    method's CPU reference setting (README's tables: the fast profile with ``REFERENCE_CPU``).
    ``overrides`` set config or schedule fields, ``subjects`` the number of subjects (0: all).
    ``seed=None`` keeps the profile's own seed, so the run is the one its method notebook trains."""
    s = spec(method)
    variant = variant or s.default_variant
    if variant not in s.variants:
        raise ValueError(f"unknown {method} variant {variant!r}; choose from {s.variants}")
    protocol = protocol or s.protocols[0]
    if protocol not in s.protocols:
        raise ValueError(f"{method} runs under {s.protocols}, not {protocol!r}")
    if reference:
        profile = "fast"
        overrides = {**s.reference, **overrides}
    profile = config.resolve_profile(profile)
    subjects_override = overrides.pop("subjects", None)
    cfg, schedule, subjects = s.methods.preset(profile, dataset, variant=variant, seed=seed, **overrides)
    subjects = subjects if subjects_override is None else (subjects_override or None)
    manifest = data.load_manifest(dataset, root, subjects=subjects)
    return Experiment(s, variant, schedule.seed, "reference" if reference else profile, protocol, manifest, cfg,
                      schedule)


def prepare(exp: Experiment, workers: int | None = None) -> None:
    """Compute the experiment's shared inputs (caches, SelfME's motion learners) once, before its folds
    run in parallel jobs, so no two jobs build the same cache entry; ``workers``: processes (default: all cores)."""
    harness(exp, workers=workers)


def run(exp: Experiment, fold: int = -1, progress: bool = False, **kwargs: Any) -> train.Run:
    """Load-or-train ``fold`` (-1: every fold, then the pooled results) of the experiment."""
    return exp.method.methods.run(exp.manifest, exp.config, exp.schedule, fold=fold, progress=progress,
                                  protocol=exp.protocol, **kwargs)


def harness(exp: Experiment, progress: bool = False, workers: int | None = None) -> tuple[train.Method, pd.DataFrame]:
    """The harness's :class:`melib.train.Method` of the experiment (inputs cached where missing, by ``workers``
    processes, default all cores) and its clips."""
    return exp.method.harness(exp, progress, workers)


def locate(exp: Experiment) -> train.Run:
    """The experiment's run folder without training anything (its done folds; pooled results once complete)."""
    return run(exp, fold=-1, locate_only=True)


__all__ = ["METHODS", "Experiment", "MethodSpec", "experiment", "harness", "locate", "prepare", "run", "spec"]
