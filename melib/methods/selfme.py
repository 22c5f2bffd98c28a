"""SelfME (Fan et al. 2023) as the harness runs it: the motion learner's load-or-train, the motion
input cache, SCViT under LOSO, and the paper's numbers.

Pipeline (Sec. 3, Fig. 2): (1) a motion learner (:class:`melib.models.selfme.MotionLearner`) trained
without labels on random frame pairs; (2) per clip, its onset -> apex motion at ``gamma_test`` (MA,
Sec. 4.3: 1 in training, 2 at inference), expanded from the 1/4 lattice to the ViT's input size by the
cubic B-spline of Eq. 9 and made diffeomorphic by scaling and squaring (:mod:`melib.motion.diffeo`);
(3) SCViT trained on it with ``L_c = L_cls + omega L_sc`` (Eq. 16); LOSO, UF1/UAR/accuracy pooled.

Choices where the paper is open, or where melib must differ (each a field of :class:`SelfMEConfig`):

- **Which subjects the motion learner sees.** A clip's motion never comes from a learner that saw its
  subject's frames: melib trains ``motion_folds`` learners on subject-disjoint groups (learner g never
  sees group g) and each clip's motion comes from the learner that did not see its subject. The
  *training* clips of a LOSO fold, though, get motions from learners that saw the held-out subject's
  unlabelled frames; one learner per LOSO fold (``motion_folds`` = number of subjects) removes even that,
  at that many times the cost. The learner key includes the seed. The paper pretrains on VoxCeleb and fine-tunes on the ME data without
  saying on which subjects; ``checkpoint`` loads a pretrained state dict of melib's architecture.
- **Reconstruction loss.** Eq. 6 is VGG-19's perceptual loss, which needs ImageNet weights (offline
  here). ``reconstruction="pyramid"`` (default) is a weight-free L1 image-and-gradient pyramid
  (:func:`melib.losses.multiscale_reconstruction`); ``"vgg19"`` uses timm's VGG-19 with ``vgg_weights``
  (``"imagenet"`` with internet, or a state-dict file).
- **Frames.** Pairs are drawn from ``frames_per_clip`` evenly spaced frames between onset and offset
  of each clip (``0``: every frame), resized to ``frame_size``; from scratch Adam at ``learner_lr``
  (the paper's 2e-6 fine-tunes a VoxCeleb model), divided by 10 at 1/2 and 3/4 of ``learner_steps``.
- **Motion image.** The expanded motion (pixels at the ViT size, forward onset -> apex, i.e. minus the
  learner's backward displacement) becomes 3 channels ``(dx, dy, |d|) / motion_scale``: one fixed
  scale for every clip (px at the ViT size), so the amplitude, and what MA changes, reach the ViT (the
  paper does not say how its C channels are formed; ``motion_scale=0`` scales each clip by its
  maximum). ``motion="tvl1"`` / ``"farneback"`` replace the learner by optical flow (Table 3's TV-L1
  rows), resized the same way.
- **Faces.** On SAMM's full frames every frame is first aligned (``align``, :func:`melib.preprocess.default_align`),
  for the learner's training pairs and for the motions alike.
- SCViT: Adam lr 1e-4, batch 32, exponential decay 0.9 per epoch, 60 epochs (Sec. 4.3); ``sc=False``
  drops Eq. 14 (Table 1); ``bspline=False`` upsamples the lattice motion bilinearly without
  integration (Table 1's "no B-spline").
"""
from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from ..progress import tqdm

from .. import metrics, papers, splits, train
from ..cache import ClipCache, dataset_fingerprint
from ..config import config_hash, drop_defaults, outputs_root
from ..data import map_emotions
from ..data.mappings import THREE_CLASSES
from ..io import atomic_path
from ..losses import (SELFME_OMEGA, SELFME_TEMPERATURE, equivariance, multiscale_reconstruction,
                      symmetric_contrastive)
from ..models.backbones import report_weights
from ..models.selfme import FAST_VIT, PAPER_VIT, MotionLearner, RandomTPS, SCViT
from ..motion.diffeo import bspline_upsample, folding_fraction, integrate_velocity
from ..preprocess import ALIGNERS, default_align, face_frames

MOTIONS = ("learned", "tvl1", "farneback", "dis")
#: Config fields added after learners, caches and runs existed, with their defaults: hashed only when set otherwise.
ADDED_FIELDS: dict[str, Any] = {"align": "none"}
#: The fast profile's pretrained motion learner, trained by ``data_scripts/train_selfme_learner.py`` on
#: the seed-1 synthetic dataset (identities disjoint from the default seed-0 dataset).
SHIPPED_LEARNER = Path(__file__).resolve().parents[1] / "models" / "weights" / "selfme_learner_fast.pt"
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


# ------------------------------------------------------------------------------------ motion learner
def _file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def learner_groups(manifest: pd.DataFrame, k: int) -> list[list[str]]:
    """``k`` subject-disjoint groups (round-robin over the sorted subjects): learner g never sees group g."""
    subjects = splits.loso_subjects(manifest)
    if k > len(subjects):
        raise ValueError(f"motion_folds={k} needs at least {k} subjects; the manifest has {len(subjects)}")
    return [subjects[g::k] for g in range(k)]


def _frames(row: Mapping[str, Any], numbers: Sequence[int], size: int, align: str) -> list[np.ndarray]:
    """Frames ``numbers`` of a clip (faces aligned from the first one unless ``align="none"``) at ``size`` x ``size``."""
    frames, _ = face_frames(row, numbers, align)
    return [cv2.resize(frames[int(n)], (size, size), interpolation=cv2.INTER_AREA) for n in numbers]


def _training_frames(rows: pd.DataFrame, cfg: SelfMEConfig, progress: bool) -> list[np.ndarray]:
    """Per clip, ``(F, S, S, 3)`` uint8 frames between onset and offset (``frames_per_clip`` evenly spaced)."""
    clips = []
    for _, row in tqdm(list(rows.iterrows()), desc="motion-learner frames", disable=not progress, leave=False):
        first, last = int(row["onset"]), int(row["offset"]) if int(row["offset"]) > int(row["onset"]) else int(row["apex"])
        numbers = np.arange(first, last + 1)
        if cfg.frames_per_clip and len(numbers) > cfg.frames_per_clip:
            numbers = np.unique(np.linspace(first, last, cfg.frames_per_clip).round().astype(int))
        clips.append(np.stack(_frames(row, numbers, cfg.frame_size, cfg.align)))
    return clips


def _reconstruction_features(cfg: SelfMEConfig, device: torch.device):
    """``None`` for the weight-free pyramid; for ``"vgg19"`` a frozen VGG-19 feature extractor (Eq. 6)."""
    if cfg.reconstruction == "pyramid":
        return None
    import timm

    from ..models.backbones import load_state_dict_file

    pretrained = cfg.vgg_weights == "imagenet"
    vgg = timm.create_model("vgg19", pretrained=pretrained, features_only=True, out_indices=(0, 1, 2, 3, 4))
    if not pretrained:
        load_state_dict_file(vgg, "vgg19", Path(cfg.vgg_weights), strict=False)
    vgg.to(device).eval().requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return lambda x: vgg((x - mean.to(x)) / std.to(x))


def learner_path(manifest: pd.DataFrame, cfg: SelfMEConfig, seen: Sequence[str], seed: int = 0) -> Path:
    """Where the learner trained on subjects ``seen`` with ``seed`` is stored (the key hashes its
    settings, the starting weights' contents, the subjects, the seed and the data)."""
    start = cfg.checkpoint_path()
    key = config_hash({"learner": cfg.learner_settings(), "subjects": sorted(seen), "seed": seed,
                       "start": _file_digest(start) if start is not None else None,
                       "data": dataset_fingerprint(manifest)})
    return outputs_root() / "selfme" / "learners" / f"{key}.pt"


def learner_losses(model: MotionLearner, source: torch.Tensor, target: torch.Tensor, cfg: SelfMEConfig,
                   generator: torch.Generator, features=None) -> tuple[torch.Tensor, torch.Tensor]:
    """One motion-learner step's two terms of Eq. 8 on a batch of frame pairs ``(B, 3, S, S)`` in [0, 1]:
    the multi-scale reconstruction of ``target`` from ``source`` (Eq. 6; ``features`` as
    :func:`_reconstruction_features`) and the keypoint equivariance under a random TPS drawn from
    ``generator`` (Eq. 7)."""
    out = model(source, target, cfg.gamma_train)
    rec = multiscale_reconstruction(out["prediction"], target, features=features)
    tps = RandomTPS(len(source), generator=generator, device=source.device)
    kp_back = tps.warp_coordinates(model.kp_detector(tps.transform_frame(source)))
    return rec, equivariance(out["kp_source"], kp_back)


def train_motion_learner(manifest: pd.DataFrame, seen: Sequence[str], cfg: SelfMEConfig, seed: int = 0,
                         progress: bool = True, device: str | torch.device | None = None) -> tuple[MotionLearner, dict]:
    """Load-or-train the motion learner on the clips of subjects ``seen`` only (Eq. 8, random frame pairs).

    Resumable: ``<path>.last`` is written atomically every 50 steps with the optimiser state and the
    step (a resumed run reseeds its pair sampling from the step, so it is not bit-identical to an
    uninterrupted one); the finished model goes to :func:`learner_path` with its loss history. Returns the model (eval
    mode, CPU) and ``{"path", "history", "steps", "seen"}``.
    """
    path = learner_path(manifest, cfg, seen, seed)
    model = MotionLearner(cfg.num_kp, 3, cfg.expansion)
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        return model.eval(), {"path": path, "history": state["history"], "steps": cfg.learner_steps, "seen": list(seen)}
    start_weights = cfg.checkpoint_path()
    if start_weights is not None:
        model.load_state_dict(torch.load(start_weights, map_location="cpu", weights_only=True))
    device = torch.device(device) if device is not None else train.device_default()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learner_lr, betas=(0.5, 0.999))
    milestones = [max(1, cfg.learner_steps // 2), max(1, 3 * cfg.learner_steps // 4)]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
    start, history = 0, []
    last = path.with_suffix(".last")
    if last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, history = int(state["step"]), [dict(zip(("step", "rec", "eqv"), h)) for h in state["history"].tolist()]
    rows = manifest[manifest["subject"].astype(str).isin(set(seen))]
    clips = _training_frames(rows, cfg, progress) if start < cfg.learner_steps else []
    features = _reconstruction_features(cfg, device)
    rng = random.Random(f"{seed}-{start}")
    gen = torch.Generator().manual_seed(seed * 100003 + start)
    bar = tqdm(range(start, cfg.learner_steps), desc="motion learner", disable=not progress, leave=False)
    for step in bar:
        pairs = []
        for _ in range(cfg.learner_batch):
            frames = clips[rng.randrange(len(clips))]
            i, j = rng.sample(range(len(frames)), 2) if len(frames) > 1 else (0, 0)
            pairs.append((frames[i], frames[j]))
        source, target = (torch.from_numpy(np.stack([p[k] for p in pairs])).permute(0, 3, 1, 2).float().div(255).to(device)
                          for k in (0, 1))
        rec, eqv = learner_losses(model, source, target, cfg, gen, features)
        opt.zero_grad(set_to_none=True)
        (rec + eqv).backward()
        opt.step()
        sched.step()
        history.append({"step": step + 1, "rec": rec.item(), "eqv": eqv.item()})
        bar.set_postfix(rec=f"{history[-1]['rec']:.3f}", eqv=f"{history[-1]['eqv']:.3f}")
        if (step + 1) % 50 == 0 or step + 1 == cfg.learner_steps:
            table = torch.tensor([[h["step"], h["rec"], h["eqv"]] for h in history], dtype=torch.float64)
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "step": step + 1, "history": table}
            with atomic_path(last) as tmp:
                torch.save(state, tmp)
    table = torch.tensor([[h["step"], h["rec"], h["eqv"]] for h in history], dtype=torch.float64).reshape(-1, 3)
    with atomic_path(path) as tmp:
        torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "history": table}, tmp)
    last.unlink(missing_ok=True)
    return model.cpu().eval(), {"path": path, "history": table, "steps": cfg.learner_steps, "seen": list(seen)}


# --------------------------------------------------------------------------------- motion input cache
def expand_motion(lattice_px: torch.Tensor, size: int, cfg: SelfMEConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Lattice displacement ``(B, 2, h, w)``, values already in OUTPUT pixels (of the ``size`` x ``size``
    image) -> ``(expanded (B, 2, size, size), before)``: Eq. 9 plus scaling and squaring when
    ``cfg.bspline``, bilinear otherwise; ``before`` is the expansion before integration."""
    if cfg.bspline:
        before = bspline_upsample(lattice_px, (size, size))
        return integrate_velocity(before, cfg.integrate_steps), before
    up = F.interpolate(lattice_px, size=(size, size), mode="bilinear", align_corners=True)
    return up, up


def motion_image(displacement: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``(2, S, S)`` forward displacement -> ``(3, S, S)`` float32 ``(dx, dy, |d|) / scale``; ``scale`` 0
    divides by the clip's largest magnitude (which hides the amplitude, and with it what MA changes)."""
    magnitude = np.hypot(displacement[0], displacement[1])
    scale = float(scale) or float(magnitude.max()) or 1.0
    return (np.concatenate([displacement, magnitude[None]]) / scale).astype(np.float32)


@torch.no_grad()
def compute_motion(row: Mapping[str, Any], cfg: SelfMEConfig, learner: MotionLearner | None) -> dict[str, np.ndarray]:
    """One clip's entry: ``motion`` (2, S, S) float32, the forward onset -> apex displacement in pixels
    of the ViT input size S; with the learner also ``folding_before``/``folding_after`` (share of
    folding pixels of the expanded motion before and after scaling and squaring)."""
    from ..motion.flow import optical_flow

    onset, apex = int(row["onset"]), int(row["apex"])
    size = cfg.vit_image_size
    if cfg.motion == "learned":
        frames = [torch.from_numpy(f).permute(2, 0, 1).float().div(255)[None]
                  for f in _frames(row, (onset, apex), cfg.frame_size, cfg.align)]
        out = learner.motion(frames[0], frames[1], cfg.gamma_test)
        lattice = MotionLearner.to_pixels(out["motion"], (cfg.frame_size, cfg.frame_size))
        lattice = -lattice * (size / cfg.frame_size)  # backward -> forward, frame pixels -> output pixels
        expanded, before = expand_motion(lattice, size, cfg)
        return {"motion": expanded[0].numpy().astype(np.float32), "gamma": np.float32(cfg.gamma_test),
                "folding_before": np.float32(folding_fraction(before)[0]),
                "folding_after": np.float32(folding_fraction(expanded)[0])}
    frames, _ = face_frames(row, (onset, apex), cfg.align)
    flow = optical_flow(frames[onset], frames[apex], method=cfg.motion)
    h, w = flow.shape[:2]
    flow = cv2.resize(flow, (size, size), interpolation=cv2.INTER_AREA) * np.array([size / w, size / h], np.float32)
    return {"motion": flow.transpose(2, 0, 1).astype(np.float32)}


def prepare(manifest: pd.DataFrame, cfg: SelfMEConfig, seed: int = 0, progress: bool = True,
            root: str | Path | None = None, workers: int | None = None) -> tuple[ClipCache, dict[str, dict]]:
    """Train (or load) the motion learners and cache every clip's motion; returns the cache and, per
    learner group, ``{"path", "history", "seen", "subjects"}`` (empty for optical flow). ``workers``:
    processes for optical flow (default: all cores); learned motion runs in this process."""
    learners: dict[str, dict] = {}
    motion_keys = ("motion", "gamma_test", "bspline", "integrate_steps", "vit_image_size", "align")
    settings = {"selfme_motion": drop_defaults({k: v for k, v in dataclasses.asdict(cfg).items() if k in motion_keys},
                                               ADDED_FIELDS),
                "data": dataset_fingerprint(manifest), "dataset_root": str(manifest.attrs.get("root", ""))}
    if cfg.motion == "learned":
        groups = learner_groups(manifest, cfg.motion_folds)
        everyone = splits.loso_subjects(manifest)
        for g, held in enumerate(groups):
            seen = [s for s in everyone if s not in held]
            model, info = train_motion_learner(manifest, seen, cfg, seed=seed, progress=progress)
            learners[str(g)] = {**info, "model": model, "subjects": held}
        settings["learners"] = [str(info["path"].name) for info in learners.values()]
    cache = ClipCache("selfme", settings, root)
    for g, info in (learners.items() if learners else [("flow", {"model": None, "subjects": None})]):
        rows = manifest if info["subjects"] is None else manifest[manifest["subject"].astype(str).isin(set(info["subjects"]))]
        compute = functools.partial(compute_motion, cfg=cfg, learner=info["model"])
        report = cache.build(rows, compute, workers=1 if cfg.motion == "learned" else workers, progress=progress,
                             strict=True)
        if progress:
            print(f"SelfME motion ({cfg.motion}) group {g}: {report}")
    return cache, {g: {k: v for k, v in info.items() if k != "model"} for g, info in learners.items()}


def true_motion(root: str | Path, row: Mapping[str, Any], size: int) -> np.ndarray:
    """The synthetic clip's true forward onset -> apex displacement ``(2, size, size)`` in pixels of a
    ``size`` image (the ground truth resized with its values rescaled); raises for other datasets."""
    from ..data.synthetic import load_groundtruth

    truth = load_groundtruth(root, row["subject"], row["clip"])["flow_onset_apex"].astype(np.float32)
    h, w = truth.shape[:2]
    truth = cv2.resize(truth, (size, size), interpolation=cv2.INTER_AREA) * np.array([size / w, size / h], np.float32)
    return truth.transpose(2, 0, 1)


def motion_against_truth(clips: pd.DataFrame, caches: Mapping[str, ClipCache], size: int) -> pd.DataFrame:
    """Per clip of the synthetic dataset: the mean end-point error (px at the ViT size) of each cached
    motion in ``caches`` (learned motion divided by its inference MA factor gamma first) (name -> cache) against the true motion, over the pixels that truly move
    (> 0.05 px) and over the whole face image, the true mean motion there (the error of answering "no
    motion"), and, where cached, the
    share of folding pixels before and after scaling and squaring."""
    root = str(clips.attrs.get("root", ""))
    rows = []
    for _, row in clips.iterrows():
        truth = true_motion(root, row, size)
        moving = np.hypot(truth[0], truth[1]) > 0.05
        out = {"subject": row["subject"], "clip": row["clip"], "true motion (px)": float(np.hypot(*truth)[moving].mean())
               if moving.any() else 0.0}
        for name, cache in caches.items():
            entry = cache.load(row)
            motion = entry["motion"] / float(entry["gamma"]) if "gamma" in entry else entry["motion"]  # undo MA
            error = np.hypot(*(motion - truth))
            out[f"EPE {name} (moving)"] = float(error[moving].mean()) if moving.any() else np.nan
            out[f"EPE {name} (all)"] = float(error.mean())
            for key in ("folding_before", "folding_after"):
                if key in entry:
                    out[f"{key.replace('_', ' ')} ({name})"] = float(entry[key])
        rows.append(out)
    return pd.DataFrame(rows)


def epe_by_amplitude(table: pd.DataFrame, bins: Sequence[float] | None = None) -> pd.DataFrame:
    """Mean EPE over the moving pixels of each motion in a :func:`motion_against_truth` table, by bin of
    the clip's true mean motion (px at the ViT size; default: the clips' tertiles); ``clips`` counts each bin."""
    if bins is None:
        inner = np.unique(np.round(np.quantile(table["true motion (px)"], [1 / 3, 2 / 3]), 3))
        bins = (0.0, *inner, np.inf)
    names = [c[len("EPE "):-len(" (moving)")] for c in table.columns if c.startswith("EPE ") and c.endswith("(moving)")]
    labels = [f"{lo:g}-{hi:g} px" if np.isfinite(hi) else f">= {lo:g} px" for lo, hi in zip(bins[:-1], bins[1:])]
    binned = pd.cut(table["true motion (px)"], list(bins), labels=labels, right=False)
    out = table.groupby(binned, observed=True)[[f"EPE {n} (moving)" for n in names]].mean()
    out.columns = names
    out.insert(0, "clips", table.groupby(binned, observed=True).size())
    out.index.name = "true motion"
    return out


def time_per_pair(clips: pd.DataFrame, configs: Mapping[str, SelfMEConfig], n: int = 8, seed: int = 0) -> pd.Series:
    """Seconds per onset -> apex pair of each motion source (name -> config), on the first ``n`` clips,
    this process, the threads torch and OpenCV have: frame loading, motion (the learner's forward pass,
    B-spline expansion and integration, or optical flow) and the resize to the ViT size. The learner is
    the one that held out the first clip's subject (loaded or trained as :func:`prepare` would)."""
    import time

    rows = clips.head(n)
    out = {}
    for name, cfg in configs.items():
        learner = None
        if cfg.motion == "learned":
            everyone = splits.loso_subjects(clips)
            held = next(g for g in learner_groups(clips, cfg.motion_folds) if rows["subject"].iloc[0] in g)
            learner, _ = train_motion_learner(clips, [s for s in everyone if s not in held], cfg, seed, progress=False)
        compute_motion(rows.iloc[0], cfg, learner)  # warm-up (imports, first allocations)
        began = time.perf_counter()
        for _, row in rows.iterrows():
            compute_motion(row, cfg, learner)
        out[name] = (time.perf_counter() - began) / len(rows)
    return pd.Series(out, name="seconds per pair")


# ---------------------------------------------------------------------------------------------- SCViT
def select_clips(manifest: pd.DataFrame) -> pd.DataFrame:
    """The clips with a 3-class label (MEGC composite mapping, each clip in its own dataset's words, so
    the composite's rows too); ``others`` and unmapped emotions dropped."""
    keep = [c is not None for c in map_emotions(manifest["dataset"], manifest["emotion"], "3class")]
    return manifest[keep]


def class_index(rows: pd.DataFrame) -> np.ndarray:
    """Each clip's index in :data:`THREE_CLASSES`."""
    return np.array([THREE_CLASSES.index(c) for c in map_emotions(rows["dataset"], rows["emotion"], "3class")],
                    dtype=np.int64)


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
    from ..interpret import grad_cam, vit_reshape

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
        results = run.results()
        if results is not None:
            m = results["metrics"]
            rows.append({"uf1": m["uf1"], "uar": m["uar"], "acc": m["acc"]})
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
    if not rows:
        return pd.DataFrame(columns=["uf1", "uar", "acc"])
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["variant", "source"]))


def harness(manifest: pd.DataFrame, config: SelfMEConfig, seed: int = 0, progress: bool = True,
            root: str | Path | None = None, workers: int | None = None) -> tuple[SelfMEMethod, pd.DataFrame]:
    """The harness's method over the motion cache (learners and motions computed where missing) and
    the 3-class clips it runs on."""
    clips = select_clips(manifest)
    cache, _ = prepare(clips, config, seed=seed, progress=progress, root=root, workers=workers)
    return SelfMEMethod(config, cache), clips


def run(manifest: pd.DataFrame, config: SelfMEConfig, schedule: train.Schedule, fold: int = -1,
        progress: bool = True, root: str | Path | None = None, workers: int | None = None, **kwargs: Any) -> train.Run:
    """Motion learners, motion cache, then SCViT over LOSO fold(s) of the 3-class clips (load-or-train).

    ``fold`` indexes the held-out subject in sorted order (-1: all); out of range raises before any work.
    ``workers``: processes for optical-flow motion (:func:`prepare`).
    """
    splits.check_loso_fold(select_clips(manifest), fold, "SelfME")
    method, clips = harness(manifest, config, schedule.seed, progress, root, workers)
    if progress:
        report_weights(method.build_model())
    return train.run_folds(method, clips, schedule, fold=fold, protocol="loso", progress=progress, **kwargs)


__all__ = ["LOSS_NAMES", "REFERENCE_CPU", "SHIPPED_LEARNER", "VARIANTS", "MOTIONS", "PAPER_NUMBERS", "PRESETS",
           "SelfMEConfig", "SelfMEDataset", "SelfMEMethod", "build_model", "class_index", "compute_motion",
           "epe_by_amplitude", "expand_motion", "fold_model", "grad_cams", "harness", "fold_features", "learner_groups", "learner_path",
           "motion_against_truth", "motion_image", "prepare", "preset", "results_table", "run", "select_clips",
           "time_per_pair", "train_motion_learner", "true_motion"]
