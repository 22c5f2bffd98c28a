"""Landmark-anchored smooth displacement fields: one per FACS Action Unit (AU).

Each AU is a list of *anchors* (dlib landmarks, or points built from them) with a prescribed
displacement, plus *pins* (landmarks that must stay still). The field is the radial-basis-function
interpolant of those values with the compactly supported Wendland C2 kernel
``phi(r) = (1 - r)^4 (4 r + 1)`` for ``r < 1`` (Wendland 1995), ``r = |x - anchor| / R``, the radius
``R`` a multiple of the inter-ocular distance (IOD). Interpolation (not a plain sum of bumps) makes
the anchors move exactly as prescribed, so the amplitude is a measurable quantity:

    ``amplitude`` = the displacement (pixels) of each *primary* anchor landmark of the AU at apex.

The AUs of a clip add their fields. Pins keep most combinations exact (AU6 pins the lip corners
that AU12 moves); where two AUs share a primary anchor (1+4 at the inner brow, 6+7 at the lower
lid, 17+24 at the lower lip) that anchor moves by the vector sum, as the muscles would pull it.

Directions follow FACS (Ekman, Friesen & Hager 2002) and are written in the face frame as
``(out, up)``: ``up`` points from the chin to the brows, ``out`` from the face midline towards the
anchor's side. Specs are given for the subject's right side (dlib indices 17-21, 36-41, 48-50, 58-59)
and the midline; the left side is the mirror image. A lateral code (``R12``, ``L10``) keeps one side
only: the other side's anchors are pinned and midline anchors move half as far.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from melib.face.template import MIRROR_68 as _FACE_MIRROR_68
from melib.face.template import eye_centres, inter_ocular_distance

_SIDES = ("R", "L")

#: Mirror permutation of the 68 dlib landmarks (subject's right <-> left): melib.face's one table.
MIRROR_68: np.ndarray = np.asarray(_FACE_MIRROR_68)
MIDLINE_68 = frozenset({8, 27, 28, 29, 30, 33, 51, 57, 62, 66})
RIGHT_68 = frozenset(set(range(0, 8)) | set(range(17, 22)) | {31, 32} | set(range(36, 42))
                     | {48, 49, 50, 58, 59, 60, 61, 67})

#: Virtual anchors: (landmark weights, offset (out, up) in IOD units), defined on the right side.
VIRTUAL: dict[str, tuple[dict[int, float], tuple[float, float]]] = {
    "cheek": ({40: 0.5, 41: 0.5}, (0.05, -0.30)),   # infraorbital triangle, below the eye
    "chin_boss": ({57: 0.5, 8: 0.5}, (0.0, 0.0)),            # mentalis bulge between lip and chin
}


@dataclasses.dataclass(frozen=True)
class AUSpec:
    """One AU: anchors with ``(out, up)`` displacement per unit amplitude, pins, primary anchors."""

    au: int
    name: str
    moves: dict[int | str, tuple[float, float]]
    pins: tuple[int | str, ...]
    primary: tuple[int | str, ...]
    radius: float  # kernel support in IOD units


def _unit(out: float, up: float) -> tuple[float, float]:
    norm = float(np.hypot(out, up))
    return out / norm, up / norm


#: The AUs the generator emits. Primary anchors move by exactly ``amplitude`` (unit vectors).
AU_SPECS: dict[int, AUSpec] = {s.au: s for s in [
    AUSpec(1, "inner brow raiser", {21: (0, 1), 20: (0, 0.7), 19: (0, 0.35)},
           (17, 37, 38, 39, 27), (21,), 0.35),
    AUSpec(2, "outer brow raiser", {17: (0, 1), 18: (0, 1), 19: (0, 0.6)},
           (21, 36, 37), (17, 18), 0.35),
    AUSpec(4, "brow lowerer", {21: _unit(-0.5, -0.866), 20: (-0.3, -0.6), 19: (-0.1, -0.45), 18: (0, -0.25)},
           (37, 38, 39, 40, 41, 29), (21,), 0.35),
    AUSpec(5, "upper lid raiser", {37: (0, 1), 38: (0, 1)},
           (36, 39, 40, 41, 19, 20), (37, 38), 0.25),
    AUSpec(6, "cheek raiser", {"cheek": (0.1, 0.995), 40: (0, 0.5), 41: (0, 0.5)},
           (36, 37, 38, 39, 48, 31), ("cheek",), 0.40),
    AUSpec(7, "lid tightener", {40: (0, 1), 41: (0, 1)},
           (36, 37, 38, 39, 19, 20, 31), (40, 41), 0.25),
    AUSpec(9, "nose wrinkler", {31: _unit(0.1, 1), 32: (0, 0.7), 33: (0, 0.5), 30: (0, 0.3), 50: (0, 0.3)},
           (39, 48, 28, 40), (31,), 0.35),
    AUSpec(10, "upper lip raiser", {50: (0, 1), 51: (0, 1), 49: (0, 0.7)},
           (48, 57, 58, 59, 33, 31), (50, 51), 0.30),
    AUSpec(12, "lip corner puller", {48: (0.6, 0.8), 49: (0.3, 0.4), 59: (0.3, 0.4)},
           (51, 57, 33, 40, 41, "cheek"), (48,), 0.40),
    AUSpec(14, "dimpler", {48: _unit(-1, 0.15)},
           (51, 57, 50, 58), (48,), 0.30),
    AUSpec(15, "lip corner depressor", {48: _unit(0.15, -1), 59: (0, -0.5)},
           (51, 57, 33), (48,), 0.35),
    AUSpec(17, "chin raiser", {57: (0, 1), 58: (0, 0.8), "chin_boss": (0, 1), 8: (0, 0.6)},
           (48, 51, 50), (57,), 0.35),
    AUSpec(24, "lip pressor", {51: (0, -1), 57: (0, 1), 50: (0, -0.7), 58: (0, 0.7), 48: (-0.3, 0)},
           (33, 8), (51, 57), 0.30),
    AUSpec(25, "lips part", {57: (0, -1), 58: (0, -0.8), 51: (0, 0.3)},
           (33, 48), (57,), 0.35),
]}


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(ex, up, iod)``: unit vector from the subject's right eye to the left eye (image right for
    a frontal face), unit vector up the face, and the inter-ocular distance (eye centres)."""
    right, left = eye_centres(landmarks)
    iod = inter_ocular_distance(landmarks)
    ex = (left - right) / iod
    up = np.array([ex[1], -ex[0]])  # image y points down: rotate ex by -90 degrees
    return ex, up, iod


@dataclasses.dataclass(frozen=True)
class RBFField:
    """A smooth 2-D displacement field ``sum_k phi(|x - c_k| / R) w_k`` (Wendland C2 kernel)."""

    centers: np.ndarray  # (K, 2) x, y
    weights: np.ndarray  # (K, 2)
    radius: float

    @staticmethod
    def interpolate(centers: np.ndarray, values: np.ndarray, radius: float) -> "RBFField":
        """The field that takes ``values[k]`` at ``centers[k]`` (exact up to a 1e-9 ridge)."""
        centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
        values = np.asarray(values, dtype=np.float64).reshape(-1, 2)
        kernel = wendland(np.linalg.norm(centers[:, None] - centers[None], axis=-1) / radius)
        weights = np.linalg.solve(kernel + 1e-9 * np.eye(len(centers)), values)
        return RBFField(centers, weights, float(radius))

    def at(self, points: np.ndarray) -> np.ndarray:
        """Displacement ``(N, 2)`` at points ``(N, 2)``."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return wendland(np.linalg.norm(pts[:, None] - self.centers[None], axis=-1) / self.radius) @ self.weights

    def grid(self, shape: tuple[int, int], offset: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
        """The field ``(H, W, 2)`` float32 sampled at pixel centres ``(x, y) - offset``."""
        h, w = shape
        out = np.zeros((h, w, 2), dtype=np.float64)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        xs -= offset[0]
        ys -= offset[1]
        for (cx, cy), wk in zip(self.centers, self.weights):
            # Only the pixels inside the kernel's support contribute: evaluate on that window.
            x0, x1 = max(int(cx + offset[0] - self.radius) - 1, 0), min(int(cx + offset[0] + self.radius) + 2, w)
            y0, y1 = max(int(cy + offset[1] - self.radius) - 1, 0), min(int(cy + offset[1] + self.radius) + 2, h)
            if x0 >= x1 or y0 >= y1:
                continue
            r = np.hypot(xs[y0:y1, x0:x1] - cx, ys[y0:y1, x0:x1] - cy) / self.radius
            out[y0:y1, x0:x1] += wendland(r)[..., None] * wk
        return out.astype(np.float32)


def wendland(r: np.ndarray) -> np.ndarray:
    """Wendland's C2 kernel ``(1 - r)^4 (4 r + 1)`` on ``r < 1``, 0 beyond; positive definite in 2-D."""
    r = np.asarray(r, dtype=np.float64)
    t = np.clip(1.0 - r, 0.0, None)
    return t ** 4 * (4.0 * r + 1.0)


def _anchor_point(ref: int | str, side: str, lm: np.ndarray, ex: np.ndarray, up: np.ndarray,
                  iod: float) -> np.ndarray:
    """Position of an anchor on ``side`` ("R" = subject's right, "L" = mirror)."""
    if isinstance(ref, int):
        return lm[ref if side == "R" else MIRROR_68[ref]]
    weights, (out, upv) = VIRTUAL[ref]
    point = sum(w * lm[i if side == "R" else MIRROR_68[i]] for i, w in weights.items())
    out_dir = -ex if side == "R" else ex
    return point + iod * (out * out_dir + upv * up)


def _is_midline(ref: int | str) -> bool:
    if isinstance(ref, int):
        return ref in MIDLINE_68
    weights, (out, _) = VIRTUAL[ref]
    return out == 0.0 and all(i in MIDLINE_68 for i in weights)


def au_anchors(au: int, landmarks: np.ndarray, amplitude: float, side: str | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Anchor positions ``(K, 2)``, their displacements ``(K, 2)`` in pixels, a primary mask ``(K,)``
    and the kernel radius in pixels for ``au`` on a face with 68 ``landmarks``.

    ``side`` is ``None`` (both sides), ``"R"`` or ``"L"`` (subject's side, as in ``R12``).
    """
    if au not in AU_SPECS:
        raise ValueError(f"no displacement model for AU {au}; modelled AUs: {sorted(AU_SPECS)}")
    if side not in (None, "R", "L"):
        raise ValueError(f"side must be None, 'R' or 'L'; got {side!r}")
    spec = AU_SPECS[au]
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2); got {lm.shape}")
    ex, up, iod = face_frame(lm)
    points: dict[tuple, tuple[np.ndarray, np.ndarray, bool]] = {}

    def add(ref: int | str, s: str, vec: tuple[float, float], primary: bool) -> None:
        key = (ref,) if _is_midline(ref) else (ref, s)
        out_dir = -ex if s == "R" else ex
        disp = amplitude * (vec[0] * out_dir + vec[1] * up)
        pos = _anchor_point(ref, s, lm, ex, up, iod)
        if key in points:  # midline anchors appear once per side: keep one
            return
        points[key] = (pos, disp, primary)

    for s in _SIDES:
        active = side is None or side == s
        for ref, vec in spec.moves.items():
            if _is_midline(ref):
                scale = 1.0 if side is None else 0.5
                add(ref, s, (0.0, vec[1] * scale), ref in spec.primary and side is None)
            else:
                add(ref, s, vec if active else (0.0, 0.0), ref in spec.primary and active)
        for ref in spec.pins:
            add(ref, s, (0.0, 0.0), False)
    pos = np.array([p[0] for p in points.values()])
    disp = np.array([p[1] for p in points.values()])
    primary = np.array([p[2] for p in points.values()])
    return pos, disp, primary, spec.radius * iod


def au_field(au: int, landmarks: np.ndarray, amplitude: float, side: str | None = None) -> RBFField:
    """The smooth field of one AU (see the module docstring for the amplitude definition)."""
    pos, disp, _, radius = au_anchors(au, landmarks, amplitude, side)
    return RBFField.interpolate(pos, disp, radius)


def au_displacement(au: int, landmarks: np.ndarray, amplitude: float, shape: tuple[int, int],
                    side: str | None = None) -> np.ndarray:
    """Forward displacement ``(H, W, 2)`` float32 (x, y) of AU ``au`` at ``amplitude`` pixels.

    Pixel ``p`` of the neutral face moves to ``p + field[p]``. ``landmarks`` are the neutral face's
    68 dlib points in the same pixel frame; ``side`` restricts the AU to the subject's "R"/"L" side.
    """
    return au_field(au, landmarks, amplitude, side).grid(shape)


def parse_code(code: str) -> tuple[int, str | None]:
    """``"R12" -> (12, "R")``, ``"4" -> (4, None)`` (the generator's own codes only)."""
    text = str(code).strip().upper()
    side = text[0] if text[:1] in ("L", "R") else None
    return int(text[1:] if side else text), side


def expression_fields(codes: Iterable[str], landmarks: np.ndarray, amplitude: float) -> list[RBFField]:
    """One field per AU code of a clip (``["4", "7", "L10"]``); the expression is their sum."""
    return [au_field(au, landmarks, amplitude, side) for au, side in map(parse_code, codes)]


def expression_displacement(codes: Iterable[str], landmarks: np.ndarray, amplitude: float,
                            shape: tuple[int, int], offset: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Sum of the AU fields of ``codes`` on a ``shape`` grid (optionally sampled at ``p - offset``)."""
    total = np.zeros((*shape, 2), dtype=np.float32)
    for field in expression_fields(codes, landmarks, amplitude):
        total += field.grid(shape, offset)
    return total


def landmark_displacement(codes: Iterable[str], landmarks: np.ndarray, amplitude: float) -> np.ndarray:
    """Displacement ``(68, 2)`` of the 68 landmarks under the expression ``codes`` at ``amplitude``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    out = np.zeros_like(lm)
    for field in expression_fields(codes, lm, amplitude):
        out += field.at(lm)
    return out
