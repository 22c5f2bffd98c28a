"""68-point facial landmarks (dlib indexing, 0-based) from dlib or mediapipe, fully offline.

:func:`landmarks` is the one entry point: ``backend="dlib"`` (default; HOG detector + the 68-point
shape predictor, as used by Micro-AU CLIP) or ``backend="mediapipe"`` (FaceMesh mapped onto the same
68 indices, see :mod:`melib.face.facemesh`). Images are RGB (or gray) ``uint8`` arrays.

The predictor file ``shape_predictor_68_face_landmarks.dat`` ships inside the
``face-recognition-models`` wheel; it is located with ``importlib`` rather than imported, because
that package's ``__init__`` needs ``pkg_resources``, which new setuptools no longer provides.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from .template import LANDMARK_GROUPS, inter_ocular_distance

#: Landmark backends understood by :func:`landmarks`.
BACKENDS = ("dlib", "mediapipe")

class FaceNotFoundError(RuntimeError):
    """No face was detected in an image."""


def predictor_path() -> Path:
    """Path of dlib's 68-landmark model shipped by ``face-recognition-models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face-recognition-models is not installed; `make demo` installs it")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"dlib landmark model missing: {path}")
    return path


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def as_uint8_image(image: np.ndarray) -> np.ndarray:
    """The image as contiguous ``uint8`` gray ``(H, W)`` or RGB ``(H, W, 3)`` (clipped to 0..255, no alpha)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"expected a gray (H, W) or RGB (H, W, 3) image; got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def detect_faces(image: np.ndarray, upsample: int = 1) -> np.ndarray:
    """Face boxes ``(n, 4)`` as ``left, top, right, bottom`` from dlib's HOG detector, largest first."""
    detector, _ = _dlib_models()
    rects = detector(as_uint8_image(image), upsample)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.int64).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[np.argsort(-area, kind="stable")]


def dlib_landmarks(image: np.ndarray, box: np.ndarray | None = None, upsample: int = 1) -> np.ndarray:
    """68 landmarks ``(68, 2)`` float ``(x, y)`` of the largest face (or of ``box``).

    Raises
    ------
    FaceNotFoundError
        When no box is given and dlib detects no face.
    """
    import dlib

    _, predictor = _dlib_models()
    img = as_uint8_image(image)
    if box is None:
        boxes = detect_faces(img, upsample)
        if len(boxes) == 0:
            raise FaceNotFoundError(f"dlib found no face in an image of shape {img.shape}")
        box = boxes[0]
    rect = dlib.rectangle(*[int(v) for v in box])
    shape = predictor(img, rect)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def landmarks_and_box(image: np.ndarray, backend: str = "dlib", box: np.ndarray | None = None,
                      **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """68 landmarks ``(68, 2)`` and the face box ``(4,)`` (``left, top, right, bottom``) they came from.

    The box is dlib's detector box, or for mediapipe the bounding box of the 68 points. Passing the
    ``box`` of a neighbouring frame skips detection (dlib) or searches only around it (mediapipe).
    ``options`` go to the backend: ``upsample`` (dlib); ``refine_landmarks``,
    ``min_detection_confidence``, ``box_margin`` (mediapipe).
    """
    if backend == "dlib":
        img = as_uint8_image(image)
        if box is None:
            boxes = detect_faces(img, options.get("upsample", 1))
            if len(boxes) == 0:
                raise FaceNotFoundError(f"dlib found no face in an image of shape {img.shape}")
            box = boxes[0]
        return dlib_landmarks(img, box=box), np.asarray(box, dtype=np.float64)
    if backend == "mediapipe":
        from .facemesh import mediapipe_landmarks

        points = mediapipe_landmarks(image, box=box, **options)
        return points, points_box(points)
    raise ValueError(f"unknown landmark backend {backend!r}; choose one of {BACKENDS}")


def landmarks(image: np.ndarray, backend: str = "dlib", box: np.ndarray | None = None,
              **options: Any) -> np.ndarray:
    """68 landmarks ``(68, 2)`` float ``(x, y)``, dlib 0-based indexing, from ``backend``.

    Raises
    ------
    FaceNotFoundError
        When the backend finds no face.
    """
    return landmarks_and_box(image, backend, box, **options)[0]


def points_box(points: np.ndarray) -> np.ndarray:
    """Bounding box ``(left, top, right, bottom)`` of points ``(N, 2)``."""
    pts = np.asarray(points, dtype=np.float64)
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def group_distances(points: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Mean point-to-point distance per :data:`LANDMARK_GROUPS`, in units of the reference's
    inter-ocular distance (``"all"`` holds the mean over the 68 points)."""
    pts, ref = np.asarray(points, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if pts.shape != (68, 2) or ref.shape != (68, 2):
        raise ValueError(f"expected two (68, 2) landmark arrays; got {pts.shape} and {ref.shape}")
    dist = np.linalg.norm(pts - ref, axis=1) / inter_ocular_distance(ref)
    out = {name: float(dist[list(idx)].mean()) for name, idx in LANDMARK_GROUPS.items()}
    out["all"] = float(dist.mean())
    return out
