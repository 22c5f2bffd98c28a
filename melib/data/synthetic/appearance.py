"""FACS appearance changes: landmark-anchored shading for each AU, and permanent age lines.

Motion alone is not what a coder sees at the apex: FACS (Ekman, Friesen & Hager 2002) defines most
AUs by appearance changes as well, such as furrows, wrinkles, bulges and deepened folds. The generator
renders them as a *log-shading* map ``S(x)`` on the neutral face: the albedo becomes
``albedo(x) * exp(s(t) S(x))``, where ``s(t) = appearance * a(t) * sqrt(intensity)``. Here ``a(t)`` is
the clip's expression profile (0 at onset, 1 at apex), ``intensity`` is the clip's relative AU
intensity in (0, 1], and ``appearance`` is the dataset's knob. The shaded albedo is then warped by
the clip's motion, so each wrinkle moves with the skin it sits on.

Three primitives, all sized in inter-ocular distances (IOD) and placed by landmarks:

- *furrow*: a curve (quadratic through three points). Its profile across is a difference of
  Gaussians: a dark core with faint light shoulders, the look of a crease lit from the front.
- *bulge*: an anisotropic Gaussian mound lit from above. Its upper half is lighter and its lower
  half darker (the derivative of a Gaussian along "up").
- *blob*: a dark (or light) Gaussian spot, used for the dimple, chin pits and the mouth opening.

Specs are written for the subject's right side (dlib 17-21, 36-41, 48-50, 58-59) and mirrored to the
left, as in :mod:`.fields`. Positions are ``(ref, du, dv)``. ``ref`` is a landmark index or a tuple of
indices that are averaged. ``du`` runs along the eye axis (image right on a frontal face) and ``dv``
up the face, both in IOD. Midline primitives are drawn once. A lateral code (``R12``) draws its
side's primitives at full depth and the midline ones at half depth.

The per-AU looks follow FACS: AU1 central forehead wrinkles, AU2 lateral forehead wrinkles, AU4
vertical glabellar furrows and the brow bulge, AU5 more of the upper eye visible, AU6 crow's feet,
an infraorbital furrow and the cheek bulge, AU7 the lower-lid bulge, AU9 wrinkles at the nasal root,
AU10/AU12 a deepened nasolabial furrow, AU14 the dimple, AU15 a crease down from the lip corner,
AU17 chin-boss wrinkling and a deeper mentolabial furrow, AU24 the pressed lip line, and AU25 the dark
mouth opening.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from .fields import MIRROR_68, face_frame, parse_code

Point = tuple  # (ref, du, dv); ref = landmark index or tuple of indices (averaged); du, dv in IOD


@dataclasses.dataclass(frozen=True)
class Furrow:
    """A crease along the quadratic curve through three points; ``depth`` > 0 darkens."""

    points: tuple[Point, Point, Point]
    depth: float
    width: float = 0.018  # Gaussian sigma of the dark core, IOD


@dataclasses.dataclass(frozen=True)
class Bulge:
    """A mound at ``center`` with half-axes ``(ru, rv)`` (IOD), lit from above; ``height`` > 0 raises."""

    center: Point
    radii: tuple[float, float]
    height: float


@dataclasses.dataclass(frozen=True)
class Blob:
    """A Gaussian spot; ``depth`` > 0 darkens, < 0 lightens."""

    center: Point
    radii: tuple[float, float]
    depth: float


Primitive = Furrow | Bulge | Blob

_G = (21, 22)          # glabella at brow level (midline)
_CHEEK = (40, 41)      # below the eye: the cheek is placed relative to the lower lid
_SEAM = ((60,), (61, 67), (62, 66), (63, 65), (64,))  # the line between the lips


def _arc(ref, u0: float, u1: float, v: float, sag: float) -> tuple[Point, Point, Point]:
    """Three points of a near-horizontal arc from ``u0`` to ``u1`` at height ``v``, raised by ``sag`` mid-way."""
    return ((ref, u0, v), (ref, 0.5 * (u0 + u1), v + sag), (ref, u1, v))


#: Appearance of each AU the generator emits: (mirrored primitives, midline primitives).
AU_APPEARANCE: dict[int, tuple[tuple[Primitive, ...], tuple[Primitive, ...]]] = {
    1: ((), tuple(Furrow(_arc(_G, -0.30, 0.30, v, 0.04), 1.0) for v in (0.30, 0.42, 0.54))
        + (Bulge((_G, 0.0, 0.20), (0.30, 0.10), 0.4),)),
    2: (tuple(Furrow(((19, -0.02, v), (18, -0.05, v + 0.02), (17, -0.06, v - 0.04)), 1.0) for v in (0.24, 0.36))
        + (Bulge((18, 0.0, 0.14), (0.14, 0.07), 0.4),), ()),
    4: ((Furrow(((_G, -0.07, 0.0), (_G, -0.085, 0.12), (_G, -0.07, 0.24)), 1.3),
         Bulge(((20, 21), 0.02, 0.07), (0.13, 0.06), 0.8)),
        (Blob((_G, 0.0, 0.06), (0.08, 0.10), 0.35),)),
    5: ((Blob(((37, 38), 0.0, -0.04), (0.10, 0.025), -0.6),), ()),
    6: ((Furrow(((36, -0.06, 0.01), (36, -0.15, 0.05), (36, -0.24, 0.08)), 0.9),
         Furrow(((36, -0.06, -0.01), (36, -0.16, -0.01), (36, -0.26, -0.02)), 0.9),
         Furrow(((36, -0.06, -0.03), (36, -0.14, -0.07), (36, -0.22, -0.12)), 0.9),
         Furrow(((39, 0.0, -0.13), (_CHEEK, 0.0, -0.17), (36, -0.06, -0.12)), 0.8),
         Bulge((_CHEEK, -0.05, -0.30), (0.18, 0.11), 0.9)), ()),
    7: ((Bulge((_CHEEK, 0.0, -0.05), (0.14, 0.035), 0.9),
         Furrow(((39, 0.0, -0.10), (_CHEEK, 0.0, -0.12), (36, 0.0, -0.09)), 0.6)), ()),
    9: ((Furrow(((31, -0.03, 0.05), (31, -0.10, -0.05), (48, -0.05, 0.07)), 0.6),
         Blob((31, -0.02, 0.02), (0.04, 0.04), 0.4)),
        tuple(Furrow(_arc(27, -0.10, 0.10, v, -0.015), 1.1) for v in (-0.04, -0.10, -0.16))),
    10: ((Furrow(((31, -0.05, 0.07), (31, -0.13, -0.07), (48, -0.09, 0.03)), 1.1),
          Bulge(((31, 49), -0.02, 0.0), (0.07, 0.06), 0.4)), ()),
    12: ((Furrow(((31, -0.07, 0.09), (48, -0.20, 0.12), (48, -0.11, -0.06)), 1.2),
          Bulge((_CHEEK, -0.06, -0.33), (0.16, 0.10), 0.6),
          Furrow(((48, -0.02, 0.03), (48, -0.05, 0.0), (48, -0.03, -0.04)), 0.6)), ()),
    14: ((Blob((48, -0.07, 0.0), (0.03, 0.05), 1.0),
          Furrow(((48, -0.05, 0.08), (48, -0.08, 0.0), (48, -0.06, -0.08)), 0.8)), ()),
    15: ((Furrow(((48, -0.02, -0.02), (48, -0.06, -0.15), (48, -0.04, -0.28)), 1.0),), ()),
    17: ((Blob(((57, 8), -0.07, 0.02), (0.025, 0.025), 0.8), Blob(((57, 8), -0.03, -0.06), (0.025, 0.025), 0.8)),
         (Furrow(_arc(57, -0.16, 0.16, -0.10, -0.04), 1.1),
          Blob(((57, 8), 0.0, -0.01), (0.025, 0.025), 0.8),
          Bulge(((57, 8), 0.0, 0.0), (0.16, 0.10), 0.7))),
    24: ((Bulge((49, 0.0, 0.05), (0.08, 0.05), 0.5),),
         (Furrow(tuple((ref, 0.0, 0.0) for ref in _SEAM[1:4]), 1.0), Bulge((57, 0.0, -0.04), (0.16, 0.05), 0.5))),
    25: ((), (Blob((_SEAM[2], 0.0, 0.0), (0.20, 0.025), 1.6),)),
}
#: Log-shading scale of a depth-1 primitive at appearance 1 (a furrow core: -0.30 x 0.7, about 19 % darker).
UNIT_DEPTH = 0.30


def _side_ref(ref, side: str):
    if side == "R":
        return ref
    return tuple(int(MIRROR_68[i]) for i in ref) if isinstance(ref, tuple) else int(MIRROR_68[ref])


def _place(point: Point, side: str, lm: np.ndarray, ex: np.ndarray, up: np.ndarray, iod: float) -> np.ndarray:
    """Pixel position of ``(ref, du, dv)`` on ``side`` ("R" as written, "L" mirrored)."""
    ref, du, dv = point
    ref = _side_ref(ref, side)
    base = lm[list(ref)].mean(0) if isinstance(ref, tuple) else lm[ref]
    if side == "L":
        du = -du
    return base + iod * (du * ex + dv * up)


def _window(center: np.ndarray, reach: float, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    h, w = shape
    x0, x1 = max(int(center[0] - reach), 0), min(int(center[0] + reach) + 2, w)
    y0, y1 = max(int(center[1] - reach), 0), min(int(center[1] + reach) + 2, h)
    return None if x0 >= x1 or y0 >= y1 else (slice(y0, y1), slice(x0, x1))


def _curve(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Points every ~0.3 px on the quadratic through ``p0``, ``p1`` (at t = 1/2) and ``p2``."""
    c = 2 * p1 - 0.5 * (p0 + p2)  # Bezier control point that puts the curve through p1 at t = 1/2
    length = np.linalg.norm(c - p0) + np.linalg.norm(p2 - c)
    t = np.linspace(0, 1, max(int(length / 0.3), 2))[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2


def _draw(out: np.ndarray, prim: Primitive, side: str, lm: np.ndarray, ex: np.ndarray, up: np.ndarray,
          iod: float, scale: float) -> None:
    """Add ``prim``'s log-shading times ``scale`` into ``out`` (H, W) in place."""
    shape = out.shape
    if isinstance(prim, Furrow):
        pts = _curve(*(_place(p, side, lm, ex, up, iod) for p in prim.points))
        sigma = max(prim.width * iod, 0.6)
        lo, hi = pts.min(0) - 4 * sigma, pts.max(0) + 4 * sigma
        win = _window((lo + hi) / 2, float(np.max(hi - lo)) / 2, shape)
        if win is None:
            return
        ys, xs = np.mgrid[win[0], win[1]].astype(np.float64)
        d2 = np.min((xs[..., None] - pts[:, 0]) ** 2 + (ys[..., None] - pts[:, 1]) ** 2, axis=-1)
        profile = np.exp(-d2 / (2 * sigma ** 2)) - 0.3 * np.exp(-d2 / (2 * (2.5 * sigma) ** 2))
        out[win] -= scale * UNIT_DEPTH * prim.depth * profile
        return
    center = _place(prim.center, side, lm, ex, up, iod)
    ru, rv = prim.radii[0] * iod, prim.radii[1] * iod
    win = _window(center, 3.5 * max(ru, rv), shape)
    if win is None:
        return
    ys, xs = np.mgrid[win[0], win[1]].astype(np.float64)
    u = (xs - center[0]) * ex[0] + (ys - center[1]) * ex[1]
    v = (xs - center[0]) * up[0] + (ys - center[1]) * up[1]
    g = np.exp(-0.5 * ((u / ru) ** 2 + (v / rv) ** 2))
    if isinstance(prim, Bulge):  # lit from above: the upper flank brightens, the lower darkens
        out[win] += scale * UNIT_DEPTH * prim.height * 1.65 * (v / rv) * g
    else:
        out[win] -= scale * UNIT_DEPTH * prim.depth * g


def draw_primitives(primitives: Iterable[tuple[Primitive, str, float]], landmarks: np.ndarray,
                    shape: tuple[int, int]) -> np.ndarray:
    """Log-shading ``(H, W)`` float32 of ``(primitive, side, scale)`` triples on a face with ``landmarks``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    ex, up, iod = face_frame(lm)
    out = np.zeros(shape, dtype=np.float64)
    for prim, side, scale in primitives:
        _draw(out, prim, side, lm, ex, up, iod, scale)
    return out.astype(np.float32)


def au_primitives(au: int, side: str | None = None) -> list[tuple[Primitive, str, float]]:
    """``(primitive, side, scale)`` of one AU; ``side`` "R"/"L" keeps one side (midline at half depth)."""
    if au not in AU_APPEARANCE:
        raise ValueError(f"no appearance model for AU {au}; modelled AUs: {sorted(AU_APPEARANCE)}")
    lateral, midline = AU_APPEARANCE[au]
    sides = ("R", "L") if side is None else (side,)
    return ([(p, s, 1.0) for s in sides for p in lateral]
            + [(p, "R", 1.0 if side is None else 0.5) for p in midline])


def au_appearance(au: int, landmarks: np.ndarray, shape: tuple[int, int], side: str | None = None) -> np.ndarray:
    """Log-shading ``(H, W)`` of AU ``au`` at full strength on the neutral face with ``landmarks``."""
    return draw_primitives(au_primitives(au, side), landmarks, shape)


def expression_appearance(codes: Sequence[str], landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Log-shading ``(H, W)`` of a clip's AU codes (``["4", "7", "L10"]``) at full strength: their sum."""
    prims = [p for au, side in map(parse_code, codes) for p in au_primitives(au, side)]
    return draw_primitives(prims, landmarks, shape)


#: Permanent lines of an older face: (primitive, its AU's look), drawn at rest with per-subject depths.
AGE_LINES: tuple[tuple[Primitive, str], ...] = (
    (Furrow(_arc(_G, -0.45, 0.45, 0.36, 0.05), 0.8, 0.016), "midline"),
    (Furrow(_arc(_G, -0.50, 0.50, 0.50, 0.06), 0.8, 0.016), "midline"),
    (Furrow(_arc(_G, -0.40, 0.40, 0.64, 0.06), 0.8, 0.016), "midline"),
    (Furrow(((_G, -0.06, 0.02), (_G, -0.07, 0.10), (_G, -0.06, 0.19)), 0.8, 0.016), "lateral"),
    (Furrow(((31, -0.06, 0.08), (48, -0.17, 0.10), (48, -0.09, -0.07)), 0.9, 0.022), "lateral"),
    (Furrow(((36, -0.07, 0.0), (36, -0.16, 0.01), (36, -0.24, 0.0)), 0.6, 0.016), "lateral"),
    (Furrow(((36, -0.07, -0.03), (36, -0.14, -0.07), (36, -0.21, -0.11)), 0.6, 0.016), "lateral"),
    (Furrow(((39, 0.0, -0.14), (_CHEEK, 0.0, -0.18), (36, -0.06, -0.13)), 0.6, 0.020), "lateral"),
    (Furrow(((48, -0.03, -0.04), (48, -0.06, -0.16), (48, -0.05, -0.27)), 0.6, 0.020), "lateral"),
)


def age_lines(landmarks: np.ndarray, shape: tuple[int, int], age: float, rng: np.random.Generator) -> np.ndarray:
    """Log-shading ``(H, W)`` of a subject's permanent lines: each line present with probability
    ``age`` (0-1) at depth ``age`` times a random factor; left and right sides vary independently."""
    prims = []
    for prim, kind in AGE_LINES:
        for side in (("R",) if kind == "midline" else ("R", "L")):
            if rng.random() < age:
                prims.append((prim, side, age * float(rng.uniform(0.4, 1.0))))
    return draw_primitives(prims, landmarks, shape)
