"""IICL as the harness trains it: the Dataset over the front-end cache, the Method (Eq. 7), run and harness."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ... import metrics, splits, train
from ...cache import ClipCache
from ...data import au_matrix
from ...losses import au_positive_weights
from ...models.backbones import report_weights
from ...preprocess import preprocess
from .config import MEAN, STD, IICLConfig
from .model import build_model, get_variant, variant_loss


class IICLDataset(Dataset):
    """Onset, apex and one close-to-apex frame per clip from the front-end cache (IICL Sec. 3.3)."""

    def __init__(self, rows: pd.DataFrame, cache: ClipCache, config: IICLConfig, training: bool):
        self.rows, self.cache, self.config, self.training = rows, cache, config, training
        self.labels = au_matrix(rows, config.aus)
        self.centre = config.close + 1  # entry layout: onset, apex-close .. apex .. apex+close

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        frames = self.cache.load(self.rows.iloc[i])["frames"]
        if self.training:
            others = [k for k in range(1, len(frames)) if k != self.centre] or [self.centre]
            close = others[int(torch.randint(len(others), (1,)))]
            span = self.config.image_size - self.config.crop_size
            top, left = (int(v) for v in torch.randint(span + 1, (2,)))
        else:
            close = min(self.centre + 1, len(frames) - 1)
            top = left = (self.config.image_size - self.config.crop_size) // 2
        crop = slice(top, top + self.config.crop_size), slice(left, left + self.config.crop_size)
        picked = {"onset": frames[0], "apex": frames[self.centre], "close": frames[close]}
        sample = {name: _to_tensor(image[crop]) for name, image in picked.items()}
        sample["aus"] = torch.from_numpy(self.labels[i])
        sample["index"] = int(self.rows.index[i])
        return sample


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return torch.from_numpy(((image.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1).copy())


class IICLMethod:
    """The harness's view of one IICL variant (see :class:`melib.train.Method`)."""

    def __init__(self, config: IICLConfig, cache: ClipCache):
        self.cfg, self.cache = config, cache
        self.variant = get_variant(config.variant)
        self.name = f"iicl-{config.variant}"
        self.pos_weight: torch.Tensor | None = None

    def config(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.cfg), "front_end": self.cache.key}

    def build_model(self) -> torch.nn.Module:
        return build_model(self.variant, len(self.cfg.aus), self.cfg.backbone_size, self.cfg.weights)

    def datasets(self, train_rows: pd.DataFrame, test_rows: pd.DataFrame) -> tuple[Dataset, Dataset]:
        """The fold's datasets; with ``bce="balanced"`` also each AU's negatives/positives ratio in the
        training subjects (at most 50; 1 for an AU without positives), the BCE's ``pos_weight``."""
        train_set = IICLDataset(train_rows, self.cache, self.cfg, training=True)
        self.pos_weight = None
        if self.cfg.bce == "balanced":
            self.pos_weight = au_positive_weights(train_set.labels)
        return train_set, IICLDataset(test_rows, self.cache, self.cfg, training=False)

    def training_step(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        frames = {k: batch[k] for k in self.variant.inputs}
        outputs = (model.forward_frames(frames) if self.variant.sequence
                   else model.forward_frames(frames, batchnorm=self.cfg.batchnorm))
        losses = variant_loss(self.variant, outputs, batch["aus"], lam=self.cfg.lam, margin=self.cfg.margin,
                              pos_weight=self.pos_weight)
        return {"loss": losses.pop("total"), **losses}

    def predict_step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return model.predict_frames({k: batch[k] for k in self.variant.test_inputs}), batch["aus"]

    def evaluate(self, predictions: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Per-AU F1, accuracy and ROC-AUC on the predictions of all folds together (AUC NaN, stored
        as null, for an AU with a single class; ``auc_avg`` averages the others)."""
        return metrics.au_detection_summary(predictions["targets"], predictions["scores"], self.cfg.aus,
                                            self.cfg.threshold)


def run(manifest: pd.DataFrame, config: IICLConfig, schedule: train.Schedule, fold: int = -1, k: int = 4,
        workers: int | None = None, progress: bool = True, protocol: str = "kfold", **kwargs: Any) -> train.Run:
    """Preprocess (cached) and train/evaluate the selected fold(s) of one variant: ``protocol="kfold"``
    is the paper's subject-independent ``k``-fold, ``"loso"`` leave-one-subject-out (``fold`` indexes the
    held-out subject in sorted order)."""
    if protocol == "loso":
        splits.check_loso_fold(manifest, fold, "IICL")
    method, _ = harness(manifest, config, workers, progress)
    if progress:
        report_weights(method.build_model())
    return train.run_folds(method, manifest, schedule, fold=fold, protocol=protocol, k=k, progress=progress, **kwargs)


def harness(manifest: pd.DataFrame, config: IICLConfig, workers: int | None = None,
            progress: bool = True) -> tuple[IICLMethod, pd.DataFrame]:
    """The harness's method over the cached front end (computed where missing) and the clips it runs on."""
    return IICLMethod(config, preprocess(manifest, config.front_end(), workers=workers, progress=progress)), manifest
