"""Figures: every plot function returns a matplotlib Figure; :func:`save_figure` writes it to disk.

Modules: ``data`` (manifest statistics, one clip's motion), ``results`` (training curves, F1 tables),
``tables`` (Markdown), ``ladder`` (the learnability ladder), ``widgets`` (interactive viewers).
"""
from . import data, ladder, results, tables, widgets
from .figures import save_figure

__all__ = ["data", "ladder", "results", "save_figure", "tables", "widgets"]
