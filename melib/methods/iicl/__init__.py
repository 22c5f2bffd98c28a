"""IICL as the harness runs it: presets, the torch Dataset over the front-end cache, the Method,
and the paper's Tables 1-3 for comparison.

Protocol (IICL Sec. 3.3): magnified x10 onset, apex and close-to-apex frames (the three before and
after the apex), resized to 256 and randomly cropped to 224 for training; subject-independent
4-fold cross-validation; testing on the apex alone (centre crop); F1 per AU on the predictions of
all folds together. The network and losses live in :mod:`melib.methods.iicl.model` and :mod:`melib.losses`.

Choices the paper leaves open, each a field of :class:`IICLConfig`:
the same random crop is applied to the three frames of a sample (so the contrastive terms compare
faces, not crops); one close-to-apex frame is drawn uniformly per sample and epoch (the sequence
baselines test on apex+1); a clip's AU is positive at probability > ``threshold`` (0.5).

The package: config (settings, presets and the paper's numbers), method (the Dataset and the harness's Method), analysis (tables, diagnostics, read-back hooks and the spec), model (the network).
"""
from __future__ import annotations

from ...preprocess import preprocess  # noqa: F401  (the front end, as iicl.preprocess)
from .analysis import (  # noqa: F401
           SPEC,
           diagnostics,
           f1_by_amplitude,
           f1_table,
           format_seed_table,
           seed_table,
           verdict,
           view_features,
           view_maps,
)
from .config import IICL_CASME2_EMOTIONS, IICL_CLIPS, LABELS, LOSS_NAMES, MEAN, PAPER_NUMBERS, PRESETS, REFERENCE_CPU, STD, IICLConfig, paper_f1, preset  # noqa: F401
from .method import IICLDataset, IICLMethod, _to_tensor, harness, run  # noqa: F401
from .model import VARIANTS, build_model, get_variant, variant_loss  # noqa: F401

__all__ = ["SPEC", "IICL_CASME2_EMOTIONS", "IICL_CLIPS", "view_maps", "view_features", "IICLConfig", "IICLDataset", "IICLMethod", "LABELS", "LOSS_NAMES", "PAPER_NUMBERS", "paper_f1", "PRESETS", "VARIANTS",
           "diagnostics", "f1_by_amplitude", "f1_table", "harness", "REFERENCE_CPU", "format_seed_table", "preset", "run",
           "seed_table", "verdict"]
