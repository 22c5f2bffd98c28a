"""Micro-AU CLIP through the harness on the tiny synthetic dataset: the cached flow image and apex landmarks,
the dataset items, the two learning rates, a two-subject LOSO run end to end with load-or-train and
label-free MER, and fold errors. The tiny CLIP config (56 px, 7 x 7 grid) stands in for ViT-B/32."""
import numpy as np
import pandas as pd
import pytest
import torch

from melib import data, face, papers, train
from melib.data import synthetic
from melib.data.mappings import SAMM_AUS
from melib.methods import micro_au_clip as mac
from melib.motion.learned import api as learned_api
from melib.motion.learned import preset as learned_preset

SIZE = 56
#: the shipped learned-magnifier weights when present (the paper's magnifier), else Eulerian
MAGNIFY = "learned" if learned_api.shipped_weights_path(learned_preset("fast")).is_file() else "eulerian"


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def tiny_setting(**overrides):
    """The tiny CLIP at 56 px, Farneback flow, one epoch of batch 4."""
    settings = dict(model_name="tiny", image_size=SIZE, magnify=MAGNIFY, flow="farneback", epochs=1, batch_size=4)
    return mac.preset("fast", **{**settings, **overrides})[:2]


def two_subjects(manifest):
    two = manifest[manifest["subject"].isin(["sub01", "sub04"])].reset_index(drop=True)
    two.attrs = dict(manifest.attrs)
    return two


@pytest.fixture(scope="module")
def cache(manifest, tmp_path_factory):
    cfg, _ = tiny_setting()
    return mac.prepare(two_subjects(manifest), cfg, workers=1, progress=False,
                       root=tmp_path_factory.mktemp("mac_cache"))


def test_cached_input_is_the_flow_image_and_apex_landmarks_scaled_to_size(manifest, cache):
    row = two_subjects(manifest).iloc[0]
    entry = cache.load(row)
    assert entry["image"].shape == (SIZE, SIZE, 3) and entry["image"].dtype == np.uint8
    assert entry["image"].max() > 0 and entry["flow_scale"] > 0
    assert entry["landmarks"].shape == (68, 2) and entry["landmarks"].dtype == np.float32
    assert entry["frame_numbers"].tolist() == [int(row["onset"]), int(row["apex"])]
    assert int(entry["landmark_source"]) == 0  # dlib found the face
    apex = data.load_frame(row, int(row["apex"]))
    expected = face.landmarks(apex) * np.array([SIZE / apex.shape[1], SIZE / apex.shape[0]])
    np.testing.assert_allclose(entry["landmarks"], expected, atol=1e-4)
    assert cache.stored_settings()["micro_au_clip_input"]["magnify"] == MAGNIFY


def test_flow_encodings():
    flow = np.zeros((4, 4, 2), np.float32)
    flow[0, 0] = (2.0, 0.0)   # rightwards, the largest
    flow[1, 1] = (0.0, -1.0)  # upwards, half as long
    image, scale = mac.encode_flow(flow, "xy_mag")
    assert scale == 2.0
    assert image[0, 0].tolist() == [255, 128, 255] and image[1, 1].tolist() == [128, 64, 128]
    assert image[3, 3].tolist() == [128, 128, 0]
    hsv, _ = mac.encode_flow(flow, "hsv", max_magnitude=4.0)
    assert hsv[0, 0].tolist() == [128, 0, 0] and hsv[3, 3].tolist() == [0, 0, 0]  # red = right, half value
    with pytest.raises(ValueError, match="flow_encoding"):
        mac.encode_flow(flow, "rgb")


def test_dataset_items_are_clip_normalised_with_landmarks_and_multi_hot_aus(manifest, cache):
    rows = two_subjects(manifest)
    cfg, _ = tiny_setting()
    item = mac.MicroAUCLIPDataset(rows, cache, cfg.aus)[1]
    raw = torch.from_numpy(cache.load(rows.iloc[1])["image"]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["image"], (raw - mac.MEAN) / mac.STD)
    assert item["landmarks"].shape == (68, 2) and item["index"] == 1
    assert item["aus"].tolist() == data.au_matrix(rows.iloc[[1]], cfg.aus)[0].tolist()


def test_no_face_raises_naming_the_clip_or_falls_back_to_ground_truth(manifest, monkeypatch):
    def no_face(image, *args, **kwargs):
        raise face.FaceNotFoundError("no face")

    monkeypatch.setattr(face, "landmarks", no_face)
    row = manifest.iloc[0].to_dict()
    cfg, _ = tiny_setting(magnify="eulerian")
    with pytest.raises(face.FaceNotFoundError, match=f"{row['subject']}/{row['clip']}"):
        mac.compute_input(row, cfg, dataset_root=manifest.attrs["root"])
    cfg, _ = tiny_setting(magnify="eulerian", landmark_fallback="groundtruth")
    entry = mac.compute_input(row, cfg, dataset_root=manifest.attrs["root"])
    truth = synthetic.load_groundtruth(manifest.attrs["root"], row["subject"], row["clip"])
    apex = truth["landmarks"][list(truth["frame_numbers"]).index(int(row["apex"]))]
    assert int(entry["landmark_source"]) == 1
    np.testing.assert_allclose(entry["landmarks"], apex * SIZE / 256, atol=1e-4)


def test_optimizer_has_the_two_paper_learning_rates_and_the_full_preset_is_the_paper(cache):
    cfg, schedule, _ = mac.preset("full", model_name="tiny", image_size=SIZE)
    assert (schedule.epochs, schedule.batch_size, schedule.lr, schedule.lr_step, schedule.lr_gamma,
            schedule.seed, schedule.optimizer) == (80, 8, 1e-2, 40, 0.1, 1, "sgd")
    method = mac.MicroAUCLIPMethod(cfg, cache)
    model = method.build_model()
    optimizer, scheduler = train.make_optimizer(model, schedule, method)
    heads, encoders = optimizer.param_groups
    assert heads["lr"] == pytest.approx(1e-2) and encoders["lr"] == pytest.approx(1e-3)
    assert {id(p) for p in encoders["params"]} == {id(p) for p in model.clip.parameters() if p.requires_grad}
    assert len(heads["params"]) + len(encoders["params"]) == sum(p.requires_grad for p in model.parameters())
    optimizer.step()  # no gradients yet: a no-op, so the scheduler may step
    for _ in range(40):
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])  # /10 at epoch 40
    plain, _ = train.make_optimizer(model, schedule)  # without a method: one group, as before
    assert len(plain.param_groups) == 1


def test_two_subject_loso_run_end_to_end_then_load_and_label_free(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    two = two_subjects(manifest)
    cfg, schedule = tiny_setting()
    run = mac.run(two, cfg, schedule, workers=1, out_dir=tmp_path / "run", progress=False)
    assert run.complete and run.n_folds == 2
    m = run.results()["metrics"]
    assert {"aus", "f1", "acc", "auc", "f1_avg", "acc_avg", "auc_avg", "n_clips", "positives"} <= set(m)
    assert m["aus"] == [f"AU{a}" for a in cfg.aus] and len(m["f1"]) == len(cfg.aus) and m["n_clips"] == len(two)
    assert 0.0 <= m["f1_avg"] <= 1.0 and 0.0 <= m["acc_avg"] <= 1.0
    pred = run.predictions()
    assert pred["scores"].shape == (len(two), len(cfg.aus)) and ((pred["scores"] >= 0) & (pred["scores"] <= 1)).all()
    history = run.fold_results()[0]["history"][0]
    assert {"loss", "multitask", "miaucl", "gd"} <= set(history) and history["lr"] == pytest.approx(schedule.lr)
    assert set(history) - {"epoch", "lr", "seconds"} <= set(mac.LOSS_NAMES)  # every logged term has a panel title

    (run.fold_dir(1) / "predictions.npz").unlink()
    calls = []
    monkeypatch.setattr(mac.MicroAUCLIPMethod, "training_step", lambda self, model, batch: calls.append(1))
    again = mac.run(two, cfg, schedule, fold=1, workers=1, out_dir=tmp_path / "run", progress=False)
    assert calls == [] and again.complete
    np.testing.assert_allclose(again.predictions()["scores"], pred["scores"], atol=1e-3)  # reloaded float16 weights (train.WEIGHTS_DTYPE)

    lf = mac.label_free_results(run, two)
    assert 0.0 <= lf["uf1"] <= 1.0 and 0.0 <= lf["uar"] <= 1.0 and 0.0 <= lf["acc"] <= 1.0
    assert lf["n_clips"] == len(two) - lf["dropped"] and np.sum(lf["confusion"]) == lf["n_clips"]
    assert lf["classes"] == ["negative", "positive", "surprise"] and len(lf["clips"]) == lf["n_clips"]
    assert (run.dir / "label_free.json").is_file()
    emfacs = mac.label_free_results(run, two, label_table="emfacs")
    assert all(0.0 <= emfacs[k] <= 1.0 for k in ("uf1", "uar", "acc")) and emfacs["n_clips"] == lf["n_clips"]
    assert emfacs["label_table"] == "emfacs" and emfacs["label_texts"] == {"negative": 5, "positive": 1, "surprise": 1}
    assert (run.dir / "label_free_emfacs.json").is_file() and "label_table" not in lf
    with pytest.raises(ValueError, match="unknown label table"):
        mac.label_free_results(run, two, label_table="facs")
    with pytest.raises(ValueError, match="does not match the run"):
        mac.label_free_results(run, manifest)


def test_held_out_outputs_come_from_the_fold_that_never_saw_the_subject(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    two = two_subjects(manifest)
    cfg, schedule = tiny_setting()
    run = mac.run(two, cfg, schedule, workers=1, out_dir=tmp_path / "run", progress=False)
    out = mac.held_out_outputs(run, two, keys=("au_features", "probs", "token_weights"))
    assert out["au_features"].shape == (len(two), len(cfg.aus), 64) and list(out["index"]) == list(two.index)
    np.testing.assert_allclose(out["probs"], run.predictions()["scores"], atol=1e-3)  # float16 weights reloaded; the harness's scores
    np.testing.assert_allclose(out["token_weights"].sum(2), 1.0, atol=1e-5)
    with pytest.raises(KeyError, match="dependency"):
        mac.held_out_outputs(run, two, keys=("dependency",))



def test_fold_outputs_come_from_one_fold_model_and_mark_its_held_out_subject(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    two = two_subjects(manifest)
    cfg, schedule = tiny_setting()
    run = mac.run(two, cfg, schedule, workers=1, out_dir=tmp_path / "run", progress=False)
    one = mac.fold_outputs(run, two, 1, keys=("au_features", "probs"))
    assert one["subject"] == "sub04" and list(one["held_out"]) == list(two["subject"] == "sub04")
    pooled = mac.held_out_outputs(run, two, keys=("probs",))["probs"]
    # fold 1's model scores its own held-out subject as the pooled outputs do, and the other subject differently
    np.testing.assert_allclose(one["probs"][one["held_out"]], pooled[one["held_out"]], atol=1e-3)  # float16 weights reloaded
    assert not np.allclose(one["probs"][~one["held_out"]], pooled[~one["held_out"]], atol=1e-5)
    with pytest.raises(ValueError, match="LOSO fold"):
        mac.fold_outputs(run, two, 2)


def test_label_pair_similarity_counts_pairs_within_groups_by_state():
    features = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    labels = np.array([1, 1, 0, 0, 1])
    table = mac.label_pair_similarity(features, labels)
    assert table.loc["both active", "pairs"] == 3 and table.loc["both inactive", "pairs"] == 1
    assert table.loc["active vs inactive", "pairs"] == 6
    assert table.loc["both active", "cosine"] == pytest.approx(1.0) and table.loc["active vs inactive", "cosine"] == pytest.approx(0.0)
    grouped = mac.label_pair_similarity(features, labels, groups=["a", "a", "a", "b", "b"])
    assert grouped.loc["both active", "pairs"] == 1 and grouped.loc["active vs inactive", "pairs"] == 3
    assert np.isnan(grouped.loc["both inactive", "cosine"]) and grouped.loc["both inactive", "pairs"] == 0



def test_held_out_neighbours_tells_subject_clusters_from_label_clusters():
    # two training clips per label on the x axis; the held-out clips sit together on the y axis
    features = np.array([[1.0, 0.0], [1.0, 0.05], [-1.0, 0.0], [-1.0, 0.05], [0.1, 1.0], [-0.1, 1.0]])
    labels = np.array([1, 1, 0, 0, 1, 0])
    held = np.array([False, False, False, False, True, True])
    out = mac.held_out_neighbours(features, labels, held)
    assert out["nearest_is_held_out"] == 1.0 and out["held_out_share"] == pytest.approx(1 / 5)
    assert out["label_match"] == 1.0 and out["label_match_chance"] == pytest.approx(0.5)  # x sign decides
    swapped = labels.copy()
    swapped[held] = 1 - labels[held]  # the held-out clips' labels now disagree with their nearest training clips
    assert mac.held_out_neighbours(features, swapped, held)["label_match"] == 0.0
    with pytest.raises(ValueError, match="two held-out"):
        mac.held_out_neighbours(features, labels, np.array([False] * 5 + [True]))


def test_variants_and_balanced_ce(cache):
    for variant, switches in mac.VARIANTS.items():
        cfg, _, _ = mac.preset("fast", variant=variant)
        assert all(getattr(cfg, k) == v for k, v in switches.items())
        assert papers.paper_comparison("micro_au_clip", variant) is not None  # every variant is a paper row
    with pytest.raises(ValueError, match="unknown Micro-AU CLIP variant"):
        mac.preset("fast", variant="nope")
    explicit, _, _ = mac.preset("fast", variant="text_fixed", text_train_blocks=2)
    assert explicit.text_train_blocks == 2  # explicit settings win over the variant's
    cfg, _, _ = mac.preset("fast", model_name="tiny", image_size=SIZE, ce="balanced")
    method = mac.MicroAUCLIPMethod(cfg, cache)
    rows = pd.DataFrame({"AU1": [1, 1, 0, 0, 0], "AU4": [1, 0, 0, 0, 1], "AU12": [0, 0, 0, 0, 1],
                         "subject": "s", "clip": list("abcde")})
    labels = data.au_matrix(rows, cfg.aus)
    train_set, _ = method.datasets(rows, rows)
    w = method.class_weights
    assert w.shape == (len(cfg.aus), 2) and torch.all(w[:, 0] == 1)
    # AU1: 2 of 5 positive -> 3/2; AU12: 1 of 5 -> 4; an AU without positives -> 1
    assert w[cfg.aus.index(1), 1] == pytest.approx(1.5) and w[cfg.aus.index(12), 1] == pytest.approx(4.0)
    assert w[cfg.aus.index(17), 1] == 1.0
    assert np.array_equal(train_set.labels, labels)


def test_out_of_range_fold_raises_naming_it_before_any_work(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    cfg, schedule = tiny_setting()
    with pytest.raises(ValueError, match=r"fold 7 is out of range"):
        mac.run(manifest, cfg, schedule, fold=7, workers=1, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_config_follows_the_dataset_and_validates():
    samm, _, _ = mac.preset("full", "samm")
    assert samm.aus == SAMM_AUS and (samm.alpha, samm.beta) == (1.0, 0.6)
    casme, _, _ = mac.preset("full", "casme2")
    assert (casme.alpha, casme.beta) == (0.6, 1.0) and casme.model_name == "ViT-B-32" and casme.factor == 3.0
    for bad in (dict(aus=(1, 6)), dict(flow_encoding="rgb"), dict(magnify="x"), dict(pooling="sum"),
                dict(miaucl="sum"), dict(fusion="x"), dict(ce="focal"), dict(factor=0.5), dict(weights="no/such/file.pt"),
                dict(landmark_fallback="mean")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            mac.MicroAUCLIPConfig(**bad)
    with pytest.raises(ValueError, match="unknown Micro-AU CLIP setting"):
        mac.preset("fast", epoch=3)


def test_ablation_table_reads_each_variant_against_its_papers_reference_of_the_same_reading():
    class Done:  # a finished run: only results() is read
        def __init__(self, f1):
            self.f1 = f1

        def results(self):
            return {"metrics": {"f1_avg": self.f1, "acc_avg": 0.9, "auc_avg": 0.8}}

    table = mac.ablation_table({"full": Done(0.30), "miaucl_bce": Done(0.40), "local_origcl": Done(0.30),
                                "local_origcl_bce": Done(0.35), "meanpool": Done(0.2)})
    assert table.loc["local_origcl", "against"] == "full" and table.loc["local_origcl_bce", "against"] == "miaucl_bce"
    assert table.loc["local_origcl_bce", "ours Δ"] == pytest.approx(-0.05)
    assert table.loc["local_origcl_bce", "paper Δ"] == pytest.approx(-0.026)
    assert table.loc["local_origcl_bce", "direction"] == "inconclusive"  # one seed each: never a finding
    assert table.loc["meanpool", "against"] == ""  # its reference, add_mlp, was not run
    assert table.loc["meanpool", "table"] == "Table VI"
