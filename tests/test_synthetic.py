"""The synthetic dataset (melib.data.synthetic): CASME II layout, determinism, true motion, realism."""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from melib.data import synthetic as syn
from melib.data.synthetic import dataset as syn_dataset
from melib.data.synthetic.fields import MIDLINE_68, MIRROR_68, RIGHT_68, face_frame
from melib.data.synthetic.plan import EMOTIONS
from melib.motion.warp import warp_image

HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
          "Estimated Emotion"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _still_spec(codes: tuple[str, ...], amplitude: float, subject: int = 1, **changes) -> syn.ClipSpec:
    """A short clip of ``codes`` (onset 10, apex 30, offset 50), no blink, no lighting drift."""
    base = syn.plan_dataset(1, 0, 256, 1)[0]
    values = dict(subject=subject, codes=codes, amplitude=amplitude, blink=None, onset=10, apex=30, offset=50,
                  head_drift=(0.0, 0.0), head_wobble=(0.0, 0.0), illumination_drift=0.0)
    values.update(changes)
    return dataclasses.replace(base, **values)


# ---------------------------------------------------------------- layout and annotation sheet

def test_sheet_has_the_casme2_header_and_cell_types(tiny_synthetic):
    sheet = openpyxl.load_workbook(tiny_synthetic / syn.SHEET_NAME).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    info = syn.dataset_info(tiny_synthetic)
    assert len(rows) - 1 == info["n_clips"] == 8
    names = Counter()
    for subject, filename, empty1, onset, apex, offset, empty2, aus, emotion in rows[1:]:
        assert isinstance(subject, int) and 1 <= subject <= 4
        assert re.fullmatch(r"EP\d\d_\d\df?", filename), filename
        assert empty1 is None and empty2 is None
        assert all(isinstance(v, int) for v in (onset, apex, offset)) and onset < apex < offset
        assert 41 <= offset - onset + 1 <= 121  # 0.2-0.6 s at 200 fps
        assert re.fullmatch(r"[LR]?\d+(\+[LR]?\d+)*", aus), aus
        assert emotion in EMOTIONS
        names[(subject, filename)] += 1
    assert max(names.values()) == 1  # Filename unique per subject

    df = pd.read_excel(tiny_synthetic / syn.SHEET_NAME)
    assert list(df.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                "Unnamed: 6", "Action Units", "Estimated Emotion"]
    assert df["Unnamed: 2"].isna().all() and df["Unnamed: 6"].isna().all()
    assert pd.api.types.is_integer_dtype(df["OnsetFrame"]) and pd.api.types.is_integer_dtype(df["Subject"])


def test_frames_and_groundtruth_follow_the_layout(tiny_synthetic):
    df = pd.read_excel(tiny_synthetic / syn.SHEET_NAME).rename(columns={"Action Units": "aus"})
    for row in df.itertuples(index=False):
        folder = tiny_synthetic / "Cropped" / f"sub{row.Subject:02d}" / row.Filename
        numbers = sorted(int(p.stem[len("reg_img"):]) for p in folder.glob("reg_img*.jpg"))
        assert numbers == list(range(row.OnsetFrame, row.OffsetFrame + 1))
        frame = cv2.imread(str(folder / f"reg_img{row.ApexFrame}.jpg"))
        assert frame.shape == (256, 256, 3) and frame.std() > 20
        for subject in (row.Subject, f"sub{row.Subject:02d}"):
            gt = syn.load_groundtruth(tiny_synthetic, subject, row.Filename)
            assert (gt["onset"], gt["apex"], gt["offset"]) == (row.OnsetFrame, row.ApexFrame, row.OffsetFrame)
        t = len(numbers)
        assert gt["flow_onset_apex"].shape == gt["au_flow_onset_apex"].shape == (256, 256, 2)
        assert gt["flow_onset_apex"].dtype == np.float32
        assert gt["landmarks"].shape == (t, 68, 2) and gt["head_shift"].shape == (t, 2)
        assert list(gt["frame_numbers"]) == numbers and gt["au_string"] == row.aus
        assert np.abs(gt["head_shift"]).max() < 1.0  # sub-pixel head motion
    with pytest.raises(FileNotFoundError, match="sub09"):
        syn.load_groundtruth(tiny_synthetic, 9, "EP01_01")
    assert not list(tiny_synthetic.parent.glob(".tiny.*"))  # no partial or old folders left behind


def test_read_annotations_reads_the_dataset_without_problems(tiny_synthetic):
    from melib.data import read_annotations

    for name in ("casme2", "synthetic"):
        df = read_annotations(name, tiny_synthetic)
        assert len(df) == 8 and df.attrs["problems"] == []
        assert set(df["subject"]) == {"sub01", "sub02", "sub03", "sub04"}
    info = syn.dataset_info(tiny_synthetic)
    expected = {(f"sub{c['subject']:02d}", c["filename"]): c for c in info["clips"]}
    for row in df.itertuples():
        clip = expected[(row.subject, row.clip)]
        assert (row.onset, row.apex, row.offset) == (clip["onset"], clip["apex"], clip["offset"])
        assert getattr(row, "emotion") == clip["emotion"]


# ---------------------------------------------------------------- determinism and atomic writes

def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tiny_synthetic, tmp_path):
    again = syn.generate(tmp_path / "again", seed=0, workers=2, progress=False, **syn.TINY_SETTINGS)
    first, second = _files(tiny_synthetic), _files(again)
    assert len(first) > 600 and first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_different_seed_gives_different_data(tmp_path):
    a = syn.generate(tmp_path / "a", subjects=1, clips_per_subject=1, seed=0, workers=1, progress=False)
    b = syn.generate(tmp_path / "b", subjects=1, clips_per_subject=1, seed=1, workers=1, progress=False)
    assert (a / syn.SHEET_NAME).read_bytes() != (b / syn.SHEET_NAME).read_bytes()
    assert syn.dataset_info(a)["clips"] != syn.dataset_info(b)["clips"]


def test_ensure_keeps_a_matching_dataset_and_generate_is_atomic(tiny_synthetic, tmp_path, monkeypatch):
    meta = tiny_synthetic / "synthetic.json"
    stamp = meta.stat().st_mtime_ns
    assert syn.ensure(tiny_synthetic, seed=0, progress=False, **syn.TINY_SETTINGS) == tiny_synthetic
    assert meta.stat().st_mtime_ns == stamp
    assert not syn.is_complete(tiny_synthetic, subjects=5, clips_per_subject=2)

    def crash(*args, **kwargs):
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(syn_dataset, "_run_clips", crash)
    with pytest.raises(RuntimeError, match="half-way"):
        syn.generate(tmp_path / "broken", subjects=1, clips_per_subject=1, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the dataset nor a partial folder exists
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        syn.generate(tmp_path / "mine", subjects=1, progress=False)


# ---------------------------------------------------------------- AU displacement fields

def test_mirror_permutation_swaps_sides():
    assert sorted(MIRROR_68) == list(range(68)) and (MIRROR_68[MIRROR_68] == np.arange(68)).all()
    left = set(range(68)) - RIGHT_68 - MIDLINE_68
    assert {int(MIRROR_68[i]) for i in RIGHT_68} == left and all(MIRROR_68[i] == i for i in MIDLINE_68)


# (AU, landmarks, check of their displacement d in face coordinates: x = towards subject's left, y = up)
AU_DIRECTIONS = [
    (1, (21, 22), lambda d: (d[:, 1] > 0.99).all()),                                 # inner brows up
    (2, (17, 26), lambda d: (d[:, 1] > 0.99).all()),                                 # outer brows up
    (4, (21, 22), lambda d: (d[:, 1] < -0.8).all() and d[0, 0] > 0.4 and d[1, 0] < -0.4),  # down, together
    (5, (37, 44), lambda d: (d[:, 1] > 0.99).all()),                                 # upper lids up
    (7, (41, 46), lambda d: (d[:, 1] > 0.99).all()),                                 # lower lids up
    (9, (31, 35), lambda d: (d[:, 1] > 0.9).all()),                                  # nose wings up
    (10, (50, 52), lambda d: (d[:, 1] > 0.99).all()),                                # upper lip up
    (12, (48, 54), lambda d: (d[:, 1] > 0.7).all() and d[0, 0] < -0.5 and d[1, 0] > 0.5),  # up and out
    (14, (48, 54), lambda d: d[0, 0] > 0.9 and d[1, 0] < -0.9),                     # corners inwards
    (15, (48, 54), lambda d: (d[:, 1] < -0.9).all()),                                # corners down
    (17, (57,), lambda d: d[0, 1] > 0.99),                                           # chin pushes lip up
    (24, (51, 57), lambda d: d[0, 1] < -0.99 and d[1, 1] > 0.99),                    # lips pressed
    (25, (57,), lambda d: d[0, 1] < -0.99),                                          # lower lip drops
]


@pytest.mark.parametrize("au,points,check", AU_DIRECTIONS, ids=[f"AU{a[0]}" for a in AU_DIRECTIONS])
def test_each_au_moves_its_anchor_landmarks_by_the_amplitude_in_the_facs_direction(au, points, check):
    for subject in (1, 2):
        lm = syn.make_subject(subject, 0).landmarks
        ex, up, _ = face_frame(lm)
        amplitude = 1.3
        d = syn.landmark_displacement([str(au)], lm, amplitude)[list(points)]
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), amplitude, rtol=0.02)
        assert check(np.stack([d @ ex, d @ up], axis=1) / amplitude)


def test_au12_field_on_the_pixel_grid_and_lateral_codes():
    lm = syn.make_subject(2, 0).landmarks
    field = syn.au_displacement(12, lm, 0.8, (256, 256))
    for i in (48, 54):  # bilinear sample of the grid at the landmark = the amplitude
        x, y = lm[i]
        x0, y0 = int(x), int(y)
        fx, fy = x - x0, y - y0
        v = ((1 - fx) * (1 - fy) * field[y0, x0] + fx * (1 - fy) * field[y0, x0 + 1]
             + (1 - fx) * fy * field[y0 + 1, x0] + fx * fy * field[y0 + 1, x0 + 1])
        assert abs(np.linalg.norm(v) - 0.8) < 0.08
    assert np.linalg.norm(field, axis=-1).max() < 0.8 * 1.1  # no overshoot beyond the anchors
    assert np.abs(field[:20]).max() == 0  # compact support: the top of the image stays still
    right = syn.landmark_displacement(["R12"], lm, 0.8)
    assert np.linalg.norm(right[48]) == pytest.approx(0.8, rel=0.02) and np.linalg.norm(right[54]) < 0.01
    with pytest.raises(ValueError, match="AU 99"):
        syn.au_displacement(99, lm, 1.0, (256, 256))


# ---------------------------------------------------------------- rendered motion = ground truth

@pytest.mark.parametrize("codes,amplitude", [(("12",), 0.3), (("12",), 2.0), (("1", "2"), 1.0), (("4", "7"), 1.0)])
def test_rendered_motion_matches_the_groundtruth_flow(codes, amplitude):
    """Warp the onset frame by s * GT flow: the apex frame is matched best at s = 1 (within 5%)."""
    spec = _still_spec(codes, amplitude, subject=2, head_drift=(0.3, -0.2))
    clip = syn.render_clip(syn.make_subject(2, 0), spec, seed=0, noise=False, appearance=0.0)
    onset, apex = clip.frames[0].astype(np.float32), clip.frames[spec.apex - spec.onset].astype(np.float32)
    moving = np.linalg.norm(clip.au_flow_onset_apex, axis=-1) > 0.1 * amplitude
    scales = np.round(np.arange(0.8, 1.21, 0.05), 2)
    error = [np.abs(warp_image(onset, s * clip.flow_onset_apex) - apex)[moving].mean() for s in scales]
    assert scales[int(np.argmin(error))] == 1.0
    backwards = np.abs(warp_image(onset, -clip.flow_onset_apex) - apex)[moving].mean()
    assert backwards > 2 * min(error)  # the sign convention (onset -> apex) is right
    head = clip.head_shift[spec.apex - spec.onset] - clip.head_shift[0]
    np.testing.assert_allclose(clip.flow_onset_apex - clip.au_flow_onset_apex, np.broadcast_to(head, (256, 256, 2)),
                               atol=1e-5)


def test_groundtruth_landmarks_flow_and_amplitude_agree_in_the_dataset(tiny_synthetic):
    info = syn.dataset_info(tiny_synthetic)
    checked_au12 = 0
    for clip in info["clips"]:
        gt = syn.load_groundtruth(tiny_synthetic, clip["subject"], clip["filename"])
        apex = gt["apex"] - gt["onset"]
        head = gt["head_shift"][apex] - gt["head_shift"][0]
        moved = gt["landmarks"][apex] - gt["landmarks"][0]
        # the flow sampled at the onset landmarks equals the landmark motion
        pts = gt["landmarks"][0].reshape(-1, 1, 2)
        sampled = cv2.remap(gt["flow_onset_apex"], pts[..., 0], pts[..., 1], cv2.INTER_LINEAR).reshape(-1, 2)
        assert np.abs(sampled - moved).max() < 0.05
        assert np.abs(gt["expression"][[0, apex, -1]] - [0, 1, 0]).max() < 1e-6
        if "12" in gt["au_string"].split("+"):
            corners = np.linalg.norm(moved[[48, 54]] - head, axis=1)
            np.testing.assert_allclose(corners, gt["amplitude"], rtol=0.10)
            checked_au12 += 1
    assert checked_au12 >= 1


# ---------------------------------------------------------------- realism

@pytest.mark.slow
def test_dlib_finds_the_face_on_every_frame_of_the_tiny_dataset(tiny_synthetic):
    """HOG detection (no upsampling) on all frames; dlib's landmarks vs ground truth on every 25th."""
    from melib.face import detect_faces, dlib_landmarks

    frames = sorted((tiny_synthetic / "Cropped").rglob("reg_img*.jpg"))
    missed = [f.name for f in frames if len(detect_faces(cv2.imread(str(f))[..., ::-1], upsample=0)) == 0]
    assert len(frames) > 600 and missed == []
    errors = []
    for path in frames[::25]:
        gt = syn.load_groundtruth(tiny_synthetic, path.parent.parent.name, path.parent.name)
        k = list(gt["frame_numbers"]).index(int(path.stem[len("reg_img"):]))
        error = np.linalg.norm(dlib_landmarks(cv2.imread(str(path))[..., ::-1]) - gt["landmarks"][k], axis=1)
        errors.append(error.mean())
    # dlib's own jitter (the jaw line above all) is a few pixels; the IOD is about 85 px
    assert np.mean(errors) < 3.0 and max(errors) < 6.0, errors


def test_default_plan_has_casme2_au_frequencies_and_timing():
    for seed in (0, 1):
        specs = syn.plan_dataset(26, seed)
        n = len(specs)
        assert 200 <= n <= 320
        per_subject = Counter(s.subject for s in specs)
        assert len(per_subject) == 26 and min(per_subject.values()) >= 3 and max(per_subject.values()) <= 20
        counts = Counter(a for s in specs for a in s.aus)
        for au, target in syn.CASME2_AU_COUNTS.items():
            expected = target * n / syn.CASME2_CLIPS
            assert abs(counts[au] - expected) <= max(3, 0.1 * expected), (seed, au, counts[au], expected)
        emotions = Counter(s.emotion for s in specs)
        assert set(emotions) <= set(EMOTIONS) and emotions.most_common(1)[0][0] == "others"
        assert any(c[0] in "LR" for s in specs for c in s.codes)  # some lateral codes
        for s in specs:
            assert 20 <= s.apex - s.onset <= 60 and 41 <= s.offset - s.onset + 1 <= 121
            assert 0.3 - 1e-6 <= s.amplitude <= 2.0 + 1e-6
            if s.blink is not None:  # a blink never covers the onset or apex frame
                first, length, _ = s.blink
                assert not (first <= s.onset < first + length or first <= s.apex < first + length)
        assert sum(s.blink is not None for s in specs) > 0.15 * n


def test_profiles_rise_and_fall_smoothly():
    t = np.arange(100, 161)
    a = syn.expression_profile(t, 100, 120, 160)
    assert a[0] == 0 and a[20] == 1 and a[-1] == pytest.approx(0, abs=1e-12)
    assert (np.diff(a[:21]) > 0).all() and (np.diff(a[20:]) < 0).all()
    c = syn.blink_profile(t, (125, 24, 0.8))
    assert c.max() == pytest.approx(0.8, abs=0.01) and c[t < 125].max() == 0 and c[t >= 149].max() == 0


# ---------------------------------------------------------------- subject style (labels and movement tied to the subject)

def _mix_spread(specs: list[syn.ClipSpec]) -> float:
    """Chi-square statistic of the subject x emotion table over its clip count (Cramer's V squared x (C-1))."""
    table = pd.crosstab([s.subject for s in specs], [s.emotion for s in specs]).to_numpy(dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    return float(((table - expected) ** 2 / expected).sum() / table.sum())


def test_subject_style_zero_is_the_default_plan_and_is_not_recorded():
    default = syn.plan_dataset(26, 0)
    assert syn.plan_dataset(26, 0, subject_style=0.0) == default
    assert syn.plan_dataset(6, 1, 128, 12, 2.0, subject_style=0) == syn.plan_dataset(6, 1, 128, 12, 2.0)
    # absent at 0, so the default synthetic.json, its fingerprint and every cache key stay as they were
    assert "subject_style" not in syn.settings()
    assert syn.settings(subject_style=0.0) == syn.settings()
    assert syn.settings(subject_style=0.5)["subject_style"] == 0.5
    with pytest.raises(ValueError, match="subject_style"):
        syn.plan_dataset(2, 0, subject_style=-1)


def test_subject_style_ties_each_subjects_class_mix_and_movement_to_the_subject():
    for seed in (0, 1):
        plain, styled = syn.plan_dataset(26, seed), syn.plan_dataset(26, seed, subject_style=1.0)
        # same clips, same AU quotas: only who gets which template (and how strongly it moves) changes
        assert [(s.subject, s.filename) for s in plain] == [(s.subject, s.filename) for s in styled]
        assert Counter(a for s in plain for a in s.aus) == Counter(a for s in styled for a in s.aus)
        assert _mix_spread(styled) > 1.5 * _mix_spread(plain), seed
        log_amp = lambda specs: pd.Series([np.log(s.amplitude) for s in specs],
                                          index=[s.subject for s in specs]).groupby(level=0).mean().var()
        assert log_amp(styled) > 2 * log_amp(plain), seed


def test_subject_style_is_recorded_in_synthetic_json(tiny_synthetic, tmp_path):
    plain = syn.dataset_info(tiny_synthetic)
    assert "subject_style" not in plain["settings"] and "subject_styles" not in plain
    root = syn.generate(tmp_path / "styled", subjects=2, clips_per_subject=1, subject_style=1.0, workers=1,
                        progress=False)
    info = syn.dataset_info(root)
    assert info["settings"]["subject_style"] == 1.0
    assert [s["subject"] for s in info["subject_styles"]] == [1, 2]
    assert sum(info["subject_styles"][0]["emotion_propensity"].values()) == pytest.approx(1, abs=1e-3)
    assert syn.is_complete(root, subjects=2, clips_per_subject=1, subject_style=1.0)
    assert not syn.is_complete(root, subjects=2, clips_per_subject=1)
