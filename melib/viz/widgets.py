"""Interactive widgets for notebooks. Each is built by a function and shown from its own cell, so a
headless run (papermill, nbval) never depends on widget state.

Widgets redraw into an ``ipywidgets.Image`` (a PNG rendered off-screen) rather than an ``Output``
widget: no ``clear_output`` races with headless executors, and the first frame is there statically.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .data import difference_image


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def static_form(bundle: dict[str, Any], text: str, png: bytes | None) -> dict[str, Any]:
    """A widget's display bundle with the form shown where no widget can be drawn (an executed copy, the
    site): ``text`` instead of ipywidgets' ``VBox(children=...)``, and ``png`` (its current image) if any."""
    bundle["text/plain"] = text
    if png:
        bundle["image/png"] = base64.b64encode(png).decode()
    return bundle


class Viewer(widgets.VBox):
    """A ``VBox`` whose static form is its current image and a line saying it is interactive."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        png = next((c.value for c in self.children if isinstance(c, widgets.Image) and c.value), None)
        return static_form(super()._repr_mimebundle_(**kwargs),
                           "(interactive viewer: open the notebook in JupyterLab to move its control)", png)


def image_viewer(control: widgets.ValueWidget, draw: Callable[[Any], Figure]) -> widgets.Widget:
    """``control`` above an image that ``draw(control.value)`` redraws whenever the value changes."""
    image = widgets.Image(format="png", value=figure_png(draw(control.value)))
    control.observe(lambda change: setattr(image, "value", figure_png(draw(change["new"]))), names="value")
    return Viewer([control, image])


def clip_viewer(row: Mapping[str, Any], gain: float = 8.0) -> widgets.Widget:
    """Slider over a clip's frames: the frame, and its difference from the onset frame (x ``gain``).

    The onset, apex and offset frames are marked on the slider's label.
    """
    from ..data import available_frames, load_frame

    numbers = [n for n in available_frames(row) if row["onset"] <= n <= row["offset"]]
    onset = load_frame(row, int(row["onset"]))
    cache: dict[int, np.ndarray] = {}
    marks = {int(row["onset"]): " (onset)", int(row["apex"]): " (apex)", int(row["offset"]): " (offset)"}

    def draw(n: int) -> Figure:
        if n not in cache:
            cache[n] = load_frame(row, n)
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
        axes[0].imshow(cache[n], cmap="gray")
        axes[0].set_title(f"{row['subject']}/{row['clip']} frame {n}{marks.get(n, '')}", fontsize=9)
        axes[1].imshow(difference_image(onset, cache[n], gain), cmap="RdBu_r", vmin=0, vmax=1)
        axes[1].set_title(f"frame - onset (x{gain:g})", fontsize=9)
        for ax in axes:
            ax.axis("off")
        return fig

    slider = widgets.SelectionSlider(options=[(f"{n}{marks.get(n, '')}", n) for n in numbers],
                                     value=int(row["apex"]), description="frame", continuous_update=False,
                                     layout=widgets.Layout(width="480px"))
    return image_viewer(slider, draw)


def magnification_viewer(onset: np.ndarray, magnify: Callable[[float], Mapping[str, np.ndarray]],
                         alphas: Sequence[float], gain: float = 4.0, box: tuple[slice, slice] | None = None
                         ) -> widgets.Widget:
    """Slider over ``alphas``: ``magnify(alpha)`` returns ``{label: magnified apex}``, drawn above each
    frame's difference from the onset (x ``gain``); results are kept, so going back is instant."""
    from .motion import magnified_grid

    done: dict[float, Mapping[str, np.ndarray]] = {}

    def draw(alpha: float) -> Figure:
        if alpha not in done:
            done[alpha] = magnify(alpha)
        return magnified_grid(onset, done[alpha], gain, box, title=f"alpha = {alpha:g}")

    slider = widgets.SelectionSlider(options=[(f"{a:g}", a) for a in alphas], value=alphas[len(alphas) // 2],
                                     description="alpha", continuous_update=False, layout=widgets.Layout(width="420px"))
    return image_viewer(slider, draw)
