"""IICL's settings: the config, its profiles, the CPU reference setting and the paper's Tables 1-3."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import papers, train
from ...data import au_set
from ...preprocess import FrontEnd, default_align
from .model import get_variant

#: ImageNet statistics (timm's defaults for SE-ResNet/ResNet), used whatever the weights source.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: The clips IICL evaluates (Sec. 3.1): "243 videos" of CASME II "with eight AUs: AU1, AU2, AU4, AU7, AU12, AU14,
#: AU15, and AU17 occurred in disgust, happy, surprise, angry, and others emotions" and "the 101 samples [of SAMM]
#: including AU2, AU4, AU7, and AU12", the AUs with at least 15 samples. No clip names are listed, so melib keeps
#: the one stated rule, :func:`melib.data.subsets.with_studied_aus` (``load_manifest(..., clips="studied_aus")``);
#: these counts check a subset built from the real datasets.
IICL_CLIPS = {"casme2": 243, "samm": 101}
#: The paper's emotion list, mapped onto CASME II's names: "happy" -> happiness; "angry" has no CASME II
#: counterpart (CASME II has happiness, disgust, repression, surprise, others, fear, sadness).
IICL_CASME2_EMOTIONS = ("disgust", "happiness", "surprise", "others")

#: Row labels of the paper's tables, by variant.
LABELS = {"senet": "Baseline", "seseq": "SEseq", "resnet": "RESnet", "resseq": "RESseq", "cl": "CL", "tl": "TL",
          "intracl": "IntraCL", "intercl": "InterCL", "iicl": "IICL",
          "senet_close": "Baseline + close BCE"}

#: Panel titles of the training-loss terms (keys of a fold's history; :func:`melib.viz.results.training_curves`).
LOSS_NAMES = {"loss": "total (Eq. 7)", "bce_apex": "apex BCE L_AUs,a (Eq. 6)", "bce_close": "close BCE L_AUs,c (Eq. 6)",
              "oa": "onset-apex L_OA (Eq. 1)", "oc": "onset-close L_OC (Eq. 2)", "ac": "apex-close L_AC (Eq. 3)",
              "na": "negative pairs L_NA (Eq. 5)", "bce_seq": "sequence BCE (Eq. 6)", "cl": "contrastive CL",
              "tl": "triplet TL"}

def _f1_rows(aus: Sequence[str], rows: Mapping[str, tuple[Sequence[float], Sequence[str]]]) -> dict:
    return {label: (dict(zip([*aus, "f1_avg"], values)), variants) for label, (values, variants) in rows.items()}


_CASME2_AUS = ("AU1", "AU2", "AU4", "AU7", "AU12", "AU14", "AU15", "AU17")
_BASELINE = ((.43, .48, .89, .20, .60, .59, .20, .17, .45), ("senet",))
_IICL = ((.78, .67, .89, .30, .56, .53, .33, .33, .55), ("iicl",))
#: The paper's F1 on REAL data (Tables 1-3; per AU and ``f1_avg``), subject-independent 4-fold
#: cross-validation, for side-by-side display only (:func:`melib.papers.paper_comparison`). Every row is
#: read against the same table's Baseline (SEnet), the paper's own comparison.
PAPER_NUMBERS = (
    papers.table("iicl", "Table 1", "casme2", "kfold", None, _f1_rows(_CASME2_AUS, {
        "Baseline": _BASELINE,
        "IntraCL": ((.85, .66, .90, .26, .63, .49, .20, .25, .53), ("intracl",)),
        "InterCL": ((.70, .58, .90, .22, .48, .48, .15, .43, .49), ("intercl",)),
        "IICL": _IICL}), reference="Baseline")
    + papers.table("iicl", "Table 2", "casme2", "kfold", None, _f1_rows(_CASME2_AUS, {
        "Baseline": _BASELINE,
        "SEseq": ((.47, .41, .91, .20, .36, .60, .26, .13, .42), ("seseq",)),
        "RESnet": ((.51, .35, .90, .11, .62, .51, .22, .00, .40), ("resnet",)),
        "RESseq": ((.24, .21, .86, .09, .43, .49, .20, .27, .35), ("resseq",)),
        "SCA": ((.29, .45, .89, .25, .48, .33, .40, .52, .45), ()),
        "CL": ((.65, .58, .90, .30, .56, .50, .20, .25, .49), ("cl",)),
        "TL": ((.71, .62, .88, .28, .50, .54, .32, .32, .52), ("tl",)),
        "IICL": _IICL}), reference="Baseline")
    + papers.table("iicl", "Table 3", "samm", "kfold", None, _f1_rows(("AU2", "AU4", "AU7", "AU12"), {
        "Baseline": ((.23, .37, .40, .35, .34), ("senet",)),
        "SEseq": ((.24, .31, .45, .41, .35), ("seseq",)),
        "RESnet": ((.21, .37, .32, .37, .32), ("resnet",)),
        "RESseq": ((.27, .36, .42, .30, .34), ("resseq",)),
        "SCA": ((.33, .13, .49, .42, .34), ()),
        "CL": ((.28, .30, .42, .38, .35), ("cl",)),
        "TL": ((.30, .35, .47, .39, .38), ("tl",)),
        "IICL": ((.34, .40, .42, .45, .40), ("iicl",))}), reference="Baseline"))


def paper_f1(variant: str, dataset: str = "casme2", protocol: str = "kfold") -> dict[str, float] | None:
    """The paper's F1 per AU and ``AVG`` for a variant (its first table on ``dataset``), or ``None``
    when the paper has no such row under ``protocol`` (the paper's is 4-fold: a LOSO run gets none)."""
    found = papers.paper_comparison("iicl", variant, dataset, protocol=protocol)
    if found is None or found["dataset"] != dataset:
        return None
    return {("AVG" if k == "f1_avg" else k): v for k, v in papers.row_values(found).items()}


@dataclass(frozen=True)
class IICLConfig:
    """Everything that defines an IICL run besides the schedule (hashed into the run key)."""

    variant: str = "iicl"
    aus: tuple[int, ...] = (1, 2, 4, 7, 12, 14, 15, 17)
    backbone_size: str = "50"
    weights: str = "none"
    image_size: int = 256
    crop_size: int = 224
    alpha: float = 10.0
    magnify: str = "eulerian"
    align: str = "none"
    close: int = 3
    lam: float = 0.1
    margin: float = 1.0
    threshold: float = 0.5
    batchnorm: str = "joint"     # IICLNet: "joint" = onset, close, apex as one batch of 3B; "separate" = B each
    bce: str = "paper"           # "paper" = Eq. 6 unweighted; "balanced" = positives weighted by negatives/positives

    def __post_init__(self) -> None:
        get_variant(self.variant)
        if self.bce not in ("paper", "balanced"):
            raise ValueError(f"bce must be 'paper' or 'balanced'; got {self.bce!r}")
        if self.batchnorm not in ("joint", "separate"):
            raise ValueError(f"batchnorm must be 'joint' or 'separate'; got {self.batchnorm!r}")
        if not 0 < self.crop_size <= self.image_size:
            raise ValueError(f"crop_size must be in (0, image_size]; got {self.crop_size} > {self.image_size}")

    def front_end(self) -> FrontEnd:
        return FrontEnd(frames="apex_window", close=self.close, align=self.align, size=self.image_size,
                        magnify=self.magnify, alpha=self.alpha)


#: Profiles: ``full`` is the paper's setting; ``fast`` is a CPU/CI stand-in (say so when reporting).
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"config": {}, "schedule": dict(epochs=80, batch_size=32, lr=0.01, lr_step=40), "subjects": None},
    # fast: what CI and notebook 04 run in about two minutes on 2 cores; it learns (pooled AUC about
    # 0.66 against 0.5) thanks to lr 0.05 and the balanced BCE. Set once, from the time budget and the
    # training loss, not tuned on test scores beyond checking that AUC clears 0.65.
    "fast": {"config": dict(backbone_size="18", image_size=56, crop_size=48, bce="balanced"),
             "schedule": dict(epochs=8, batch_size=16, lr=0.05, lr_step=4), "subjects": 10},
}


#: The documented CPU reference setting (README, ``run_iicl.py --reference``): the fast profile's
#: SE-ResNet-18 on 56 px frames cropped to 48, every subject, 20 epochs at lr 0.2 (/10 at epoch 10),
#: positives weighted per AU (``bce="balanced"``). Network, frames and epochs are fixed by the compute
#: budget (about 3 min per seed for the baseline with one thread); lr and BCE were derived on the
#: development identities (``data_scripts/derive_iicl_reference.py``: the SENet baseline's pooled F1 over
#: lr 0.01-0.8 x Eq. 6 / balanced), never on the evaluation folds. ``bce="paper"`` is Eq. 6.
REFERENCE_CPU: dict[str, Any] = dict(subjects=0, epochs=20, lr=0.2, image_size=56, crop_size=48, bce="balanced")


def preset(profile: str, dataset: str = "synthetic", **overrides: Any) -> tuple[IICLConfig, train.Schedule, int | None]:
    """``(config, schedule, n_subjects)`` of a profile; ``overrides`` set config or schedule fields
    (``None`` values are ignored, so notebook parameters can default to the profile)."""
    cfg, sched, subjects = train.resolve_preset(
        PRESETS, profile, IICLConfig, overrides, {"aus": tuple(au_set("casme2" if dataset == "synthetic" else dataset)),
                                        "align": default_align(dataset)}, "IICL")
    if "epochs" in overrides and overrides["epochs"] is not None and "lr_step" not in overrides:
        sched["lr_step"] = max(1, sched["epochs"] // 2)  # the paper's 80/40: decay once, halfway
    return IICLConfig(**cfg), train.Schedule(**sched), subjects
