"""The one helper that saves figures (PNG + PDF) under ``<outputs>/figures/``."""
from __future__ import annotations

import re
from pathlib import Path

from matplotlib.figure import Figure

from ..config import display_path, figures_root
from ..io import atomic_path


class SavedFigure(list):
    """The written paths; shown in a notebook as one short line."""

    def __repr__(self) -> str:
        return "saved " + ", ".join(display_path(p) for p in self)


def save_figure(fig: Figure, name: str, folder: str | None = None, dpi: int = 150) -> SavedFigure:
    """Save ``fig`` as ``<figures>/[folder/]<name>.png`` and ``.pdf`` (tight bounding box).

    Names are restricted to letters, digits, ``-`` and ``_`` so figure files stay portable.
    Returns the written paths.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"figure name {name!r}: use letters, digits, '-' and '_' only")
    root = figures_root() / folder if folder else figures_root()
    paths = SavedFigure()
    for ext in ("png", "pdf"):
        path = root / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths
