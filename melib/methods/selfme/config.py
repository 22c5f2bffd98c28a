"""SelfME's settings: the config, the profiles, the Table 1-4 variants and the paper's numbers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import papers, train
from ...config import drop_defaults
from ...preprocess import ALIGNERS, default_align
from .losses import SELFME_OMEGA, SELFME_TEMPERATURE
from .model import FAST_VIT, PAPER_VIT

MOTIONS = ("learned", "tvl1", "farneback", "dis")
#: Config fields added after learners, caches and runs existed, with their defaults: hashed only when set otherwise.
ADDED_FIELDS: dict[str, Any] = {"align": "none"}
#: The fast profile's pretrained motion learner, trained by ``data_scripts/train_selfme_learner.py`` on
#: the seed-1 synthetic dataset (identities disjoint from the default seed-0 dataset).
SHIPPED_LEARNER = Path(__file__).resolve().parents[2] / "models" / "weights" / "selfme_learner_fast.pt"
RECONSTRUCTIONS = ("pyramid", "vgg19")

def _uf1_uar(rows: dict[str, tuple[float, float, tuple[str, ...]]]) -> dict:
    return {label: ({"uf1": uf1, "uar": uar}, variants) for label, (uf1, uar, variants) in rows.items()}


#: SelfME on REAL data (3 classes, LOSO), for display beside melib's synthetic results only
#: (:func:`melib.papers.paper_comparison`). Table 1 (CASME II): B-spline / SC / MA switched on (+) or off
#: (-), every row read against the full model; Table 2: the headline rows; Table 3 (CASME II): motion +
#: classifier, read against SelfME's motion + SCViT; Table 4 (SMIC-HS only): the inference MA factor
#: gamma, read against gamma 2 (the paper's setting).
PAPER_NUMBERS = (
    papers.table("selfme", "Table 1", "casme2", "loso", 3, _uf1_uar({
        "B-spline - SC - MA -": (0.8468, 0.8849, ("plain",)), "B-spline + SC - MA -": (0.8629, 0.8903, ("bspline_only",)),
        "B-spline - SC + MA -": (0.8903, 0.9028, ("sc_only",)), "B-spline - SC - MA +": (0.8718, 0.8851, ("ma_only",)),
        "B-spline + SC + MA -": (0.8923, 0.8984, ("no_ma",)), "B-spline - SC + MA +": (0.8951, 0.9109, ("no_bspline",)),
        "B-spline + SC - MA +": (0.8784, 0.8960, ("no_sc",)), "B-spline + SC + MA +": (0.9078, 0.9290, ("selfme",))}),
        reference="B-spline + SC + MA +")
    + papers.table("selfme", "Table 2", "casme2", "loso", 3, _uf1_uar({"SelfME": (0.9078, 0.9290, ("selfme",))}))
    + papers.table("selfme", "Table 2", "smic", "loso", 3, _uf1_uar({"SelfME": (0.6972, 0.7012, ("selfme",))}))
    + papers.table("selfme", "Table 3", "casme2", "loso", 3, _uf1_uar({
        "TV-L1+ViT": (0.8060, 0.8016, ("tvl1_vit",)), "TV-L1+SCViT": (0.8460, 0.8305, ("tvl1",)),
        "TCAE+FC": (0.4836, 0.5491, ()), "TCAE's motion+ViT": (0.5681, 0.5752, ()),
        "TCAE's motion+SCViT": (0.6158, 0.5926, ()), "SelfME's motion+ViT": (0.8784, 0.8960, ("no_sc",)),
        "SelfME's motion+SCViT": (0.9078, 0.9290, ("selfme",))}), reference="SelfME's motion+SCViT")
    + papers.table("selfme", "Table 4", "smic", "loso", 3, _uf1_uar({
        "gamma 1": (0.6768, 0.6798, ("no_ma",)), "gamma 2": (0.6972, 0.7012, ("selfme",)),
        "gamma 3": (0.6523, 0.6622, ("gamma3",))}), reference="gamma 2"))


@dataclass(frozen=True)
class SelfMEConfig:
    """Everything that defines a SelfME run besides the SCViT schedule (hashed into run and cache keys)."""

    motion: str = "learned"            # "learned" (the paper) | "tvl1" (Table 3's flow rows) | "farneback" | "dis"
    align: str = "none"                # face aligner first: "none" (cropped faces) | "dlib" (SAMM) | "mediapipe"
    frame_size: int = 256              # motion learner input S x S (divisible by 4; lattice S/4)
    num_kp: int = 10                   # K keypoints (FOMM's default; the paper gives none)
    expansion: int = 32                # hourglass width
    learner_steps: int = 20000
    learner_batch: int = 8
    learner_lr: float = 2e-4
    frames_per_clip: int = 0           # 0 = every frame between onset and offset
    motion_folds: int = 4              # subject-disjoint learner groups (see the module docstring)
    checkpoint: str = ""               # "" = from scratch | "shipped" (melib's, fast profile) | state-dict file
    reconstruction: str = "pyramid"    # "pyramid" (weight-free) | "vgg19" (Eq. 6 as printed)
    vgg_weights: str = "imagenet"      # for reconstruction="vgg19": "imagenet" (internet) or a file
    gamma_train: float = 1.0           # MA factor in training (Sec. 4.3)
    gamma_test: float = 2.0            # MA factor at inference (Sec. 4.3)
    bspline: bool = True               # Eq. 9 + scaling and squaring (Table 1 "B-spline")
    integrate_steps: int = 7
    vit: str = PAPER_VIT
    vit_image_size: int = 224
    vit_patch_size: int = 16
    vit_depth: int = 12
    weights: str = "none"              # "none" | "imagenet" (the paper's start; internet) | state-dict file
    sc: bool = True                    # Eq. 14 on (Table 1 "SC")
    omega: float = SELFME_OMEGA
    temperature: float = SELFME_TEMPERATURE
    sc_features: str = "patch_embed"
    motion_scale: float = 1.0          # px at the ViT size that maps to 1 in the motion image; 0 = per-clip max
    classes: str = "3class"

    def __post_init__(self) -> None:
        for name, allowed in (("motion", MOTIONS), ("reconstruction", RECONSTRUCTIONS),
                              ("sc_features", ("patch_embed", "tokens")), ("classes", ("3class",)), ("align", ALIGNERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"SelfMEConfig.{name} must be one of {allowed}; got {getattr(self, name)!r}")
        if self.frame_size % 4 or self.frame_size < 16 or self.motion_folds < 2 or self.learner_steps < 0:
            raise ValueError(f"SelfMEConfig: frame_size a multiple of 4 (>= 16), motion_folds >= 2 and "
                             f"learner_steps >= 0 required; got {self}")
        if self.checkpoint not in ("", "shipped") and not Path(self.checkpoint).is_file():
            raise ValueError(f"SelfMEConfig.checkpoint: no such file {self.checkpoint!r} ('' = from scratch, "
                             f"'shipped' = melib's pretrained fast-profile learner)")

    def checkpoint_path(self) -> Path | None:
        """The motion learner's starting weights: ``None`` (scratch), the shipped file or ``checkpoint``."""
        if not self.checkpoint:
            return None
        path = SHIPPED_LEARNER if self.checkpoint == "shipped" else Path(self.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"SelfME motion-learner checkpoint {path} is missing (the shipped one is made "
                                    "by data_scripts/train_selfme_learner.py)")
        return path

    def learner_settings(self) -> dict[str, Any]:
        keys = ("frame_size", "num_kp", "expansion", "learner_steps", "learner_batch", "learner_lr",
                "frames_per_clip", "checkpoint", "reconstruction", "vgg_weights", "gamma_train")
        return drop_defaults({k: getattr(self, k) for k in (*keys, "align")}, ADDED_FIELDS)

    def vit_kwargs(self) -> dict[str, Any]:
        return {"img_size": self.vit_image_size, "patch_size": self.vit_patch_size, "depth": self.vit_depth}


#: ``full`` is the paper (Sec. 4.3); ``fast`` a CPU stand-in: 64-px frames and a 16-wide motion learner
#: that starts from melib's shipped learner (pretrained on the seed-1 synthetic identities, the analogue of
#: VoxCeleb; :data:`SHIPPED_LEARNER`) without fine-tuning (``learner_steps=0``), a 4-block ViT with 8-px
#: patches at 64 px, motion scale 0.25 px, Adam 3e-4 for 20 epochs of batch 8, 8 subjects. lr and batch
#: were chosen on the seed-1 development dataset with Farneback motion (LOSO over 10 subjects, 30 epochs:
#: UF1 0.46 at lr 3e-4 / batch 8, 0.26 at lr 1e-3; 0.37 at 15 epochs of batch 16), never on the default
#: set; epochs and subjects were then cut to fit notebook 07 into about 3 CPU minutes.
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"config": {}, "schedule": dict(epochs=60, batch_size=32, lr=1e-4, optimizer="adam",
                                            scheduler="exponential", lr_gamma=0.9, seed=0), "subjects": None},
    "fast": {"config": dict(frame_size=64, expansion=16, learner_steps=0, checkpoint="shipped", frames_per_clip=9,
                            motion_folds=2,
                            vit=FAST_VIT["name"], vit_image_size=FAST_VIT["img_size"],
                            vit_patch_size=FAST_VIT["patch_size"], vit_depth=FAST_VIT["depth"], motion_scale=0.25),
             "schedule": dict(epochs=20, batch_size=8, lr=3e-4, optimizer="adam", scheduler="exponential",
                              lr_gamma=0.9, seed=0), "subjects": 8},
}


#: The CPU reference of README's table: the fast profile on every subject of the default synthetic dataset.
REFERENCE_CPU: dict[str, Any] = dict(subjects=0)

#: What each logged loss term is (panel titles of :func:`melib.viz.results.training_curves`).
LOSS_NAMES = {"loss": "total L_c (Eq. 16)", "cls": "class CE L_cls (Eq. 16)", "sc": "SC loss L_sc (Eq. 14)"}

#: Table 1, 3 and 4 rows as config overrides; ``selfme`` is the full model (learned motion + SCViT, gamma 2).
VARIANTS: dict[str, dict[str, Any]] = {
    "selfme": {},
    "no_sc": {"sc": False},                      # Table 1 without SC = Table 3 "SelfME's motion + ViT"
    "no_bspline": {"bspline": False},            # Table 1: without the B-spline expansion
    "no_ma": {"gamma_test": 1.0},                # Table 1 without MA = Table 4 gamma 1
    "plain": {"bspline": False, "sc": False, "gamma_test": 1.0},  # Table 1: none of the three
    "bspline_only": {"sc": False, "gamma_test": 1.0},             # Table 1: B-spline alone
    "sc_only": {"bspline": False, "gamma_test": 1.0},             # Table 1: SC alone
    "ma_only": {"bspline": False, "sc": False},                   # Table 1: MA alone
    "gamma3": {"gamma_test": 3.0},               # Table 4: gamma 3
    "tvl1": {"motion": "tvl1"},                  # Table 3: TV-L1 + SCViT
    "tvl1_vit": {"motion": "tvl1", "sc": False},  # Table 3: TV-L1 + ViT
    "farneback": {"motion": "farneback"},        # melib's CPU flow + SCViT
    "dis": {"motion": "dis"},                    # DIS flow + SCViT
}


def preset(profile: str, dataset: str = "synthetic", **overrides: Any) -> tuple[SelfMEConfig, train.Schedule, int | None]:
    """``(config, schedule, n_subjects)`` of a profile; ``base_motion`` sets the motion source of variants
    that do not name their own (notebook 07's ``motion``), ``variant`` (a key of :data:`VARIANTS`) applies
    its switches, then ``overrides`` set config or schedule fields (``None`` ignored)."""
    variant = overrides.pop("variant", None) or "selfme"
    base_motion = overrides.pop("base_motion", None)
    if variant not in VARIANTS:
        raise ValueError(f"unknown SelfME variant {variant!r}; choose from {list(VARIANTS)}")
    base = {"motion": base_motion} if base_motion else {}
    overrides = {**base, **VARIANTS[variant], **{k: v for k, v in overrides.items() if v is not None}}
    cfg, sched, subjects = train.resolve_preset(PRESETS, profile, SelfMEConfig, overrides,
                                                {"align": default_align(dataset)}, "SelfME")
    return SelfMEConfig(**cfg), train.Schedule(**sched), subjects
