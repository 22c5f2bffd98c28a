"""Learning-based motion magnification (Oh et al., "Learning-based Video Motion Magnification", ECCV 2018).

* :mod:`.network`   the encoder / manipulator / decoder network (Sec. 3.1, Eq. 1)
* :mod:`.synthetic` the synthetic training pairs (Sec. 3.2)
* :mod:`.training`  the loss (Sec. 3.1), configs, presets, train/resume with checkpoints
* :mod:`.api`       ``load_or_train`` and ``magnify_pair(s)``: the two-frame (onset, apex) mode
* :mod:`.evaluate`  measured magnification factor on held-out pairs

Typical use::

    model = load_or_train(profile="fast")            # user file > cache > train now (prints which)
    magnified = magnify_pair(model, onset, apex, factor=6)  # total factor = 1 + EVM alpha
"""
from .api import cached_weights_path, load_or_train, magnify_pair, magnify_pairs
from .evaluate import estimate_shift, measure_magnification
from .network import MagNet
from .synthetic import PairBatch, SyntheticConfig, make_batch
from .training import PRESETS, MagnifyConfig, magnification_loss, preset, train

__all__ = [
    "MagNet", "MagnifyConfig", "PRESETS", "PairBatch", "SyntheticConfig", "cached_weights_path", "estimate_shift",
    "load_or_train", "magnification_loss", "magnify_pair", "magnify_pairs", "make_batch", "measure_magnification",
    "preset", "train",
]
