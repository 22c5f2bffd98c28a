"""data_scripts/run_folds.py: folds fanned out as submitit jobs, resumed, and gathered like a serial run."""
from __future__ import annotations

import pytest
import torch

from melib.experiments import runs

TINY = ["--set", "image_size=40", "crop_size=32", "epochs=1", "batch_size=4"]


def test_local_jobs_then_resume_gather_what_a_serial_run_gives(tiny_synthetic, tmp_path, monkeypatch, capsys, data_script):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "jobs"))
    script = data_script("run_folds")
    common = ["--method", "iicl", "--variants", "senet", "--root", str(tiny_synthetic), "--profile", "fast",
              "--subjects", "0", *TINY]
    assert script.main([*common, "--folds", "0", "1", "--executor", "local", "--parallel", "2"]) == 0
    exp = runs.experiment("iicl", "senet", profile="fast", root=str(tiny_synthetic), subjects=0,
                          image_size=40, crop_size=32, epochs=1, batch_size=4)
    assert runs.locate(exp).done_folds() == [0, 1]  # two local jobs, one fold each
    logs = list((tmp_path / "jobs" / "jobs" / "iicl").glob("*_result.pkl"))
    assert len(logs) == 2
    capsys.readouterr()
    assert script.main([*common, "--executor", "debug"]) == 0  # the rest, then the pooled results
    printed = capsys.readouterr().out
    assert "2 of 4 folds done, 2 to run" in printed
    gathered = runs.locate(exp).results()["metrics"]

    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "serial"))
    torch.set_num_threads(1)  # as the jobs ran
    serial = runs.run(runs.experiment("iicl", "senet", profile="fast", root=str(tiny_synthetic), subjects=0,
                                      image_size=40, crop_size=32, epochs=1, batch_size=4))
    expected = serial.results()["metrics"]
    assert gathered["auc_avg"] == pytest.approx(expected["auc_avg"], abs=1e-9)
    assert gathered["f1"] == pytest.approx(expected["f1"], abs=1e-9)


def test_bad_requests_are_refused_before_any_job(tiny_synthetic, tmp_path, monkeypatch, data_script):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path))
    script = data_script("run_folds")
    with pytest.raises(SystemExit, match="out of range"):
        script.main(["--method", "iicl", "--root", str(tiny_synthetic), "--profile", "fast", "--subjects", "0",
                     *TINY, "--folds", "7", "--executor", "debug"])
    with pytest.raises(ValueError, match="runs under"):
        runs.experiment("selfme", protocol="kfold", root=str(tiny_synthetic))
    with pytest.raises(ValueError, match="unknown iicl variant"):
        runs.experiment("iicl", "resnet9000", root=str(tiny_synthetic))
