"""The 68-point face: index tables (mirror partners, landmark groups), the inter-ocular distance and
the canonical template used by :mod:`melib.face.align`. Numpy only, so every layer can use it."""
from __future__ import annotations

import numpy as np

#: Index of each dlib point's mirror partner (left/right swapped), e.g. 36 (right eye outer corner) <-> 45.
MIRROR_68: tuple[int, ...] = (
    tuple(range(16, -1, -1))                                  # jaw 0-16
    + tuple(range(26, 21, -1)) + tuple(range(21, 16, -1))     # brows 17-21 <-> 26-22
    + (27, 28, 29, 30) + (35, 34, 33, 32, 31)                 # nose bridge, nose base
    + (45, 44, 43, 42, 47, 46) + (39, 38, 37, 36, 41, 40)     # eyes
    + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55)        # outer lip
    + (64, 63, 62, 61, 60, 67, 66, 65)                        # inner lip
)

#: dlib 68-point index groups (0-based), as in Micro-AU CLIP Table I.
LANDMARK_GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),   # subject's right = image left
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nose_base": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lip": range(48, 60),
    "inner_lip": range(60, 68),
}


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(right, left)`` of the subject's eyes: the mean of each eye's six points (36-41, 42-47)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts[LANDMARK_GROUPS["right_eye"]].mean(axis=0), pts[LANDMARK_GROUPS["left_eye"]].mean(axis=0)


def inter_ocular_distance(points: np.ndarray) -> float:
    """melib's one inter-ocular distance (IOD): between the two eye centres (:func:`eye_centres`).

    Used everywhere a length is given in IODs (synthetic AU fields and appearance, landmark error,
    region masks). The outer-corner distance (points 36-45) some papers use is about 1.5x larger.
    """
    right, left = eye_centres(points)
    return float(np.linalg.norm(left - right))


#: Points fitted by default: eye corners, the nose (bridge and base) and the mouth corners.
STABLE_POINTS: tuple[int, ...] = (36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35, 48, 54)

#: Canonical 68-point face, ``(x, y)`` in a unit box (longer side spans [0, 1], y down). Made by
#: :func:`melib.face.align.derive_template` from dlib's landmarks on the two public-domain sample faces
#: (``skimage.data.astronaut()``, matplotlib's ``grace_hopper.jpg``) and their mirror images;
#: ``tests/test_face.py`` re-derives it. Rounded to 4 decimals.
TEMPLATE_68: np.ndarray = np.array([
    # jaw 0-16
    [0.0000, 0.2136], [0.0151, 0.3430], [0.0331, 0.4658], [0.0578, 0.5912], [0.0991, 0.7111], [0.1638, 0.8171],
    [0.2628, 0.8996], [0.3704, 0.9629], [0.5000, 0.9796], [0.6296, 0.9629], [0.7372, 0.8996], [0.8362, 0.8171],
    [0.9009, 0.7111], [0.9422, 0.5912], [0.9669, 0.4658], [0.9849, 0.3430], [1.0000, 0.2136],
    # brows 17-26
    [0.0741, 0.1215], [0.1265, 0.0441], [0.2132, 0.0204], [0.3043, 0.0258], [0.3883, 0.0576], [0.6117, 0.0576],
    [0.6957, 0.0258], [0.7868, 0.0204], [0.8735, 0.0441], [0.9259, 0.1215],
    # nose 27-35
    [0.5000, 0.1609], [0.5000, 0.2574], [0.5000, 0.3455], [0.5000, 0.4364], [0.3898, 0.4834], [0.4436, 0.5000],
    [0.5000, 0.5139], [0.5564, 0.5000], [0.6102, 0.4834],
    # eyes 36-47
    [0.1845, 0.1791], [0.2357, 0.1379], [0.3015, 0.1379], [0.3579, 0.1915], [0.2960, 0.1969], [0.2328, 0.1970],
    [0.6421, 0.1915], [0.6985, 0.1379], [0.7643, 0.1379], [0.8155, 0.1791], [0.7672, 0.1970], [0.7040, 0.1969],
    # lips 48-67
    [0.2842, 0.6219], [0.3613, 0.6038], [0.4408, 0.5981], [0.5000, 0.6132], [0.5592, 0.5981], [0.6387, 0.6038],
    [0.7158, 0.6219], [0.6414, 0.6942], [0.5618, 0.7272], [0.5000, 0.7370], [0.4382, 0.7272], [0.3586, 0.6942],
    [0.3133, 0.6286], [0.4410, 0.6353], [0.5000, 0.6438], [0.5590, 0.6353], [0.6867, 0.6286], [0.5591, 0.6747],
    [0.5000, 0.6815], [0.4409, 0.6747],
])
TEMPLATE_68.setflags(write=False)
