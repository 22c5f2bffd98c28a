"""Figures: every plot function returns a matplotlib Figure; :func:`save_figure` writes it to disk."""
from .figures import save_figure

__all__ = ["save_figure"]
