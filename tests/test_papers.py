"""melib.papers: every ablation row against the papers' tables, read by hand, and the one agreement rule."""
from __future__ import annotations

import pytest

from melib import papers
from melib.papers import direction, paper_comparison

# (method, variant, dataset, classes) -> (table, value, reference value), typed from the papers' tables
BY_HAND = {
    ("iicl", "intracl", "casme2", None): ("Table 1", 0.53, 0.45),
    ("iicl", "intercl", "casme2", None): ("Table 1", 0.49, 0.45),
    ("iicl", "iicl", "casme2", None): ("Table 1", 0.55, 0.45),
    ("iicl", "resnet", "casme2", None): ("Table 2", 0.40, 0.45),
    ("iicl", "seseq", "casme2", None): ("Table 2", 0.42, 0.45),
    ("iicl", "resseq", "casme2", None): ("Table 2", 0.35, 0.45),
    ("iicl", "cl", "casme2", None): ("Table 2", 0.49, 0.45),
    ("iicl", "tl", "casme2", None): ("Table 2", 0.52, 0.45),
    ("iicl", "iicl", "samm", None): ("Table 3", 0.40, 0.34),
    ("iicl", "tl", "samm", None): ("Table 3", 0.38, 0.34),
    ("micro_au_clip", "lsi_only", "casme2", None): ("Table II", 0.761, 0.782),
    ("micro_au_clip", "gsd_only", "casme2", None): ("Table II", 0.730, 0.782),
    ("micro_au_clip", "gsd_only", "samm", None): ("Table II", 0.638, 0.730),
    ("micro_au_clip", "text_fixed", "casme2", None): ("Table III", 0.769, 0.776),
    ("micro_au_clip", "meanpool", "casme2", None): ("Table VI", 0.754, 0.776),
    ("micro_au_clip", "maxpool", "samm", None): ("Table VI", 0.709, 0.716),
    ("micro_au_clip", "add_mlp", "casme2", None): ("Table VII", 0.776, 0.782),
    ("micro_au_clip", "cat_mlp", "casme2", None): ("Table VII", 0.771, 0.782),
    ("micro_au_clip", "no_cl", "casme2", None): ("Table VIII", 0.759, 0.782),
    ("micro_au_clip", "global_origcl", "casme2", None): ("Table VIII", 0.730, 0.782),
    ("micro_au_clip", "local_origcl", "casme2", None): ("Table VIII", 0.756, 0.782),
    ("micro_au_clip", "local_origcl_bce", "samm", None): ("Table VIII", 0.691, 0.730),
    ("micro_au_clip", "add_mlp", "casme2", 3): ("Table X", 0.872, 0.889),
    ("micro_au_clip", "add_mlp", "samm", 3): ("Table X", 0.696, 0.747),
    ("micro_au_clip", "lsi_only", "samm", None): ("Table II", 0.714, 0.730),
    ("micro_au_clip", "cat_mlp", "samm", None): ("Table VII", 0.641, 0.730),
    ("micro_au_clip", "text_fixed", "samm", None): ("Table III", 0.702, 0.716),
    ("micro_au_clip", "meanpool", "samm", None): ("Table VI", 0.680, 0.716),
    ("micro_au_clip", "no_cl", "samm", None): ("Table VIII", 0.725, 0.730),
    ("micro_au_clip", "global_origcl", "samm", None): ("Table VIII", 0.638, 0.730),
    ("iicl", "seseq", "samm", None): ("Table 3", 0.35, 0.34),
    ("iicl", "resnet", "samm", None): ("Table 3", 0.32, 0.34),
    ("iicl", "resseq", "samm", None): ("Table 3", 0.34, 0.34),
    ("iicl", "cl", "samm", None): ("Table 3", 0.35, 0.34),
    ("annotation_mimic", "sb", "samm", 5): ("Table 4", 0.7218, 0.7582),
    ("annotation_mimic", "sb+au", "samm", 5): ("Table 4", 0.6560, 0.7582),
    ("annotation_mimic", "db+au", "samm", 5): ("Table 4", 0.7338, 0.7582),
    ("annotation_mimic", "db+awm", "samm", 5): ("Table 4", 0.7347, 0.7582),
    ("annotation_mimic", "db+all-rr", "samm", 5): ("Table 4", 0.7019, 0.7582),
    ("annotation_mimic", "sb", "casme2", 5): ("Table 4", 0.7921, 0.8267),
    ("annotation_mimic", "sb+au", "casme2", 5): ("Table 4", 0.7871, 0.8267),
    ("annotation_mimic", "db", "samm", 5): ("Table 4", 0.6925, 0.7582),
    ("annotation_mimic", "db+au", "casme2", 5): ("Table 4", 0.7974, 0.8267),
    ("annotation_mimic", "db+awm", "casme2", 5): ("Table 4", 0.7957, 0.8267),
    ("annotation_mimic", "db+all-rr", "casme2", 5): ("Table 4", 0.8188, 0.8267),
    ("selfme", "no_sc", "casme2", 3): ("Table 1", 0.8784, 0.9078),
    ("selfme", "no_bspline", "casme2", 3): ("Table 1", 0.8951, 0.9078),
    ("selfme", "no_ma", "casme2", 3): ("Table 1", 0.8923, 0.9078),
    ("selfme", "plain", "casme2", 3): ("Table 1", 0.8468, 0.9078),
    ("selfme", "bspline_only", "casme2", 3): ("Table 1", 0.8629, 0.9078),
    ("selfme", "sc_only", "casme2", 3): ("Table 1", 0.8903, 0.9078),
    ("selfme", "ma_only", "casme2", 3): ("Table 1", 0.8718, 0.9078),
    ("selfme", "tvl1", "casme2", 3): ("Table 3", 0.8460, 0.9078),
    ("selfme", "tvl1_vit", "casme2", 3): ("Table 3", 0.8060, 0.9078),
    ("selfme", "no_ma", "smic", 3): ("Table 4", 0.6768, 0.6972),
}


@pytest.mark.parametrize("key", list(BY_HAND), ids=lambda k: "-".join(map(str, k)))
def test_every_ablation_row_is_read_against_its_own_tables_reference(key):
    method, variant, dataset, classes = key
    table, value, reference = BY_HAND[key]
    got = paper_comparison(method, variant, dataset, classes=classes)
    assert got is not None and got["table"] == table and got["dataset"] == dataset
    assert got["value"] == pytest.approx(value) and got["reference_value"] == pytest.approx(reference)
    assert got["delta"] == pytest.approx(value - reference)


def test_other_metrics_of_one_row_per_table():
    """Per-AU F1, accuracy and UAR, typed from the papers' tables: a swapped column fails here."""
    get = lambda *a, **k: paper_comparison(*a, **k)["value"]
    assert get("iicl", "intracl", metric="AU1") == pytest.approx(0.85) and get("iicl", "tl", metric="AU15") == 0.32
    assert get("iicl", "iicl", "samm", metric="AU12") == pytest.approx(0.45)
    assert get("micro_au_clip", "gsd_only", metric="acc") == pytest.approx(0.898)
    assert get("micro_au_clip", "maxpool", "samm", metric="acc") == pytest.approx(0.849)
    assert get("micro_au_clip", "no_cl", "samm", metric="acc") == pytest.approx(0.853)
    assert get("annotation_mimic", "db+all", classes=3, metric="uar") == pytest.approx(0.924)
    assert get("annotation_mimic", "db+all", "samm", classes=5, metric="acc") == pytest.approx(0.794)
    assert get("annotation_mimic", "db+awm", classes=5, metric="acc") == pytest.approx(0.8252)
    assert get("selfme", "sc_only", metric="uar") == pytest.approx(0.9028)
    assert get("selfme", "tvl1", metric="uar") == pytest.approx(0.8305)
    assert get("selfme", "gamma3", metric="uar") == pytest.approx(0.6622)


def test_a_row_of_one_dataset_only_is_used_and_named():
    got = paper_comparison("selfme", "gamma3")  # Table 4 exists on SMIC-HS only
    assert (got["table"], got["dataset"], got["row"], got["reference_row"]) == ("Table 4", "smic", "gamma 3", "gamma 2")
    assert got["delta"] == pytest.approx(0.6523 - 0.6972)  # -0.045, not Table 4 minus CASME II's full model


def test_headline_rows_have_no_reference_and_class_counts_never_mix():
    full = paper_comparison("micro_au_clip", "full")
    assert full["reference_value"] is None and full["delta"] is None and full["value"] == pytest.approx(0.782)
    assert paper_comparison("micro_au_clip", "full", classes=3)["value"] == pytest.approx(0.889)  # Table X
    assert paper_comparison("annotation_mimic", "db+all", classes=3)["value"] == pytest.approx(0.925)  # not 0.827
    assert paper_comparison("annotation_mimic", "db+all", classes=5)["value"] == pytest.approx(0.827)
    assert paper_comparison("annotation_mimic", "sb", classes=3) is None  # Table 4 is 5-class only
    assert paper_comparison("iicl", "iicl", protocol="loso") is None  # the paper's protocol is 4-fold
    assert paper_comparison("selfme", "farneback") is None
    assert paper_comparison("iicl", "senet_close") is None  # melib's control has no paper row


def test_tables_three_and_six_are_read_against_add_mlp():
    for variant in ("text_fixed", "meanpool", "maxpool"):
        assert paper_comparison("micro_au_clip", variant)["reference_variants"] == ("add_mlp",)
    assert paper_comparison("micro_au_clip", "lsi_only")["reference_variants"] == ("full",)


def test_schema_rejects_what_cannot_be_a_paper_number():
    with pytest.raises(ValueError, match="protocol"):
        papers.PaperNumber("x", "T", "r", "casme2", "holdout", None, "f1_avg", 0.5)
    with pytest.raises(ValueError, match="reference row"):
        papers.table("x", "T", "casme2", "loso", None, {"a": ({"f1_avg": 0.5}, ())}, reference="b")
    assert {e.protocol for e in papers.numbers()} == {"kfold", "loso"}
    assert all(0 <= e.value <= 1 for e in papers.numbers())


def test_the_agreement_rule_needs_two_standard_errors():
    # 3 vs 3 seeds, sd 0.01 each: SE = sqrt(2 * 0.0001 / 3) = 0.00816
    far = direction([0.70, 0.71, 0.72], [0.80, 0.81, 0.82], paper_delta=-0.03)
    assert far["verdict"] == "agrees" and far["se"] == pytest.approx(0.008165, abs=1e-6) and far["n"] == (3, 3)
    assert direction([0.70, 0.71, 0.72], [0.80, 0.81, 0.82], paper_delta=+0.03)["verdict"] == "disagrees"
    near = direction([0.80, 0.81, 0.82], [0.79, 0.80, 0.81], paper_delta=-0.03)  # +0.01 < 2 SE = 0.016
    assert near["verdict"] == "inconclusive" and not near["beyond"]
    # one seed: no standard error, so never a finding, however large the gap
    assert direction([0.5], [0.9], paper_delta=-0.1)["verdict"] == "inconclusive"
    assert direction([0.70, 0.71, 0.72], [0.80, 0.81, 0.82])["verdict"] == "effect"  # no paper direction
    assert "3 vs 3 seeds" in far["text"]
