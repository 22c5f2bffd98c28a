"""Figures: every plot function returns a matplotlib Figure; :func:`save_figure` writes it to disk.

Modules: ``data`` (manifest statistics, one clip's motion), ``widgets`` (interactive viewers).
"""
from . import data, widgets
from .figures import save_figure

__all__ = ["data", "save_figure", "widgets"]
