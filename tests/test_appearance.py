"""FACS appearance changes, neutral morphed identities and the dataset knobs of the synthetic generator."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from melib.cache import dataset_fingerprint
from melib.data import read_annotations
from melib.data import synthetic as syn
from melib.data.synthetic.appearance import age_lines, au_appearance
from melib.data.synthetic.faces import mouth_opening, neutral_field
from melib.data.synthetic.fields import face_frame


def _still(codes: tuple[str, ...], subject: int = 3, intensity: float = 1.0) -> syn.ClipSpec:
    base = syn.plan_dataset(1, 0, 256, 1)[0]
    return dataclasses.replace(base, subject=subject, codes=codes, amplitude=1.0, intensity=intensity, blink=None,
                               onset=10, apex=30, offset=50, head_drift=(0.0, 0.0), head_wobble=(0.0, 0.0),
                               illumination_drift=0.0)


def _box(lm: np.ndarray, ref: tuple[int, ...], du: float, dv: float, half: float) -> tuple[slice, slice]:
    ex, up, iod = face_frame(lm)
    c = lm[list(ref)].mean(0) + iod * (du * ex + dv * up)
    r = int(round(half * iod))
    return slice(int(c[1]) - r, int(c[1]) + r + 1), slice(int(c[0]) - r, int(c[0]) + r + 1)


def test_au4_darkens_the_glabella_at_apex_and_not_at_onset():
    subject = syn.make_subject(3, 0)
    spec = _still(("4",))
    with_look = syn.render_clip(subject, spec, seed=0, noise=False, appearance=1.0)
    motion = syn.render_clip(subject, spec, seed=0, noise=False, appearance=0.0)
    apex = spec.apex - spec.onset
    np.testing.assert_array_equal(with_look.frames[0], motion.frames[0])  # onset: no expression, no appearance
    glabella = _box(with_look.landmarks[apex], (21, 22), 0.0, 0.08, 0.10)
    change = with_look.frames[apex][glabella].mean() - motion.frames[apex][glabella].mean()
    assert change < -2.0  # grey levels darker, between the brows
    chin = _box(with_look.landmarks[apex], (57, 8), 0.0, 0.0, 0.10)
    assert abs(with_look.frames[apex][chin].mean() - motion.frames[apex][chin].mean()) < 0.05  # nowhere else
    # the ground truth's appearance map says the same
    assert with_look.appearance_apex[glabella].mean() < -0.01 and np.abs(motion.appearance_apex).max() == 0


@pytest.mark.parametrize("au,where", [(1, ((21, 22), 0.0, 0.42)), (12, ((48,), -0.15, 0.05)),
                                      (17, ((57, 8), 0.0, 0.0)), (25, ((62, 66), 0.0, 0.0))])
def test_each_au_shades_its_own_region(au, where):
    lm = syn.make_subject(1, 0).landmarks
    shade = au_appearance(au, lm, (256, 256))
    box = _box(lm, *where, 0.12)
    inside = np.abs(shade[box]).max()
    assert inside > 0.1 and inside >= 0.5 * np.abs(shade).max()
    forehead = _box(lm, (21, 22), 0.0, 0.45, 0.12)
    if au != 1:
        assert np.abs(shade[forehead]).max() == 0  # mouth and chin AUs leave the forehead alone


def test_appearance_scales_with_intensity_and_follows_the_lateral_code():
    subject = syn.make_subject(2, 0)
    strong = syn.render_clip(subject, _still(("12",), 2, 1.0), seed=0, noise=False).appearance_apex
    weak = syn.render_clip(subject, _still(("12",), 2, 0.25), seed=0, noise=False).appearance_apex
    assert np.abs(weak).sum() < 0.6 * np.abs(strong).sum()
    lm = subject.landmarks
    right = au_appearance(12, lm, (256, 256), side="R")
    x_mid = int(lm[[27, 28, 29, 30]].mean(0)[0])
    right_half = np.s_[:, :x_mid] if lm[36, 0] < x_mid else np.s_[:, x_mid:]  # where the right eye (36-41) is
    assert np.abs(right[right_half]).sum() > 0.95 * np.abs(right).sum()


def test_appearance_zero_gives_motion_only_clips(tiny_synthetic, tiny_synthetic_motion):
    info_a, info_0 = syn.dataset_info(tiny_synthetic), syn.dataset_info(tiny_synthetic_motion)
    assert info_0["settings"]["appearance"] == 0.0 and info_a["settings"]["appearance"] == syn.DEFAULT_APPEARANCE
    assert info_a["clips"] == info_0["clips"]  # same plan, same identities
    differs = 0
    for clip in info_0["clips"]:
        gt0 = syn.load_groundtruth(tiny_synthetic_motion, clip["subject"], clip["filename"])
        gta = syn.load_groundtruth(tiny_synthetic, clip["subject"], clip["filename"])
        assert np.abs(gt0["appearance_apex"]).max() == 0 and gt0["appearance_strength"] == 0
        np.testing.assert_array_equal(gt0["flow_onset_apex"], gta["flow_onset_apex"])  # the motion is the same
        folder = f"Cropped/sub{clip['subject']:02d}/{clip['filename']}"
        onset = f"{folder}/reg_img{clip['onset']}.jpg"
        assert (tiny_synthetic / onset).read_bytes() == (tiny_synthetic_motion / onset).read_bytes()
        apex = f"{folder}/reg_img{clip['apex']}.jpg"
        differs += (tiny_synthetic / apex).read_bytes() != (tiny_synthetic_motion / apex).read_bytes()
        assert np.abs(gta["appearance_apex"].astype(np.float32)).max() > 0.005
    assert differs == len(info_0["clips"])
    # the knob reaches every cache key, though the annotation sheets are identical
    sheets = [(root / syn.SHEET_NAME).read_bytes() for root in (tiny_synthetic, tiny_synthetic_motion)]
    assert sheets[0] == sheets[1]
    fingerprints = {dataset_fingerprint(read_annotations("synthetic", root)).__str__()
                    for root in (tiny_synthetic, tiny_synthetic_motion)}
    assert len(fingerprints) == 2


def test_amplitude_scale_multiplies_motion_and_keeps_intensity():
    plain, doubled = syn.plan_dataset(3, 0), syn.plan_dataset(3, 0, amplitude_scale=2.0)
    assert [s.codes for s in plain] == [s.codes for s in doubled]
    np.testing.assert_allclose([d.amplitude for d in doubled], [2 * p.amplitude for p in plain], atol=2e-4)
    assert [s.intensity for s in plain] == [s.intensity for s in doubled]
    assert all(0.14 <= s.intensity <= 1.0 for s in plain)
    with pytest.raises(ValueError, match="amplitude_scale"):
        syn.plan_dataset(3, 0, amplitude_scale=0.0)
    with pytest.raises(ValueError, match="appearance"):
        syn.settings(appearance=-1)


def test_knobs_are_recorded_and_the_cli_uses_them(tmp_path, data_script):
    cli = data_script("make_synthetic")
    out = tmp_path / "syn"
    assert cli.main(["--out", str(out), "--subjects", "2", "--clips-per-subject", "1", "--appearance", "0.5",
                     "--amplitude-scale", "1.5", "--quiet", "--workers", "1"]) == 0
    settings = json.loads((out / "synthetic.json").read_text())["settings"]
    assert settings["appearance"] == 0.5 and settings["amplitude_scale"] == 1.5 and settings["clips_per_subject"] == 1
    gt = syn.load_groundtruth(out, 1, syn.dataset_info(out)["clips"][0]["filename"])
    assert 0.3 * 1.5 - 1e-3 <= gt["amplitude"] <= 2.0 * 1.5 + 1e-3


def test_identities_are_neutral_varied_morphs():
    subjects = [syn.make_subject(s, 0) for s in range(1, 13)]
    for sub in subjects:
        lm = sub.landmarks
        _, up, iod = face_frame(lm)
        assert mouth_opening(lm) < 0.03  # both portraits' mouths are closed (one showed teeth)
        seam = 0.5 * (lm[[61, 62, 63]].mean(0) + lm[[65, 66, 67]].mean(0))
        assert max((lm[c] - seam) @ up for c in (48, 54)) < 0.03 * iod  # no smile: corners not raised
    for base in syn.base_faces():  # the neutralising warp itself: mouth closed, neutral width
        lm = base.landmarks + neutral_field(base.landmarks).at(base.landmarks)
        _, _, iod = face_frame(lm)
        assert mouth_opening(lm) < 0.02 and np.linalg.norm(lm[54] - lm[48]) < 0.86 * iod
    assert mouth_opening(syn.base_faces()[0].landmarks) > 0.1  # the astronaut's own smile showed teeth
    morphs = np.array([s.morph for s in subjects])
    assert morphs.min() < 0.25 and morphs.max() > 0.75 and ((morphs > 0.25) & (morphs < 0.75)).any()
    ages = np.array([s.age for s in subjects])
    assert ages.std() > 0.15
    assert len({s.mirrored for s in subjects}) == 2


def test_age_lines_grow_with_age():
    lm = syn.make_subject(1, 0).landmarks
    young = age_lines(lm, (256, 256), 0.0, np.random.default_rng(0))
    old = age_lines(lm, (256, 256), 1.0, np.random.default_rng(0))
    assert np.abs(young).max() == 0 and old.min() < -0.05
