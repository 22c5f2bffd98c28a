"""SelfME (Fan et al. 2023) as the harness runs it: the motion learner's load-or-train, the motion
input cache, SCViT under LOSO, and the paper's numbers.

Pipeline (Sec. 3, Fig. 2): (1) a motion learner (:class:`melib.methods.selfme.model.MotionLearner`) trained
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
  (:func:`melib.methods.selfme.losses.multiscale_reconstruction`); ``"vgg19"`` uses timm's VGG-19 with ``vgg_weights``
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

The package: config (settings, presets, variants and the paper's numbers), learner (the self-supervised motion learner's training), motion (the motion input cache and motion against the truth), method (the Dataset and the harness's Method), analysis (fold models, features, Grad-CAM, tables, read-back hooks and the spec), model (the network).
"""
from __future__ import annotations

from .analysis import SPEC, fold_features, fold_model, grad_cams, results_table, view_maps  # noqa: F401
from .config import (  # noqa: F401
           ADDED_FIELDS,
           LOSS_NAMES,
           MOTIONS,
           PAPER_NUMBERS,
           PRESETS,
           RECONSTRUCTIONS,
           REFERENCE_CPU,
           SHIPPED_LEARNER,
           VARIANTS,
           SelfMEConfig,
           preset,
)
from .learner import learner_groups, learner_losses, learner_path, train_motion_learner  # noqa: F401
from .method import SelfMEDataset, SelfMEMethod, build_model, class_index, harness, run, select_clips  # noqa: F401
from .model import FAST_VIT, PAPER_VIT, MotionLearner, RandomTPS, SCViT  # noqa: F401
from .motion import (  # noqa: F401
           compute_motion,
           epe_by_amplitude,
           expand_motion,
           motion_against_truth,
           motion_image,
           prepare,
           time_per_pair,
           true_motion,
)

__all__ = ["SPEC", "view_maps", "LOSS_NAMES", "REFERENCE_CPU", "SHIPPED_LEARNER", "VARIANTS", "MOTIONS", "PAPER_NUMBERS", "PRESETS",
           "SelfMEConfig", "SelfMEDataset", "SelfMEMethod", "build_model", "class_index", "compute_motion",
           "epe_by_amplitude", "expand_motion", "fold_model", "grad_cams", "harness", "fold_features", "learner_groups", "learner_path",
           "motion_against_truth", "motion_image", "prepare", "preset", "results_table", "run", "select_clips",
           "time_per_pair", "train_motion_learner", "true_motion"]
