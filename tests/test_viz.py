"""Plots of a manifest and the clip viewer, on the tiny synthetic dataset."""
import matplotlib

matplotlib.use("Agg")
import base64

import numpy as np
import pytest

from melib import data
from melib.viz import data as vdata
from melib.viz import widgets


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def test_statistics_plots_reflect_the_manifest(manifest):
    fig = vdata.au_frequency(manifest, highlight=data.CASME2_AUS)
    bars = fig.axes[0].patches
    assert [b.get_height() for b in bars] == manifest[vdata.au_columns(manifest)].sum().tolist()
    table = vdata.emotion_au_table(manifest)
    assert table["clips"].sum() == len(manifest)
    durations = vdata.phase_durations(manifest)
    assert (durations["onset->offset"] == durations["onset->apex"] + durations["apex->offset"]).all()
    assert durations.iloc[0]["onset->apex"] == (manifest.iloc[0]["apex"] - manifest.iloc[0]["onset"]) * 5.0
    heat = vdata.au_cooccurrence(manifest)
    values = heat.axes[0].collections[0].get_array().reshape(len(vdata.au_columns(manifest)), -1)
    assert np.allclose(np.diag(values), 1.0)  # P(AU | AU) = 1


def test_difference_image_is_grey_at_rest_and_signed():
    a = np.full((4, 4), 100, np.uint8)
    assert np.allclose(vdata.difference_image(a, a), 0.5)
    b = a.copy()
    b[0, 0] = 110
    d = vdata.difference_image(a, b, gain=1)
    assert d[0, 0] > 0.5 and d[1, 1] == 0.5


def test_clip_viewer_redraws_when_the_slider_moves(manifest):
    row = manifest.iloc[0]
    viewer = widgets.clip_viewer(row)
    slider, image = viewer.children
    assert slider.value == row["apex"] and image.value[:4] == b"\x89PNG"
    before = image.value
    slider.value = int(row["onset"])
    assert image.value != before
    bundle = viewer._repr_mimebundle_()  # what an executed copy keeps: the current frame, not "VBox(...)"
    assert base64.b64decode(bundle["image/png"]) == image.value and "VBox" not in bundle["text/plain"]
    with pytest.raises(KeyError):
        vdata.au_columns(manifest, aus=[99])


def test_markdown_table_formats_multiindex_rows_and_nan():
    import pandas as pd

    from melib.viz.tables import markdown_table

    table = pd.DataFrame({"AU1": [0.5, np.nan], "AVG": [0.25, 0.125]},
                         index=pd.MultiIndex.from_tuples([("IICL", "ours"), ("IICL", "paper")], names=["method", "source"]))
    assert markdown_table(table).splitlines() == [
        "| method / source | AU1 | AVG |", "|---|---:|---:|", "| IICL / ours | 0.50 | 0.25 |", "| IICL / paper | - | 0.12 |"]


def test_markdown_table_aligns_names_the_index_column_and_keeps_cells_as_asked():
    import pandas as pd

    from melib.viz.tables import markdown_table

    table = pd.DataFrame({"f1": [0.5, np.nan], "seeds": [3, 1]}, index=pd.Index(["a", "b"], name="row"))
    assert markdown_table(table).splitlines() == ["| row | f1 | seeds |", "|---|---:|---:|", "| a | 0.50 | 3 |",
                                                  "| b | - | 1 |"]
    assert markdown_table(table, align="none", index_header="").splitlines()[:2] == ["|  | f1 | seeds |",
                                                                                     "|---|---|---|"]
    assert markdown_table(table, align="left", index_header="run").splitlines()[:2] == ["| run | f1 | seeds |",
                                                                                        "|---|:---|:---|"]
    assert markdown_table(table, align="center").splitlines()[1] == "|---|:---:|:---:|"
    assert markdown_table(table, digits=None).splitlines()[2:] == ["| a | 0.5 | 3 |", "| b | nan | 1 |"]  # str(cell)
    with pytest.raises(ValueError, match="align"):
        markdown_table(table, align="middle")


def test_importing_viz_loads_neither_torch_nor_ipywidgets():
    """Notebook 01 needs plots only: the harness (torch) and widgets load on first use."""
    import subprocess
    import sys

    code = ("import sys, melib.viz; print('torch' in sys.modules, any(m.startswith('ipywidgets') for m in sys.modules));"
            "melib.viz.widgets; print(any(m.startswith('ipywidgets') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True"]


def test_result_figures_show_the_numbers_they_are_given():
    from melib.viz import results

    counts = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    fig = results.confusion_matrix(counts, ["negative", "positive", "surprise"])
    ax = fig.axes[0]
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(counts.ravel().tolist())
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown)[1], [2 / 6, 3 / 6, 1 / 6])  # row share = recall per class
    w = np.array([[1.0, 0.5], [0.5, 1.0]])
    fig = results.weight_matrix(w, ["a", "b"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.00", ".50", ".50", "1.00"]
    images = [np.zeros((8, 8)), np.ones((8, 8))]
    fig = results.cam_grid(images, {"map": [np.eye(8), np.eye(8)]}, ["x", "y"])
    assert len(fig.axes) == 4 and len(fig.axes[2].images) == 2  # image + overlay in the map row
    fig = results.embedding_scatter(np.arange(12.0).reshape(6, 2), ["a", "a", "b", "c", "c", "c"], top=2)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["other (1)", "c (3)", "a (2)"]
    fixed = results.label_colors(["a", "a", "b", "c", "c", "c"], top=2)  # one colour per label in every plot
    fig = results.embedding_scatter(np.zeros((2, 2)), ["a", "c"], colors=fixed)
    drawn = {t.get_label().split(" ")[0]: tuple(t.get_facecolor()[0][:3]) for t in fig.axes[0].collections}
    assert drawn == {"a": tuple(fixed["a"]), "c": tuple(fixed["c"])} and fixed["a"] != fixed["c"]


def test_token_figures_mark_the_picked_patches_and_their_weights():
    from matplotlib.patches import Rectangle

    from melib.viz import attention

    image = np.zeros((56, 56, 3), np.uint8)
    landmarks = np.zeros((68, 2))
    landmarks[48], landmarks[54] = (4, 52), (50, 52)       # bottom-left and bottom-right patches
    fig = attention.landmark_tokens(image, landmarks, {12: (48, 54)}, {12: [42, 48]}, (7, 7), "AU12")
    patches = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert sorted((p.get_x(), p.get_y()) for p in patches) == [(-0.5, 47.5), (47.5, 47.5)]  # 8-px cells
    fig = attention.token_attention(image, {12: np.array([0.25, 0.75]), 4: np.array([0.5, 0.5])},
                                    {12: np.array([42, 48]), 4: np.array([10, 10])}, (7, 7))
    texts = [sorted(t.get_text() for t in ax.texts) for ax in fig.axes[:2]]
    assert texts == [["0.25", "0.75"], ["1.00"]]  # two landmarks in one patch add up
