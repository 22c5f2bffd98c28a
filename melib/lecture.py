"""Teaching helpers for the notebooks' equation -> code -> check steps.

A notebook shows the paper's equation, then the function of melib that computes it
(:func:`show_source`), then its value on a toy batch whose answer the reader can predict.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from .config import repo_root


def source_text(obj: Any, start: str | None = None) -> str:
    """Source of a function or class, headed by its file (relative to the repository) and first line.

    Parameters
    ----------
    obj : the function, method or class to show.
    start : when given, the source is shown from the first line containing this text (for example
        ``"loss ="``), so that a long docstring can be skipped; the header still names the def line.
    """
    target = inspect.unwrap(obj)
    lines, first = inspect.getsourcelines(target)
    path = Path(inspect.getsourcefile(target) or "?").resolve()
    try:
        shown = path.relative_to(repo_root())
    except ValueError:
        shown = path
    body = "".join(lines)
    if start is not None:
        hit = next((i for i, line in enumerate(lines) if start in line), None)
        if hit is None:
            raise ValueError(f"{start!r} does not occur in the source of {target.__qualname__}")
        body = "".join([lines[0], "    ...\n"] + lines[hit:]) if hit > 0 else body
    return f"# {shown}:{first}  ({target.__module__}.{target.__qualname__})\n{body.rstrip()}\n"


def show_source(obj: Any, start: str | None = None) -> None:
    """Print :func:`source_text` of ``obj`` (the notebook's "melib's code for it" step)."""
    print(source_text(obj, start))


__all__ = ["show_source", "source_text"]
