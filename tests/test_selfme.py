"""SelfME: the motion learner (Eqs. 1-8), the motion expansion (Eq. 9 + scaling and squaring), SCViT
(Eqs. 10-16) and a LOSO run on the tiny synthetic dataset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from melib import data, train
from melib.methods import selfme as sm
from melib.methods.selfme.model import FAST_VIT, MotionLearner, RandomTPS, SCViT, make_grid, warp


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def tiny_setting(**overrides):
    """64-px frames, an 8-wide learner trained 4 steps, the fast ViT, one epoch."""
    settings = dict(frame_size=32, expansion=8, learner_steps=4, learner_batch=2, frames_per_clip=4, epochs=1,
                    batch_size=4, motion_folds=2, checkpoint="")
    return sm.preset("fast", **{**settings, **overrides})[:2]


def test_warp_with_a_constant_displacement_shifts_the_image():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    step = 2 / 3  # one pixel of a 4-pixel axis in normalised units (align_corners=True)
    shifted = warp(image, torch.tensor([step, 0.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4))
    assert torch.allclose(shifted[0, 0, :, :3], image[0, 0, :, 1:], atol=1e-5)   # samples x + 1
    assert make_grid(3, 5)[0, 0].tolist() == [-1.0, -1.0] and make_grid(3, 5)[2, 4].tolist() == [1.0, 1.0]


def test_motion_learner_shapes_and_eq5_weights():
    torch.manual_seed(0)
    model = MotionLearner(num_kp=4, expansion=8)
    frames = torch.rand(2, 3, 32, 32)
    out = model(frames, frames.flip(-1), gamma=2.0)
    assert out["prediction"].shape == (2, 3, 32, 32) and out["motion"].shape == (2, 2, 8, 8)
    assert out["kp_source"].shape == (2, 4, 2) and out["kp_source"].abs().max() <= 1
    assert torch.allclose(out["weights"].sum(1), torch.ones(2, 8, 8), atol=1e-5)        # psi sums to 1 (Eq. 4)
    assert torch.equal(out["local"][:, 1:], 2.0 * (out["kp_source"] - out["kp_target"]))  # Eq. 2 with gamma
    assert torch.equal(out["local"][:, 0], torch.zeros(2, 2))                           # background
    mixed = torch.einsum("bkhw,bkc->bchw", out["weights"], out["local"])
    assert torch.allclose(out["motion"], mixed, atol=1e-6)                              # Eq. 5
    same = model.motion(frames, frames)
    assert same["motion"].abs().max() < 1e-6  # identical frames: identical keypoints, no motion
    assert MotionLearner.to_pixels(torch.ones(1, 2, 1, 1), (33, 65)).flatten().tolist() == [32.0, 16.0]


def test_random_tps_is_near_identity_and_moves_frames_consistently():
    gen = torch.Generator().manual_seed(0)
    tps = RandomTPS(3, generator=gen)
    points = torch.rand(3, 7, 2) * 2 - 1
    moved = tps.warp_coordinates(points)
    assert 0 < (moved - points).abs().max() < 0.5
    identity = RandomTPS(1, sigma_affine=0.0, sigma_tps=0.0)
    frame = torch.rand(1, 3, 16, 16)
    assert torch.allclose(identity.transform_frame(frame), frame, atol=1e-5)


def test_scvit_regions_are_quarter_means_of_the_patch_embeddings():
    kwargs = {k: v for k, v in FAST_VIT.items() if k != "name"}
    model = SCViT(3, FAST_VIT["name"], **kwargs)
    assert model.grid_size == (8, 8) and "random init" in model.weights_description
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out["logits"].shape == (2, 3) and out["regions"].shape == (2, 4, model.vit.embed_dim)
    patches = model.vit.patch_embed(x).view(2, 8, 8, -1)
    assert torch.allclose(out["regions"][:, 1], patches[:, :4, 4:].mean(dim=(1, 2)), atol=1e-5)  # UR
    assert torch.allclose(out["regions"][:, 2], patches[:, 4:, :4].mean(dim=(1, 2)), atol=1e-5)  # BL
    with pytest.raises(ValueError, match="even patch grid"):
        SCViT(3, FAST_VIT["name"], img_size=56, patch_size=8, depth=1)


def test_expand_motion_keeps_a_translation_and_reports_folding():
    cfg, _ = tiny_setting()
    lattice = torch.full((1, 2, 16, 16), 1.5)
    expanded, before = sm.expand_motion(lattice, 64, cfg)
    assert expanded.shape == (1, 2, 64, 64) and torch.allclose(expanded, torch.full_like(expanded, 1.5), atol=1e-4)
    plain, _ = sm.expand_motion(lattice, 64, cfg.__class__(**{**cfg.__dict__, "bspline": False}))
    assert torch.allclose(plain, expanded, atol=1e-4)
    field = np.stack([np.full((4, 4), 3.0), np.full((4, 4), 4.0)])
    image = sm.motion_image(field, 2.0)
    assert image.shape == (3, 4, 4) and np.allclose(image[:, 0, 0], [1.5, 2.0, 2.5])  # one fixed scale
    assert np.allclose(sm.motion_image(field, 0.0)[:, 0, 0], [0.6, 0.8, 1.0])         # per-clip maximum


def test_learner_groups_are_subject_disjoint(manifest):
    groups = sm.learner_groups(manifest, 2)
    assert sorted(sum(groups, [])) == sorted(manifest["subject"].astype(str).unique()) and not set(groups[0]) & set(groups[1])
    with pytest.raises(ValueError, match="motion_folds=9"):
        sm.learner_groups(manifest, 9)


def test_motion_learner_trains_resumes_and_loads(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path))
    cfg, _ = tiny_setting(learner_steps=60)
    seen = sm.learner_groups(manifest, 2)[1]
    path = sm.learner_path(manifest, cfg, seen)
    calls = {"n": 0}
    real = sm.learner.multiscale_reconstruction

    def crash_at_step_55(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 55:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sm.learner, "multiscale_reconstruction", crash_at_step_55)
    with pytest.raises(KeyboardInterrupt):
        sm.train_motion_learner(manifest, seen, cfg, progress=False, device="cpu")
    assert path.with_suffix(".last").is_file() and not path.is_file()   # the checkpoint of step 50
    monkeypatch.setattr(sm.learner, "multiscale_reconstruction", real)
    model, info = sm.train_motion_learner(manifest, seen, cfg, progress=False, device="cpu")
    assert info["path"] == path and path.is_file() and not path.with_suffix(".last").exists()
    assert info["history"][:, 0].tolist() == list(range(1, 61))        # steps 1-50 kept, 51-60 resumed
    loaded, again = sm.train_motion_learner(manifest, seen, cfg, progress=False, device="cpu")
    assert torch.equal(again["history"], info["history"])
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert sm.learner_path(manifest, cfg, sm.learner_groups(manifest, 2)[0]) != path  # subjects seen are keyed


def test_loso_run_end_to_end_with_learned_motion_and_flow(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    cfg, schedule = tiny_setting()
    run = sm.run(manifest, cfg, schedule, progress=False)
    clips = sm.select_clips(manifest)
    m = run.results()["metrics"]
    assert run.complete and run.n_folds == clips["subject"].nunique() and m["n_clips"] == len(clips)
    assert m["classes"] == ["negative", "positive", "surprise"] and np.sum(m["confusion"]) == len(clips)
    assert {"cls", "sc"} <= set(run.fold_results()[0]["history"][0])
    assert set(run.fold_results()[0]["history"][0]) - {"epoch", "lr", "seconds"} <= set(sm.LOSS_NAMES)  # every term titled
    entry = sm.prepare(clips, cfg, progress=False)[0].load(clips.iloc[0])
    assert entry["motion"].shape == (2, 64, 64) and 0 <= float(entry["folding_after"]) <= 1
    flow_cfg, _ = tiny_setting(motion="farneback", sc=False)
    flow_run = sm.run(manifest, flow_cfg, schedule, progress=False)
    assert flow_run.complete and "sc" not in flow_run.fold_results()[0]["history"][0]
    with pytest.raises(ValueError, match="fold 9 is out of range"):
        sm.run(manifest, cfg, schedule, fold=9, progress=False)
    # the fold models reload from the run's own config and reproduce its stored predictions
    cache = sm.prepare(clips, cfg, progress=False)[0]
    first = train.trained_subjects(run, clips)[0]
    held = clips[clips["subject"] == first]
    model = sm.fold_model(run, 0)
    with torch.no_grad():
        x = torch.stack([sm.SelfMEDataset(held, cache, cfg.motion_scale)[i]["motion"] for i in range(len(held))])
        scores = torch.softmax(model(x)["logits"], 1).numpy()
    np.testing.assert_allclose(scores, run.predictions()["scores"][:len(held)], atol=1e-3)  # float16 weights
    embedded = sm.fold_features(run, manifest, 0)
    assert embedded.shape[0] == len(clips) and f"{held.iloc[0]['subject']}/{held.iloc[0]['clip']}" in embedded.index
    with torch.no_grad():
        own = model(x)["features"].numpy()  # the same model embeds its held-out clips identically
    np.testing.assert_allclose(embedded.loc[[f"{r['subject']}/{r['clip']}" for _, r in held.iterrows()]].to_numpy(),
                               own, atol=1e-5)
    cams = sm.grad_cams(run, held.head(2), clips, cache)
    assert cams.shape == (min(2, len(held)), 64, 64) and cams.min() >= 0 and cams.max() <= 1
    table = sm.results_table({"selfme": run, "tvl1_vit": flow_run})
    assert table.loc[("selfme", "ours (synthetic)"), "uf1"] == pytest.approx(m["uf1"])
    assert table.loc[("tvl1_vit", "paper Table 3 (casme2, real)"), "uf1"] == pytest.approx(0.8060)
    # one paper row per variant, CASME II where it exists: never SMIC-HS's Table 4 beside a CASME II row
    assert ("selfme", "paper Table 1 (casme2, real)") in table.index
    assert not any("smic" in source for _, source in table.index)


def test_motion_against_truth_binned_by_amplitude_and_timed(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    clips = sm.select_clips(manifest)
    configs = {"learned": tiny_setting()[0], "DIS": tiny_setting(motion="dis")[0]}
    caches = {name: sm.prepare(clips, cfg, progress=False)[0] for name, cfg in configs.items()}
    truth = sm.motion_against_truth(clips, caches, 64)
    binned = sm.epe_by_amplitude(truth, bins=(0.0, 0.3, np.inf))
    assert list(binned.columns) == ["clips", "learned", "DIS"] and binned["clips"].sum() == len(clips)
    moving = truth["true motion (px)"] < 0.3
    if moving.any():
        assert binned.loc["0-0.3 px", "DIS"] == pytest.approx(truth.loc[moving, "EPE DIS (moving)"].mean())
    seconds = sm.time_per_pair(clips, configs, n=2)
    assert list(seconds.index) == ["learned", "DIS"] and (seconds > 0).all()


def test_config_validates():
    for bad in (dict(motion="raft"), dict(reconstruction="lpips"), dict(frame_size=30), dict(motion_folds=1),
                dict(checkpoint="no/such.pt")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            sm.SelfMEConfig(**bad)
    cfg, schedule, _ = sm.preset("full")
    assert (cfg.vit, cfg.gamma_train, cfg.gamma_test, cfg.omega, cfg.temperature) == ("vit_small_patch16_224", 1.0, 2.0, 0.1, 0.07)
    assert (schedule.epochs, schedule.batch_size, schedule.lr, schedule.optimizer, schedule.scheduler,
            schedule.lr_gamma) == (60, 32, 1e-4, "adam", "exponential", 0.9)
    opt, sched = train.make_optimizer(torch.nn.Linear(2, 2), schedule)
    opt.step()  # the order training uses (no gradients yet, so the weights do not move)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.9e-4)


def test_shipped_learner_fits_the_fast_profile_and_is_keyed_by_content(manifest, tmp_path, monkeypatch):
    cfg, _, _ = sm.preset("fast")
    assert cfg.checkpoint == "shipped" and cfg.learner_steps == 0 and cfg.checkpoint_path() == sm.SHIPPED_LEARNER
    model = MotionLearner(cfg.num_kp, 3, cfg.expansion)
    model.load_state_dict(torch.load(sm.SHIPPED_LEARNER, map_location="cpu", weights_only=True))  # strict
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path))
    other = tmp_path / "other.pt"
    state = model.state_dict()
    state[next(iter(state))] = state[next(iter(state))] + 1
    torch.save(state, other)
    seen = sm.learner_groups(manifest, 2)[0]
    own = sm.preset("fast", checkpoint=str(other))[0]
    assert sm.learner_path(manifest, own, seen) != sm.learner_path(manifest, cfg, seen)  # weights' digest in the key
    assert sm.learner_path(manifest, cfg, seen, seed=1) != sm.learner_path(manifest, cfg, seen, seed=0)


def test_equivariance_is_zero_for_the_identity_transform_and_not_for_a_random_one():
    from melib.methods.selfme.losses import equivariance
    from melib.methods.selfme.model import RandomTPS

    torch.manual_seed(0)
    detector = MotionLearner(num_kp=4, expansion=8).kp_detector.eval()
    frame = torch.rand(2, 3, 32, 32)
    identity = RandomTPS(2, sigma_affine=0.0, sigma_tps=0.0)
    torch.testing.assert_close(identity.transform_frame(frame), frame, atol=1e-5, rtol=0)
    with torch.no_grad():
        kp = detector(frame)
        same = equivariance(kp, identity.warp_coordinates(detector(identity.transform_frame(frame))))
        moved = RandomTPS(2, sigma_affine=0.2, sigma_tps=0.05, generator=torch.Generator().manual_seed(1))
        other = equivariance(kp, moved.warp_coordinates(detector(moved.transform_frame(frame))))
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    assert other.item() > 1e-3  # an untrained detector is not equivariant


def test_results_table_reads_the_paper_rows_of_the_runs_dataset_only():
    class NoRun:  # a run with no results yet: the table holds the paper's rows only
        def results(self):
            return None

    variants = {v: NoRun() for v in ("selfme", "no_sc", "no_ma", "gamma3")}
    smic = sm.results_table(variants, "smic")
    assert list(smic.index) == [("selfme", "paper Table 2 (smic, real)"), ("no_ma", "paper Table 4 (smic, real)"),
                                ("gamma3", "paper Table 4 (smic, real)")]  # no_sc: CASME II rows only, so none
    assert smic.loc[("selfme", "paper Table 2 (smic, real)"), "uf1"] == pytest.approx(0.6972)
    casme2 = sm.results_table(variants, "casme2")
    assert not any("smic" in source for _, source in casme2.index) and len(casme2) == 3  # gamma3: SMIC-HS only
    assert sm.results_table(variants, "samm").empty  # the paper has no SAMM numbers
    # the synthetic stand-in keeps its CASME II rows, else the one dataset a row exists on (as labelled)
    synthetic = sm.results_table(variants)
    assert ("gamma3", "paper Table 4 (smic, real)") in synthetic.index and len(synthetic) == 4
