"""Annotation mimic (Ruan et al. 2022) as the harness runs it: config, presets, the input cache, the
torch Dataset with Region Replacing, the Method, and the paper's Tables 3-4 for comparison.

Protocol (Sec. 3-4): per clip one 3-channel image (Sec. 3.1.1, Fig. 2): the grey magnified apex
(learned magnification, total factor 6) and the On-A / Off-A optical-flow magnitudes, built by
:func:`melib.motion.flow.mimic_input` at the frames' resolution and resized to 224. Flows go to the
apex on CASME II and to the magnified apex on SAMM (Sec. 4.3; ``flow_target``). Training augments
with Region Replacing (Sec. 3.2, probability 0.5), horizontal flip and random erasing; the loss is
Eq. 8 (class-weighted CE of Eqs. 6-7 plus WSCL of Eqs. 4-5, lambda 0.3); AdamW, lr 3e-3, cosine
annealing with warm restarts (T0 = 10, T_mult = 2), 100 epochs, batch 128; leave-one-subject-out;
accuracy, UF1 and UAR on the predictions of all folds together (Eqs. 9-11). The network is
:mod:`melib.methods.annotation_mimic.model`, the losses :mod:`melib.losses`.

Model selection: the authors' ``train.py`` keeps, for every LOSO subject, the epoch with the best
accuracy *on that held-out subject* and reports its predictions, which leaks the test labels into
the result. melib never does this: the harness evaluates the final epoch's model.

Choices the paper leaves open, each a field of :class:`MimicConfig` where it can vary:
the input is normalised with ImageNet statistics, after augmentation (the authors' code); Region
Replacing draws the donor among the *other* training clips of the same class (no replacement if
there is none) and the mixed AU set is the receiver's eyes AUs plus the donor's mouth AUs
(``rr_aus="regions"``; the authors' code unions all AUs of both, ``"union"``); flip and erasing act on
the composed image; WSCL's multi-hot AUs cover every AU the manifest annotates (``aus="all"``, Eq. 4
speaks of each sample's whole AU set; ``"standard"`` restricts to :func:`melib.data.au_set`);
the prediction is the argmax of the sum of the two heads' softmax outputs (Sec. 3.6) in the paper
configuration, of the summed logits in the official one (the authors' ``SAMER.predict``); on SAMM's
full frames the face is first aligned (``align``, :func:`melib.preprocess.default_align`).

WSCL's features (``wscl_features``): Eq. 5 printed on the raw X_F with tau = 0.1 makes the self
term ``|X_F|^2 / tau`` dominate every softmax row, and the loss is minimised by shrinking X_F to zero,
which also silences the heads. Measured on the synthetic dataset (10 subjects, 3 classes, LOSO fold
0, AdamW lr 1e-3): with raw X_F, db+all (15 epochs) and db+au (8 epochs) kept the training
cross-entropy of the two heads at chance (2.2 every epoch), while db (15 epochs) fell to 0.75-0.9 and
db+awm (8 epochs) to 1.2. So melib feeds WSCL the L2-normalised X_F by
default, as supervised contrastive learning (Khosla et al. 2020) and the authors' code do;
``wscl_features="raw"`` is Eq. 5 exactly as printed.

The package: config (settings, presets and the paper's numbers), inputs (the input cache, classes and AUs), method (the Dataset and the harness's Method), analysis (fold models, features, tables, read-back hooks and the spec), model (the network).
"""
from __future__ import annotations

from .analysis import (  # noqa: F401
           SPEC,
           fold_features,
           fold_model,
           fused_features,
           halves_figure,
           input_tensor,
           load_fold_model,
           paper_row,
           results_table,
           trained_subjects,
           verdict,
           view_maps,
)
from .config import (  # noqa: F401
           ADDED_FIELDS,
           CLASS_SCHEMES,
           ERASING,
           EULERIAN_LAMBDA_C,
           FLOW_METHODS,
           FLOW_TARGETS,
           INFERENCE,
           INPUT_VERSION,
           LOSS_NAMES,
           MAGNIFIERS,
           MEAN,
           PAPER_NUMBERS,
           PRESETS,
           REFERENCE_CPU,
           RR_AUS,
           STD,
           MimicConfig,
           preset,
)
from .inputs import (  # noqa: F401
           cam_picks,
           class_labels,
           compute_input,
           dataset_name,
           input_cache,
           prepare,
           resolve_aus,
           select_clips,
           trainable_variants,
)
from .method import MimicDataset, MimicMethod, harness, run  # noqa: F401
from .model import CONFIGS, VARIANTS, build_model, get_variant  # noqa: F401

__all__ = ["SPEC", "view_maps", "REFERENCE_CPU", "CLASS_SCHEMES", "LOSS_NAMES", "MimicConfig", "MimicDataset", "MimicMethod", "PAPER_NUMBERS", "paper_row", "PRESETS", "VARIANTS",
           "class_labels", "compute_input", "harness", "fold_features", "dataset_name", "fold_model", "fused_features", "halves_figure", "input_cache",
           "input_tensor", "load_fold_model", "prepare", "trained_subjects", "preset", "resolve_aus",
           "results_table", "run", "select_clips", "cam_picks", "trainable_variants", "verdict"]
