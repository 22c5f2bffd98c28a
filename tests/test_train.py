"""The fold harness on a toy method: end to end, load-or-train, resume, determinism, fold errors."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fixtures.toy_method import SCHEDULE, ToyDataset, ToyMethod, toy_manifest
from melib import report, train


def test_two_fold_end_to_end_writes_predictions_and_results(tmp_path):
    manifest = toy_manifest()
    run = train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=-1, k=2, out_dir=tmp_path, progress=False)
    assert run.complete and run.done_folds() == [0, 1]
    pred = run.predictions()
    assert sorted(pred["index"].tolist()) == list(range(len(manifest)))  # every clip predicted once
    assert set(pred["subject"]) == set(manifest["subject"])
    for f, result in enumerate(run.fold_results()):
        assert result["n_train"] + result["n_test"] == len(manifest)
        assert [h["lr"] for h in result["history"]] == pytest.approx([0.1, 0.1, 0.01, 0.01])
    f1 = run.results()["metrics"]["f1"]
    assert len(f1) == 2 and f1[0] > 0.6  # AU1 = [x0 > 0] is learnable
    np.testing.assert_array_equal(pred["targets"], manifest.loc[pred["index"], ["AU1", "AU2"]].to_numpy())


def test_single_fold_leaves_run_incomplete_and_says_which_folds_are_missing(tmp_path):
    run = train.run_folds(ToyMethod(), toy_manifest(), SCHEDULE, fold=1, k=2, out_dir=tmp_path, progress=False)
    assert run.done_folds() == [1] and not run.complete and run.results() is None
    with pytest.raises(FileNotFoundError, match=r"folds \[0\]"):
        run.predictions()


def test_each_fold_records_the_machine_that_trained_it_and_a_look_rewrites_nothing(tmp_path):
    manifest, threads = toy_manifest(), torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path, progress=False)
        torch.set_num_threads(2)
        train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=1, k=2, out_dir=tmp_path, progress=False)
        before = (tmp_path / "run.json").read_bytes()
        torch.set_num_threads(3)
        run = train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=-1, k=2, out_dir=tmp_path, progress=False,
                              locate_only=True)
        train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=-1, k=2, out_dir=tmp_path, progress=False)  # loads only
    finally:
        torch.set_num_threads(threads)
    assert [f["machine"]["torch_threads"] for f in run.fold_results()] == [1, 2]
    assert (tmp_path / "run.json").read_bytes() == before  # a look and a load left the last trainer's record
    assert json.loads(before)["machine"]["torch_threads"] == 2
    lines = report.run_machine(run).split("; ")  # the report names both, not the last look's 3
    assert [line.rsplit(", ", 1)[1] for line in lines] == ["1 torch thread", "2 torch threads"]


def test_load_or_train_skips_training_on_second_call(tmp_path):
    manifest, method = toy_manifest(), ToyMethod()
    train.run_folds(method, manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path, progress=False)
    assert method.steps > 0
    (tmp_path / "fold0" / "predictions.npz").unlink()  # force the load path, not the skip path
    method.steps = 0
    train.run_folds(method, manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path, progress=False)
    assert method.steps == 0 and (tmp_path / "fold0" / "predictions.npz").is_file()


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    manifest = toy_manifest()
    straight = train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "a", progress=False)

    def crash(fold, epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "b", progress=False,
                        on_epoch_end=crash, checkpoint_every_s=0)
    assert (tmp_path / "b" / "fold0" / "last.pt").is_file() and not (tmp_path / "b" / "fold0" / "model.pt").exists()
    method = ToyMethod()
    resumed = train.run_folds(method, manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "b", progress=False)
    assert method.steps == 2 * 3  # two remaining epochs of 24 clips / batch 8
    a = torch.load(straight.fold_dir(0) / "model.pt", weights_only=True)["model"]
    b = torch.load(resumed.fold_dir(0) / "model.pt", weights_only=True)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    assert not (tmp_path / "b" / "fold0" / "last.pt").exists()


def test_resume_checkpoints_follow_the_interval_and_skip_the_final_epoch(tmp_path):
    seen: dict[str, list] = {"every": [], "interval": []}

    def watch(name):
        def record(fold, epoch, logs):
            last = tmp_path / name / "fold0" / "last.pt"
            seen[name].append(torch.load(last, weights_only=True)["epoch"] if last.is_file() else None)
        return record

    manifest = toy_manifest()
    runs = {name: train.run_folds(ToyMethod(), manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / name,
                                  progress=False, on_epoch_end=watch(name), checkpoint_every_s=every)
            for name, every in (("every", 0), ("interval", 3600))}
    assert SCHEDULE.epochs == 4
    assert seen["every"] == [0, 1, 2, 2]  # after every epoch but the final one, whose model goes to model.pt
    assert seen["interval"] == [None] * 4  # a run shorter than the interval writes none
    np.testing.assert_array_equal(*(np.load(r.fold_dir(0) / "predictions.npz")["scores"] for r in runs.values()))
    assert not any((tmp_path / name / "fold0" / "last.pt").exists() for name in seen)


def test_same_command_same_numbers_and_run_key_tracks_config(tmp_path):
    manifest = toy_manifest()
    a = train.run_folds(ToyMethod(), manifest, SCHEDULE, k=2, out_dir=tmp_path / "a", progress=False)
    b = train.run_folds(ToyMethod(), manifest, SCHEDULE, k=2, out_dir=tmp_path / "b", progress=False)
    np.testing.assert_array_equal(a.predictions()["scores"], b.predictions()["scores"])
    key = train.run_key(ToyMethod(), SCHEDULE, manifest, "kfold", 2, 0)
    assert key != train.run_key(ToyMethod(), train.Schedule(epochs=5), manifest, "kfold", 2, 0)
    assert key != train.run_key(ToyMethod(), SCHEDULE, toy_manifest(per_subject=7), "kfold", 2, 0)


def test_out_of_range_fold_fails_before_any_work(tmp_path):
    method = ToyMethod()
    with pytest.raises(ValueError, match="fold 2 is out of range"):
        train.run_folds(method, toy_manifest(), SCHEDULE, fold=2, k=2, out_dir=tmp_path, progress=False)
    assert method.steps == 0 and not (tmp_path / "fold2").exists()


class UnseededMethod(ToyMethod):
    """Draws from the global RNGs before training, as timm models and datasets do: no seed of its own."""

    def build_model(self):
        return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))

    def datasets(self, train_rows, test_rows):
        keep = np.random.permutation(len(train_rows))[: len(train_rows) - 2]  # a dataset-level draw
        return ToyDataset(train_rows.iloc[np.sort(keep)]), ToyDataset(test_rows)


def test_same_fold_twice_from_scratch_gives_bit_identical_predictions(tmp_path):
    manifest = toy_manifest()
    torch.manual_seed(123)  # whatever the global state before the call ...
    a = train.run_folds(UnseededMethod(), manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "a", progress=False)
    torch.rand(7)
    np.random.rand(3)  # ... and between calls
    b = train.run_folds(UnseededMethod(), manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "b", progress=False)
    pa, pb = (np.load(r.fold_dir(0) / "predictions.npz") for r in (a, b))
    np.testing.assert_array_equal(pa["scores"], pb["scores"])
    wa, wb = (torch.load(r.fold_dir(0) / "model.pt", weights_only=True)["model"] for r in (a, b))
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=0)


def test_record_test_epochs_is_analysis_only_and_leaves_training_unchanged(tmp_path):
    manifest = toy_manifest()
    plain = train.run_folds(ToyMethod(), manifest, SCHEDULE, k=2, out_dir=tmp_path / "a", progress=False)
    assert not (plain.fold_dir(0) / train.ANALYSIS_DIR).exists()
    with pytest.raises(FileNotFoundError, match="record_test_epochs"):
        plain.test_epoch_predictions()
    rec = train.run_folds(ToyMethod(), manifest, SCHEDULE, k=2, out_dir=tmp_path / "b", progress=False,
                          record_test_epochs=True)
    per_epoch = rec.test_epoch_predictions()
    assert len(per_epoch) == SCHEDULE.epochs
    assert [int(p["epoch"][0]) for p in per_epoch] == [0, 1, 2, 3]
    assert all(sorted(p["index"].tolist()) == list(range(len(manifest))) for p in per_epoch)
    assert not np.allclose(per_epoch[0]["scores"], per_epoch[-1]["scores"])  # the model changed between epochs
    for fold in (0, 1):  # the same final weights as without recording: selection never sees these files
        wa, wb = (torch.load(r.fold_dir(fold) / "model.pt", weights_only=True)["model"] for r in (plain, rec))
        for name in wa:
            torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=0)
    key = train.run_key(ToyMethod(), SCHEDULE, manifest, "kfold", 2, 0)
    assert key != train.run_key(ToyMethod(), SCHEDULE, manifest, "kfold", 2, 0, record_test_epochs=True)


def test_random_clip_split_puts_subjects_on_both_sides(tmp_path):
    from melib import splits

    manifest = toy_manifest()
    folds = splits.make_splits(manifest, "random_clips", k=2, seed=0)
    tests = [f.frames(manifest)[1] for f in folds]
    assert sorted(pd.concat(tests).index.tolist()) == list(range(len(manifest)))  # each clip tested once
    for f in folds:
        tr, te = f.frames(manifest)
        assert set(tr["subject"]) & set(te["subject"])  # not subject-independent, on purpose
        assert not set(tr.index) & set(te.index)
    assert [f.test_clips for f in folds] != [f.test_clips for f in splits.random_clip_kfold(manifest, 2, seed=1)]
    run = train.run_folds(ToyMethod(), manifest, SCHEDULE, k=2, protocol="random_clips", out_dir=tmp_path,
                          progress=False)
    assert run.complete and sorted(run.predictions()["index"].tolist()) == list(range(len(manifest)))
    with pytest.raises(ValueError, match="analysis only"):
        splits.make_splits(manifest, "random")


def test_a_finished_fold_keeps_float16_weights_without_optimizer_state(tmp_path):
    manifest, method, final = toy_manifest(), ToyMethod(), {}
    keep = lambda fold, epoch, logs: final.update({k: v.clone() for k, v in model_ref[0].state_dict().items()})
    model_ref = []
    build = method.build_model
    method.build_model = lambda: model_ref.append(build()) or model_ref[-1]
    run = train.run_folds(method, manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path, progress=False, on_epoch_end=keep)
    saved = torch.load(tmp_path / "fold0" / "model.pt", weights_only=True)
    assert set(saved) == {"model", "run_key", "fold"}  # no optimizer state
    assert {v.dtype for v in saved["model"].values()} == {torch.float16}
    assert run.fold_results()[0]["weights"] == "model.pt (float16)"
    model = build()
    model.load_state_dict(run.fold_state(0))  # cast back into the float32 model
    assert next(model.parameters()).dtype == torch.float32
    for name, value in model.state_dict().items():  # the final epoch's weights, rounded to float16
        assert not torch.equal(value, final[name]) or name.endswith("bias")
        torch.testing.assert_close(value, final[name], rtol=1e-3, atol=1e-4)


def test_compact_state_keeps_what_float16_cannot_hold():
    state = {"w": torch.tensor([0.5, -1.25]), "big": torch.tensor([1e6]), "n": torch.tensor(3)}
    out = train.compact_state(state)
    assert out["w"].dtype == torch.float16 and out["big"].dtype == torch.float32 and out["n"].dtype == torch.int64
    assert float(out["big"]) == 1e6


def test_an_analysis_run_keeps_no_weights_and_asking_for_them_retrains_the_same_fold(tmp_path):
    manifest, method = toy_manifest(), ToyMethod()
    run = train.run_folds(method, manifest, SCHEDULE, fold=-1, k=2, out_dir=tmp_path / "lean", progress=False,
                          keep_weights=False)
    assert run.complete and not (tmp_path / "lean" / "fold0" / "model.pt").exists()
    assert run.fold_results()[0]["weights"] == "not kept"
    with pytest.raises(FileNotFoundError, match="kept no weights.*keep_weights=True"):
        run.fold_state(0)
    method.steps = 0
    train.run_folds(method, manifest, SCHEDULE, fold=-1, k=2, out_dir=tmp_path / "lean", progress=False,
                    keep_weights=False)
    assert method.steps == 0  # done: predictions are all it keeps
    full = train.run_folds(method, manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "full", progress=False)
    train.run_folds(method, manifest, SCHEDULE, fold=0, k=2, out_dir=tmp_path / "lean", progress=False)
    assert method.steps > 0  # retrained for its weights, which are the same
    for name, value in full.fold_state(0).items():
        torch.testing.assert_close(run.fold_state(0)[name], value, rtol=0, atol=0)
