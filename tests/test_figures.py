"""Every figure function of melib.viz that no other test draws, rendered on tiny data: each figure shows
the numbers it is given (bar heights, panel counts, titles), with its axes labelled."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from melib import data
from melib.viz import data as vdata
from melib.viz import ladder as vladder
from melib.viz import results


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_manifest_figures_count_clips_and_phases(manifest):
    fig = vdata.clips_per_subject(manifest)
    assert [b.get_height() for b in fig.axes[0].patches] == manifest.groupby("subject").size().tolist()
    assert fig.axes[0].get_ylabel() == "clips"
    fig = vdata.duration_histograms(manifest)
    assert len(fig.axes) == 3
    counted = sum(p.get_height() for p in fig.axes[0].patches)
    assert counted == (~manifest.get("apex_estimated", pd.Series(False, index=manifest.index)).astype(bool)).sum()


def test_frame_figures_show_each_frame_with_its_title():
    onset, apex = np.zeros((16, 16), np.uint8), np.full((16, 16), 10, np.uint8)
    fig = vdata.onset_apex_figure(onset, apex, title="clip")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["onset", "apex"] and len(fig.axes[0].images) == 1
    fig = vdata.appearance_figure(onset, apex, np.full((16, 16), -0.1, np.float32))
    assert fig.axes[0].get_title() == "apex" and len(fig.axes) >= 3
    flow = np.zeros((16, 16, 2), np.float32)
    flow[8, 8] = (0.5, 0.0)
    fig = vdata.motion_overlay(np.zeros((16, 16), np.uint8), flow, step=4)
    assert fig.axes[0].get_title()  # the arrow scale is printed in the title
    fig = results.frames_strip(np.stack([onset, apex]), ["onset", "apex (raw)"])
    assert [ax.get_title() for ax in fig.axes] == ["onset", "apex (raw)"]


def test_pair_matrix_marks_exactly_the_pairs_sharing_no_au():
    labels = np.array([[1, 0], [1, 1], [0, 1]])
    fig = results.pair_matrix(labels, ["a", "b", "c"])
    shown = fig.axes[0].images[0].get_array()
    assert np.array_equal(np.asarray(shown) > 0, np.array([[0, 0, 1], [0, 0, 0], [0, 0, 0]], bool))


def test_loss_history_draws_one_panel_per_loss_with_a_line_per_run():
    steps = np.arange(30.0)
    fig = results.loss_history({"run A": np.c_[steps, 1 / (1 + steps), steps * 0 + 0.5]}, ["total", "sc"])
    assert len(fig.axes) == 2 and all(len(ax.lines) == 1 for ax in fig.axes)


def test_ladder_plot_draws_each_rung_and_the_null():
    table = pd.DataFrame({"AU1": [0.9, 0.6, 0.3], "AU2": [0.8, 0.5, 0.2], "avg F1": [0.85, 0.55, 0.25],
                          "avg AUC": [0.95, 0.7, 0.5]}, index=["true motion", "flow", "onset alone (null)"])
    fig = vladder.ladder_plot(table, "ladder")
    ax = fig.axes[0]
    assert sorted(round(p.get_width(), 2) for p in ax.patches) == [0.25, 0.55, 0.85]
    assert any(line.get_label() == "onset-alone null" and line.get_xdata()[0] == 0.25 for line in ax.lines)
    assert ax.get_xlabel().startswith("F1")
