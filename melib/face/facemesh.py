"""MediaPipe FaceMesh landmarks mapped onto dlib's 68-point indexing, fully offline.

mediapipe 0.10.21 still bundles the legacy FaceMesh model (``mediapipe.solutions.face_mesh``); later
releases need a ``face_landmarker.task`` download. FaceMesh returns 468 mesh vertices (478 with
``refine_landmarks=True``, which adds the irises and re-fits eyes and lips with the attention model).
:data:`FACEMESH_TO_DLIB68` turns them into the 68 dlib points so code written for dlib indices (e.g.
Micro-AU CLIP Table I) works with either backend.

How the table was built: for every dlib point, the FaceMesh vertex (or the midpoint of two adjacent
vertices, where the dlib point falls between them) closest to dlib's output on the two public-domain
sample faces (astronaut, Grace Hopper), their mirror images and a 2x upsampled astronaut, both
``refine_landmarks`` settings, keeping left/right choices mirror-symmetric wherever both sides agree.
Measured (``refine_landmarks=True``, distance to dlib over outer-eye-corner distance): mean 0.021
(astronaut) and 0.026 (Grace Hopper), worst group 0.036 (jaw/brows); ``tests/test_face.py`` checks
every group stays below 0.06. The widely copied single-vertex table (jaw 127, 234, 93, 132, 58, ...)
is off by about 0.12 on the jaw, because dlib's jaw points sit lower along the face oval.

One FaceMesh graph per setting is created on first use and reused (creating one costs ~0.3 s);
:func:`close_face_meshes` releases them and runs automatically at interpreter exit.
"""
from __future__ import annotations

import atexit
import threading

import numpy as np

from .detect import FaceNotFoundError, as_uint8_image

#: FaceMesh vertex ids averaged into each dlib point 0..67 (one id, or two adjacent ids -> midpoint).
FACEMESH_TO_DLIB68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16, image left to right: face-oval vertices 127 ... 152 (chin) ... 356
    (127,), (234, 93), (132,), (58,), (172,), (136, 150), (149,), (176, 148), (152,),
    (400, 377), (378,), (365, 379), (397,), (288,), (361,), (454, 323), (356,),
    # right brow 17-21 (subject's right = image left), upper brow contour from the tail inwards
    (156,), (63,), (105,), (66,), (107, 55),
    # left brow 22-26, from the inner end outwards
    (336, 285), (296,), (334,), (293,), (383,),
    # nose bridge 27-30 (midline, top to tip) and nose base 31-35 (image left to right)
    (168,), (197,), (195, 5), (4,), (75,), (97,), (2,), (326,), (305,),
    # right eye 36-41: outer corner, upper lid x2, inner corner, lower lid x2
    (33,), (160, 159), (158,), (133, 155), (153,), (144,),
    # left eye 42-47: inner corner, upper lid x2, outer corner, lower lid x2
    (362, 382), (385,), (387, 386), (263,), (373,), (380,),
    # outer lip 48-59: left corner, upper lip to right corner, lower lip back
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (405, 321), (314,), (17,), (84,), (181, 91),
    # inner lip 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)

_MESHES: dict[tuple[bool, float], object] = {}
_LOCK = threading.Lock()


def _mapping_matrix() -> np.ndarray:
    """``(68, 468)`` averaging weights so that ``W @ mesh`` gives the 68 dlib-indexed points."""
    weights = np.zeros((68, 468))
    for i, ids in enumerate(FACEMESH_TO_DLIB68):
        weights[i, list(ids)] = 1.0 / len(ids)
    return weights


def face_mesh(refine_landmarks: bool = True, min_detection_confidence: float = 0.5):
    """The cached ``FaceMesh(static_image_mode=True, max_num_faces=1, ...)`` for these settings."""
    key = (bool(refine_landmarks), float(min_detection_confidence))
    with _LOCK:
        if key not in _MESHES:
            import mediapipe

            _MESHES[key] = mediapipe.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=key[0], min_detection_confidence=key[1])
        return _MESHES[key]


def close_face_meshes() -> None:
    """Close every cached FaceMesh graph (safe to call twice; the next call builds a new one)."""
    with _LOCK:
        meshes = list(_MESHES.values())
        _MESHES.clear()
    for mesh in meshes:
        mesh.close()


atexit.register(close_face_meshes)


def facemesh_points(image: np.ndarray, refine_landmarks: bool = True,
                    min_detection_confidence: float = 0.5) -> np.ndarray:
    """Raw FaceMesh vertices ``(468, 2)`` or ``(478, 2)`` in pixels ``(x, y)`` for an RGB or gray image.

    Raises
    ------
    FaceNotFoundError
        When FaceMesh finds no face.
    """
    img = as_uint8_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    mesh = face_mesh(refine_landmarks, min_detection_confidence)
    with _LOCK:  # a mediapipe graph is not re-entrant
        result = mesh.process(img)
    if not result.multi_face_landmarks:
        raise FaceNotFoundError(f"mediapipe FaceMesh found no face in an image of shape {img.shape}")
    h, w = img.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])


def mediapipe_landmarks(image: np.ndarray, box: np.ndarray | None = None, refine_landmarks: bool = True,
                        min_detection_confidence: float = 0.5, box_margin: float = 0.5) -> np.ndarray:
    """68 dlib-indexed landmarks ``(68, 2)`` float ``(x, y)`` from FaceMesh.

    ``box`` (``left, top, right, bottom``) restricts the search to that box grown by ``box_margin``
    of its size on each side (used when the face detector fails on a frame).
    ``refine_landmarks=True`` is the default: the attention model places eye and lip contours better,
    and the 68 points use only the 468 shared vertices, so both settings map the same way.
    """
    img = as_uint8_image(image)
    offset = np.zeros(2)
    if box is not None:
        left, top, right, bottom = (float(v) for v in box)
        pad_x, pad_y = box_margin * (right - left), box_margin * (bottom - top)
        x0, y0 = max(int(left - pad_x), 0), max(int(top - pad_y), 0)
        x1, y1 = min(int(right + pad_x) + 1, img.shape[1]), min(int(bottom + pad_y) + 1, img.shape[0])
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"box {list(box)} lies outside an image of shape {img.shape}")
        img, offset = img[y0:y1, x0:x1], np.array([x0, y0], dtype=float)
    mesh = facemesh_points(img, refine_landmarks, min_detection_confidence)
    return _mapping_matrix() @ mesh[:468] + offset
