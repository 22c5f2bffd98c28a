"""melib.face: landmark backends and alignment (public-domain sample faces only)."""
from __future__ import annotations



import cv2
import matplotlib.cbook as cbook
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from melib.face import (FACEMESH_TO_DLIB68, LANDMARK_GROUPS, MIRROR_68, STABLE_POINTS, TEMPLATE_68,
                        FaceNotFoundError, align_clip, align_image, close_face_meshes, derive_template, group_distances, inter_ocular_distance, landmarks,
                        mirror_landmarks, similarity_to_template, template_points, umeyama, warp_landmarks)
from melib.face.facemesh import face_mesh

#: Largest per-group mean distance dlib <-> mediapipe allowed, in inter-ocular units (measured <= 0.05).
AGREEMENT_TOL = 0.09  # in eye-centre IODs (about 0.06 of the outer-corner distance)


def _rotation(angle: float, scale: float, center: tuple[float, float]) -> np.ndarray:
    return cv2.getRotationMatrix2D(center, angle, scale)


@pytest.fixture(scope="module")
def faces() -> dict[str, np.ndarray]:
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return {"astronaut": skdata.astronaut(), "grace_hopper": hopper}


@pytest.fixture(scope="module")
def dlib_points(faces) -> dict[str, np.ndarray]:
    return {name: landmarks(img, backend="dlib") for name, img in faces.items()}


# --- landmark backends -------------------------------------------------------------------------

@pytest.mark.parametrize("refine", [True, False])
def test_dlib_and_mediapipe_agree_per_group(faces, dlib_points, refine):
    for name, img in faces.items():
        mp_pts = landmarks(img, backend="mediapipe", refine_landmarks=refine)
        h, w = img.shape[:2]
        for pts in (dlib_points[name], mp_pts):
            assert pts.shape == (68, 2) and pts.dtype == np.float64
            assert np.all((pts >= 0) & (pts < [w, h]))
        dist = group_distances(mp_pts, dlib_points[name])
        assert set(LANDMARK_GROUPS) < set(dist)
        worst = max(dist, key=dist.get)
        assert dist[worst] < AGREEMENT_TOL, f"{name}: group {worst} differs by {dist[worst]:.3f} IOD"


def test_mapping_table_is_well_formed():
    assert len(FACEMESH_TO_DLIB68) == 68
    assert all(1 <= len(ids) <= 2 and all(0 <= i < 468 for i in ids) for ids in FACEMESH_TO_DLIB68)
    assert FACEMESH_TO_DLIB68[8] == (152,) and FACEMESH_TO_DLIB68[30] == (4,)  # chin, nose tip


def test_gray_input_matches_rgb(faces, dlib_points):
    gray = cv2.cvtColor(faces["astronaut"], cv2.COLOR_RGB2GRAY)
    for backend in ("dlib", "mediapipe"):
        rgb_pts = dlib_points["astronaut"] if backend == "dlib" else landmarks(faces["astronaut"], backend)
        assert group_distances(landmarks(gray, backend), rgb_pts)["all"] < 0.05


def test_facemesh_is_cached_and_closed(faces):
    first = face_mesh()
    assert face_mesh() is first
    close_face_meshes()
    close_face_meshes()  # closing twice is harmless
    assert face_mesh() is not first
    assert landmarks(faces["astronaut"], backend="mediapipe").shape == (68, 2)


def test_missing_face_and_bad_backend_raise():
    blank = np.full((240, 320, 3), 128, np.uint8)
    for backend in ("dlib", "mediapipe"):
        with pytest.raises(FaceNotFoundError):
            landmarks(blank, backend=backend)
    with pytest.raises(ValueError, match="unknown landmark backend"):
        landmarks(blank, backend="openface")


# --- alignment ----------------------------------------------------------------------------------

def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(20, 2))
    truth = _rotation(33.0, 1.7, (10.0, -5.0))
    assert np.allclose(umeyama(src, warp_landmarks(src, truth)), truth, atol=1e-9)
    mirrored = src * [-1, 1]  # a reflection is not a similarity: the fit must stay a proper rotation
    assert np.linalg.det(umeyama(src, mirrored)[:, :2]) > 0


def test_alignment_is_a_similarity_onto_the_template(dlib_points):
    for pts in dlib_points.values():
        matrix = similarity_to_template(pts, size=256)
        lin = matrix[:, :2]
        scale2 = np.linalg.det(lin)
        assert scale2 > 0 and np.allclose(lin @ lin.T, scale2 * np.eye(2), atol=1e-9)
        target = template_points(256)
        aligned = warp_landmarks(pts, matrix)
        stable = list(STABLE_POINTS)
        assert np.linalg.norm(aligned[stable] - target[stable], axis=1).mean() < 0.03 * 256
        assert np.linalg.norm(aligned - target, axis=1).mean() < 0.05 * 256
    # a face that already is the template maps onto it exactly
    tpl = template_points(256, margin=0.15)
    assert np.allclose(warp_landmarks(tpl, similarity_to_template(tpl, 256, 0.15, points="all")), tpl)


def test_template_is_rederived_from_the_sample_faces(dlib_points):
    derived = derive_template(list(dlib_points.values()))
    assert np.abs(derived - TEMPLATE_68).max() < 2e-3
    assert np.abs(mirror_landmarks(TEMPLATE_68 - 0.5) + 0.5 - TEMPLATE_68).max() < 1e-3
    assert sorted(MIRROR_68) == list(range(68)) and all(MIRROR_68[MIRROR_68[i]] == i for i in range(68))


def test_clip_alignment_uses_one_transform_for_every_frame(dlib_points):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 60, size=(4, 512, 512, 3), dtype=np.uint8)
    frames[:, 140:143, 220:223] = 255  # the same pixel pattern in every frame
    clip = align_clip(frames, landmarks_onset=dlib_points["astronaut"], size=128)
    assert clip.frames.shape == (4, 128, 128, 3) and clip.frames.dtype == np.uint8
    assert clip.matrix.shape == (2, 3)
    expected = warp_landmarks(np.array([[221.0, 141.0]]), clip.matrix)[0]
    peaks = [np.unravel_index(np.argmax(f.sum(axis=2)), f.shape[:2]) for f in clip.frames]
    assert len(set(peaks)) == 1
    assert np.allclose(peaks[0][::-1], expected, atol=1.0)
    assert np.allclose(clip.landmarks_onset_aligned, warp_landmarks(dlib_points["astronaut"], clip.matrix))
    with pytest.raises(ValueError, match="frame 1"):
        align_clip([frames[0], frames[1, :100]], landmarks_onset=dlib_points["astronaut"])


def test_rotated_and_scaled_face_aligns_to_the_upright_crop(faces, dlib_points):
    img = faces["astronaut"]
    rot = _rotation(25.0, 0.8, (256.0, 200.0))
    rotated = cv2.warpAffine(img, rot, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    upright = align_clip([img], landmarks_onset=dlib_points["astronaut"], size=128)
    recovered = align_clip([rotated], size=128, backend="dlib")
    # the two transforms agree once the rotation is undone: M_rot @ R ~ M
    composed = recovered.matrix[:, :2] @ rot[:, :2]
    assert np.allclose(composed, upright.matrix[:, :2], atol=0.03 * np.abs(upright.matrix[:, :2]).max())
    iod = inter_ocular_distance(upright.landmarks_onset_aligned)
    err = np.linalg.norm(recovered.landmarks_onset_aligned - upright.landmarks_onset_aligned, axis=1).mean()
    assert err < 0.05 * iod
    a, b = (c.frames[0][20:108, 20:108].astype(float) for c in (upright, recovered))
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    unaligned = cv2.resize(rotated, (128, 128))[20:108, 20:108].astype(float)
    assert corr > 0.9 > np.corrcoef(a.ravel(), unaligned.ravel())[0, 1]


def test_align_image_rejects_unknown_border(faces):
    with pytest.raises(ValueError, match="border"):
        align_image(faces["astronaut"], np.eye(2, 3), 64, border="wrap")
