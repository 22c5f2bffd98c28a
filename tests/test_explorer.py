"""The AU-similarity explorer: Jaccard (Eq. 4) and feature neighbours, and the widget driven by its values."""
from __future__ import annotations

import numpy as np
import pytest

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
