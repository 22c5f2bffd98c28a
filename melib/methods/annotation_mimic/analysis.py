"""Annotation mimic's runs read back: fold models and features, the results table beside the paper's, the verdict, maps."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ... import papers, splits, train
from ...cache import ClipCache
from ...tables import ours, stacked
from ...yardsticks import emotion_verdict
from ..spec import MethodSpec
from . import sections
from .config import MEAN, STD, MimicConfig
from .inputs import select_clips
from .method import harness
from .model import SWITCHES, build_model, get_variant


def input_tensor(cache: ClipCache, row: Mapping[str, Any]) -> torch.Tensor:
    """One clip's cached input as the network sees it at test time: (1, 3, S, S), ImageNet-normalised."""
    image = torch.from_numpy(cache.load(row)["image"].astype(np.float32).transpose(2, 0, 1).copy())
    return ((image - MEAN) / STD)[None]


def fold_model(run: train.Run, fold: int) -> torch.nn.Module:
    """The final-epoch model of one LOSO fold of a run (built from the run's own config), in eval mode."""
    conf = run.config()
    model = build_model(conf["variant"], len(conf["class_names"]), conf["config"], "none",
                        **{name: conf.get(name, "auto") for name in SWITCHES})
    model.load_state_dict(run.fold_state(fold))
    return model.eval()


trained_subjects = train.trained_subjects


def load_fold_model(run: train.Run, rows: pd.DataFrame, row: Mapping[str, Any]) -> torch.nn.Module:
    """The model of the LOSO fold that held out ``row``'s subject (folds in sorted subject order of ``rows``)."""
    return fold_model(run, train.loso_fold_of(rows, row["subject"]))


@torch.no_grad()
def fused_features(run: train.Run, rows: pd.DataFrame, cache: ClipCache, fold: int = 0) -> np.ndarray:
    """``X_F`` (N, D) of every clip of ``rows`` under one fold's model (AWM-weighted where AWM is on)."""
    model = fold_model(run, fold)
    return np.concatenate([model(input_tensor(cache, r))["x_f"].numpy() for _, r in rows.iterrows()])


def fold_features(run: train.Run, manifest: pd.DataFrame, fold: int) -> pd.DataFrame:
    """``X_F`` of every clip of the run under **one** fold's model (the one that held out subject
    ``fold``), indexed by ``"subject/clip"``. One model, one feature space: features of different
    fold models live in different spaces, and pooling them groups clips by fold, not by content. The
    other subjects' clips were that model's training data."""
    fields = {f.name for f in dataclasses.fields(MimicConfig)}
    cfg = MimicConfig(**{k: v for k, v in run.config().items() if k in fields})
    method, kept = harness(manifest, cfg, progress=False)
    return pd.DataFrame(fused_features(run, kept, method.cache, fold),
                        index=splits.clip_ids(kept).tolist())


def paper_row(variant: str, dataset: str = "casme2", classes: str = "5class") -> dict[str, float]:
    """The paper's acc / UF1 / UAR of a variant's row with the same class count (empty when none:
    Table 4 is 5-class only, so a 3-class ablation run has no paper number)."""
    n = int(classes[0])
    found = papers.paper_comparison("annotation_mimic", variant, dataset, classes=n)
    if found is None or found["dataset"] != dataset:
        return {}
    return papers.row_values(found)


def results_table(runs: Mapping[str, train.Run], dataset: str = "casme2", classes: str = "5class") -> pd.DataFrame:
    """Acc / UF1 / UAR per variant, ``ours`` (complete runs only) beside the paper's real-data numbers:
    Table 4 for the ablation variants (5-class only, no UAR), Table 3 for ``db+all`` (:func:`paper_row`)."""
    rows, index = [], []
    for variant, run in runs.items():
        if (row := ours(run, {"acc": "acc", "uf1": "uf1", "uar": "uar"})) is not None:
            rows.append(row)
            index.append((variant, "ours"))
        paper = paper_row(variant, dataset, classes)
        if paper:
            rows.append(paper)
            index.append((variant, f"paper ({dataset}, {classes}, real)"))
    return stacked(rows, index, ["acc", "uf1", "uar"], ("variant", "source"))


def halves_figure(images: Sequence[np.ndarray], titles: Sequence[str], title: str = "",
                  value: str = "value (0-1)"):
    """A row of (S, S) single-channel images in [0, 1] on one grey scale with a colour bar, the
    eyes/mouth cut of Sec. 3.1.2 (row ``S // 2``, :func:`melib.methods.annotation_mimic.model.split_halves`)
    drawn as a dashed line and the two halves named on the first panel. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images) + 0.8, 2.6), squeeze=False,
                             layout="constrained")
    for k, (ax, image, name) in enumerate(zip(axes[0], images, titles)):
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"halves_figure: panel {k} must be one (S, S) channel, got shape {image.shape}")
        shown = ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.axhline(image.shape[0] // 2 - 0.5, color="tab:orange", lw=1, ls="--")
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    h = np.asarray(images[0]).shape[0]
    axes[0][0].set_yticks([h // 4, 3 * h // 4], ["eyes", "mouth"], fontsize=8)
    fig.colorbar(shown, ax=axes[0].tolist(), fraction=0.03, label=value)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


#: The verdict against the yardsticks (:func:`melib.yardsticks.emotion_verdict`, one margin for every method).
verdict = emotion_verdict


# ---------------------------------------------------------------------------- the spec's read-back hooks
def view_maps(t: Any, rows: pd.DataFrame, size: int, fold: int) -> dict[str, np.ndarray]:
    """AU-CAM (Eqs. 12-13) and Grad-CAM of the predicted class, in whole-frame coordinates."""
    from ...interpret import grad_cam, to_frame
    from .model import au_cam, cam_target_layers

    model = fold_model(t.run, fold)
    au, gc = [], []
    for _, row in rows.iterrows():
        x = input_tensor(t.method.cache, row)
        au.append(to_frame(au_cam(model, x)[0].numpy(), size))
        gc.append(to_frame(grad_cam(model, x, cam_target_layers(model), lambda o: o["logits"].max(1).values)[0].numpy(),
                           size))
    return {"mimic AU-CAM": np.stack(au), "mimic Grad-CAM": np.stack(gc)}


SPEC = MethodSpec(name="annotation_mimic", task="emotion", protocols=("loso",), default_variant="db+all",
                  run_prefix="mimic-", clips=lambda manifest, cfg: select_clips(manifest, cfg, verbose=False),
                  harness=lambda exp, progress, workers: harness(exp.manifest, exp.config, workers, progress),
                  views=("db+all",), maps=view_maps,
                  features=lambda t, fold: fold_features(t.run, t.exp.manifest, fold),
                  comparison=sections.comparison, sections=sections.SECTIONS,
                  composite_variant="db+awm", variant_needs_aus=lambda v: get_variant(v).au,
                  pitfalls={"fast": dict(subjects=5, epochs=3), "reference": dict(subjects=8)})
