"""Micro-AU CLIP (Wei et al. 2026, arXiv 2603.16302) as the harness runs it: config, presets, the input
cache, the torch Dataset, the Method, emotion-label-free MER, and the paper's numbers for comparison.

Protocol (Sec. IV-A): per clip one optical-flow image, onset -> apex magnified x3 by learning-based
magnification (Oh et al. 2018), resized to 224 x 224, and dlib's 68 landmarks of the apex frame;
ViT-B/32 CLIP towers with the last three blocks of each fine-tuned; SGD, lr 1e-3 for the encoders and
1e-2 for the other modules, divided by 10 at epoch 40 of 80, batch 8, seed 1; LOSO; F1 and accuracy per
AU on the predictions of all folds together. Eq. 12's alpha, beta per dataset (Tables IV-V). The network
is :mod:`melib.methods.micro_au_clip.model`, the losses :mod:`melib.losses`.

Choices the paper leaves open (fields of :class:`MicroAUCLIPConfig` where they can vary):

- Flow image (``flow_encoding``; Sec. III-A only says the flow is the visual encoder's input):
  ``"hsv"`` (default): :func:`melib.motion.flow.flow_to_hsv_image`, hue = direction, value = magnitude
  / scale, full saturation; ``"xy_mag"``: channels ``0.5 + 0.5 dx / scale``, ``0.5 + 0.5 dy / scale``,
  ``|flow| / scale``. ``scale`` is the clip's largest magnitude (``flow_max=0``) or ``flow_max`` px
  at image size. See :func:`encode_flow`.
- Flow at the frames' own resolution (the magnified apex against the onset), then the flow *field*
  is resized to S x S (displacements rescaled per axis) and encoded (Sec. IV-A2 "OF image is resized").
- On SAMM's full frames the face is first aligned (``align``, :func:`melib.preprocess.default_align`);
  flow and landmarks then come from the aligned crop.
- Landmarks come from the raw (unmagnified) apex frame (Sec. III-B1) and are scaled to S x S. A clip
  where dlib finds no face raises, naming the clip; ``landmark_fallback="groundtruth"`` uses the
  synthetic dataset's ground-truth apex landmarks there instead (``landmark_source`` = 1 in the entry).
- No augmentation (the paper states none). Input normalised with CLIP's (OpenAI) mean and std.
- SGD momentum 0.9 and weight decay 5e-4 (the harness defaults; the paper gives neither).
- ``ce="balanced"`` (not in the paper; default ``"paper"``) weights each AU's active class by the training
  subjects' negatives/positives ratio in the multitask CE, as IICL's ``bce="balanced"``: CE at 0.5 on
  rare AUs otherwise never predicts "active".
- A clip's AU is detected at probability > ``threshold`` (0.5) of the active state (Eq. 7).
- ``weights="none"`` by default (offline); the paper starts from OpenAI's CLIP (``weights="openai"``
  with internet, or a state-dict file). Every ablation row is a switch: :data:`VARIANTS` names them.

The package: config (settings, presets, variants and the paper's numbers), inputs (the input cache and the Dataset), method (the network from a config and the harness's Method), outputs (held-out outputs and feature similarities), analysis (label-free MER, tables, read-back hooks and the spec), model (the network), towers (its CLIP encoders), heads (its LSI and GSD modules, Eqs. 1-7).
"""
from __future__ import annotations

from .analysis import SPEC, ablation_table, label_free_results, results_table, view_features, view_maps  # noqa: F401
from .config import (  # noqa: F401
                    ADDED_FIELDS,
                    CE_MODES,
                    EULERIAN_LAMBDA_C,
                    FLOW_ENCODINGS,
                    FLOW_METHODS,
                    INPUT_VERSION,
                    LANDMARK_FALLBACKS,
                    LOSS_NAMES,
                    MAGNIFIERS,
                    MEAN,
                    MIAUCL_MODES,
                    PAPER_NUMBERS,
                    PRESETS,
                    REFERENCE_CPU,
                    STD,
                    VARIANTS,
                    MicroAUCLIPConfig,
                    preset,
)
from .inputs import MicroAUCLIPDataset, apex_landmarks, compute_input, encode_flow, input_cache, prepare  # noqa: F401
from .method import MicroAUCLIPMethod, build_model, fold_model, harness, run, run_config  # noqa: F401
from .model import (  # noqa: F401
                    AU_LANDMARKS,
                    FUSIONS,
                    GDA_FCS,
                    LABEL_TABLES,
                    PAPER_LR,
                    PAPER_MODEL,
                    PAPER_TRAIN_BLOCKS,
                    POOLINGS,
                    MicroAUCLIP,
                    label_free_emotion,
)
from .outputs import fold_outputs, held_out_neighbours, held_out_outputs, label_pair_similarity  # noqa: F401

__all__ = ["SPEC", "view_maps", "view_features", "ablation_table", "LOSS_NAMES", "REFERENCE_CPU", "VARIANTS", "FLOW_ENCODINGS", "MicroAUCLIPConfig", "MicroAUCLIPDataset", "MicroAUCLIPMethod", "PAPER_NUMBERS",
           "PRESETS", "apex_landmarks", "build_model", "compute_input", "encode_flow", "fold_model", "fold_outputs", "harness",
           "held_out_neighbours", "input_cache", "label_pair_similarity",
           "held_out_outputs", "LABEL_TABLES", "label_free_results", "prepare", "preset", "results_table", "run", "run_config"]
