"""data_scripts/derive_iicl_reference.py: the rule that re-derives IICL's reference lr and BCE on the
development identities (highest mean F1, AUC within 0.005; more seeds only near the best), and its refusal
of the evaluation identities. Training is replaced by a table of scores, so no network is trained here."""
from __future__ import annotations

import pandas as pd
import pytest

from melib.data import synthetic


@pytest.fixture(scope="module")
def script(data_script):
    return data_script("derive_iicl_reference")


def test_grid_table_ranks_by_f1_and_breaks_ties_by_auc(script):
    scores = pd.DataFrame([
        {"lr": 0.1, "bce": "balanced", "seed": 0, "f1": 0.500, "auc": 0.80},
        {"lr": 0.1, "bce": "balanced", "seed": 1, "f1": 0.510, "auc": 0.82},
        {"lr": 0.2, "bce": "balanced", "seed": 0, "f1": 0.503, "auc": 0.90},  # within 0.005 of 0.505, higher AUC
        {"lr": 0.05, "bce": "paper", "seed": 0, "f1": 0.30, "auc": 0.95},  # best AUC, far lower F1
    ])
    table = script.grid_table(scores)
    assert list(zip(table["lr"], table["bce"])) == [(0.2, "balanced"), (0.1, "balanced"), (0.05, "paper")]
    first_cell = table.set_index(["lr", "bce"]).loc[(0.1, "balanced")]
    assert first_cell["seeds"] == 2 and first_cell["f1"] == pytest.approx(0.505)


def test_parse_cell_names_a_bad_cell(script):
    assert script.parse_cell("0.2,balanced") == (0.2, "balanced")
    with pytest.raises(SystemExit, match="'0.2,focal' is not lr,bce"):
        script.parse_cell("0.2,focal")


def test_the_evaluation_identities_are_refused(script, tiny_synthetic):
    assert synthetic.dataset_info(tiny_synthetic)["settings"]["seed"] == synthetic.EVALUATION_SEED
    with pytest.raises(SystemExit, match="evaluation identities"):
        script.main(["--root", str(tiny_synthetic)])


def test_more_seeds_only_near_the_best_and_the_choice_is_written(script, tmp_path, monkeypatch):
    root = synthetic.generate(tmp_path / "dev", subjects=2, clips_per_subject=1, size=64, seed=1, workers=1,
                              progress=False)
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "outputs"))
    first_seed_f1 = {(0.05, "balanced"): 0.40, (0.2, "balanced"): 0.55, (0.1, "paper"): 0.20}
    trained = []

    def fake_train(root, lr, bce, seed, workers):
        trained.append((lr, bce, seed))
        return {"lr": lr, "bce": bce, "seed": seed, "f1": first_seed_f1[lr, bce] + 0.01 * seed, "auc": 0.8}

    monkeypatch.setattr(script, "train_cell", fake_train)
    assert script.main(["--root", str(root), "--cells", "0.05,balanced", "0.2,balanced", "0.1,paper",
                        "--seeds", "0", "1", "--keep-within", "0.1"]) == 0
    assert trained == [(0.05, "balanced", 0), (0.2, "balanced", 0), (0.1, "paper", 0), (0.2, "balanced", 1)]
    text = (tmp_path / "outputs" / "iicl" / "reference_derivation.md").read_text()
    assert "Chosen: lr 0.2, bce balanced" in text and "the same" in text  # iicl.REFERENCE_CPU is lr 0.2, balanced
