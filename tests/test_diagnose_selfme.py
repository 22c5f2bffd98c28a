"""data_scripts/diagnose_selfme_motion.py: its features are the ladder's, and it refuses the evaluation sets."""
from __future__ import annotations

import numpy as np
import pytest

from melib import data
from melib.methods import selfme as sm


@pytest.fixture(scope="module")
def script(data_script):
    return data_script("diagnose_selfme_motion")


class _Cache:
    """Stands in for a ClipCache: every clip's motion is a translation by (dx, dy) = (clip index, -1)."""

    def __init__(self, clips):
        self.index = {c: i for i, c in enumerate(clips["clip"])}

    def load(self, row):
        motion = np.zeros((2, 64, 64), np.float32)
        motion[0], motion[1] = self.index[row["clip"]], -1.0
        return {"motion": motion}


def test_motion_features_pool_dx_dy_to_the_ladder_grid(script, tiny_synthetic):
    clips = data.read_annotations("synthetic", tiny_synthetic).head(3)
    x = script.motion_features(clips, _Cache(clips), grid=4)
    assert x.shape == (3, 2 * 4 * 4)
    # interleaved (dx, dy) per cell, as ladder.pool flattens an (H, W, 2) array
    assert np.allclose(x[:, 0::2], np.arange(3)[:, None]) and np.allclose(x[:, 1::2], -1.0)


def test_truth_features_follow_the_true_motion(script, tiny_synthetic):
    clips = data.read_annotations("synthetic", tiny_synthetic).head(2)
    x = script.truth_features(clips, 64, grid=8)
    truth = sm.true_motion(str(tiny_synthetic), clips.iloc[0], 64)
    assert x.shape == (2, 128) and np.abs(x[0]).max() > 0
    assert np.isclose(x[0][0::2].mean(), truth[0].mean(), atol=1e-4)


def test_the_evaluation_identities_are_refused_wherever_they_lie(script, tiny_synthetic, tiny_synthetic_motion):
    for root in (tiny_synthetic, tiny_synthetic_motion):  # generator seed 0, neither under data/
        with pytest.raises(SystemExit, match="evaluation identities.*development set"):
            script.main(["--root", str(root), "--sources", "TV-L1 (256 px frames)"])


def test_check_development_accepts_other_identities_only(tmp_path, tiny_synthetic):
    from melib.data import synthetic
    from melib.io import save_json

    (tmp_path / "dev").mkdir()
    save_json(tmp_path / "dev" / "synthetic.json", {"settings": {"seed": 1}})
    synthetic.check_development(tmp_path / "dev")
    with pytest.raises(ValueError, match="seed 0"):
        synthetic.check_development(tiny_synthetic)
    with pytest.raises(FileNotFoundError):
        synthetic.check_development(tmp_path)
