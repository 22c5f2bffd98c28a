"""The AU-similarity explorer: which clips are near a clip, or an AU combination, by their AU labels
(the Jaccard weight of annotation mimic's Eq. 4, :func:`melib.losses.au_similarity`) and, given a
trained method's features, by what the network learned; with apex thumbnails and the AU
co-occurrence matrix.

It needs no trained run: ``au_explorer("synthetic")`` (or a manifest, or a dataset folder) works on
labels and frames alone, and a method's features are an optional second table. ``make explore``
serves it as a standalone page (``apps/au_explorer.ipynb`` through Voila).

The rendering is plain functions (tables and figures), so it is testable and a headless run never
depends on widget state; :func:`au_explorer` only wires them to ipywidgets controls. The neighbour
tables, the query line and the loaders are :mod:`melib.viz.similarity` (no widgets), whose names this
module re-exports.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import traitlets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..splits import clip_ids
from .data import au_columns, au_cooccurrence, difference_image
from .similarity import (  # re-exported: the explorer's names, as before
    AU_NAMES,
    _aus_of,
    au_label,
    au_names,
    au_neighbours,
    clip_id,
    feature_neighbours,
    load_clips,
    load_features,
    query_summary,
)
from .widgets import figure_png, static_form


def thumbnails(manifest: pd.DataFrame, clips: Sequence[str], titles: Sequence[str] | None = None,
               size: int = 96) -> Figure:
    """One row per clip: onset, apex and the onset -> apex Farneback flow magnitude (a thumbnail each)."""
    import cv2

    from ..data import load_frame
    from ..motion.flow import optical_flow

    by_id = manifest.set_index(clip_ids(manifest).to_numpy())
    fig, axes = plt.subplots(len(clips), 3, figsize=(4.2, 1.45 * len(clips) + 0.3), squeeze=False)
    for i, cid in enumerate(clips):
        row = by_id.loc[cid]
        onset, apex = (cv2.resize(load_frame(row, int(row[n])), (size, size), interpolation=cv2.INTER_AREA)
                       for n in ("onset", "apex"))
        flow = optical_flow(onset, apex, method="farneback")
        for ax, image, cmap in zip(axes[i], (onset, apex, np.hypot(flow[..., 0], flow[..., 1])), (None, None, "magma")):
            ax.imshow(image, cmap=cmap)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i][0].set_ylabel((titles[i] if titles else cid).replace(" ", "\n", 1), fontsize=6)
    for ax, name in zip(axes[0], ("onset", "apex", "|flow|")):
        ax.set_title(name, fontsize=8)
    fig.tight_layout()
    return fig


def apex_gallery(manifest: pd.DataFrame, clips: Sequence[str], titles: Sequence[str] | None = None,
                 gain: float = 8.0, size: int = 128, title: str = "") -> Figure:
    """One column per clip: its apex frame above apex minus onset (x ``gain``), so what moved shows.

    Parameters
    ----------
    manifest
        The clips' manifest (frames are read from its ``frames_dir``).
    clips
        Clip ids ``"subject/clip"``, left to right.
    titles
        A title per column (default: the clip id and its AUs).
    gain
        Amplification of the signed difference; mid grey = no change, red = brighter, blue = darker.
    size
        Thumbnail side in pixels.
    title
        The figure's title.
    """
    import cv2

    from ..data import load_frame

    by_id = manifest.set_index(clip_ids(manifest).to_numpy())
    n = max(len(clips), 1)
    fig, axes = plt.subplots(2, n, figsize=(1.75 * n + 0.9, 4.3 if title else 4.0), squeeze=False, layout="constrained")
    image = None
    for i, cid in enumerate(clips):
        row = by_id.loc[cid]
        onset, apex = (cv2.resize(load_frame(row, int(row[c])), (size, size), interpolation=cv2.INTER_AREA)
                       for c in ("onset", "apex"))
        axes[0][i].imshow(apex, cmap="gray" if apex.ndim == 2 else None)
        image = axes[1][i].imshow(difference_image(onset, apex, gain), cmap="RdBu_r", vmin=0, vmax=1)
        axes[0][i].set_title(titles[i] if titles else f"{cid}\n{au_label(row['aus'])}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("apex", fontsize=9)
    axes[1][0].set_ylabel(f"apex - onset (x{gain:g})", fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes[1]), fraction=0.03, pad=0.01, aspect=12, ticks=[0, 0.5, 1])
        bar.ax.set_yticklabels(["darker", "no change", "brighter"], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def cooccurrence_highlight(manifest: pd.DataFrame, aus: Sequence[int]) -> Figure:
    """The AU co-occurrence matrix (P(column AU | row AU)) with the chosen AUs' rows and columns outlined."""
    fig = au_cooccurrence(manifest)
    fig.set_size_inches(5.2, 4.4)  # beside a table: smaller canvas, same point sizes, so legible when shown small
    ax = fig.axes[0]
    labels = [c[2:] for c in au_columns(manifest)]
    for a in aus:
        if str(a) in labels:
            j = labels.index(str(a))
            ax.add_patch(Rectangle((0, j), len(labels), 1, fill=False, edgecolor="red", lw=1.5))
            ax.add_patch(Rectangle((j, 0), 1, len(labels), fill=False, edgecolor="red", lw=1.5))
    ax.set_title(f"P(AU | given AU); chosen: {', '.join(f'AU{a}' for a in aus) or 'none'} (red)", fontsize=9)
    return fig


def _table_html(table: pd.DataFrame) -> str:
    """A neighbour table as compact HTML: rank, clip, AUs as ``1+2``, emotion, score to 2 decimals."""
    score = table.columns[-1]
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{html.escape(str(r['clip']))}</td><td>{'+'.join(map(str, r['aus'])) or '-'}</td>"
        f"<td>{html.escape(str(r['emotion']))}</td><td>{r[score]:.2f}</td></tr>" for i, (_, r) in enumerate(table.iterrows()))
    head = "".join(f"<th>{h}</th>" for h in ("#", "clip", "AUs", "emotion", score))
    return (f"<table class='melib-neighbours' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            "<style>.melib-neighbours td,.melib-neighbours th{padding:2px 10px;border-bottom:1px solid #ddd;"
            "text-align:left}</style>")


class AUPicker(widgets.GridBox):
    """One toggle button per AU (pressed = chosen), so the whole choice is always in view; ``value`` is
    the tuple of chosen AU numbers, in numeric order, and can be set."""

    value = traitlets.Tuple()

    def __init__(self, aus: Sequence[int], value: Sequence[int] = (), columns: int = 7):
        self.buttons = {a: widgets.ToggleButton(description=f"AU{a}", tooltip=AU_NAMES.get(a, ""),
                                                layout=widgets.Layout(width="auto")) for a in aus}
        super().__init__(list(self.buttons.values()),
                         layout=widgets.Layout(grid_template_columns=f"repeat({columns}, 64px)", grid_gap="3px"))
        self._syncing = False
        for button in self.buttons.values():
            button.observe(self._from_buttons, names="value")
        self.observe(self._to_buttons, names="value")
        self.value = tuple(value)

    def _from_buttons(self, _change: Any) -> None:
        if not self._syncing:
            self.value = tuple(a for a, b in self.buttons.items() if b.value)

    @traitlets.validate("value")
    def _check(self, proposal: Any) -> tuple[int, ...]:
        value = tuple(sorted({int(a) for a in proposal["value"]}))
        unknown = [a for a in value if a not in self.buttons]
        if unknown:
            raise traitlets.TraitError(f"AUs {unknown} are not among {list(self.buttons)}")
        return value

    def _to_buttons(self, change: Any) -> None:
        self._syncing = True
        try:
            for a, button in self.buttons.items():
                button.value = a in change["new"]
                button.button_style = "info" if a in change["new"] else ""
        finally:
            self._syncing = False


class AUExplorer(widgets.VBox):
    """The widget :func:`au_explorer` returns.

    Controls: ``clip`` (a dropdown), ``aus`` (an :class:`AUPicker`; its ``value`` is a tuple of AU
    numbers), ``mode`` ("clip" | "AUs": which of the two is the query) and ``k``. Choosing a clip makes
    it the query and shows its AUs in the picker; pressing an AU button makes the picked AUs the query.
    After every change ``label_table`` and ``feature_table`` (None without features, or with an AU
    query) hold what it shows, so tests and scripts drive it by setting values.
    """

    def __init__(self, manifest: pd.DataFrame, features: Mapping[str, np.ndarray] | pd.DataFrame | None = None,
                 k: int = 4, thumbs: bool = True):
        self.manifest, self.features, self.thumbs = manifest.reset_index(drop=True), features, thumbs
        if self.manifest.empty:
            raise ValueError("the manifest has no clips")
        ids = clip_ids(self.manifest).tolist()
        self._busy = True
        self.mode = widgets.ToggleButtons(options=["clip", "AUs"], value="clip", description="query by",
                                          tooltips=["the chosen clip (it is left out of the table)",
                                                    "the AU buttons you press"])
        self.clip = widgets.Dropdown(options=ids, value=ids[0], description="clip")
        self.aus = AUPicker([int(c[2:]) for c in au_columns(self.manifest)], _aus_of(self.manifest, ids[0]))
        self.k = widgets.IntSlider(value=k, min=1, max=10, description="neighbours")
        self.summary = widgets.HTML()
        self.label_view, self.feature_view = widgets.HTML(), widgets.HTML()
        self.images = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.matrix = widgets.Image(format="png", layout=widgets.Layout(width="440px", height="auto",
                                                                        align_self="flex-start"))
        self.label_table: pd.DataFrame | None = None
        self.feature_table: pd.DataFrame | None = None
        self.mode.observe(self._on_mode, names="value")
        self.clip.observe(self._on_clip, names="value")
        self.aus.observe(self._on_aus, names="value")
        self.k.observe(lambda _change: self.refresh(), names="value")
        controls = widgets.HBox([widgets.VBox([self.mode, self.clip, self.k]),
                                 widgets.VBox([widgets.HTML("<b>AUs</b> (press to query by an AU combination)"), self.aus])],
                                layout=widgets.Layout(grid_gap="20px"))
        columns = [widgets.VBox([widgets.HTML("<b>nearest by AU labels</b> (Jaccard |A&cap;B| / |A&cup;B|, "
                                              "annotation mimic's Eq. 4)"), self.label_view])]
        if features is not None:
            columns.append(widgets.VBox([widgets.HTML("<b>nearest by learned features</b> (cosine)"), self.feature_view]))
        columns.append(self.matrix)
        super().__init__([controls, self.summary, widgets.HBox(columns, layout=widgets.Layout(grid_gap="24px")),
                          self.images])
        self._busy = False
        self.refresh()

    # --- control callbacks: each sets the others quietly, then redraws once -----------------------
    def _on_mode(self, change: Any) -> None:
        if not self._busy:
            if change["new"] == "clip":
                self._quietly(lambda: setattr(self.aus, "value", tuple(_aus_of(self.manifest, self.clip.value))))
            self.refresh()

    def _on_clip(self, change: Any) -> None:
        if not self._busy:
            self._quietly(lambda: (setattr(self.mode, "value", "clip"),
                                   setattr(self.aus, "value", tuple(_aus_of(self.manifest, change["new"])))))
            self.refresh()

    def _on_aus(self, _change: Any) -> None:
        if not self._busy:
            self._quietly(lambda: setattr(self.mode, "value", "AUs"))
            self.refresh()

    def _quietly(self, action: Any) -> None:
        self._busy = True
        try:
            action()
        finally:
            self._busy = False

    @property
    def query(self) -> str | list[int]:
        """What the tables are ranked against: the clip id (mode "clip") or the chosen AUs."""
        return self.clip.value if self.mode.value == "clip" else list(self.aus.value)

    def shown(self) -> tuple[list[str], list[str]]:
        """The clips the thumbnails show (the query clip first, if any) and their titles."""
        clips, titles = [], []
        if self.mode.value == "clip":
            clips.append(self.clip.value)
            titles.append(f"query\n{self.clip.value}\n{au_label(self.aus.value)}")
        for table, score, short in ((self.label_table, "jaccard", "J"), (self.feature_table, "cosine", "cos")):
            if table is not None:
                clips += list(table["clip"])
                titles += [f"{c}\n{au_label(a)}\n{short} = {s:.2f}" for c, a, s in zip(table["clip"], table["aus"], table[score])]
        return clips, titles

    def figure(self) -> Figure:
        """The current view as one static figure (apex thumbnails of the query and its neighbours)."""
        clips, titles = self.shown()
        what = f"clip {self.clip.value} ({au_label(self.aus.value)})" if self.mode.value == "clip" else au_label(self.aus.value)
        by = "AU labels (J, Jaccard)" + (" and by learned features (cos)" if self.feature_table is not None else "")
        return apex_gallery(self.manifest, clips, titles, title=f"AU explorer: the {self.k.value} clips nearest to {what} by {by}")

    def refresh(self) -> None:
        """Recompute the tables and redraw the images from the controls' values.

        Everything is computed first and shown together, so a page never shows a new table beside old images.
        """
        query_aus = list(self.aus.value)
        self.label_table = au_neighbours(self.manifest, self.query, self.k.value)
        self.feature_table = None
        if self.features is not None and self.mode.value == "clip":
            self.feature_table = feature_neighbours(self.manifest, self.features, self.clip.value, self.k.value)
        images = matrix = None
        if self.thumbs:
            clips, titles = self.shown()
            images = figure_png(apex_gallery(self.manifest, clips, titles))
            matrix = figure_png(cooccurrence_highlight(self.manifest, query_aus))
        self.label_view.value = _table_html(self.label_table)
        self.summary.value = f"<b>query</b>: {html.escape(query_summary(self.manifest, query_aus))}"
        self.feature_view.value = (_table_html(self.feature_table) if self.feature_table is not None
                                   else "<i>learned features rank clips, not AU combinations: pick a clip</i>")
        if images is not None:
            self.images.value, self.matrix.value = images, matrix

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # Where no widget can be drawn (an executed copy opened without its widget state, the site), show
        # the thumbnails as they were when displayed and a line saying what this is, instead of "VBox(...)".
        return static_form(super()._repr_mimebundle_(**kwargs),
                           f"(interactive AU explorer over {len(self.manifest)} clips, query {self.query!r}: "
                           "open the notebook in JupyterLab, or run make explore)",
                           self.images.value if self.thumbs else None)


def au_explorer(root_or_manifest: pd.DataFrame | str | Path,
                features: Mapping[str, np.ndarray] | pd.DataFrame | str | Path | None = None,
                root: str | Path = "", k: int = 4, dataset: str | None = None, thumbs: bool = True) -> AUExplorer:
    """The AU-similarity explorer widget; no trained run needed.

    Parameters
    ----------
    root_or_manifest
        A manifest, a dataset name (``au_explorer("synthetic")``) or a dataset folder (:func:`load_clips`).
    features
        Optional: clip id -> vector, a DataFrame indexed by clip id, or a run folder of SelfME or
        annotation mimic (:func:`load_features`); adds a table of the nearest clips by cosine.
    root
        The folder of a dataset given by name ("" = its default location).
    k
        Neighbours shown at first (the slider goes to 10).
    dataset
        The reader for a folder that is not a synthetic dataset.
    thumbs
        Draw the apex thumbnails and the co-occurrence matrix (off: tables only, faster).

    Returns
    -------
    :class:`AUExplorer`, an ipywidgets ``VBox``: display it, or set its controls' values.
    """
    manifest = load_clips(root_or_manifest, root, dataset)
    if isinstance(features, (str, Path)):
        features = load_features(features, manifest)
    return AUExplorer(manifest, features, k, thumbs)


__all__ = ["AU_NAMES", "AUExplorer", "AUPicker", "apex_gallery", "au_explorer", "au_label", "au_names", "au_neighbours", "clip_id",
           "cooccurrence_highlight", "feature_neighbours", "load_clips", "load_features", "query_summary", "thumbnails"]
