"""melib.face.check: detection, landmarks and alignment scored on a tiny synthetic SAMM layout (full frames).

Thresholds come from the measurement on this very layout (2 subjects x 1 clip, 640 x 360, every frame,
2-core CPU): dlib 300-W NME median 0.025, 90th percentile 0.029-0.032, worst frame 0.039; mediapipe
(FaceMesh) 0.031 / 0.034; onset crop shift 1.3-1.4 px, scale error <= 2 %, rotation error <= 1 degree.
A limit of about twice those keeps the test stable; a face misplaced by 24 px (a quarter of the
outer-eye-corner distance, about 110 px here) gives an NME near 0.2, far beyond it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melib import config
from melib.data.synthetic import layouts
from melib.face.check import (AlignmentReport, alignment_report, alignment_summary, nme_300w, sample_indices,
                              summary_markdown)

FRAME = (640, 360)  # holds the 256 px face crop; SAMM's real frame is 2040 x 1088
NME_LIMIT = 0.06  # 300-W NME, 90th percentile (measured <= 0.034, see the module docstring)


@pytest.fixture(scope="module")
def samm(tmp_path_factory) -> Path:
    """2 subjects x 1 clip in the SAMM layout, 640 x 360 grayscale full frames."""
    root = tmp_path_factory.mktemp("alignment") / "samm"
    return layouts.generate(root, "samm", FRAME, workers=1, progress=False, subjects=2, clips_per_subject=1, seed=0)


@pytest.fixture(scope="module")
def dlib_report(samm) -> AlignmentReport:
    return alignment_report(samm, "dlib", frames_per_clip=8)


def test_sample_indices_and_nme():
    assert sample_indices(5, None) == [0, 1, 2, 3, 4] and sample_indices(5, 9) == [0, 1, 2, 3, 4]
    assert sample_indices(66, 4) == [0, 22, 43, 65]
    assert sample_indices(66, 1) == [0]
    truth = np.random.default_rng(0).uniform(0, 100, (68, 2))
    corners = np.linalg.norm(truth[36] - truth[45])
    assert nme_300w(truth + [3.0, 4.0], truth) == pytest.approx(5.0 / corners)  # every point 5 px off


def test_dlib_finds_the_face_in_every_full_frame(dlib_report):
    frames, clips = dlib_report.frames, dlib_report.clips
    assert len(clips) == 2 and len(frames) == 16 and frames["k"].eq(0).sum() == 2
    assert frames["face_found"].all() and frames["on_face"].all()
    assert frames["nme"].quantile(0.9) < NME_LIMIT
    assert (frames["nme_eye_centres"] > frames["nme"]).all()  # eye centres lie closer together than outer corners
    assert clips["aligned"].all()
    assert (clips["crop_shift_px"] < 3.0).all()
    assert (clips["scale_error"].abs() < 0.04).all() and (clips["rotation_error_deg"].abs() < 2.0).all()
    # the detected transform puts the true face about where the ideal one does
    assert (frames["crop_offset_px"] - frames["crop_offset_ideal_px"]).abs().max() < 2.0


def test_a_wrong_face_offset_is_caught(samm, dlib_report):
    truth = layouts.truth_table(samm).copy()
    truth["face_x"] = truth["face_x"] + 24
    wrong = alignment_report(samm, "dlib", frames_per_clip=3, truth=truth)
    assert wrong.frames["face_found"].all()
    assert wrong.frames["error_px"].min() > 18 and wrong.frames["nme"].median() > 3 * NME_LIMIT
    assert (wrong.frames["crop_offset_px"] > dlib_report.frames["crop_offset_px"].max() + 10).all()
    assert (wrong.clips["crop_shift_px"] > 10).all()


@pytest.mark.parametrize("locate", [None, "dlib"])
def test_mediapipe_on_small_full_frames(samm, locate):
    report = alignment_report(samm, "mediapipe", frames_per_clip=4, locate=locate)
    assert report.frames["face_found"].all() and report.frames["on_face"].all()
    assert report.frames["nme"].quantile(0.9) < NME_LIMIT
    assert report.settings["locate"] == locate and report.settings["frame_size"] == list(FRAME)


def test_summary_counts_missed_frames_and_prints_them():
    frames = pd.DataFrame({
        "clip": ["a", "a", "b"], "face_found": [True, False, True], "on_face": [True, False, True],
        "error_px": [2.0, np.nan, 4.0], "nme": [0.02, np.nan, 0.04], "crop_offset_px": [3.0, 3.0, np.nan],
        "crop_offset_ideal_px": [2.5, 2.5, np.nan], "seconds": [0.1, 0.3, 0.2]})
    clips = pd.DataFrame({"clip": ["a", "b"], "crop_shift_px": [1.0, np.nan], "scale_error": [-0.02, np.nan],
                          "rotation_error_deg": [-1.0, np.nan]})
    summary = alignment_summary(AlignmentReport(frames, clips))
    assert list(summary.index) == ["a", "b", "all"]
    assert summary.loc["a", "found"] == 0.5 and summary.loc["all", "found"] == pytest.approx(2 / 3)
    assert summary.loc["all", "NME median"] == pytest.approx(0.03)
    assert summary.loc["a", "scale error %"] == pytest.approx(2.0) and summary.loc["a", "rotation deg"] == 1.0
    table = summary_markdown(summary).splitlines()
    assert len(table) == 5 and table[2].startswith("| a | 2 | 0.50 | 0.50 | 0.020 |")
    assert table[3].count(" - ") >= 5  # clip b was never aligned


def test_script_makes_a_layout_and_writes_the_table(data_script, tmp_path, capsys):
    script = data_script("measure_alignment")
    root = tmp_path / "samm"
    with config.outputs_at(tmp_path / "outputs") as outputs:
        assert script.main(["--root", str(root), "--make", "1", "--clips-per-subject", "1",
                            "--frame-size", "640x360", "--frames-per-clip", "3"]) == 0
        written = (outputs / "alignment" / "alignment_dlib.md").read_text()
    assert (root / "synthetic.json").is_file()
    assert "Generated by `python data_scripts/measure_alignment.py --root" in written
    assert "| all | 3 | 1.00 | 1.00 |" in written and "| all | 3 | 1.00 | 1.00 |" in capsys.readouterr().out
    frames = pd.read_csv(tmp_path / "outputs" / "alignment" / "alignment_dlib.csv")
    assert len(frames) == 3 and frames["face_found"].all()
    with pytest.raises(SystemExit):  # no dataset there and no --make
        script.main(["--root", str(tmp_path / "nothing")])
