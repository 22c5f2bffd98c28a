"""Annotation mimic through the harness on the tiny synthetic dataset: Region Replacing, a two-subject
LOSO run end to end, load-or-train, fold errors, and the schedule field added for it."""
import dataclasses

import numpy as np
import pytest
import torch

from melib import data, train
from melib.config import config_hash
from melib.methods import annotation_mimic as mimic
from melib.motion.learned import api as learned_api
from melib.motion.learned import preset as learned_preset


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def tiny_setting(**overrides):
    """32 px inputs, Eulerian magnification and Farneback flow (fast stand-ins), one epoch of batch 4."""
    settings = dict(image_size=32, magnify="eulerian", flow="farneback", epochs=1, batch_size=4)
    return mimic.preset("fast", **{**settings, **overrides})[:2]


@pytest.fixture(scope="module")
def cache(manifest, tmp_path_factory):
    cfg, _ = tiny_setting()
    return mimic.prepare(manifest, cfg, workers=1, progress=False, strict=True,
                         root=tmp_path_factory.mktemp("mimic_cache"))


def pair_of_one_class(manifest):
    """Two clips made one class (positive), receiver AUs {1, 14}, donor AUs {4, 12}: eyes 1 and 4, mouth 14 and 12."""
    rows = manifest.iloc[[0, 3]].copy()
    rows["emotion"] = "happiness"
    for col in [c for c in rows.columns if c.startswith("AU")]:
        rows[col] = 0
    rows["AU14"] = 0
    rows.loc[rows.index[0], ["AU1", "AU14"]] = 1
    rows.loc[rows.index[1], ["AU4", "AU12"]] = 1
    return rows


def test_cached_input_is_the_three_channel_image_at_image_size(manifest, cache):
    entry = cache.load(manifest.iloc[0])
    assert entry["image"].shape == (32, 32, 3) and entry["image"].dtype == np.float16
    assert 0.0 <= entry["image"].min() and entry["image"].max() <= 1.0
    assert entry["frame_numbers"].tolist() == [int(manifest.iloc[0][k]) for k in ("onset", "apex", "offset")]
    assert cache.stored_settings()["mimic_input"]["magnify"] == "eulerian"


def test_region_replacing_keeps_the_class_and_mixes_eyes_and_mouth(manifest, cache):
    cfg, _ = tiny_setting(rr_probability=1.0, flip=False, random_erasing="none")
    rows = pair_of_one_class(manifest)
    train_set = mimic.MimicDataset(rows, cache, cfg, training=True)
    plain = mimic.MimicDataset(rows, cache, cfg, training=False)
    assert train_set.aus == (1, 2, 4, 6, 7, 9, 12, 14)
    column = {a: j for j, a in enumerate(train_set.aus)}
    half = cfg.image_size // 2
    positive = data.emotion_classes("synthetic", "3class").index("positive")
    for seed in range(3):
        torch.manual_seed(seed)
        for receiver, donor, expected in ((0, 1, {1, 12}), (1, 0, {4, 14})):
            sample = train_set[receiver]
            assert sample["donor"] == donor and int(sample["label"]) == positive
            assert {a for a, j in column.items() if sample["aus"][j] == 1} == expected
            assert sample["aus"].sum() == len(expected)
            # the eyes half is the receiver's, the mouth half the donor's (rows >= S // 2)
            torch.testing.assert_close(sample["image"][:, :half], plain[receiver]["image"][:, :half], rtol=0, atol=0)
            torch.testing.assert_close(sample["image"][:, half:], plain[donor]["image"][:, half:], rtol=0, atol=0)
    assert not torch.equal(plain[0]["image"][:, half:], plain[1]["image"][:, half:])


def test_no_region_replacing_without_it_and_flip_is_the_only_change(manifest, cache):
    rows = pair_of_one_class(manifest)
    cfg, _ = tiny_setting(variant="db+all-rr", rr_probability=1.0, flip=True, random_erasing="none")
    train_set = mimic.MimicDataset(rows, cache, cfg, training=True)
    plain = mimic.MimicDataset(rows, cache, cfg, training=False)[0]["image"]
    torch.manual_seed(0)
    flipped = 0
    for _ in range(12):
        sample = train_set[0]
        assert sample["donor"] == -1
        assert torch.equal(sample["image"], plain) or torch.equal(sample["image"], plain.flip(-1))
        flipped += torch.equal(sample["image"], plain.flip(-1))
    assert 0 < flipped < 12


def test_config_derives_from_paper_or_official_and_validates():
    paper, official = mimic.MimicConfig(), mimic.MimicConfig(config="official")
    assert (paper.label_smoothing, paper.wscl_variant, paper.random_erasing, paper.inference) == \
        (0.0, "paper", "default", "softmax_sum")
    assert (official.label_smoothing, official.wscl_variant, official.random_erasing, official.inference) == \
        (0.1, "official", "official", "logit_sum")
    assert mimic.MimicConfig(config="official", label_smoothing=0.0).label_smoothing == 0.0
    assert mimic.preset("full", "samm")[0].flow_target == "magnified"
    assert mimic.preset("full", "casme2")[1].scheduler == "cosine_restarts"
    for bad in (dict(variant="db+xx"), dict(classes="4class"), dict(flow_target="apex"), dict(magnify="none"),
                dict(rr_probability=1.5), dict(image_size=16), dict(aus=()), dict(weights="no/such/file.pt")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            mimic.MimicConfig(**bad)
    with pytest.raises(ValueError, match="unknown annotation-mimic setting"):
        mimic.preset("fast", epoch=3)


def test_two_subject_loso_run_end_to_end_then_load_instead_of_train(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    two = manifest[manifest["subject"].isin(["sub01", "sub04"])].reset_index(drop=True)
    two.attrs = dict(manifest.attrs)
    cfg, schedule = tiny_setting()
    run = mimic.run(two, cfg, schedule, workers=1, out_dir=tmp_path / "run", progress=False)
    assert run.complete and run.n_folds == 2
    m = run.results()["metrics"]
    assert {"acc", "uf1", "uar", "confusion", "classes", "n_clips", "majority_uf1", "majority_uar"} <= set(m)
    assert m["classes"] == ["negative", "positive", "surprise"] and m["n_clips"] == len(two)
    assert np.array(m["confusion"]).shape == (3, 3) and np.sum(m["confusion"]) == len(two)
    assert all(0.0 <= m[k] <= 1.0 for k in ("acc", "uf1", "uar"))
    assert m["majority_uar"] == pytest.approx(1 / 3)
    pred = run.predictions()
    assert pred["scores"].shape == (len(two), 3)
    np.testing.assert_allclose(pred["scores"].sum(1), 1.0, atol=1e-5)
    history = run.fold_results()[0]["history"][0]
    assert {"loss", "cls", "wscl"} <= set(history)
    table = mimic.results_table({"db+all": run}, dataset="casme2", classes="3class")
    assert table.loc[("db+all", "ours"), "uf1"] == pytest.approx(m["uf1"])
    assert table.loc[("db+all", "paper (casme2, 3class, real)"), "uar"] == 0.924

    (run.fold_dir(1) / "predictions.npz").unlink()
    calls = []
    monkeypatch.setattr(mimic.MimicMethod, "training_step", lambda self, model, batch: calls.append(1))
    again = mimic.run(two, cfg, schedule, fold=1, workers=1, out_dir=tmp_path / "run", progress=False)
    assert calls == [] and again.complete
    np.testing.assert_allclose(again.predictions()["scores"], pred["scores"], atol=1e-3)  # reloaded float16 weights (train.WEIGHTS_DTYPE)

    # the saved fold models reproduce the stored predictions of the subjects they held out
    kept = mimic.select_clips(two, cfg, verbose=False).reset_index(drop=True)
    cache = mimic.input_cache(two, cfg)
    assert mimic.trained_subjects(run, kept) == ["sub01", "sub04"]
    for f in range(2):
        fold_rows = pred["fold"] == f
        row = kept.loc[pred["index"][fold_rows][0]]
        model = mimic.load_fold_model(run, kept, row)
        probs = mimic.MimicMethod(cfg, cache, m["classes"], mimic.resolve_aus(kept, cfg)).predict_step(
            model, {"image": mimic.input_tensor(cache, row), "label": torch.zeros(1, dtype=torch.int64)})[0]
        np.testing.assert_allclose(probs[0].detach().numpy(), pred["scores"][fold_rows][0], atol=1e-3)  # float16 weights
    features = mimic.fused_features(run, kept, cache, fold=0)
    assert features.shape == (len(kept), 1024) and np.isfinite(features).all()
    one = mimic.fold_features(run, two, 1)  # every clip under fold 1's model (one feature space)
    assert one.shape == (len(kept), 1024)
    np.testing.assert_allclose(one.to_numpy(), mimic.fused_features(run, kept, cache, fold=1), atol=1e-5)
    assert not np.allclose(one.to_numpy(), features)  # another fold's model: another space


def test_clips_outside_the_scheme_are_dropped_and_counted(manifest, capsys):
    cfg, _ = tiny_setting()
    kept = mimic.select_clips(manifest, cfg)
    others = int((manifest["emotion"] == "others").sum())
    assert others > 0 and len(kept) == len(manifest) - others
    assert f"dropped {others} of {len(manifest)} clips" in capsys.readouterr().out
    assert len(mimic.select_clips(manifest, tiny_setting(classes="5class")[0])) == len(manifest)


def test_out_of_range_fold_raises_naming_it_before_any_work(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    cfg, schedule = tiny_setting()
    with pytest.raises(ValueError, match=r"fold 7 is out of range"):
        mimic.run(manifest, cfg, schedule, fold=7, workers=1, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


@pytest.mark.skipif(not learned_api.shipped_weights_path(learned_preset("fast")).is_file(),
                    reason="no shipped learned-magnifier weights (training one is too slow for a unit test)")
def test_learned_magnifier_input(manifest):
    cfg, _ = tiny_setting(magnify="learned")
    image = mimic.compute_input(manifest.iloc[0].to_dict(), cfg)["image"]
    assert image.shape == (32, 32, 3) and np.isfinite(image).all()


def test_new_schedule_fields_leave_existing_run_keys_unchanged():
    old = train.Schedule(epochs=4, batch_size=8, lr=0.1, lr_step=2)
    before = {k: v for k, v in dataclasses.asdict(old).items() if k not in ("scheduler", "t_0", "t_mult")}
    assert train.schedule_key(old) == before  # exactly what run_key hashed before the fields existed
    cosine = dataclasses.replace(old, scheduler="cosine_restarts")
    assert config_hash(train.schedule_key(cosine)) != config_hash(before)
    assert train.schedule_key(cosine)["scheduler"] == "cosine_restarts"
    with pytest.raises(ValueError, match="scheduler"):
        train.Schedule(scheduler="cosine")
    model = torch.nn.Linear(2, 2)
    _, scheduler = train.make_optimizer(model, train.Schedule(optimizer="adamw", lr=1.0, scheduler="cosine_restarts",
                                                               t_0=2, t_mult=2))
    assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts)


def test_verdict_needs_uf1_and_uar_above_the_best_floor():
    import pandas as pd

    sticks = pd.DataFrame({"uf1": [0.86, 0.19, 0.22], "uar": [0.83, 0.22, 0.33]},
                          index=["flow", "onset null", "majority class"])
    assert "clearly above" in mimic.verdict(0.74, 0.77, sticks, "flow")
    assert "NOT" not in mimic.verdict(0.74, 0.77, sticks, "flow")
    # UF1 well above the floors but UAR at the majority class's 0.33: not clearly learned
    assert "NOT clearly above" in mimic.verdict(0.60, 0.35, sticks, "flow")
    assert "below the flow probe (UF1 0.86)" in mimic.verdict(0.74, 0.77, sticks, "flow")
    assert "reaches" in mimic.verdict(0.90, 0.88, sticks, "flow")
    with pytest.raises(KeyError, match="no yardstick row"):
        mimic.verdict(0.5, 0.5, sticks, "Farneback")


def test_halves_figure_draws_the_cut_and_refuses_a_channel_first_image():
    import matplotlib

    matplotlib.use("Agg")
    images = [np.zeros((8, 8)), np.ones((8, 8))]
    fig = mimic.halves_figure(images, ["a", "b"], "two faces")
    panels = [ax for ax in fig.axes if ax.get_title() in ("a", "b")]
    assert len(panels) == 2 and len(fig.axes) == 3  # two panels and the colour bar
    cut = [line.get_ydata()[0] for line in panels[0].get_lines()]
    assert cut == [3.5]  # between row 3 (last eyes row) and row 4 (first mouth row), as split_halves cuts
    with pytest.raises(ValueError, match="one \\(S, S\\) channel"):
        mimic.halves_figure([np.zeros((3, 8, 8))], ["channels first"])  # a (3, S, S) tensor, not a channel


def test_cam_grid_colour_bar_only_when_asked():
    import matplotlib

    matplotlib.use("Agg")
    from melib.viz import results as vresults

    images, maps = [np.zeros((8, 8))] * 2, {"AU-CAM": [np.eye(8)] * 2, "Grad-CAM": [np.eye(8)] * 2}
    assert len(vresults.cam_grid(images, maps, ["x", "y"]).axes) == 6
    fig = vresults.cam_grid(images, maps, ["x", "y"], colorbar="map value (0-1)")
    assert len(fig.axes) == 7 and fig.axes[-1].get_ylabel() == "map value (0-1)"


def test_without_au_labels_only_the_variants_without_wscl_train():
    import pandas as pd

    smic = pd.DataFrame({"dataset": ["smic"] * 4, "subject": ["s1", "s1", "s2", "s3"], "clip": list("abcd"),
                         "emotion": ["negative", "negative", "positive", "negative"], "aus": [()] * 4})
    assert mimic.trainable_variants(["sb", "db+all", "db"], smic) == (
        ["sb", "db"], "db+all skipped: smic has no AU labels and WSCL (Eqs. 4-5) aligns features with AUs; "
                      "training sb, db")
    assert mimic.trainable_variants(["db+awm"], smic) == (["db+awm"], "")
    with pytest.raises(ValueError, match=r"asked for \(db\+all, db\+au\).*choose from \['sb', 'db', 'db\+awm'\]"):
        mimic.trainable_variants(["db+all", "db+au"], smic)
    # the CAM figure's clips share the most frequent class there (AU there is none), one per trained subject
    picks, shared = mimic.cam_picks(smic, ["s1", "s3"], "3class")
    assert shared == "negative" and picks["clip"].tolist() == ["a", "d"]
    labelled = smic.assign(dataset="casme2", emotion="disgust", aus=[(4,), (4, 7), (4,), (12,)], AU4=[1, 1, 1, 0],
                           AU7=[0, 1, 0, 0], AU12=[0, 0, 0, 1])
    assert mimic.trainable_variants(["sb", "db+all"], labelled) == (["sb", "db+all"], "")
    picks, shared = mimic.cam_picks(labelled, ["s1", "s2"], "3class")
    assert shared == "AU4" and picks["clip"].tolist() == ["a", "c"]


def test_paper_rows_of_the_runs_dataset_only():
    class NoRun:  # a run with no results yet: the table holds the paper's rows only
        def results(self):
            return None

    assert mimic.results_table({"db+all": NoRun()}, "smic", "3class").empty  # Ruan et al. report no SMIC-HS numbers
    assert ("db+all", "paper (samm, 3class, real)") in mimic.results_table({"db+all": NoRun()}, "samm", "3class").index
