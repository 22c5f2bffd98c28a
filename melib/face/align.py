"""Face alignment: one similarity transform (rotation, uniform scale, translation) per clip.

The transform maps a face's 68 landmarks onto :data:`melib.face.template.TEMPLATE_68` in least
squares (Umeyama 1991, "Least-squares estimation of transformation parameters between two point
patterns", eqs. 40-42). A clip is aligned with the transform of its onset frame applied to every
frame, as in the datasets' cropped versions, so facial motion between frames is kept and no jitter
from per-frame landmark noise is added.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .detect import as_uint8_image
from .detect import landmarks as detect_landmarks
from .template import MIRROR_68, STABLE_POINTS, TEMPLATE_68, eye_centres

_BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101}


@dataclass
class AlignedClip:
    """A clip warped by one similarity transform.

    Attributes
    ----------
    frames : (T, S, S) or (T, S, S, 3) uint8 aligned frames.
    matrix : (2, 3) transform from original pixels to aligned pixels (from the onset frame).
    landmarks_onset_aligned : (68, 2) onset-frame landmarks in aligned pixels.
    """

    frames: np.ndarray
    matrix: np.ndarray
    landmarks_onset_aligned: np.ndarray


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> np.ndarray:
    """Least-squares similarity ``(2, 3)`` mapping points ``src (N, 2)`` onto ``dst (N, 2)``.

    Umeyama (1991) eqs. 40-42: rotation from the SVD of the cross-covariance (reflections excluded),
    scale from the singular values over the source variance, translation from the centroids.
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) point arrays; got {src.shape} and {dst.shape}")
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - mu_src, dst - mu_dst
    var_src = (src_c ** 2).sum(axis=1).mean()
    if var_src <= 0:
        raise ValueError("source points all coincide; no transform can be estimated")
    u, sing, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ np.diag(d) @ vt
    scale = float((sing * d).sum() / var_src) if with_scale else 1.0
    translation = mu_dst - scale * rotation @ mu_src
    return np.hstack([scale * rotation, translation[:, None]])


def template_points(size: int = 256, margin: float = 0.15, template: np.ndarray | None = None) -> np.ndarray:
    """Template landmarks in pixels of a ``size x size`` crop with ``margin`` (fraction of size) each side."""
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5); got {margin}")
    tpl = TEMPLATE_68 if template is None else np.asarray(template, dtype=np.float64)
    return size * (margin + (1 - 2 * margin) * tpl)


def similarity_to_template(landmarks: np.ndarray, size: int = 256, margin: float = 0.15,
                           points: str | Sequence[int] = "stable", template: np.ndarray | None = None) -> np.ndarray:
    """``(2, 3)`` similarity transform taking ``landmarks (68, 2)`` onto the template in a ``size`` crop.

    ``points="stable"`` fits eye corners, nose and mouth corners (:data:`STABLE_POINTS`): they move
    least with expressions and detector noise; the jaw contour is the least reliable group.
    ``points="all"`` fits all 68; a sequence of indices fits those.
    """
    lms = np.asarray(landmarks, dtype=np.float64)
    if lms.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks; got shape {lms.shape}")
    if isinstance(points, str):
        if points not in ("stable", "all"):
            raise ValueError(f"points must be 'stable', 'all' or a list of indices; got {points!r}")
        idx = list(STABLE_POINTS) if points == "stable" else list(range(68))
    else:
        idx = [int(i) for i in points]
    return umeyama(lms[idx], template_points(size, margin, template)[idx])


def warp_landmarks(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine matrix to points ``(N, 2)``."""
    pts, mat = np.asarray(points, dtype=np.float64), np.asarray(matrix, dtype=np.float64)
    return pts @ mat[:, :2].T + mat[:, 2]


def align_image(image: np.ndarray, matrix: np.ndarray, size: int = 256, border: str = "constant") -> np.ndarray:
    """Warp ``image`` by ``matrix`` into a ``size x size`` crop (bilinear; ``border`` fills outside pixels:
    ``"constant"`` black, ``"replicate"`` or ``"reflect"``)."""
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {tuple(_BORDERS)}; got {border!r}")
    img = np.asarray(image)
    return cv2.warpAffine(img, np.asarray(matrix, dtype=np.float64), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=_BORDERS[border])


def align_clip(frames: np.ndarray | Sequence[np.ndarray], landmarks_onset: np.ndarray | None = None,
               size: int = 256, backend: str = "dlib", margin: float = 0.15,
               points: str | Sequence[int] = "stable", border: str = "constant") -> AlignedClip:
    """Align every frame of a clip with ONE transform estimated on the onset frame ``frames[0]``.

    ``landmarks_onset`` (68, 2) are detected on ``frames[0]`` with ``backend`` when not given;
    ``margin`` and ``points`` are as in :func:`similarity_to_template`, ``border`` as in :func:`align_image`.
    """
    if len(frames) == 0:
        raise ValueError("align_clip needs at least one frame")
    first = np.asarray(frames[0])
    for i, frame in enumerate(frames):
        if np.shape(frame) != first.shape:
            raise ValueError(f"frame {i} has shape {np.shape(frame)}, but the onset frame has {first.shape}")
    if landmarks_onset is None:
        landmarks_onset = detect_landmarks(first, backend=backend)
    matrix = similarity_to_template(landmarks_onset, size, margin, points)
    aligned = np.stack([align_image(as_uint8_image(f), matrix, size, border) for f in frames])
    return AlignedClip(frames=aligned, matrix=matrix, landmarks_onset_aligned=warp_landmarks(landmarks_onset, matrix))


def mirror_landmarks(points: np.ndarray) -> np.ndarray:
    """Landmarks of the mirrored face: ``x -> -x`` and left/right indices swapped (:data:`MIRROR_68`)."""
    pts = np.asarray(points, dtype=np.float64).copy()
    pts[:, 0] = -pts[:, 0]
    return pts[list(MIRROR_68)]


def _normalise_shape(points: np.ndarray) -> np.ndarray:
    """Centre on the centroid, unit RMS radius, eye line (right-eye to left-eye centre) along +x."""
    pts = points - points.mean(axis=0)
    pts = pts / np.sqrt((pts ** 2).sum(axis=1).mean())
    right, left = eye_centres(pts)
    eye_vec = left - right
    angle = np.arctan2(eye_vec[1], eye_vec[0])
    c, s = np.cos(-angle), np.sin(-angle)
    return pts @ np.array([[c, -s], [s, c]]).T


def derive_template(shapes: Sequence[np.ndarray], symmetric: bool = True, iterations: int = 20) -> np.ndarray:
    """Mean shape ``(68, 2)`` of landmark sets by generalised Procrustes analysis, in a unit box.

    Each shape is similarity-aligned (:func:`umeyama`) to the running mean until it settles;
    ``symmetric`` adds every shape's mirror image first so the template is left/right symmetric.
    The result is shifted and scaled (uniformly) so its bounding box is centred in ``[0, 1]^2``
    with its longer side spanning ``[0, 1]``. This is how :data:`TEMPLATE_68` was made.
    """
    pool = [np.asarray(s, dtype=np.float64) for s in shapes]
    if not pool or any(s.shape != (68, 2) for s in pool):
        raise ValueError("derive_template needs one or more (68, 2) landmark arrays")
    if symmetric:
        pool += [mirror_landmarks(s) for s in pool]
    mean = _normalise_shape(pool[0])
    for _ in range(iterations):
        aligned = [warp_landmarks(s, umeyama(s, mean)) for s in pool]
        new_mean = _normalise_shape(np.mean(aligned, axis=0))
        done = np.abs(new_mean - mean).max() < 1e-10
        mean = new_mean
        if done:
            break
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    extent = (hi - lo).max()
    return (mean - (lo + hi) / 2) / extent + 0.5
