"""Micro-AU CLIP as the harness trains it: the network from a config, the Method (Eq. 12), run, harness and fold models."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ... import metrics, splits, train
from ...cache import ClipCache
from ...config import drop_defaults
from ...io import load_json
from ...losses import au_positive_weights
from ...models.backbones import report_weights
from .config import ADDED_FIELDS, MicroAUCLIPConfig
from .inputs import MicroAUCLIPDataset, prepare
from .losses import miaucl, micro_au_clip_total
from .model import (
    MicroAUCLIP,
)


# --------------------------------------------------------------------------------------------- Method
def build_model(cfg: MicroAUCLIPConfig, weights: str | None = None, verbose: bool = False) -> MicroAUCLIP:
    """The network of ``cfg`` (``weights`` overrides ``cfg.weights``, e.g. ``"none"`` before loading a state)."""
    return MicroAUCLIP(cfg.aus, cfg.model_name, cfg.weights if weights is None else weights,
                       image_size=cfg.image_size, train_blocks=cfg.train_blocks,
                       text_train_blocks=cfg.text_train_blocks, pooling=cfg.pooling, use_gsd=cfg.use_gsd,
                       use_lsi=cfg.use_lsi, fusion=cfg.fusion, gda_fc=cfg.gda_fc, verbose=verbose)


class MicroAUCLIPMethod:
    """The harness's view of Micro-AU CLIP (see :class:`melib.train.Method`)."""

    name = "micro-au-clip"

    def __init__(self, config: MicroAUCLIPConfig, cache: ClipCache):
        self.cfg, self.cache = config, cache
        self.class_weights: torch.Tensor | None = None

    def config(self) -> dict[str, Any]:
        """The hashed settings; fields added after runs existed (:data:`ADDED_FIELDS`) are hashed only when
        they differ from their defaults, so every earlier run keeps its key."""
        return {**drop_defaults(dataclasses.asdict(self.cfg), ADDED_FIELDS), "input_cache": self.cache.key}

    def build_model(self) -> torch.nn.Module:
        return build_model(self.cfg)

    def param_groups(self, model: MicroAUCLIP, lr: float) -> list[dict]:
        """Sec. IV-A2: PTA/GDA/heads at ``lr``, the trainable CLIP blocks at ``lr x encoder_lr_ratio``
        (heads first, so the harness's logged ``lr`` is the schedule's)."""
        return model.parameter_groups(encoder_lr=lr * self.cfg.encoder_lr_ratio, head_lr=lr)[::-1]

    def datasets(self, train_rows: pd.DataFrame, test_rows: pd.DataFrame) -> tuple[Dataset, Dataset]:
        """The fold's datasets; with ``ce="balanced"`` also the multitask CE's ``(N, 2)`` class weights
        (1 for "inactive", the training subjects' negatives/positives ratio for "active")."""
        train_set = MicroAUCLIPDataset(train_rows, self.cache, self.cfg.aus)
        self.class_weights = None
        if self.cfg.ce == "balanced":
            positive = au_positive_weights(train_set.labels)
            self.class_weights = torch.stack([torch.ones_like(positive), positive], dim=1)
        return train_set, MicroAUCLIPDataset(test_rows, self.cache, self.cfg.aus)

    def training_step(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        """Eq. 12 with the config's alpha/beta; logs ``multitask`` and, when used, ``miaucl`` and ``gd``.

        ``miaucl="global"`` (Table VIII "global OrigCL") puts CLIP's own loss (diagonal targets) between
        the mean of the N AU features and the text feature of the sample's whole-face description
        (:meth:`MicroAUCLIP.global_descriptions`) in MiAUCL's place, with the same alpha."""
        local_cl = self.cfg.miaucl in ("shared", "diagonal")
        out = model(batch["image"], batch["landmarks"], labels=batch["aus"], with_text=local_cl)
        terms = micro_au_clip_total(out["logits"].float(), out["au_features"].float(),
                                    out["text_features"].float() if local_cl else None,
                                    out["dependency_weights"].float() if "dependency_weights" in out else None,
                                    batch["aus"], alpha=self.cfg.alpha, beta=self.cfg.beta,
                                    temperature=self.cfg.temperature, class_weights=self.class_weights,
                                    miaucl_targets=self.cfg.miaucl if local_cl else "shared",
                                    miaucl_reading=self.cfg.miaucl_reading)
        if self.cfg.miaucl == "global":
            visual = out["au_features"].float().mean(1, keepdim=True)                  # (B, 1, d)
            text = model.global_text_features(batch["aus"]).float()[:, None]           # (B, 1, d)
            terms["miaucl"] = miaucl(visual, text, batch["aus"][:, :1], self.cfg.temperature, "diagonal",
                                     self.cfg.miaucl_reading)
            terms["total"] = terms["total"] + self.cfg.alpha * terms["miaucl"]
        return {"loss": terms.pop("total"), **terms}

    def predict_step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, N)`` probability of each AU's active state (Eq. 7) and the ``(B, N)`` targets."""
        return model(batch["image"], batch["landmarks"], with_text=False)["probs"], batch["aus"]

    def evaluate(self, predictions: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Per-AU F1, accuracy and ROC-AUC on the predictions of all folds together (AUC null for an AU
        with a single class; ``auc_avg`` averages the others)."""
        return metrics.au_detection_summary(predictions["targets"], predictions["scores"], self.cfg.aus,
                                            self.cfg.threshold)


def run(manifest: pd.DataFrame, config: MicroAUCLIPConfig, schedule: train.Schedule, fold: int = -1,
        workers: int | None = None, progress: bool = True, root: str | Path | None = None,
        protocol: str = "loso", k: int = 4, **kwargs: Any) -> train.Run:
    """Cache the inputs and train/evaluate fold(s) (load-or-train, :func:`melib.train.run_folds`).

    ``protocol="loso"`` is the paper's (``fold``: the index of the held-out subject in sorted subject
    order; -1: all; out of range raises before any work); ``"kfold"`` melib's subject-independent
    ``k``-fold, for comparing with IICL under one protocol. ``root``: cache root (default
    ``MELIB_CACHE``). ``kwargs`` go to :func:`melib.train.run_folds` (``out_dir``, ``device``, ``on_epoch_end``).
    """
    if protocol == "loso":
        splits.check_loso_fold(manifest, fold, "Micro-AU CLIP")
    method, _ = harness(manifest, config, workers, progress, root)
    if progress:
        report_weights(method.build_model())
    return train.run_folds(method, manifest, schedule, fold=fold, protocol=protocol, k=k, progress=progress, **kwargs)


def harness(manifest: pd.DataFrame, config: MicroAUCLIPConfig, workers: int | None = None, progress: bool = True,
            root: str | Path | None = None) -> tuple[MicroAUCLIPMethod, pd.DataFrame]:
    """The harness's method over a cached input (computed where missing) and the clips it runs on."""
    cache = prepare(manifest, config, workers=workers, progress=progress, strict=True, root=root)
    return MicroAUCLIPMethod(config, cache), manifest


def run_config(run: train.Run) -> MicroAUCLIPConfig:
    """The :class:`MicroAUCLIPConfig` a run was made with (from its ``run.json``)."""
    stored = load_json(run.dir / "run.json")["config"]
    fields = {f.name for f in dataclasses.fields(MicroAUCLIPConfig)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in stored.items() if k in fields}
    if values.get("weights") not in (None, "none", "openai") and not Path(values["weights"]).is_file():
        values["weights"] = "none"  # a start-weights file since moved: the trained state holds every weight
    return MicroAUCLIPConfig(**values)


def fold_model(run: train.Run, fold: int, device: str | torch.device = "cpu") -> MicroAUCLIP:
    """The final-epoch model of one LOSO fold (built from the run's own config), in eval mode."""
    state = run.fold_state(fold)  # names a missing or damaged model.pt first
    model = build_model(run_config(run), weights="none")  # every weight comes from the state below
    model.load_state_dict(state)
    return model.to(device).eval()
