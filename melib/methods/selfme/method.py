"""SelfME as the harness trains it: the 3-class clips, the Dataset of motion images, SCViT's Method (Eq. 16), harness and run."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ... import metrics, splits, train
from ...cache import ClipCache
from ...config import drop_defaults
from ...data import three_class_clips, three_class_index
from ...data.mappings import THREE_CLASSES
from ...models.backbones import report_weights
from .config import ADDED_FIELDS, SelfMEConfig
from .losses import symmetric_contrastive
from .model import SCViT
from .motion import motion_image, prepare

# ---------------------------------------------------------------------------------------------- SCViT
#: The clips SelfME runs on, each with its class index: the 3-class clips (shared with the report's yardsticks).
select_clips, class_index = three_class_clips, three_class_index


class SelfMEDataset(Dataset):
    """Cached motions of ``rows`` as ``(3, S, S)`` motion images (:func:`motion_image`) and class indices."""

    def __init__(self, rows: pd.DataFrame, cache: ClipCache, scale: float = 1.0):
        self.rows, self.cache, self.labels, self.scale = rows, cache, class_index(rows), scale

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        motion = motion_image(self.cache.load(self.rows.iloc[i])["motion"], self.scale)
        return {"motion": torch.from_numpy(motion), "label": int(self.labels[i]), "index": int(self.rows.index[i])}


def build_model(cfg: SelfMEConfig, weights: str | None = None) -> SCViT:
    return SCViT(len(THREE_CLASSES), cfg.vit, cfg.weights if weights is None else weights,
                 sc_features=cfg.sc_features, **cfg.vit_kwargs())


class SelfMEMethod:
    """The harness's view of SelfME's classification stage (see :class:`melib.train.Method`)."""

    name = "selfme"
    classes = list(THREE_CLASSES)

    def __init__(self, config: SelfMEConfig, cache: ClipCache):
        self.cfg, self.cache = config, cache

    def config(self) -> dict[str, Any]:
        """The hashed settings; fields added after runs existed (:data:`ADDED_FIELDS`) only when set."""
        return {**drop_defaults(dataclasses.asdict(self.cfg), ADDED_FIELDS), "motion_cache": self.cache.key}

    def build_model(self) -> torch.nn.Module:
        return build_model(self.cfg)

    def datasets(self, train_rows: pd.DataFrame, test_rows: pd.DataFrame) -> tuple[Dataset, Dataset]:
        return (SelfMEDataset(train_rows, self.cache, self.cfg.motion_scale),
                SelfMEDataset(test_rows, self.cache, self.cfg.motion_scale))

    def training_step(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        """Eq. 16: ``L_cls + omega L_sc`` (``sc=False``: ``L_cls`` alone); logs ``cls`` and ``sc``."""
        out = model(batch["motion"])
        cls = F.cross_entropy(out["logits"].float(), batch["label"])
        if not self.cfg.sc:
            return {"loss": cls, "cls": cls}
        sc = symmetric_contrastive(out["regions"], batch["label"], self.cfg.temperature)
        return {"loss": cls + self.cfg.omega * sc, "cls": cls, "sc": sc}

    def predict_step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.softmax(model(batch["motion"])["logits"].float(), dim=1), batch["label"]

    def evaluate(self, predictions: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Accuracy, UF1, UAR (Eqs. 17-18) and the confusion matrix of all folds' predictions together."""
        return metrics.emotion_summary(predictions["targets"], predictions["scores"], self.classes)


def harness(manifest: pd.DataFrame, config: SelfMEConfig, seed: int = 0, progress: bool = True,
            root: str | Path | None = None, workers: int | None = None) -> tuple[SelfMEMethod, pd.DataFrame]:
    """The harness's method over the motion cache (learners and motions computed where missing) and
    the 3-class clips it runs on."""
    clips = select_clips(manifest)
    cache, _ = prepare(clips, config, seed=seed, progress=progress, root=root, workers=workers)
    return SelfMEMethod(config, cache), clips


def run(manifest: pd.DataFrame, config: SelfMEConfig, schedule: train.Schedule, fold: int = -1,
        progress: bool = True, root: str | Path | None = None, workers: int | None = None, protocol: str = "loso",
        **kwargs: Any) -> train.Run:
    """Motion learners, motion cache, then SCViT over LOSO fold(s) of the 3-class clips (load-or-train).

    ``fold`` indexes the held-out subject in sorted order (-1: all); out of range raises before any work.
    ``workers``: processes for optical-flow motion (:func:`prepare`). ``protocol``: only ``"loso"`` (the paper's).
    """
    if protocol != "loso":
        raise TypeError(f"SelfME runs leave-one-subject-out (its paper's protocol); got protocol={protocol!r}")
    splits.check_loso_fold(select_clips(manifest), fold, "SelfME")
    method, clips = harness(manifest, config, schedule.seed, progress, root, workers)
    if progress:
        report_weights(method.build_model())
    return train.run_folds(method, clips, schedule, fold=fold, protocol="loso", progress=progress, **kwargs)
