"""Masks of face regions from 68 landmarks: the whole face (with forehead) and the brow, eye, nose
and mouth regions where strain and attention are summarised. Sizes are in inter-ocular distances
(:func:`melib.face.template.inter_ocular_distance`)."""
from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from .template import LANDMARK_GROUPS, inter_ocular_distance


def _points(*groups: str) -> tuple[int, ...]:
    return tuple(i for g in groups for i in LANDMARK_GROUPS[g])


#: Regions (dlib 0-based indices, unions of :data:`LANDMARK_GROUPS`) where mean strain is reported.
REGION_POINTS: dict[str, tuple[int, ...]] = {
    "brows": _points("right_brow", "left_brow"), "eyes": _points("right_eye", "left_eye"),
    "nose": _points("nose_bridge", "nose_base"), "mouth": _points("outer_lip"),
}


def hull_mask(points: np.ndarray, shape: tuple[int, int], grow: float = 0.0) -> np.ndarray:
    """Boolean ``shape`` mask of the convex hull of ``points`` (x, y), dilated by ``grow`` pixels."""
    canvas = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(canvas, cv2.convexHull(np.rint(points).astype(np.int32)), 1)
    if grow >= 1:
        size = 2 * int(round(grow)) + 1
        canvas = cv2.dilate(canvas, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return canvas.astype(bool)


def face_mask(landmarks: np.ndarray, shape: tuple[int, int], grow: float = 0.1) -> np.ndarray:
    """Convex hull of the 68 landmarks plus the forehead (brows lifted by half the inter-ocular
    distance), dilated by ``grow`` x that distance."""
    lm = np.asarray(landmarks, np.float64)
    iod = inter_ocular_distance(lm)
    forehead = lm[list(REGION_POINTS["brows"])] - [0.0, 0.5 * iod]
    return hull_mask(np.vstack([lm, forehead]), shape, grow * iod)


def region_masks(landmarks: np.ndarray, shape: tuple[int, int], grow: float = 0.12) -> dict[str, np.ndarray]:
    """Masks of :data:`REGION_POINTS`: the hull of each group's landmarks dilated by ``grow`` x the
    inter-ocular distance; the brow region also reaches a quarter of that distance above the brows
    (where AU1/2 lift the skin) and the two eyes are separate hulls."""
    lm = np.asarray(landmarks, np.float64)
    iod = inter_ocular_distance(lm)
    out = {}
    for name, idx in REGION_POINTS.items():
        pts = lm[list(idx)]
        if name == "brows":
            out[name] = hull_mask(np.vstack([pts, pts - [0.0, 0.25 * iod]]), shape, grow * iod)
        elif name == "eyes":
            out[name] = (hull_mask(lm[LANDMARK_GROUPS["right_eye"]], shape, grow * iod)
                         | hull_mask(lm[LANDMARK_GROUPS["left_eye"]], shape, grow * iod))
        else:
            out[name] = hull_mask(pts, shape, grow * iod)
    return out


def region_means(values: np.ndarray, masks: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean of a (H, W) map inside each mask."""
    return {name: float(np.asarray(values)[m].mean()) for name, m in masks.items()}
