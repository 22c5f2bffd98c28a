"""The one progress bar of melib: tqdm's plain-text bar, also inside notebooks.

``tqdm.auto`` draws an ipywidgets bar in a notebook; an executed copy (papermill, nbval, the site) keeps
only that widget's text form, frozen at 0 %. The text bar writes carriage-return updates that every
notebook front end renders as one line, and its final state is what an executed copy shows.
"""
from __future__ import annotations

from typing import Any

from tqdm.std import tqdm as _tqdm


def tqdm(*args: Any, **kwargs: Any) -> _tqdm:
    """``tqdm.std.tqdm`` with a calmer refresh (``mininterval`` 2 s) and fixed width, so a long loop
    leaves a few lines in a notebook rather than hundreds."""
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("ncols", 90)
    return _tqdm(*args, **kwargs)



_SAID: set[str] = set()


def print_once(message: str) -> None:
    """Print ``message`` the first time this process is asked to, and stay silent on repeats (a note
    that several runs of one notebook would each print, such as which clips were dropped)."""
    if message not in _SAID:
        _SAID.add(message)
        print(message)


__all__ = ["print_once", "tqdm"]
