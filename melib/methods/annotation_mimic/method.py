"""Annotation mimic as the harness trains it: the Dataset (RR augmentation, erasing), the Method (Eq. 8), run and harness."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision.transforms import RandomErasing

from ... import metrics, splits, train
from ...cache import ClipCache
from ...config import drop_defaults
from ...data import au_matrix, au_region, emotion_classes
from ...models.backbones import report_weights
from .config import ADDED_FIELDS, MEAN, STD, MimicConfig
from .inputs import class_labels, dataset_name, prepare, resolve_aus, select_clips
from .losses import class_weights, mimic_total
from .model import build_model, get_variant


# -------------------------------------------------------------------------------------------- Dataset
class MimicDataset(Dataset):
    """Cached inputs of ``rows`` with class labels, multi-hot AUs and, if ``training``, the paper's
    augmentation: Region Replacing (Sec. 3.2), horizontal flip, random erasing.

    ``class_index`` maps class names to labels (default: :func:`melib.data.emotion_classes` order);
    ``aus`` is the AU list of the multi-hot labels (default: :func:`resolve_aus`). Items:
    ``image`` (3, S, S) float32 (ImageNet-normalised), ``label`` int64, ``aus`` (M,) float32,
    ``index`` (the row's index label) and ``donor`` (position of the Region Replacing donor, -1 if none).
    Every random draw uses torch's global RNG, which the harness seeds per epoch.
    """

    def __init__(self, rows: pd.DataFrame, cache: ClipCache, cfg: MimicConfig, training: bool,
                 class_index: Mapping[str, int] | None = None, aus: Sequence[int] | None = None):
        self.rows, self.cache, self.cfg, self.training = rows, cache, cfg, training
        if class_index is None:
            class_index = {c: i for i, c in enumerate(emotion_classes(dataset_name(rows), cfg.classes))}
        self.class_index = dict(class_index)
        names = class_labels(rows, cfg.classes)
        missing = [f"{s}/{c}" for s, c, n in zip(rows["subject"], rows["clip"], names) if n not in self.class_index]
        if missing:
            raise ValueError(f"clips without a class in {cfg.classes} (drop them first, see select_clips): "
                             f"{missing[:5]}")
        self.labels = np.array([self.class_index[n] for n in names], dtype=np.int64)
        self.aus = tuple(aus) if aus is not None else resolve_aus(rows, cfg)
        self.au_labels = au_matrix(rows, self.aus)
        self.eyes = torch.tensor([au_region(a) == "eyes" for a in self.aus], dtype=torch.float32)
        self.mouth = torch.tensor([au_region(a) == "mouth" for a in self.aus], dtype=torch.float32)
        self.region_replacing = (training and get_variant(cfg.variant).region_replacing and cfg.rr_probability > 0)
        self.same_class = {int(c): np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        self.erasing = None
        if training and cfg.random_erasing == "default":
            self.erasing = RandomErasing()
        elif training and cfg.random_erasing == "official":
            self.erasing = RandomErasing(scale=(0.02, 0.3), value="random")

    def __len__(self) -> int:
        return len(self.rows)

    def raw_image(self, i: int) -> torch.Tensor:
        """Clip ``i``'s cached input as a (3, S, S) float32 tensor in [0, 1], unaugmented."""
        image = self.cache.load(self.rows.iloc[i])["image"].astype(np.float32)
        return torch.from_numpy(image.transpose(2, 0, 1).copy())

    @staticmethod
    def denormalise(image: torch.Tensor) -> np.ndarray:
        """An item's normalised (3, S, S) ``image`` back to (S, S, 3) in [0, 1], for display."""
        return (image * STD + MEAN).permute(1, 2, 0).clamp(0, 1).numpy()

    def __getitem__(self, i: int) -> dict[str, Any]:
        image = self.raw_image(i)
        aus = torch.from_numpy(self.au_labels[i].copy())
        donor = -1
        if self.training:
            if self.region_replacing and float(torch.rand(())) < self.cfg.rr_probability:
                others = self.same_class[int(self.labels[i])]
                others = others[others != i]
                if len(others):
                    donor = int(others[int(torch.randint(len(others), ()))])
                    image, aus = self._replace_mouth(image, aus, donor)
            if self.cfg.flip and float(torch.rand(())) < 0.5:
                image = image.flip(-1)
            if self.erasing is not None:
                image = self.erasing(image)
        return {"image": (image - MEAN) / STD, "label": torch.tensor(self.labels[i], dtype=torch.int64),
                "aus": aus, "index": int(self.rows.index[i]), "donor": donor}

    def _replace_mouth(self, image: torch.Tensor, aus: torch.Tensor, donor: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Region Replacing: rows >= S // 2 (the mouth image of Sec. 3.1.2) come from ``donor``."""
        half = image.shape[1] // 2
        image = image.clone()
        image[:, half:] = self.raw_image(donor)[:, half:]
        donor_aus = torch.from_numpy(self.au_labels[donor].copy())
        if self.cfg.rr_aus == "regions":
            mixed = aus * self.eyes + donor_aus * self.mouth
        else:
            mixed = torch.maximum(aus, donor_aus)
        return image, mixed


# --------------------------------------------------------------------------------------------- Method
class MimicMethod:
    """The harness's view of one annotation-mimic variant (see :class:`melib.train.Method`).

    The authors' code picks, for every LOSO subject, the epoch with the best accuracy on that held-out
    subject; melib never does: the final epoch's model is evaluated.
    """

    def __init__(self, config: MimicConfig, cache: ClipCache, classes: Sequence[str], aus: Sequence[int]):
        self.cfg, self.cache = config, cache
        self.classes, self.aus = list(classes), tuple(int(a) for a in aus)
        self.variant = get_variant(config.variant)
        self.name = f"mimic-{config.variant}-{config.config}"
        self.weights: torch.Tensor | None = None

    def config(self) -> dict[str, Any]:
        """The hashed settings; fields added after runs existed (:data:`ADDED_FIELDS`) only when set."""
        return {**drop_defaults(dataclasses.asdict(self.cfg), ADDED_FIELDS), "input_cache": self.cache.key,
                "class_names": self.classes, "au_list": list(self.aus)}

    def build_model(self) -> torch.nn.Module:
        return build_model(self.variant, len(self.classes), self.cfg.config, self.cfg.weights, **self.cfg.switches())

    def datasets(self, train_rows: pd.DataFrame, test_rows: pd.DataFrame) -> tuple[Dataset, Dataset]:
        """The fold's datasets; also the class weights of Eq. 6 from the training clips."""
        index = {c: i for i, c in enumerate(self.classes)}
        train_set = MimicDataset(train_rows, self.cache, self.cfg, True, index, self.aus)
        self.weights = class_weights(torch.from_numpy(train_set.labels), len(self.classes))
        return train_set, MimicDataset(test_rows, self.cache, self.cfg, False, index, self.aus)

    def training_step(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        """Eq. 8; ``wscl`` is logged only when AU alignment is on (and the batch has two clips or more)."""
        outputs = model(batch["image"])
        features = outputs["features"]
        if self.cfg.wscl_features == "l2" and self.cfg.config == "paper":  # official features come normalised
            features = F.normalize(features, dim=1)
        terms = mimic_total(model.head_logits(outputs), features, batch["label"], batch["aus"],
                            weights=self.weights, lam=self.cfg.lam, temperature=self.cfg.temperature,
                            use_wscl=self.variant.au, wscl_variant=self.cfg.wscl_variant,
                            label_smoothing=self.cfg.label_smoothing)
        return {"loss": terms.pop("total"), **terms}

    def predict_step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities (B, C): the mean of the heads' softmax outputs (``"softmax_sum"``, whose
        argmax is Sec. 3.6's) or the softmax of the summed logits (``"logit_sum"``)."""
        outputs = model(batch["image"])
        heads = model.head_logits(outputs)
        if self.cfg.inference == "softmax_sum":
            probs = torch.stack([F.softmax(h.float(), dim=1) for h in heads]).mean(0)
        else:
            probs = F.softmax(outputs["logits"].float(), dim=1)
        return probs, batch["label"]

    def evaluate(self, predictions: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Accuracy, UF1, UAR (Eqs. 9-11) and the confusion matrix of all folds' predictions together,
        over all C classes; ``majority_uf1``/``majority_uar``: always predicting the most frequent
        class among these clips (a reference, not a method)."""
        return metrics.emotion_summary(predictions["targets"], predictions["scores"], self.classes)


def run(manifest: pd.DataFrame, config: MimicConfig, schedule: train.Schedule, fold: int = -1,
        workers: int | None = None, progress: bool = True, root: str | Path | None = None, protocol: str = "loso",
        **kwargs: Any) -> train.Run:
    """Drop clips outside the class scheme, cache the inputs, and train/evaluate LOSO fold(s).

    ``fold`` is the index of the held-out subject in sorted subject order (-1: all); an index out of
    range raises before any work. ``root``: cache root (default ``MELIB_CACHE``). ``protocol``: only
    ``"loso"`` (the paper's). ``kwargs`` go to :func:`melib.train.run_folds` (``out_dir``, ``device``, ``on_epoch_end``).
    """
    if protocol != "loso" or "k" in kwargs:
        raise TypeError(f"annotation mimic always runs leave-one-subject-out; got protocol={protocol!r}"
                        + (" and k" if "k" in kwargs else ""))
    splits.check_loso_fold(select_clips(manifest, config, verbose=False), fold, "annotation mimic")
    method, kept = harness(manifest, config, workers, progress, root)
    if progress:
        report_weights(method.build_model())
    return train.run_folds(method, kept, schedule, fold=fold, protocol="loso", progress=progress, **kwargs)


def harness(manifest: pd.DataFrame, config: MimicConfig, workers: int | None = None, progress: bool = True,
            root: str | Path | None = None) -> tuple[MimicMethod, pd.DataFrame]:
    """The harness's method over a cached input (computed where missing) and the clips it runs on."""
    kept = select_clips(manifest, config)
    cache = prepare(manifest, config, rows=kept, workers=workers, progress=progress, strict=True, root=root)
    return MimicMethod(config, cache, emotion_classes(dataset_name(kept), config.classes), resolve_aus(kept, config)), kept
