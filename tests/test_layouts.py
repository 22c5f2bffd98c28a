"""The synthetic dataset in the SAMM, SMIC-HS and CAS(ME)^3 layouts, read back by the unchanged readers."""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from melib.data import parse_aus, read_annotations, synthetic
from melib.data.mappings import map_emotion
from melib.data.synthetic import layouts

FRAME = (320, 200)  # a small SAMM frame for tests (the real one is 2040 x 1088)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """2 subjects x 2 clips, 64 px faces, CASME II layout."""
    root = tmp_path_factory.mktemp("layouts") / "casme2"
    return synthetic.generate(root, subjects=2, clips_per_subject=2, size=64, seed=0, workers=1, progress=False)


@pytest.fixture(scope="module")
def written(source, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("layouts")
    return {name: layouts.convert(source, base / name, name, frame_size=FRAME) for name in ("samm", "smic", "casme3a")}


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_frame_map_subsamples_and_keeps_the_nearest_apex():
    frames, k = layouts.frame_map(10, 15, 20, fps=100)
    assert frames == [10, 12, 14, 16, 18, 20] and k == 3          # apex 15 lies halfway: halves go up, to 16
    frames, k = layouts.frame_map(10, 15, 21, fps=100)
    assert frames[-1] == 20                                        # offset 21 falls between two 100 fps frames
    frames, k = layouts.frame_map(0, 40, 100, fps=30)
    assert frames == [0, 7, 13, 20, 27, 33, 40, 47, 53, 60, 67, 73, 80, 87, 93, 100] and frames[k] == 40
    assert layouts.frame_map(5, 9, 30, fps=200) == (list(range(5, 31)), 4)


def test_label_notations():
    assert layouts.samm_aus("4+7", 0.5) == "4+7"
    assert layouts.samm_aus("R12", 0.3) == "R12B" and layouts.samm_aus("4+7+L10", 0.99) == "4 + 7 + L10E"
    assert parse_aus(layouts.samm_aus("4+7+L10", 0.99)) == (4, 7, 10)
    assert layouts.samm_emotion("others", [4, 7]) == "Anger" and layouts.samm_emotion("others", [24]) == "Other"
    assert layouts.samm_emotion("repression", [14]) == "Contempt"
    assert layouts.casme3_emotion("others", [4]) == "anger" and layouts.casme3_emotion("happiness", [12]) == "happy"
    for emotion in synthetic.EMOTIONS:  # every written emotion is in the dataset's own vocabulary
        map_emotion("samm", layouts.samm_emotion(emotion, [4]), "3class")
        map_emotion("casme3a", layouts.casme3_emotion(emotion, [4]), "3class")


@pytest.mark.parametrize("name", ["samm", "smic", "casme3a"])
def test_readers_load_each_layout_with_its_ground_truth(name, source, written):
    root = written[name]
    df = read_annotations(name, root, strict=True, smic_apex="middle")
    assert df.attrs["problems"] == []
    truth = layouts.truth_table(root).sort_values(["subject", "clip", "onset"]).reset_index(drop=True)
    clips = synthetic.dataset_info(source)["clips"]
    kept = [c for c in clips if name != "smic" or layouts.SMIC_CLASSES[c["emotion"]] is not None]
    assert len(df) == len(truth) == len(kept) > 0
    assert len(truth.attrs["left_out"]) == len(clips) - len(kept)
    df = df.sort_values(["subject", "clip", "onset"]).reset_index(drop=True)
    for column in ("subject", "clip", "onset", "offset"):
        assert df[column].tolist() == truth[column].tolist()
    assert df["emotion"].tolist() == [e.lower() for e in truth["emotion"]]
    for _, t in truth.iterrows():
        frames = t["source_frames"]
        assert frames[0] == t["source_onset"] and frames[-1] <= t["source_offset"]
        apex_k = t["apex"] - t["onset"]  # written frames are numbered consecutively in every layout
        # the true apex is the written frame nearest in time to the source apex
        step = synthetic.plan.FPS / layouts.LAYOUT_FPS[name]
        assert abs(frames[apex_k] - t["source_apex"]) <= step / 2
        assert t["offset"] - t["onset"] + 1 == len(frames)
    if name == "smic":
        assert df["apex_estimated"].all() and (df["apex_source"] == "middle").all()
        assert df["aus"].tolist() == [()] * len(df)
        assert (df["apex"] == (df["onset"] + df["offset"]) // 2).all()
        assert set(df["emotion"]) <= {"positive", "negative", "surprise"}
    else:
        assert not df["apex_estimated"].any()
        assert df["apex"].tolist() == truth["apex"].tolist()
        assert [tuple(a) for a in df["aus"]] == [parse_aus(a) for a in truth["source_aus"]]
    if name == "samm":
        assert (truth["onset"] == truth["source_onset"]).all()  # SAMM keeps the frame numbers
        assert all(Path(p).name.startswith(s) for p, s in zip(df["frames_dir"], df["subject"]))
        assert df["frame_format"].str.endswith("_{n:05d}.jpg").all()
    if name == "casme3a":
        assert df["frames_dir"].map(lambda p: Path(p).name == "color").all()


def test_samm_frames_are_grayscale_full_frames_with_the_face_off_centre(source, written):
    truth = layouts.truth_table(written["samm"])
    t = truth.iloc[0]
    path = written["samm"] / "SAMM" / t["subject"] / t["clip"] / f"{t['subject']}_{t['apex']:05d}.jpg"
    frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert frame.ndim == 2 and frame.shape == (FRAME[1], FRAME[0])
    face = cv2.imread(str(source / "Cropped" / f"sub{t['source_subject']:02d}" / t["source_clip"]
                          / f"reg_img{t['source_apex']}.jpg"), cv2.IMREAD_GRAYSCALE)
    x0, y0, size = t["face_x"], t["face_y"], face.shape[0]
    inner = slice(size // 4, 3 * size // 4)
    placed = frame[y0:y0 + size, x0:x0 + size].astype(float)
    assert np.abs(placed[inner, inner] - face[inner, inner]).mean() < 3  # JPEG twice, nothing else
    assert abs(x0 + size / 2 - FRAME[0] / 2) > 0.05 * FRAME[0]


def test_smic_frames_are_the_source_frames_at_100_fps(source, written):
    t = layouts.truth_table(written["smic"]).iloc[0]
    folder = next((written["smic"] / "HS" / t["subject"] / "micro").glob(f"*/{t['clip']}"))
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == f"reg_image{t['onset']:06d}.bmp" and len(names) == len(t["source_frames"])
    apex = cv2.imread(str(folder / f"reg_image{t['apex']:06d}.bmp"))
    src = cv2.imread(str(source / "Cropped" / f"sub{t['source_subject']:02d}" / t["source_clip"]
                         / f"reg_img{t['source_frames'][t['apex'] - t['onset']]}.jpg"))
    assert np.array_equal(apex, src)


def test_make_synthetic_default_layout_is_unchanged_and_others_are_kept(data_script, tmp_path):
    script = data_script("make_synthetic")
    knobs = ["--subjects", "1", "--clips-per-subject", "2", "--size", "64", "--workers", "1", "--quiet"]
    assert script.main(["--out", str(tmp_path / "cli")] + knobs) == 0
    direct = synthetic.generate(tmp_path / "direct", subjects=1, clips_per_subject=2, size=64, workers=1, progress=False)
    assert _tree(tmp_path / "cli") == _tree(direct)
    out = tmp_path / "smic"
    assert script.main(["--out", str(out), "--layout", "smic"] + knobs) == 0
    assert synthetic.dataset_info(out)["layout"]["name"] == "smic"
    assert not synthetic.is_complete(out, subjects=1, clips_per_subject=2, size=64)  # not the CASME II layout
    assert layouts.is_complete(out, "smic", subjects=1, clips_per_subject=2, size=64)
    assert not layouts.is_complete(out, "samm", subjects=1, clips_per_subject=2, size=64)
    assert not list(tmp_path.glob(".*"))  # no hidden source or partial folder left behind
    samm = tmp_path / "samm"
    assert script.main(["--out", str(samm), "--layout", "samm", "--frame-size", "200x120"] + knobs) == 0
    assert len(read_annotations("samm", samm, strict=True)) == 2
    with pytest.raises(SystemExit):
        script.main(["--out", str(samm), "--layout", "samm", "--frame-size", "200by120"])
