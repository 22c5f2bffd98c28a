"""The one training loop (melib.loop): step mode checkpoints and resumes to the same weights, and damaged
checkpoints are named, set aside and never used (also through the SelfME motion learner and the learned magnifier)."""
from __future__ import annotations

import pytest
import torch

from melib import loop
from melib.io import DamagedFileWarning


def regression(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``step`` of y = 3 x - 1 with noise: depends on the step alone, as a resumable stream must."""
    g = torch.Generator().manual_seed(step)
    x = torch.randn(16, 1, generator=g)
    return x, 3 * x - 1 + 0.01 * torch.randn(16, 1, generator=g)


def fit(total: int, checkpoint, start: int = 0, state: dict | None = None) -> tuple[torch.nn.Linear, list[dict]]:
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = []
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]

    def losses_of(batch):
        x, y = batch
        mse = ((model(x) - y) ** 2).mean()
        return {"loss": mse, "mae": (model(x) - y).abs().mean().item()}

    history = loop.train_steps(model, opt, ((s, regression(s)) for s in range(start, total)), losses_of, total,
                               start=start, checkpoint=checkpoint, checkpoint_every=4, history=history,
                               state_at=lambda done, h: {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                                         "step": done, "history": h}, progress=False)
    return model, history


def test_step_mode_learns_checkpoints_and_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    whole, history = fit(30, tmp_path / "whole.pt")
    assert [h["step"] for h in history] == list(range(1, 31)) and set(history[0]) == {"step", "loss", "mae"}
    assert history[-1]["loss"] < 0.01 * history[0]["loss"]                   # it learns y = 3x - 1
    assert loop.read_checkpoint(tmp_path / "whole.pt")["step"] == 30          # the last step is checkpointed
    _, first = fit(10, tmp_path / "part.pt")                                  # stopped after step 10 ...
    assert loop.read_checkpoint(tmp_path / "part.pt")["step"] == 10
    resumed, rest = fit(30, tmp_path / "part.pt", state=loop.resume_state(tmp_path / "part.pt"))
    assert [h["step"] for h in rest] == list(range(1, 31)) and rest[:10] == first
    assert torch.equal(resumed.weight, whole.weight) and torch.equal(resumed.bias, whole.bias)


def test_a_damaged_checkpoint_is_named_set_aside_and_not_used(tmp_path):
    bad = tmp_path / "last.pt"
    for garbled in (b"\x80\x02J\x01", b"\x80\x02a", b"not a torch file"):       # struct.error, IndexError, ...
        bad.write_bytes(garbled)
        assert isinstance(loop.read_checkpoint(bad), str)                       # the reason, not an exception
    bad.write_bytes(b"PK\x03\x04 half a zip")
    assert isinstance(loop.read_checkpoint(bad), str)
    with pytest.warns(DamagedFileWarning, match=r"last\.pt.*moved to last\.pt\.damaged; it starts over"):
        assert loop.resume_state(bad, start_over="it starts over") is None
    assert not bad.exists() and (tmp_path / "last.pt.damaged").read_bytes().startswith(b"PK")  # kept to look at
    assert loop.resume_state(bad) is None


def test_the_learned_magnifier_starts_over_from_a_damaged_checkpoint(tmp_path):
    from melib.motion.learned import train
    from test_learned_magnify import TINY

    ckpt = tmp_path / "magnifier.pt"
    ckpt.write_bytes(b"not a torch file")
    with pytest.warns(DamagedFileWarning, match="magnifier.pt"):
        _, history = train(TINY, steps=2, progress=False, checkpoint=ckpt)
    assert len(history["loss"]) == 2 and loop.read_checkpoint(ckpt)["step"] == 2


def test_a_damaged_motion_learner_is_trained_again(tiny_synthetic, tmp_path, monkeypatch):
    from melib import data
    from melib.methods import selfme as sm

    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path))
    manifest = data.read_annotations("synthetic", tiny_synthetic)
    cfg, _ = sm.preset("fast", frame_size=32, expansion=8, learner_steps=3, learner_batch=2, frames_per_clip=4,
                       motion_folds=2, checkpoint="")[:2]
    seen = sm.learner_groups(manifest, 2)[1]
    torch.manual_seed(0)
    model, info = sm.train_motion_learner(manifest, seen, cfg, progress=False, device="cpu")
    info["path"].write_bytes(info["path"].read_bytes()[:100])                   # truncated on disk
    torch.manual_seed(0)
    with pytest.warns(DamagedFileWarning, match=info["path"].name):
        again, info2 = sm.train_motion_learner(manifest, seen, cfg, progress=False, device="cpu")
    assert torch.equal(info2["history"], info["history"])                       # retrained: same steps, same losses
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
