"""Tests for melib.motion.learned (Oh et al. 2018 learned magnification): network shapes, synthetic
data, loss, training/resume/checkpoints, load_or_train and the two-frame API. All models are tiny."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from melib.motion.learned import (MagNet, MagnifyConfig, SyntheticConfig, cached_weights_path, estimate_shift,
                                  load_or_train, magnify_pair, magnify_pairs, make_batch, train)
from melib.motion.learned.training import load_checkpoint, preset

TINY = MagnifyConfig(width=0.25, enc_blocks=1, texture_blocks=1, shape_blocks=1, manip_blocks=1, dec_blocks=1,
                     data=SyntheticConfig(image_size=24, max_input_motion=1.0, max_magnified_motion=4.0),
                     steps=4, batch_size=4, lr=2e-3, checkpoint_every=2)

#: Global-motion pairs without noise: the whole frame moves, so the motion can be measured exactly.
GLOBAL = SyntheticConfig(image_size=48, min_input_motion=0.5, max_input_motion=1.2, global_motion_prob=1.0,
                         static_background_prob=0.0, noise_max=0.0)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run as fast on 1 thread, which is immune to OpenMP stalls on busy shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def test_network_any_size_round_trips():
    model = MagNet(width=0.25, enc_blocks=1, texture_blocks=1, shape_blocks=1, dec_blocks=1).eval()
    for h, w in [(37, 51), (5, 7), (48, 48)]:
        x = torch.rand(2, 3, h, w) * 2 - 1
        with torch.no_grad():
            assert model(x, x, 3.0).shape == (2, 3, h, w)
    gray = np.random.default_rng(0).integers(0, 256, (37, 51), dtype=np.uint8)
    out = magnify_pair(model, gray, gray, 6)
    assert out.shape == gray.shape and out.dtype == np.uint8
    rgb = np.random.default_rng(1).random((13, 9, 3)).astype(np.float32)
    out = magnify_pair(model, rgb, rgb, 3)
    assert out.shape == rgb.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    many = magnify_pairs(model, np.stack([rgb] * 5), np.stack([rgb] * 5), [1, 2, 3, 4, 5], batch_size=2)
    assert many.shape == (5, 13, 9, 3)


def test_magnify_rejects_bad_input():
    model = MagNet(width=0.25, enc_blocks=1, texture_blocks=1, shape_blocks=1, dec_blocks=1)
    img = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        magnify_pair(model, img + 200, img + 200, 3)
    with pytest.raises(ValueError, match="same shape"):
        magnify_pair(model, img, img[:8], 3)
    with pytest.raises(ValueError, match="one per pair"):
        magnify_pairs(model, np.stack([img] * 3), np.stack([img] * 3), [1.0, 2.0])
    with pytest.raises(ValueError, match="RGB"):
        magnify_pair(model, np.zeros((16, 16, 4), np.uint8), np.zeros((16, 16, 4), np.uint8), 3)


def test_generator_is_deterministic():
    a, b, c = make_batch(TINY.data, 3, seed=7), make_batch(TINY.data, 3, seed=7), make_batch(TINY.data, 3, seed=8)
    for name in ("x_a", "x_b", "y", "x_b_pert", "y_pert", "alpha", "motion_fg"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.x_a, c.x_a)
    assert a.x_a.shape == (3, 3, 24, 24) and 0 <= float(a.x_a.min()) and float(a.x_a.max()) <= 1


def test_generator_target_moves_alpha_times_the_input():
    batch = make_batch(GLOBAL, 6, seed=3)
    for i in range(6):
        d, alpha = batch.motion_fg[i].numpy(), float(batch.alpha[i])
        measured_in = estimate_shift(_hwc(batch.x_a[i]), _hwc(batch.x_b[i]))
        measured_out = estimate_shift(_hwc(batch.x_a[i]), _hwc(batch.y[i]))
        assert np.abs(measured_in - d).max() < 0.15, (i, measured_in, d)
        assert np.abs(measured_out - alpha * d).max() < 0.05 * alpha * np.abs(d).max() + 0.1, (i, measured_out, d)


def test_generator_static_background_stays_put():
    cfg = dataclasses.replace(TINY.data, image_size=48, static_background_prob=1.0, noise_max=0.0)
    batch = make_batch(cfg, 4, seed=5)
    assert torch.all(batch.motion_bg == 0) and torch.all(batch.motion_fg.norm(dim=1) > 0)
    reach = 2 * int(cfg.max_magnified_motion) + 3   # the object can cover pixels up to this far from mask_a
    near_object = F.max_pool2d(batch.mask_a, 2 * reach + 1, stride=1, padding=reach) > 1e-3
    far = (~near_object).expand_as(batch.x_a)
    assert far.sum() > 100
    assert torch.equal(batch.x_a[far], batch.y[far])          # background pixels identical in input and target
    assert not torch.equal(batch.x_a[~far], batch.y[~far])    # while the object moved


@pytest.fixture(scope="module")
def trained_tiny():
    """A tiny model trained for 300 steps (about 9 s) on an easy case: global motion, alpha = 4, no noise."""
    data = dataclasses.replace(GLOBAL, image_size=32, alpha_range=(4.0, 4.0), max_input_motion=1.0,
                               max_magnified_motion=4.0, min_input_motion=0.0, low_contrast_prob=0.0,
                               color_gain=(0.9, 1.1), color_offset=0.04)
    return train(dataclasses.replace(TINY, steps=300, lr=2e-3, cosine_lr=True, data=data), progress=False)


@pytest.mark.slow
def test_loss_falls_during_training(trained_tiny):
    _, history = trained_tiny
    loss = history["loss"]
    assert len(loss) == 300 and set(history) == {"loss", "l1", "reg"}
    assert np.mean(loss[-30:]) < 0.8 * np.mean(loss[:30])


@pytest.mark.slow
def test_trained_tiny_model_magnifies_in_the_right_direction(trained_tiny):
    """Acceptance: on held-out global-motion pairs (alpha = 4), the output's measured shift from x_a points
    within 45 degrees of the true motion d and is longer than d itself (it magnifies, not just copies x_b)."""
    model, _ = trained_tiny
    cfg = dataclasses.replace(GLOBAL, image_size=32, alpha_range=(4.0, 4.0))
    batch = make_batch(cfg, 8, seed=999)
    onsets = (batch.x_a.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    apexes = (batch.x_b.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    out = magnify_pairs(model, onsets, apexes, 4.0)
    factors, cosines = [], []
    for i in range(8):
        d = batch.motion_fg[i].numpy()
        m = estimate_shift(onsets[i], out[i])
        factors.append(m @ d / (d @ d))
        cosines.append(m @ d / (np.linalg.norm(m) * np.linalg.norm(d)))
    assert np.median(cosines) > np.cos(np.radians(45)), cosines
    assert np.median(factors) > 1.2, factors


def test_resume_continues_and_matches_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "run.pt"
    train(TINY, steps=2, progress=False, checkpoint=ckpt)
    assert load_checkpoint(ckpt)["step"] == 2
    resumed, history = train(TINY, steps=4, progress=False, checkpoint=ckpt)
    assert load_checkpoint(ckpt)["step"] == 4 and len(history["loss"]) == 4
    straight, straight_history = train(TINY, steps=4, progress=False)
    np.testing.assert_allclose(history["loss"], straight_history["loss"], rtol=1e-4)
    for (name, p), q in zip(resumed.state_dict().items(), straight.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)


def test_checkpoint_from_other_config_is_refused(tmp_path):
    ckpt = tmp_path / "run.pt"
    train(TINY, steps=1, progress=False, checkpoint=ckpt)
    with pytest.raises(ValueError, match="written for config"):
        train(dataclasses.replace(TINY, lr=1e-4), steps=2, progress=False, checkpoint=ckpt)


def test_load_or_train_user_file_and_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    fresh = load_or_train(profile=TINY, device="cpu", progress=False)
    assert "freshly trained" in capsys.readouterr().out and cached_weights_path(TINY).is_file()
    cached = load_or_train(profile=TINY, device="cpu")
    out = capsys.readouterr().out
    assert "cached self-trained" in out and "not the official" in out
    user = load_or_train(checkpoint=cached_weights_path(TINY), device="cpu")
    assert "user-supplied" in capsys.readouterr().out
    bare = tmp_path / "bare.pt"
    torch.save(fresh.state_dict(), bare)
    from_bare = load_or_train(checkpoint=bare, profile=TINY, device="cpu")
    for model in (cached, user, from_bare):
        for p, q in zip(fresh.state_dict().values(), model.state_dict().values()):
            assert torch.equal(p, q)


def test_load_or_train_explains_files_that_do_not_fit(tmp_path):
    wrong = tmp_path / "wrong.pt"
    torch.save(MagNet(width=0.5, dec_blocks=1).state_dict(), wrong)
    with pytest.raises(ValueError, match="do not fit"):
        load_or_train(checkpoint=wrong, profile=TINY, device="cpu")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read"):
        load_or_train(checkpoint=junk, profile=TINY, device="cpu")
    with pytest.raises(FileNotFoundError):
        load_or_train(checkpoint=tmp_path / "missing.pt", profile=TINY)


def test_worker_processes_render_the_same_batches_and_threads_are_restored():
    torch.set_num_threads(2)   # train(threads=1) must hand back this setting
    _, inline = train(TINY, steps=2, progress=False, threads=1)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    _, with_worker = train(TINY, steps=2, progress=False, workers=1)
    assert inline["loss"] == with_worker["loss"]


def test_fast_preset_loads_the_shipped_weights_without_training(tmp_path, monkeypatch, capsys):
    from melib.motion.learned import api

    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "empty-cache"))

    def no_training(*args, **kwargs):
        raise AssertionError("the shipped fast weights should make training unnecessary")

    monkeypatch.setattr(api, "train", no_training)
    fast = preset("fast")
    assert api.shipped_weights_path(fast).is_file()
    model = load_or_train(profile="fast", device="cpu")
    out = capsys.readouterr().out
    assert "shipped self-trained weights" in out and "not the official" in out
    shipped = load_checkpoint(api.shipped_weights_path(fast))
    assert shipped["config_hash"] == api.config_hash(fast) and shipped["step"] >= fast.steps
    for name, value in model.state_dict().items():
        assert torch.equal(value, shipped["model"][name])
    assert not (tmp_path / "empty-cache").exists()  # nothing trained, nothing cached
