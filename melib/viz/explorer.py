"""The AU-similarity explorer: which clips are near a clip, or an AU combination, by their AU labels
(the Jaccard weight of annotation mimic's Eq. 4, :func:`melib.losses.au_similarity`) and, given a
trained method's features, by what the network learned; side by side with onset, apex and flow.

The rendering is plain functions (tables and figures), so it is testable and a headless run never
depends on widget state; :func:`au_explorer` only wires them to ipywidgets controls.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..splits import clip_ids
from .data import au_columns, au_cooccurrence
from .widgets import figure_png


def clip_id(row: Mapping[str, Any]) -> str:
    """One row's ``"subject/clip"`` (:func:`melib.splits.clip_ids` for a whole manifest)."""
    return f"{row['subject']}/{row['clip']}"


def _multi_hot(manifest: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    return manifest[list(cols)].to_numpy(dtype=np.float64)


def au_neighbours(manifest: pd.DataFrame, query: str | Sequence[int], k: int = 5) -> pd.DataFrame:
    """The ``k`` clips most similar to ``query`` by AU labels: Jaccard ``|A & B| / |A | B|`` (Eq. 4).

    ``query`` is a clip id ``"subject/clip"`` (the clip itself is left out) or AU numbers such as
    ``[1, 2]``. Ties keep manifest order. Columns: ``clip``, ``aus``, ``emotion``, ``jaccard``.
    """
    import torch

    from ..losses import au_similarity

    cols = au_columns(manifest)
    ids = clip_ids(manifest).tolist()
    x = _multi_hot(manifest, cols)
    if isinstance(query, str):
        if query not in ids:
            raise KeyError(f"no clip {query!r} in the manifest (ids are 'subject/clip', e.g. {ids[0]!r})")
        q, skip = x[ids.index(query)], ids.index(query)
    else:
        unknown = [a for a in query if f"AU{a}" not in cols]
        if unknown:
            raise KeyError(f"AUs {unknown} are not in the manifest's AU columns {[c[2:] for c in cols]}")
        q, skip = np.array([float(f"AU{int(c[2:])}" in {f"AU{a}" for a in query}) for c in cols]), None
    w = au_similarity(torch.from_numpy(np.vstack([x, q[None]])))[-1, :-1].numpy()
    return _ranked(manifest, ids, w, skip, k, "jaccard")


def feature_neighbours(manifest: pd.DataFrame, features: Mapping[str, np.ndarray] | pd.DataFrame, query: str,
                       k: int = 5) -> pd.DataFrame:
    """The ``k`` clips nearest to clip ``query`` by cosine similarity of ``features`` (clip id -> vector,
    or a DataFrame indexed by clip id); clips without features are left out."""
    table = features if isinstance(features, pd.DataFrame) else pd.DataFrame.from_dict(dict(features), orient="index")
    if query not in table.index:
        raise KeyError(f"no features for clip {query!r} ({len(table)} clips have features)")
    ids = clip_ids(manifest).tolist()
    have = [i for i in ids if i in table.index]
    f = table.loc[have].to_numpy(dtype=np.float64)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    q = f[have.index(query)]
    rows = manifest[[i in table.index for i in ids]]
    return _ranked(rows, have, f @ q, have.index(query), k, "cosine")


def _ranked(rows: pd.DataFrame, ids: Sequence[str], score: np.ndarray, skip: int | None, k: int, name: str) -> pd.DataFrame:
    order = [i for i in np.argsort(-score, kind="stable") if i != skip][:k]
    return pd.DataFrame({"clip": [ids[i] for i in order], "aus": [rows.iloc[i]["aus"] for i in order],
                         "emotion": [rows.iloc[i]["emotion"] for i in order], name: score[order]})


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


def cooccurrence_highlight(manifest: pd.DataFrame, aus: Sequence[int]) -> Figure:
    """The AU co-occurrence matrix (P(column AU | row AU)) with the chosen AUs' rows and columns outlined."""
    fig = au_cooccurrence(manifest)
    ax = fig.axes[0]
    labels = [c[2:] for c in au_columns(manifest)]
    for a in aus:
        if str(a) in labels:
            j = labels.index(str(a))
            ax.add_patch(Rectangle((0, j), len(labels), 1, fill=False, edgecolor="red", lw=1.5))
            ax.add_patch(Rectangle((j, 0), 1, len(labels), fill=False, edgecolor="red", lw=1.5))
    ax.set_title(f"P(AU | given AU); chosen: {', '.join(f'AU{a}' for a in aus) or 'none'}", fontsize=9)
    return fig


def _aus_of(manifest: pd.DataFrame, cid: str) -> list[int]:
    row = manifest[clip_ids(manifest) == cid].iloc[0]
    return [int(c[2:]) for c in au_columns(manifest) if row[c]]


class AUExplorer(widgets.VBox):
    """The widget :func:`au_explorer` returns. ``mode`` ("clip" | "AUs"), ``clip``, ``aus`` and ``k`` are
    its controls; after every change ``label_table`` and ``feature_table`` (None without features) hold
    what it shows, so tests and scripts can drive it by setting values."""

    def __init__(self, manifest: pd.DataFrame, features: Mapping[str, np.ndarray] | pd.DataFrame | None = None,
                 k: int = 4, thumbs: bool = True):
        self.manifest, self.features, self.thumbs = manifest.reset_index(drop=True), features, thumbs
        ids = clip_ids(self.manifest).tolist()
        aus = [int(c[2:]) for c in au_columns(self.manifest)]
        self.mode = widgets.ToggleButtons(options=["clip", "AUs"], value="clip", description="query")
        self.clip = widgets.Dropdown(options=ids, value=ids[0], description="clip")
        self.aus = widgets.SelectMultiple(options=[(f"AU{a}", a) for a in aus], value=tuple(_aus_of(self.manifest, ids[0])),
                                          description="AUs", rows=min(8, len(aus)))
        self.k = widgets.IntSlider(value=k, min=1, max=10, description="neighbours")
        self.label_view, self.feature_view = widgets.HTML(), widgets.HTML()
        # top-aligned at their own height: an HBox would otherwise stretch the matrix to the thumbnails' height
        self.images = widgets.Image(format="png", layout=widgets.Layout(width="45%", height="auto", align_self="flex-start"))
        self.matrix = widgets.Image(format="png", layout=widgets.Layout(width="45%", height="auto", align_self="flex-start"))
        self.label_table: pd.DataFrame | None = None
        self.feature_table: pd.DataFrame | None = None
        for control in (self.mode, self.clip, self.aus, self.k):
            control.observe(lambda _change: self.refresh(), names="value")
        controls = widgets.HBox([widgets.VBox([self.mode, self.clip, self.k]), self.aus])
        tables = widgets.HBox([widgets.VBox([widgets.HTML("<b>nearest by AU labels (Jaccard, Eq. 4)</b>"), self.label_view]),
                               widgets.VBox([widgets.HTML("<b>nearest by learned features (cosine)</b>"), self.feature_view])])
        super().__init__([controls, tables, widgets.HBox([self.images, self.matrix])])
        self.refresh()

    def refresh(self) -> None:
        query_aus = list(self.aus.value) if self.mode.value == "AUs" else _aus_of(self.manifest, self.clip.value)
        query = query_aus if self.mode.value == "AUs" else self.clip.value
        self.label_table = au_neighbours(self.manifest, query, self.k.value)
        self.label_view.value = self.label_table.round(3).to_html(index=False)
        self.feature_table = None
        if self.features is not None and self.mode.value == "clip":
            self.feature_table = feature_neighbours(self.manifest, self.features, self.clip.value, self.k.value)
            self.feature_view.value = self.feature_table.round(3).to_html(index=False)
        else:
            self.feature_view.value = "<i>pick a clip (mode 'clip') and pass features</i>" if self.features is not None \
                else "<i>no features given</i>"
        if self.thumbs:
            shown = ([self.clip.value] if self.mode.value == "clip" else []) + list(self.label_table["clip"])
            titles = (["query " + self.clip.value] if self.mode.value == "clip" else []) + [
                f"{c} J={w:.2f}" for c, w in zip(self.label_table["clip"], self.label_table["jaccard"])]
            if self.feature_table is not None:
                shown += list(self.feature_table["clip"])
                titles += [f"{c} cos={w:.2f}" for c, w in zip(self.feature_table["clip"], self.feature_table["cosine"])]
            self.images.value = figure_png(thumbnails(self.manifest, shown, titles))
            self.matrix.value = figure_png(cooccurrence_highlight(self.manifest, query_aus))


def load_features(run_dir: str | Path, manifest: pd.DataFrame, fold: int = 0) -> pd.DataFrame:
    """Features of every clip of a run folder under one fold's model (``fold``: the one that held out
    that subject), indexed by clip id: SelfME's class token, annotation mimic's X_F. One model, so one
    feature space (pooling several fold models would group clips by fold)."""
    from ..io import load_json
    from ..train import Run

    run_dir = Path(run_dir)
    info = load_json(run_dir / "run.json")
    run = Run(run_dir, int(info["k"]))
    if info["method"] == "selfme":
        from ..methods import selfme as module
    elif info["method"].startswith("mimic"):
        from ..methods import annotation_mimic as module
    else:
        raise ValueError(f"{run_dir}: features of {info['method']!r} runs are not supported (SelfME and annotation "
                         "mimic are); pass a mapping clip id -> vector instead")
    return module.fold_features(run, manifest, fold)


def au_explorer(manifest: pd.DataFrame | str, features: Mapping[str, np.ndarray] | pd.DataFrame | str | Path | None = None,
                root: str | None = None, k: int = 4) -> AUExplorer:
    """The AU-similarity explorer widget over ``manifest`` (a manifest, or a dataset name read from
    ``root``: ``au_explorer("synthetic")``). ``features``: clip id -> vector, a DataFrame indexed by clip
    id, or a run folder of SelfME or annotation mimic (:func:`load_features`)."""
    if isinstance(manifest, str):
        from ..data import load_manifest

        manifest = load_manifest(manifest, root or "")
    if isinstance(features, (str, Path)):
        features = load_features(features, manifest)
    return AUExplorer(manifest, features, k)


__all__ = ["AUExplorer", "au_explorer", "au_neighbours", "clip_id", "cooccurrence_highlight", "feature_neighbours",
           "load_features", "thumbnails"]
