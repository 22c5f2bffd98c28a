"""SelfME's runs read back: fold models, features and Grad-CAM, the results table beside the paper's, maps."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from ... import papers, splits, train
from ...cache import ClipCache
from ...tables import ours, stacked
from ..spec import MethodSpec
from . import sections
from .config import SelfMEConfig
from .method import SelfMEDataset, build_model, harness, select_clips
from .model import SCViT
from .motion import motion_image


def fold_model(run: train.Run, fold: int) -> SCViT:
    """The final-epoch SCViT of one LOSO fold of a run (built from the run's own config, random init
    before the fold's weights are loaded), in eval mode."""
    conf = {k: v for k, v in run.config().items() if k != "motion_cache"}
    model = build_model(SelfMEConfig(**conf), weights="none")
    model.load_state_dict(run.fold_state(fold))
    return model.eval()


@torch.no_grad()
def fold_features(run: train.Run, manifest: pd.DataFrame, fold: int) -> pd.DataFrame:
    """SCViT's normalised class token (Eq. 15's ``LN(z_cls)``) of every 3-class clip under **one** fold's
    model (the one that held out subject ``fold``), indexed by ``"subject/clip"``: one feature space
    (pooling different fold models' features would group clips by fold). The other subjects' clips
    were that model's training data."""
    cfg = SelfMEConfig(**{k: v for k, v in run.config().items() if k != "motion_cache"})
    method, clips = harness(manifest, cfg, progress=False)
    model = fold_model(run, fold)
    data = SelfMEDataset(clips, method.cache, cfg.motion_scale)
    x = torch.stack([data[i]["motion"] for i in range(len(clips))])
    return pd.DataFrame(model(x)["features"].numpy(), index=splits.clip_ids(clips).tolist())


def grad_cams(run: train.Run, rows: pd.DataFrame, clips: pd.DataFrame, cache: ClipCache) -> np.ndarray:
    """Grad-CAM ``(N, S, S)`` in [0, 1] of each clip of ``rows`` under the fold model that held out its
    subject (``clips``: the run's 3-class clips), at the last block's first LayerNorm (the ViT reshape
    of the grad-cam package: tokens without the class token to the patch grid), for the predicted class."""
    from ...interpret import grad_cam, vit_reshape

    cfg = SelfMEConfig(**{k: v for k, v in run.config().items() if k != "motion_cache"})
    maps = []
    for _, row in rows.iterrows():
        model = fold_model(run, train.loso_fold_of(clips, row["subject"]))
        x = torch.from_numpy(motion_image(cache.load(row)["motion"], cfg.motion_scale))[None]
        maps.append(grad_cam(model, x, [model.vit.blocks[-1].norm1],
                             lambda out: out["logits"].gather(1, out["logits"].argmax(1, keepdim=True))[:, 0],
                             reshape=vit_reshape(model.grid_size, model.vit.num_prefix_tokens))[0].numpy())
    return np.stack(maps)


def results_table(runs: Mapping[str, train.Run], dataset: str = "synthetic") -> pd.DataFrame:
    """UF1 / UAR / accuracy per variant (complete runs; ``ours (<dataset>)``) beside the paper's row for that
    variant (:func:`melib.papers.paper_comparison`, LOSO, 3 classes).

    On ``"synthetic"`` (a stand-in for CASME II) the row is CASME II's where it exists, else SMIC-HS's, as
    labelled. On a real dataset only that dataset's row is shown (SMIC-HS: Table 2's SelfME row and Table 4's
    gamma rows), or none: a run is never set beside a number of another dataset.
    """
    rows, index = [], []
    for variant, run in runs.items():
        if (row := ours(run, {"uf1": "uf1", "uar": "uar", "acc": "acc"})) is not None:
            rows.append(row)
            index.append((variant, f"ours ({dataset})"))
        if dataset == "synthetic":  # CASME II where the row exists, else its one dataset
            paper = papers.paper_comparison("selfme", variant)
        else:
            paper = papers.paper_comparison("selfme", variant, dataset, classes=3, protocol="loso")
            paper = paper if paper is not None and paper["dataset"] == dataset else None
        if paper is not None:
            printed = papers.row_values(paper)
            rows.append({"uf1": printed["uf1"], "uar": printed.get("uar", np.nan), "acc": np.nan})
            index.append((variant, f"paper {paper['table']} ({paper['dataset']}, real)"))
    return stacked(rows, index, ["uf1", "uar", "acc"], ("variant", "source"))


# ---------------------------------------------------------------------------- the spec's read-back hooks
def view_maps(t: Any, rows: pd.DataFrame, size: int, fold: int) -> dict[str, np.ndarray]:
    """Grad-CAM of the predicted class (:func:`grad_cams`), in whole-frame coordinates."""
    from ...interpret import to_frame

    cams = grad_cams(t.run, rows, t.clips, t.method.cache)
    return {f"SelfME {t.exp.variant} Grad-CAM": np.stack([to_frame(c, size) for c in cams])}


SPEC = MethodSpec(name="selfme", task="emotion", protocols=("loso",), default_variant="selfme", run_prefix="selfme",
                  clips=lambda manifest, cfg: select_clips(manifest),
                  harness=lambda exp, progress, workers: harness(exp.manifest, exp.config, exp.schedule.seed,
                                                                 progress=progress, workers=workers),
                  views=("selfme", "no_sc"), maps=view_maps,
                  features=lambda t, fold: fold_features(t.run, t.exp.manifest, fold),
                  comparison=sections.comparison, sections=sections.SECTIONS,
                  composite_variant="selfme")
