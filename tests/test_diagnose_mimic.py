"""data_scripts/diagnose_mimic_official.py: each ``net:`` row really puts one official network piece back."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from melib.methods.annotation_mimic import model as mm


@pytest.fixture(scope="module")
def script(data_script):
    return data_script("diagnose_mimic_official")


def _official() -> mm.MimicNet:
    torch.manual_seed(0)
    return mm.build_model("db+all", 3, "official")


def test_sigmoid_gate_row_switches_every_shuffle_attention(script):
    model = script.patch(_official(), "net: official, sigmoid SA gate")
    gates = [m.gate for m in model.modules() if isinstance(m, mm.ShuffleAttention)]
    assert gates and set(gates) == {"sigmoid"}


def test_no_dropout_row_removes_every_dropout_module(script):
    model = _official()
    assert any(isinstance(m, nn.Dropout) for m in model.modules())
    script.patch(model, "net: official, no dropout")
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())


def test_no_normalisation_row_gives_unnormalised_branch_features(script):
    model = _official().eval()
    x = torch.randn(2, 3, 64, 64)
    before = model._branch_feature(model.eyes_branch, x)
    assert torch.allclose(before.norm(dim=1), torch.ones(2), atol=1e-5)  # official: L2-normalised
    script.patch(model, "net: official, no feature normalisation")
    after = model._branch_feature(model.eyes_branch, x)
    assert torch.allclose(after / after.norm(dim=1, keepdim=True), before, atol=1e-5)
    assert not torch.allclose(after.norm(dim=1), torch.ones(2), atol=1e-3)


def test_the_evaluation_dataset_is_refused(script, tiny_synthetic, monkeypatch, tmp_path):
    monkeypatch.chdir(tiny_synthetic.parent)
    link = tiny_synthetic.parent / "data" / "synthetic"
    if not link.exists():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(tiny_synthetic)
    with pytest.raises(SystemExit, match="development set"):
        script.main(["--root", "data/synthetic", "--rows", "paper", "--out", str(tmp_path / "out")])
