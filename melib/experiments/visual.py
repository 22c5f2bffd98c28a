"""What the models see (notebook 09): the same held-out clips through every method's maps, on the
synthetic dataset's true AU region, and where each method fails.

Every map is put in the coordinates of the whole face frame at ``size`` x ``size`` (IICL's centre crop
is placed where it sits in the frame; outside it the network saw nothing and the map is 0), so one
true region serves every method:

- IICL: Grad-CAM of the sum of the clip's true AUs' logits at the backbone's last stage;
- annotation mimic: AU-CAM (Eqs. 12-13) and Grad-CAM of the predicted class;
- Micro-AU CLIP: the PTA weights (Eqs. 2-3) of the clip's true AUs on the patch-token grid, summed;
- SelfME: Grad-CAM of the predicted class with and without the SC loss.

The true region is where the synthetic AU motion (``au_flow_onset_apex``, head motion excluded) is at
least ``region_share`` of its maximum. :func:`cam_mass_inside` is the share of a map's mass there; a
map spread evenly over the frame scores the region's share of the area, which is reported with it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd

from .. import splits, train
from ..methods import SPECS
from . import runs

#: The variants notebook 09 shows, per method (each spec's ``views``: the notebooks' default runs, so
#: their folds are reused).
VIEWS: dict[str, tuple[str, ...]] = {name: s.views for name, s in SPECS.items() if s.views}


@dataclass
class Trained:
    """One variant's run with the fold that holds out the shown subject trained (or loaded)."""

    exp: runs.Experiment
    run: train.Run
    method: Any  # the harness's Method (its input cache)
    clips: pd.DataFrame

    @property
    def name(self) -> str:
        return f"{self.exp.method.name}/{self.exp.variant}"


def fold_of(exp: runs.Experiment, subject: str) -> int:
    """The fold of ``exp``'s protocol whose test side holds ``subject``."""
    for s in splits.make_splits(exp.clips, exp.protocol, k=4):
        if subject in s.test_subjects:
            return s.fold
    raise ValueError(f"subject {subject!r} is not among {exp.label()}'s subjects")


def experiments(profile: str, dataset: str = "synthetic", root: str = "") -> dict[str, runs.Experiment]:
    """The experiments of :data:`VIEWS` (seed 0, each method's default protocol)."""
    return {f"{m}/{v}": runs.experiment(m, v, seed=0, profile=profile, dataset=dataset, root=root)
            for m, variants in VIEWS.items() for v in variants}


def common_subject(exps: Mapping[str, runs.Experiment], min_clips: int = 2) -> str:
    """The first subject (sorted) with at least ``min_clips`` clips in every experiment's clips."""
    counts = [e.clips["subject"].astype(str).value_counts() for e in exps.values()]
    shared = sorted(set.intersection(*(set(c[c >= min_clips].index) for c in counts)))
    if not shared:
        raise ValueError(f"no subject has {min_clips} clips in every method's clips")
    return shared[0]


def load(exp: runs.Experiment, subject: str, progress: bool = False) -> Trained:
    """Load or train the fold of ``exp`` that holds out ``subject`` (the whole run is reused when on disk)."""
    run = runs.run(exp, fold=fold_of(exp, subject), progress=progress)
    method, clips = runs.harness(exp)
    return Trained(exp, run, method, clips)


def shared_rows(trained: Mapping[str, Trained], subject: str, n: int) -> pd.DataFrame:
    """The first ``n`` clips of ``subject`` that every run holds out (rows of the first run's clips)."""
    keys = set.intersection(*(set(zip(t.clips["subject"].astype(str), t.clips["clip"])) for t in trained.values()))
    first = next(iter(trained.values())).clips
    mask = [(str(s), c) in keys and str(s) == subject for s, c in zip(first["subject"], first["clip"])]
    return first[mask].head(n)


def rows_in(t: Trained, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows``' clips as rows of ``t``'s own clips (its index labels, its columns)."""
    wanted = list(zip(rows["subject"].astype(str), rows["clip"]))
    index = {(str(s), c): i for i, s, c in zip(t.clips.index, t.clips["subject"], t.clips["clip"])}
    return t.clips.loc[[index[k] for k in wanted]]


def all_maps(trained: Mapping[str, Trained], rows: pd.DataFrame, size: int) -> dict[str, np.ndarray]:
    """:func:`maps` of every run on the same ``rows``."""
    out: dict[str, np.ndarray] = {}
    for t in trained.values():
        out.update(maps(t, rows_in(t, rows), size))
    return out


# ------------------------------------------------------------------------------------------ geometry
def true_region(row: Mapping[str, Any], root: str, size: int, region_share: float = 0.25) -> np.ndarray:
    """``(size, size)`` bool: where the clip's true AU motion (head motion excluded) is at least
    ``region_share`` of its maximum (synthetic dataset only)."""
    from ..data.synthetic import load_groundtruth

    flow = load_groundtruth(root, row["subject"], row["clip"])["au_flow_onset_apex"].astype(np.float32)
    mag = cv2.resize(np.hypot(flow[..., 0], flow[..., 1]), (size, size), interpolation=cv2.INTER_AREA)
    return mag >= region_share * mag.max() if mag.max() > 0 else np.zeros((size, size), bool)


def cam_mass_inside(cam: np.ndarray, region: np.ndarray) -> float:
    """Share of a non-negative map's mass inside ``region`` (NaN for an all-zero map)."""
    cam = np.clip(np.asarray(cam, dtype=np.float64), 0, None)
    total = cam.sum()
    return float(cam[region].sum() / total) if total > 0 else float("nan")


def apex_image(row: Mapping[str, Any], size: int) -> np.ndarray:
    """The apex frame, grey, ``size`` x ``size`` in [0, 1]."""
    from ..data import load_frame

    frame = load_frame(row, int(row["apex"])).astype(np.float32) / 255.0
    frame = frame.mean(-1) if frame.ndim == 3 else frame
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------------------------------- the maps
def maps(t: Trained, rows: pd.DataFrame, size: int) -> dict[str, np.ndarray]:
    """Name -> ``(N, size, size)`` maps in [0, 1] of ``rows`` (clips of ``t``'s held-out subject), in
    whole-frame coordinates (see the module docstring): the method's ``maps`` hook."""
    hook = t.exp.method.maps
    if hook is None:
        raise ValueError(f"no maps for method {t.exp.method.name!r} (its spec has no maps hook)")
    return hook(t, rows, size, fold_of(t.exp, str(rows["subject"].iloc[0])))


def map_table(all_maps: Mapping[str, np.ndarray], regions: np.ndarray, rows: pd.DataFrame) -> pd.DataFrame:
    """Per map kind, the share of map mass inside the true region for each clip and their mean, beside
    the region's share of the frame (what an even map scores)."""
    table = pd.DataFrame({name: [cam_mass_inside(c, r) for c, r in zip(cams, regions)]
                          for name, cams in all_maps.items()},
                         index=splits.clip_ids(rows).tolist())
    table["region area (even map)"] = regions.reshape(len(regions), -1).mean(1)
    table.loc["mean"] = table.mean()
    return table


def overlay_grid(images: np.ndarray, all_maps: Mapping[str, np.ndarray], regions: np.ndarray,
                 titles: Sequence[str]):
    """One column per clip, one row per map kind: the map over the apex frame with the true region's
    outline (white) and each panel's share of map mass inside it. Each map is scaled to [0, 1] on its own
    panel (the colour bar), so colours compare places within a panel, not strengths across panels."""
    import matplotlib.pyplot as plt

    n_rows = 1 + len(all_maps)
    fig, axes = plt.subplots(n_rows, len(images), figsize=(1.7 * len(images) + 0.8, 1.75 * n_rows), squeeze=False)
    for j, image in enumerate(images):
        axes[0][j].imshow(image, cmap="gray")
        axes[0][j].contour(regions[j], levels=[0.5], colors="white", linewidths=0.8)
        axes[0][j].set_title(titles[j], fontsize=6)
        for i, (name, cams) in enumerate(all_maps.items(), start=1):
            ax = axes[i][j]
            ax.imshow(image, cmap="gray")
            ax.imshow(cams[j], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.contour(regions[j], levels=[0.5], colors="white", linewidths=0.8)
            ax.text(1, 1, f"{cam_mass_inside(cams[j], regions[j]):.2f}", color="white", fontsize=7, va="top")
            if j == 0:
                ax.set_ylabel(name.replace(" ", "\n", 1), fontsize=7)
    axes[0][0].set_ylabel("apex, true region", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    bar = fig.colorbar(plt.cm.ScalarMappable(cmap="jet", norm=plt.Normalize(0, 1)), ax=axes[1:, :].ravel().tolist(),
                       fraction=0.03, pad=0.02) if len(all_maps) else None
    if bar is not None:
        bar.set_label("map value, scaled to [0, 1] in each panel", fontsize=6)
        bar.ax.tick_params(labelsize=6)
    return fig


# ---------------------------------------------------------------------------- features and failures
def features(t: Trained, fold: int) -> pd.DataFrame:
    """Every clip of the run embedded by **one** model, fold ``fold``'s (index ``"subject/clip"``): the
    method's ``features`` hook (annotation mimic's X_F, SelfME's class token, Micro-AU CLIP's AU features
    concatenated, IICL's pooled backbone features). Each fold model has its own feature space; pooling
    several would group clips by fold. The other subjects' clips were that model's training data."""
    hook = t.exp.method.features
    if hook is None:
        raise ValueError(f"no features for method {t.exp.method.name!r} (its spec has no features hook)")
    return hook(t, fold)


def au_set_labels(manifest: pd.DataFrame, ids: Sequence[str]) -> list[str]:
    """Each clip's AU set as a label ("AU1+AU2", "none")."""
    aus = {cid: "+".join(f"AU{a}" for a in codes) or "none" for cid, codes in zip(splits.clip_ids(manifest), manifest["aus"])}
    return [aus[i] for i in ids]


def predicted_vs_true(t: Trained, amplitude: pd.Series | None = None) -> pd.DataFrame:
    """Per held-out clip of the run's done folds: true and predicted AUs (AU methods, at 0.5) or classes
    (emotion methods), the number of wrong decisions, and the true amplitude where given (indexed by
    ``(subject, clip)``); worst first (most errors, then largest amplitude)."""
    pred = t.run.predictions(t.run.done_folds())
    rows = []
    if t.exp.method.task == "au":
        names = [f"AU{a}" for a in t.exp.config.aus]
        for s, tg, sub, clip in zip(pred["scores"], pred["targets"], pred["subject"], pred["clip"]):
            yt, yp = {n for n, v in zip(names, tg) if v}, {n for n, v in zip(names, s) if v > 0.5}
            rows.append({"clip": f"{sub}/{clip}", "true": "+".join(sorted(yt)) or "none",
                         "predicted": "+".join(sorted(yp)) or "none", "errors": len(yt ^ yp), "subject": sub, "name": clip})
    else:
        results = t.run.results()
        classes = results["metrics"]["classes"] if results else getattr(t.method, "classes", None)
        for s, tg, sub, clip in zip(pred["scores"], pred["targets"], pred["subject"], pred["clip"]):
            label = (lambda k: classes[k] if classes else str(k))
            rows.append({"clip": f"{sub}/{clip}", "true": label(int(tg)), "predicted": label(int(np.argmax(s))),
                         "errors": int(int(tg) != int(np.argmax(s))), "subject": sub, "name": clip})
    table = pd.DataFrame(rows)
    if amplitude is not None:
        table["amplitude (px)"] = amplitude.loc[list(zip(table["subject"], table["name"]))].to_numpy()
        table = table.sort_values(["errors", "amplitude (px)"], ascending=False)
    return table.drop(columns=["subject", "name"]).reset_index(drop=True)


def errors_by_amplitude(tables: Mapping[str, pd.DataFrame], bins: Sequence[float] = (0.0, 0.6, 1.2, np.inf)
                        ) -> pd.DataFrame:
    """Mean wrong decisions per clip within bins of true amplitude, one column per method."""
    labels = [f"[{lo:.1f}, {hi:.1f}) px" for lo, hi in zip(bins[:-1], bins[1:])]
    out = {}
    for name, t in tables.items():
        which = pd.cut(t["amplitude (px)"], list(bins), right=False, labels=labels)
        out[name] = t.groupby(which, observed=False)["errors"].mean()
    return pd.DataFrame(out)


__all__ = ["VIEWS", "Trained", "all_maps", "apex_image", "au_set_labels", "cam_mass_inside", "common_subject", "errors_by_amplitude",
           "experiments", "features", "fold_of", "load", "map_table", "maps", "overlay_grid", "predicted_vs_true",
           "rows_in", "shared_rows", "true_region"]
