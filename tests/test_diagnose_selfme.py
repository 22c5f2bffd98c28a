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


@pytest.mark.parametrize("name", ["synthetic", "synthetic_motion"])
def test_the_evaluation_datasets_are_refused(script, tiny_synthetic, monkeypatch, name):
    monkeypatch.chdir(tiny_synthetic.parent)
    link = tiny_synthetic.parent / "data" / name
    if not link.exists():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(tiny_synthetic)
    with pytest.raises(SystemExit, match="development sets"):
        script.main(["--root", f"data/{name}", "--sources", "TV-L1 (256 px frames)"])
