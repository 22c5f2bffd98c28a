"""data_scripts/diagnose_mimic_official.py: each ``net:`` row is a config switch of the network that really puts one
official piece back (no patching), and the run key sees it."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from melib.methods import annotation_mimic as am
from melib.methods.annotation_mimic import model as mm


@pytest.fixture(scope="module")
def script(data_script):
    return data_script("diagnose_mimic_official")


def _net(script, row: str) -> mm.MimicNet:
    cfg = am.preset("fast", "synthetic", classes="3class", **script.ROWS[row])[0]
    torch.manual_seed(0)
    return mm.build_model(cfg.variant, 3, cfg.config, **cfg.switches())


def test_sigmoid_gate_row_switches_every_shuffle_attention(script):
    gates = {m.gate for m in _net(script, "net: official, sigmoid SA gate").modules() if isinstance(m, mm.ShuffleAttention)}
    official = {m.gate for m in _net(script, "official").modules() if isinstance(m, mm.ShuffleAttention)}
    assert gates == {"sigmoid"} and official == {"softmax"}


def test_no_dropout_row_removes_every_dropout_module_and_keeps_the_state_layout(script):
    official, plain = _net(script, "official"), _net(script, "net: official, no dropout")
    assert any(isinstance(m, nn.Dropout) for m in official.modules())
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    assert list(official.state_dict()) == list(plain.state_dict())
    for name, value in official.state_dict().items():  # the same initial weights
        torch.testing.assert_close(plain.state_dict()[name], value, rtol=0, atol=0)


def test_no_normalisation_row_gives_unnormalised_branch_features(script):
    official = _net(script, "official").eval()
    plain = _net(script, "net: official, no feature normalisation").eval()
    x = torch.randn(2, 3, 64, 64)
    before = official._branch_feature(official.eyes_branch, x)
    after = plain._branch_feature(plain.eyes_branch, x)
    assert torch.allclose(before.norm(dim=1), torch.ones(2), atol=1e-5)  # official: L2-normalised
    assert torch.allclose(after / after.norm(dim=1, keepdim=True), before, atol=1e-5)
    assert not torch.allclose(after.norm(dim=1), torch.ones(2), atol=1e-3)


def test_the_switches_reach_the_run_key_only_when_set(script):
    official = am.preset("fast", "synthetic", classes="3class", config="official")[0]
    switched = am.preset("fast", "synthetic", classes="3class", **script.ROWS["net: official, no dropout"])[0]
    assert official.switches() == {"sa_gate": "auto", "dropout": "auto", "feature_norm": "auto"}
    hashed = lambda cfg: am.MimicMethod(cfg, SimpleNamespace(key="cache"), ["a", "b", "c"], (1,)).config()  # noqa: E731
    assert "dropout" not in hashed(official) and hashed(switched)["dropout"] == "off"
    with pytest.raises(ValueError, match="dropout"):
        am.preset("fast", "synthetic", dropout="sometimes")


def test_the_evaluation_dataset_is_refused(script, tiny_synthetic, monkeypatch, tmp_path):
    monkeypatch.chdir(tiny_synthetic.parent)
    link = tiny_synthetic.parent / "data" / "synthetic"
    if not link.exists():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(tiny_synthetic)
    with pytest.raises(SystemExit, match="development set"):
        script.main(["--root", "data/synthetic", "--rows", "paper", "--out", str(tmp_path / "out")])
