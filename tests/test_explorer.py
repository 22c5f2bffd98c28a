"""The AU-similarity explorer: Jaccard (Eq. 4) and feature neighbours, and the widget driven by its values."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import traitlets

from melib import data
from melib.viz import explorer


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def _aus(manifest, cid):
    return set(explorer._aus_of(manifest, cid))


def test_au_neighbours_rank_by_jaccard_and_leave_the_query_out(manifest):
    ids = [explorer.clip_id(r) for _, r in manifest.iterrows()]
    query = ids[0]
    table = explorer.au_neighbours(manifest, query, k=len(ids))
    assert query not in set(table["clip"]) and len(table) == len(ids) - 1
    a = _aus(manifest, query)
    for cid, w in zip(table["clip"], table["jaccard"]):
        b = _aus(manifest, cid)
        assert w == pytest.approx(len(a & b) / len(a | b) if a | b else 0.0)
    assert list(table["jaccard"]) == sorted(table["jaccard"], reverse=True)
    by_aus = explorer.au_neighbours(manifest, sorted(a), k=3)
    assert by_aus["jaccard"].iloc[0] == pytest.approx(1.0)  # the query clip itself matches its own AU set
    with pytest.raises(KeyError, match="AUs \\[99\\]"):
        explorer.au_neighbours(manifest, [99])
    with pytest.raises(KeyError, match="no clip"):
        explorer.au_neighbours(manifest, "sub99/none")


def test_feature_neighbours_use_cosine_similarity(manifest):
    ids = [explorer.clip_id(r) for _, r in manifest.iterrows()]
    features = {cid: np.array([1.0, 0.0]) * (i + 1) for i, cid in enumerate(ids)}  # all parallel ...
    features[ids[-1]] = np.array([0.0, 1.0])                                          # ... but the last
    table = explorer.feature_neighbours(manifest, features, ids[0], k=len(ids))
    assert table["clip"].iloc[-1] == ids[-1] and table["cosine"].iloc[-1] == pytest.approx(0.0)
    assert np.allclose(table["cosine"].iloc[:-1], 1.0)


def test_widget_follows_its_controls(manifest):
    ids = [explorer.clip_id(r) for _, r in manifest.iterrows()]
    rng = np.random.default_rng(0)
    w = explorer.au_explorer(manifest, features={cid: rng.normal(size=4) for cid in ids}, k=2)
    assert len(w.label_table) == 2 and len(w.feature_table) == 2 and w.images.value[:4] == b"\x89PNG"
    w.clip.value = ids[3]
    assert ids[3] not in set(w.label_table["clip"]) and ids[3] not in set(w.feature_table["clip"])
    w.mode.value = "AUs"
    w.aus.value = tuple(sorted(_aus(manifest, ids[3])))
    assert w.label_table["jaccard"].iloc[0] == pytest.approx(1.0) and w.feature_table is None
    w.k.value = 5
    assert len(w.label_table) == 5
    assert "red" not in w.label_view.value and "<table" in w.label_view.value


# --- the explorer with no trained run (labels, thumbnails, co-occurrence), as notebook 01 and make explore use it


def test_explorer_needs_no_run_and_its_table_follows_an_au_combination(tiny_synthetic, manifest):
    w = explorer.au_explorer(tiny_synthetic, k=3)  # a dataset folder: read as synthetic (it has synthetic.json)
    first = w.clip.value
    assert w.features is None and w.feature_table is None and w.mode.value == "clip"
    assert w.aus.value == tuple(sorted(_aus(manifest, first)))  # the clip's AUs are pressed
    assert [b.value for b in w.aus.buttons.values()] == [a in w.aus.value for a in w.aus.buttons]
    assert w.feature_view not in [grand for child in w.children for grand in getattr(child, "children", ())]
    before, images = list(w.label_table["clip"]), w.images.value
    target = next(tuple(sorted(_aus(manifest, c))) for c in w.clip.options if _aus(manifest, c).isdisjoint(_aus(manifest, first)))
    w.aus.value = target  # pressing buttons sets this value too
    assert w.mode.value == "AUs" and w.query == list(target)
    assert list(w.label_table["clip"]) != before and w.images.value != images
    expected = explorer.au_neighbours(manifest, list(target), 3)
    assert list(w.label_table["clip"]) == list(expected["clip"]) and w.label_table["jaccard"].iloc[0] == 1.0
    assert all(_aus(manifest, c) & set(target) for c in w.label_table["clip"][w.label_table["jaccard"] > 0])
    assert explorer.au_names(target) in w.summary.value and w.label_table["clip"].iloc[0] in w.label_view.value
    w.aus.buttons[target[0]].value = False  # a button press: one AU fewer
    assert w.aus.value == target[1:] and w.query == list(target[1:])
    w.clip.value = w.clip.options[1]  # picking a clip makes it the query again, its AUs pressed
    assert w.mode.value == "clip" and w.aus.value == tuple(sorted(_aus(manifest, w.clip.options[1])))
    assert w.clip.options[1] not in set(w.label_table["clip"])
    kept = w.aus.value
    with pytest.raises(traitlets.TraitError, match="AUs \\[99\\]"):
        w.aus.value = (99,)
    assert w.aus.value == kept


def test_load_clips_reads_names_folders_and_frames(tmp_path, tiny_synthetic):
    from fixtures.me_datasets import build_casme2

    assert len(explorer.load_clips("synthetic", tiny_synthetic)) == 8
    with pytest.raises(ValueError, match="dataset="):
        explorer.load_clips(tmp_path)  # a folder that is no synthetic dataset needs its reader named
    with pytest.raises(FileNotFoundError):
        explorer.load_clips(tmp_path / "missing")
    with pytest.warns(data.AnnotationWarning):  # the CASME II fixture carries broken rows on purpose
        w = explorer.au_explorer(build_casme2(tmp_path / "casme2"), dataset="casme2", k=2)
    assert w.images.value[:4] == b"\x89PNG" and len(w.label_table) == 2


def test_query_summary_counts_exact_and_overlapping_clips(manifest):
    x = {cid: _aus(manifest, cid) for cid in (explorer.clip_id(r) for _, r in manifest.iterrows())}
    a = sorted(x[next(iter(x))])
    line = explorer.query_summary(manifest, a)
    exact, some = sum(s == set(a) for s in x.values()), sum(bool(s & set(a)) for s in x.values())
    assert line.endswith(f"{exact} of {len(manifest)} clips carry exactly this set, {some} at least one of its AUs")
    assert "AU4 (brow lowerer)" in explorer.query_summary(manifest, [4]) and explorer.au_label([]) == "no AU"


def test_apex_gallery_and_the_static_figure(manifest):
    ids = [explorer.clip_id(r) for _, r in manifest.iterrows()][:3]
    fig = explorer.apex_gallery(manifest, ids, title="t")
    assert len(fig.axes) == 2 * 3 + 1 and fig.axes[0].get_title().startswith(ids[0])  # + the colour key
    w = explorer.au_explorer(manifest, k=2)
    static = w.figure()
    assert [ax.get_title().split("\n")[0] for ax in static.axes[:3]] == ["query", *w.label_table["clip"]]
    bundle = w._repr_mimebundle_()  # what an executed copy shows where no widget can be drawn
    assert "AU explorer over 8 clips" in bundle["text/plain"] and bundle["image/png"].startswith("iVBOR")


def test_the_app_notebook_is_clean_and_runs(tiny_synthetic, monkeypatch):
    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "apps" / "au_explorer.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and not any(c.outputs or c.execution_count for c in code), "strip the app notebook's outputs"
    assert nb.metadata.kernelspec.name == "melib"
    monkeypatch.setenv("MELIB_EXPLORER_DATASET", str(tiny_synthetic))
    namespace: dict = {}
    for cell in code:
        exec(compile(cell.source, "au_explorer.ipynb", "exec"), namespace)
    assert isinstance(namespace["explorer"], explorer.AUExplorer) and len(namespace["explorer"].manifest) == 8
