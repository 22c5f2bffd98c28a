"""What the methods make of the official layouts: SAMM's full frames reach them as aligned faces
(:func:`melib.preprocess.face_frames`, ``default_align``), and AU labels are never made up for SMIC-HS."""
from __future__ import annotations

import numpy as np
import pytest

from melib import data, face, ladder, preprocess
from melib.data import synthetic
from melib.data.synthetic import layouts
from melib.methods import annotation_mimic as am
from melib.methods import iicl
from melib.methods import micro_au_clip as mac
from melib.methods import selfme as sm

FRAME = (320, 200)  # a small SAMM frame (the real one is 2040 x 1088) around the 64 px face
METHODS = {"iicl": iicl, "annotation_mimic": am, "micro_au_clip": mac, "selfme": sm}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """2 subjects x 2 clips, 64 px faces, CASME II layout."""
    root = tmp_path_factory.mktemp("layout_methods") / "casme2"
    return synthetic.generate(root, subjects=2, clips_per_subject=2, size=64, seed=0, workers=1, progress=False)


@pytest.fixture(scope="module")
def samm(source, tmp_path_factory):
    root = layouts.convert(source, tmp_path_factory.mktemp("layout_methods") / "samm", "samm", frame_size=FRAME)
    return data.read_annotations("samm", root, strict=True)


@pytest.mark.parametrize("name", ["iicl", "annotation_mimic", "micro_au_clip", "selfme"])
def test_presets_align_faces_on_samm_and_keep_other_keys(name):
    module = METHODS[name]
    assert preprocess.default_align("samm") == "dlib"
    assert module.preset("fast", "samm")[0].align == "dlib"
    for dataset in ("synthetic", "casme2", "smic", "casme3a"):
        if name in ("iicl", "micro_au_clip") and dataset in ("smic", "casme3a"):
            continue  # AU detection: no AU set there (test_au_labels_are_never_made_up)
        cfg = module.preset("fast", dataset)[0]
        assert cfg.align == "none"
        if name != "iicl":  # IICL's FrontEnd always held align
            hashed = cfg.learner_settings() if name == "selfme" else cfg.input_settings()
            assert "align" not in hashed  # the cache keys of earlier runs stay


def test_face_frames_find_the_face_in_a_full_frame(source, samm):
    row = samm.iloc[0]
    truth = layouts.truth_table(samm.attrs["root"]).set_index(["subject", "clip"]).loc[(row["subject"], row["clip"])]
    whole, identity = preprocess.face_frames(row, [row["onset"]])
    assert whole[row["onset"]].shape == (FRAME[1], FRAME[0], 3) and np.allclose(identity, np.eye(2, 3))
    frames, matrix = preprocess.face_frames(row, [row["apex"], row["onset"]], "dlib")
    assert sorted(frames) == sorted({row["onset"], row["apex"]})
    assert frames[row["onset"]].shape == (preprocess.ALIGN_SIZE,) * 2 + (3,)
    # the same face aligned from its CASME II-layout source: the full frame adds only background around it
    casme2 = data.read_annotations("casme2", source)
    original = casme2[(casme2["subject"] == f"sub{truth['source_subject']:02d}")
                      & (casme2["clip"] == truth["source_clip"])].iloc[0]
    cropped, _ = preprocess.face_frames(original, [truth["source_onset"]], "dlib")
    gray = [f @ np.array([0.299, 0.587, 0.114]) for f in (frames[row["onset"]], cropped[truth["source_onset"]])]
    centre = slice(64, 192)  # the face, away from the feathered edge of the pasted crop
    assert np.corrcoef(gray[0][centre, centre].ravel(), gray[1][centre, centre].ravel())[0, 1] > 0.9
    # the matrix maps the pasted crop's centre (frame pixels) near the aligned crop's centre
    middle = face.warp_landmarks(np.array([[truth["face_x"] + 32, truth["face_y"] + 32]]), matrix)[0]
    assert np.abs(middle - preprocess.ALIGN_SIZE / 2).max() < preprocess.ALIGN_SIZE / 6


def test_micro_au_clip_input_on_samm_is_the_face(samm):
    cfg = mac.preset("fast", "samm", magnify="eulerian")[0]
    entry = mac.compute_input(samm.iloc[0], cfg)
    span = np.ptp(entry["landmarks"], axis=0)
    assert span.min() > 0.5 * cfg.image_size  # the whole 320 x 200 frame squeezed to S would give about 0.15 S
    assert entry["image"].shape == (cfg.image_size, cfg.image_size, 3)


@pytest.mark.parametrize("name", ["annotation_mimic", "selfme"])
def test_mimic_and_selfme_inputs_on_samm_come_from_aligned_faces(name, samm, monkeypatch):
    seen = []

    def spy(row, numbers, align="none", *args, **kwargs):
        seen.append(align)
        return preprocess.face_frames(row, numbers, align, *args, **kwargs)

    monkeypatch.setattr({"annotation_mimic": am.inputs, "selfme": sm.motion}[name], "face_frames", spy)
    row = samm.iloc[0]
    if name == "annotation_mimic":
        cfg = am.preset("fast", "samm", magnify="eulerian")[0]
        assert am.compute_input(row, cfg)["image"].shape == (cfg.image_size, cfg.image_size, 3)
    else:
        cfg = sm.preset("fast", "samm", motion="farneback")[0]
        assert sm.compute_motion(row, cfg, None)["motion"].shape == (2, cfg.vit_image_size, cfg.vit_image_size)
    assert seen and set(seen) == {"dlib"}


def test_au_labels_are_never_made_up(source, tmp_path):
    smic = data.read_annotations("smic", layouts.convert(source, tmp_path / "smic", "smic"), smic_apex="middle")
    with pytest.raises(ValueError, match="no AU labels"):
        data.au_matrix(smic, (1, 2))  # was: all-zero labels, trained on as "no AU active"
    assert data.au_matrix(smic, ()).shape == (len(smic), 0)
    with pytest.raises(ValueError, match="SMIC-HS has no AU labels"):
        mac.preset("fast", "smic")  # was: CASME II's 8 AUs, silently
    with pytest.raises(ValueError, match="no standard AU set for 'casme3a'"):
        mac.preset("fast", "casme3a")
    assert mac.preset("fast", "casme3a", aus=(4, 12))[0].aus == (4, 12)


class _Asked(Exception):
    """The front end a caller asked for is all a test needs."""


def test_yardsticks_on_samm_see_the_face(samm, monkeypatch):
    fronts = []

    def spy(manifest, front, **kwargs):
        fronts.append(front)
        raise _Asked

    monkeypatch.setattr(preprocess, "preprocess", spy)
    for representation in ("farneback", "onset"):
        with pytest.raises(_Asked):
            ladder.features(samm, representation, workers=1, progress=False)
    assert [f.align for f in fronts] == ["dlib", "dlib"]
