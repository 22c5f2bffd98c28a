"""IICL through the harness on the tiny synthetic dataset: a two-fold run end to end, then load-or-train."""
import numpy as np
import pytest
import torch

from melib import data, train
from melib.methods import iicl


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def tiny_setting(**overrides):
    return iicl.preset("fast", image_size=40, crop_size=32, epochs=1, batch_size=4, **overrides)[:2]


def test_dataset_yields_three_cropped_frames_and_labels(manifest, tmp_path):
    cfg, _ = tiny_setting()
    cache = iicl.preprocess(manifest, cfg.front_end(), workers=1, progress=False, root=tmp_path)
    train_set = iicl.IICLDataset(manifest, cache, cfg, training=True)
    sample = train_set[0]
    assert {k: tuple(v.shape) for k, v in sample.items() if k in ("onset", "apex", "close")} == \
        {"onset": (3, 32, 32), "apex": (3, 32, 32), "close": (3, 32, 32)}
    np.testing.assert_array_equal(sample["aus"].numpy(), data.au_matrix(manifest.iloc[[0]], cfg.aus)[0])
    assert not torch.equal(sample["apex"], sample["onset"])
    entry = cache.load(manifest.iloc[0])["frames"]
    test_set = iicl.IICLDataset(manifest, cache, cfg, training=False)
    centre = (40 - 32) // 2
    torch.testing.assert_close(test_set[0]["apex"], iicl._to_tensor(entry[cfg.close + 1][centre:centre + 32, centre:centre + 32]))


def test_training_crop_is_one_random_window_shared_by_the_three_frames(manifest, tmp_path):
    cfg, _ = tiny_setting()
    cache = iicl.preprocess(manifest, cfg.front_end(), workers=1, progress=False, root=tmp_path)
    train_set = iicl.IICLDataset(manifest, cache, cfg, training=True)
    frames = cache.load(manifest.iloc[0])["frames"]
    windows = [(t, l) for t in range(9) for l in range(9)]
    crops = {w: [iicl._to_tensor(f[w[0]:w[0] + 32, w[1]:w[1] + 32]) for f in frames] for w in windows}
    seen = set()
    torch.manual_seed(0)
    for _ in range(12):
        sample = train_set[0]
        # the window that reproduces the apex must also reproduce the onset and one close frame
        found = [w for w in windows if torch.equal(sample["apex"], crops[w][cfg.close + 1])]
        assert found, "the apex is not a crop of the cached apex"
        w = found[0]
        assert torch.equal(sample["onset"], crops[w][0])
        assert any(torch.equal(sample["close"], c) for c in crops[w][1:])
        seen.add(w)
    assert len(seen) > 3  # the window is random


def test_two_fold_iicl_run_end_to_end_then_load_instead_of_train(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    cfg, schedule = tiny_setting()
    run = iicl.run(manifest, cfg, schedule, fold=-1, k=2, out_dir=tmp_path / "run", progress=False)
    assert run.complete
    metrics = run.results()["metrics"]
    assert metrics["aus"] == [f"AU{a}" for a in data.CASME2_AUS] and len(metrics["f1"]) == 8
    assert metrics["n_clips"] == len(manifest) and all(0.0 <= f <= 1.0 for f in metrics["f1"])
    # per-AU ROC-AUC on the pooled scores: null where an AU has one class among the clips
    pred = run.predictions()
    for j, auc in enumerate(metrics["auc"]):
        single = pred["targets"][:, j].min() == pred["targets"][:, j].max()
        assert (auc is None) == single and (auc is None or 0.0 <= auc <= 1.0)
    known = [a for a in metrics["auc"] if a is not None]
    assert known and metrics["auc_avg"] == pytest.approx(np.mean(known))
    history = run.fold_results()[0]["history"][0]
    assert {"loss", "bce_apex", "bce_close", "oa", "oc", "ac", "na"} <= set(history)

    (run.fold_dir(1) / "predictions.npz").unlink()
    calls = []
    monkeypatch.setattr(iicl.IICLMethod, "training_step", lambda self, model, batch: calls.append(1))
    again = iicl.run(manifest, cfg, schedule, fold=1, k=2, out_dir=tmp_path / "run", progress=False)
    assert calls == [] and again.complete
    np.testing.assert_allclose(again.predictions()["scores"], run.predictions()["scores"], atol=1e-6)


def test_f1_table_puts_ours_beside_the_paper(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    cfg, schedule = tiny_setting(variant="senet")
    run = iicl.run(manifest, cfg, schedule, k=2, out_dir=tmp_path / "senet", progress=False)
    table = iicl.f1_table({"senet": run, "iicl": train.Run(tmp_path / "missing", 2)})
    assert list(table.index) == [("Baseline", "ours"), ("Baseline", "paper (casme2, real)"),
                                 ("IICL", "paper (casme2, real)")]
    assert table.loc[("Baseline", "ours"), "AVG"] == pytest.approx(run.results()["metrics"]["f1_avg"])
    assert table.loc[("IICL", "paper (casme2, real)"), "AU1"] == 0.78


def test_balanced_bce_weights_each_au_by_its_training_ratio(manifest, tmp_path):
    cfg, _ = tiny_setting(bce="balanced")
    cache = iicl.preprocess(manifest, cfg.front_end(), workers=1, progress=False, root=tmp_path)
    method = iicl.IICLMethod(cfg, cache)
    train_rows = manifest.iloc[:6]
    method.datasets(train_rows, manifest.iloc[6:])
    labels = data.au_matrix(train_rows, cfg.aus)
    pos = labels.sum(0)
    expected = np.where(pos > 0, (len(labels) - pos) / np.maximum(pos, 1), 1.0).clip(1, 50)
    np.testing.assert_allclose(method.pos_weight.numpy(), expected)
    paper = iicl.IICLMethod(tiny_setting(bce="paper")[0], cache)
    paper.datasets(train_rows, manifest.iloc[6:])
    assert paper.pos_weight is None
    with pytest.raises(ValueError, match="bce"):
        tiny_setting(bce="focal")


def _fake_run(folder, f1, auc_avg):
    from melib.io import save_json

    save_json(folder / "results.json", {"metrics": {"aus": ["AU1", "AU2"], "f1": f1, "f1_avg": float(np.mean(f1)),
                                                    "auc_avg": auc_avg}})
    return train.Run(folder, 2)


def test_seed_table_gives_mean_and_sample_sd_over_seeds(tmp_path):
    runs = {"senet": [_fake_run(tmp_path / "a", [0.2, 0.4], 0.7), _fake_run(tmp_path / "b", [0.4, 0.6], 0.9),
                      train.Run(tmp_path / "unfinished", 2)],
            "iicl": [_fake_run(tmp_path / "c", [0.5, 0.5], 0.8)]}
    table = iicl.seed_table(runs)
    assert table.loc[("Baseline", "mean"), "AU1"] == pytest.approx(0.3)
    assert table.loc[("Baseline", "sd"), "AU1"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert table.loc[("Baseline", "mean"), "AUC"] == pytest.approx(0.8)
    assert table.loc[("Baseline", "mean"), "seeds"] == 2  # the unfinished seed is not counted
    assert np.isnan(table.loc[("IICL", "sd"), "AVG"])  # one seed: no spread
    assert table.loc[("IICL", "paper (casme2, real)"), "AVG"] == 0.55
    shown = iicl.format_seed_table(table)
    assert shown.loc[("Baseline", "ours, 2 seeds"), "AU1"] == "0.30 ± 0.14"
    assert shown.loc[("IICL", "ours, 1 seed"), "AVG"] == "0.50"


def test_verdict_reads_auc_against_the_null_chance_and_the_flow_probe():
    learned = iicl.verdict(0.70, null_auc=0.48, flow_auc=0.91)
    assert "clearly above" in learned and "NOT" not in learned and "below the flow probe (0.91)" in learned
    # chance, not the (lower) null, is the floor: 0.58 is 0.1 above the null but not above chance
    assert "NOT clearly above" in iicl.verdict(0.53, null_auc=0.48, flow_auc=0.91)
    assert "reaches the flow probe" in iicl.verdict(0.93, null_auc=0.48, flow_auc=0.91)


def test_training_curves_title_each_panel_with_its_equation(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from melib.io import save_json
    from melib.viz import results as vresults

    history = [{"epoch": e, "lr": 0.05, "loss": 2.0 - e, "oa": 1.0, "na": 0.5} for e in range(3)]
    for k in range(2):
        (tmp_path / f"fold{k}").mkdir()
        np.savez(tmp_path / f"fold{k}" / "predictions.npz", scores=np.zeros(1))
        save_json(tmp_path / f"fold{k}" / "result.json", {"fold": k, "history": history})
    fig = vresults.training_curves(train.Run(tmp_path, 2), names=iicl.LOSS_NAMES)
    assert sorted(ax.get_title() for ax in fig.axes) == sorted(iicl.LOSS_NAMES[t] for t in ("loss", "oa", "na"))
    assert fig.axes[0].get_ylabel() and all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert len(fig.axes[0].lines) == 2  # one line per fold


def test_f1_bars_draw_each_yardstick_across_every_group():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    from melib.viz import results as vresults

    table = pd.DataFrame({"AU1": [0.3, 0.4], "AVG": [0.35, 0.45]},
                         index=pd.MultiIndex.from_tuples([("IICL", "ours"), ("IICL", "paper")]))
    fig = vresults.f1_bars(table, marks={"flow probe": {"AU1": 0.8, "AVG": 0.7}, "null": {"AU1": 0.2, "AVG": 0.1}})
    ax = fig.axes[0]
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.3, 0.35, 0.4, 0.45]
    lines = {c.get_label(): sorted(seg[0][1] for seg in c.get_segments()) for c in ax.collections}
    assert lines == {"flow probe": [0.7, 0.8], "null": [0.1, 0.2]}
    assert {"flow probe", "null", "IICL ours"} <= {t.get_text() for t in ax.get_legend().get_texts()}
