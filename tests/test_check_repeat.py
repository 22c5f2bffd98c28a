"""data_scripts/check_repeat.py: a stored run retrained in a scratch folder, compared fold by fold."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from melib.experiments import runs
from melib.io import load_json, save_npz

TINY = ["--set", "image_size=40", "crop_size=32", "epochs=1", "batch_size=4"]


def test_a_repeat_at_the_stored_thread_count_is_bit_identical(tiny_synthetic, tmp_path, monkeypatch, capsys,
                                                              data_script):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    script = data_script("check_repeat")
    flags = ["--method", "iicl", "--variant", "senet", "--root", str(tiny_synthetic), "--subjects", "0", *TINY,
             "--folds", "1"]
    with pytest.raises(SystemExit, match=r"folds \[1\] are not trained"):
        script.main(flags)  # nothing stored yet: nothing to compare with, nothing trained
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exp = runs.experiment("iicl", "senet", profile="fast", root=str(tiny_synthetic), subjects=0,
                              image_size=40, crop_size=32, epochs=1, batch_size=4)
        stored = runs.run(exp, fold=1)
    finally:
        torch.set_num_threads(threads)
    assert script.main([*flags, "--threads", "1"]) == 0
    scratch = tmp_path / "out" / "repeat" / stored.dir.name
    saved = load_json(scratch / "repeat.json")
    assert saved["stored_torch_threads"] == 1
    assert saved["repeats"][0]["folds_identical"] == "1/1"
    assert saved["repeats"][0]["max_score_diff"] == 0.0
    assert stored.done_folds() == [1]  # the stored run is only read
    assert os.environ["MELIB_OUTPUTS"] == str(tmp_path / "out") and torch.get_num_threads() == threads  # restored

    repeated = scratch / "threads1" / "runs" / "iicl-senet" / stored.dir.name / "fold1" / "predictions.npz"
    tampered = dict(np.load(repeated))
    save_npz(repeated, **{**tampered, "scores": tampered["scores"] + 1.0})  # a stale repeat on disk
    assert script.main([*flags, "--threads", "1"]) == 0
    assert load_json(scratch / "repeat.json")["repeats"][0]["max_score_diff"] == 0.0  # retrained, not reused
    with pytest.raises(SystemExit, match="out of range"):
        script.main([*flags[:-1], "7"])


def test_compare_reports_the_largest_score_difference(tmp_path, data_script):
    script = data_script("check_repeat")
    scores = np.array([[0.1, 0.9], [0.4, 0.6]], dtype=np.float32)
    for name, s in (("a", scores), ("b", scores + np.float32(0.25) * np.eye(2, dtype=np.float32))):
        for fold in (0, 1):
            save_npz(tmp_path / name / f"fold{fold}" / "predictions.npz", scores=s if fold else scores,
                     targets=np.array([0, 1]))
    out = script.compare(tmp_path / "a", tmp_path / "b", [0, 1])
    assert out["folds_identical"] == "1/2"
    assert out["max_score_diff"] == pytest.approx(0.25)
    assert out["per_fold_max_diff"][0] == 0.0
