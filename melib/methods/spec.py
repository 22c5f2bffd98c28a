"""The method contract: what a paper's module under ``melib.methods`` declares, beyond training, so that
``experiments``, ``report``, ``viz`` and the scripts serve every method without naming one.

A paper's module ends with ``SPEC = MethodSpec(...)``; :data:`melib.methods.NAMES` lists the modules.
Training itself goes through :class:`melib.train.Method` (the harness's side of the contract); the spec
says how to reach it (``harness``), which rows a method uses (``clips``) and the hooks that read a
trained run back (``maps``, ``features``).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class MethodSpec:
    """One paper's method as everything after training sees it.

    Attributes
    ----------
    name
        The one name: the module ``melib.methods.<name>``, the report's and the scripts' key.
    task
        ``"au"`` (AU detection) or ``"emotion"`` (recognition).
    protocols
        The protocols it runs under; the first is the paper's.
    default_variant
        The variant its notebook trains (the paper's full method).
    run_prefix
        How its run folders' method names (``outputs/runs/<method name>/``) start.
    clips
        ``(manifest, config) -> rows`` the method trains and evaluates on.
    harness
        ``(experiment, progress, workers) -> (train.Method, clips)``, inputs cached where missing.
    views
        The variants notebook 09 shows.
    maps
        ``(trained, rows, size, fold) -> {title: (N, size, size) maps in [0, 1]}`` in whole-frame
        coordinates (:mod:`melib.experiments.visual`), or None.
    features
        ``(trained, fold) -> DataFrame`` of every clip embedded by fold ``fold``'s model (index
        ``"subject/clip"``), or None.
    comparison
        ``(task, protocol) -> rows`` (:class:`melib.tables.Row`) the method adds to the report's comparison
        table of ``task`` (``"au"`` under ``protocol``; ``"emotion"``, protocol None); ``()`` for none.
    sections
        The method's own report sections (its paper's ablation tables, :class:`melib.tables.Section`).
    composite_variant
        The variant run on the MEGC composite (3-class emotion over three datasets), or None where the
        method does not run there.
    pitfalls
        Per profile, overrides of the ``fast`` preset for :mod:`melib.pitfalls` (notebook 10), which measures
        one AU method and one emotion method: those whose spec carries these; empty for the others.
    variant_needs_aus
        ``variant -> bool``: whether a variant trains on AU labels (always so for an AU method); a dataset
        without them cannot run it.
    """

    name: str
    task: str
    protocols: tuple[str, ...]
    default_variant: str
    run_prefix: str
    clips: Callable[[pd.DataFrame, Any], pd.DataFrame] = field(repr=False)
    harness: Callable[[Any, bool, int | None], tuple[Any, pd.DataFrame]] = field(repr=False)
    views: tuple[str, ...] = ()
    maps: Callable[..., dict[str, Any]] | None = field(default=None, repr=False)
    features: Callable[..., pd.DataFrame] | None = field(default=None, repr=False)
    comparison: Callable[[str, str | None], tuple[Any, ...]] | None = field(default=None, repr=False)
    sections: tuple[Any, ...] = field(default=(), repr=False)
    composite_variant: str | None = None
    pitfalls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    variant_needs_aus: Callable[[str], bool] = field(default=lambda variant: False, repr=False)

    def __post_init__(self) -> None:
        if self.task not in ("au", "emotion"):
            raise ValueError(f"{self.name}: task must be 'au' or 'emotion'; got {self.task!r}")
        if not self.protocols:
            raise ValueError(f"{self.name}: name at least one protocol")

    @property
    def methods(self) -> Any:
        """The method's module (``melib.methods.<name>``)."""
        return importlib.import_module(f"melib.methods.{self.name}")

    @property
    def variants(self) -> list[str]:
        return list(self.methods.VARIANTS)

    @property
    def reference(self) -> dict[str, Any]:
        """The CPU reference setting's overrides (README's tables)."""
        return dict(getattr(self.methods, "REFERENCE_CPU", {}))

    def needs_aus(self, variant: str) -> bool:
        """Whether ``variant`` needs AU labels to run (every variant of an AU detection method does)."""
        return self.task == "au" or bool(self.variant_needs_aus(variant))

    def owns_run(self, method_name: str) -> bool:
        """Whether a run folder's method name (``run.json``'s ``method``) is this method's."""
        return method_name.startswith(self.run_prefix)


def look_up(table: Mapping[str, Any], key: Any, kind: type, what: str) -> Any:
    """``table[key]``, or ``key`` itself when it already is a ``kind`` (a variant passed through); an unknown
    name raises, naming ``what`` and the choices."""
    if isinstance(key, kind):
        return key
    if key not in table:
        raise ValueError(f"unknown {what} {key!r}; choose from {list(table)}")
    return table[key]


__all__ = ["MethodSpec", "look_up"]
