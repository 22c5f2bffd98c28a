"""Notebook 09's instruments: map mass inside the true region, crop placement, the true region itself."""
import numpy as np
import pandas as pd
import pytest

from melib.experiments import visual
from melib.interpret import to_frame


def test_cam_mass_inside_counts_mass_not_area():
    region = np.zeros((4, 4), bool)
    region[:2, :2] = True
    cam = np.zeros((4, 4))
    cam[0, 0], cam[3, 3] = 3.0, 1.0
    assert visual.cam_mass_inside(cam, region) == pytest.approx(0.75)
    assert visual.cam_mass_inside(np.ones((4, 4)), region) == pytest.approx(region.mean())  # an even map scores the area
    assert np.isnan(visual.cam_mass_inside(np.zeros((4, 4)), region))


def test_centre_crop_map_lands_where_the_crop_sits_in_the_frame():
    out = to_frame(np.ones((6, 6)), 56, crop=(4 / 56, 52 / 56))
    assert out[4:52, 4:52].min() == pytest.approx(1.0)
    assert out[:4].max() == 0 and out[:, 52:].max() == 0
    assert to_frame(np.ones((7, 7)), 20).shape == (20, 20)


def test_true_region_is_where_the_synthetic_aus_move(tiny_synthetic):
    from melib import data

    manifest = data.load_manifest("synthetic", str(tiny_synthetic))
    row = manifest[manifest["aus"].map(len) > 0].iloc[0]
    region = visual.true_region(row, str(tiny_synthetic), 32, region_share=0.25)
    assert region.shape == (32, 32) and 0 < region.mean() < 0.6  # a part of the face, not all of it
    assert visual.true_region(row, str(tiny_synthetic), 32, 0.05).sum() >= region.sum()


def test_errors_by_amplitude_bins_and_averages():
    t = pd.DataFrame({"errors": [2, 0, 1, 1], "amplitude (px)": [0.3, 0.5, 0.9, 2.0]})
    table = visual.errors_by_amplitude({"m": t})
    assert table["m"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    t2 = pd.DataFrame({"errors": [3, 1, 0], "amplitude (px)": [0.1, 0.7, 1.5]})
    assert visual.errors_by_amplitude({"m": t2})["m"].tolist() == pytest.approx([3, 1, 0])
