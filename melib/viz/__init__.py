"""Figures: every plot function returns a matplotlib Figure; :func:`save_figure` writes it to disk.

Modules: ``data`` (manifest statistics, one clip's motion), ``results`` (training curves, F1 tables),
``tables`` (Markdown), ``ladder`` (the learnability ladder), ``attention`` (token maps of ViT-based
methods), ``widgets`` (interactive viewers), ``explorer`` (the AU-similarity explorer, :func:`au_explorer`)
and ``similarity`` (its neighbour tables, no widgets). ``results`` (which needs torch, through the harness)
and ``widgets`` (ipywidgets) are imported on first use, so ``import melib.viz`` stays light for notebooks
that need neither.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import attention, data, ladder, tables
from .figures import save_figure

_LAZY = ("results", "widgets", "explorer")

__all__ = ["attention", "au_explorer", "data", "explorer", "ladder", "results", "save_figure", "tables", "widgets"]


def __getattr__(name: str) -> Any:
    if name == "au_explorer":  # the AU-similarity explorer widget (melib.viz.explorer)
        return importlib.import_module(".explorer", __name__).au_explorer
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
