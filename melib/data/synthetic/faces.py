"""Synthetic subjects: identities made from the public-domain portraits that ship inside packages.

Base photos: ``skimage.data.astronaut()`` (NASA, public domain) and matplotlib's
``grace_hopper.jpg`` (US Navy, public domain). Their 68 landmarks are found once with dlib
(:func:`melib.face.dlib_landmarks`). A subject is one base photo plus, drawn from the subject's own
random stream: mirroring, a similarity transform (scale, rotation, position jitter) into the square
crop, a smooth landmark-based shape warp (eye spacing, brow height, nose, mouth, jaw and chin),
a skin tone (per-channel gain and gamma) and a directional lighting ramp. Landmarks follow every
transform exactly, so the subject's neutral landmarks are known without running dlib again.
"""
from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from .fields import MIDLINE_68, MIRROR_68, RIGHT_68, RBFField, face_frame
from .warp import invert_displacement

#: (name, approximate face centre (x, y) in the photo, used to pick the face among dlib's boxes)
BASE_PHOTOS: tuple[tuple[str, tuple[int, int]], ...] = (("astronaut", (220, 120)), ("grace_hopper", (270, 230)))


@dataclasses.dataclass(frozen=True)
class BaseFace:
    """A base photo (RGB uint8) and its 68 dlib landmarks (x, y)."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray


@dataclasses.dataclass(frozen=True)
class Subject:
    """A synthetic identity in the ``size x size`` crop.

    ``albedo`` is the neutral face (float32 RGB, 0-255) before lighting; a rendered frame is
    ``warp(albedo) * shading * gain(t)`` plus noise. ``landmarks`` are the neutral 68 points.
    """

    subject: int
    base: str
    mirrored: bool
    albedo: np.ndarray
    shading: np.ndarray  # (size, size, 1) float32 multiplicative lighting ramp
    landmarks: np.ndarray


def load_base_photo(name: str) -> np.ndarray:
    """One of the shipped portraits as an RGB uint8 array."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            buf = np.frombuffer(fh.read(), dtype=np.uint8)
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    raise ValueError(f"unknown base photo {name!r}; known: {[n for n, _ in BASE_PHOTOS]}")


_BASES: tuple[BaseFace, ...] | None = None


def base_faces() -> tuple[BaseFace, ...]:
    """The base photos with their dlib landmarks (detected once per process, then kept)."""
    global _BASES
    if _BASES is None:
        _BASES = tuple(_detect_base(name, hint) for name, hint in BASE_PHOTOS)
    return _BASES


def install_base_faces(bases: tuple[BaseFace, ...]) -> None:
    """Reuse base faces detected elsewhere (worker processes get them from the parent)."""
    global _BASES
    _BASES = tuple(bases)


def _detect_base(name: str, hint: tuple[int, int]) -> BaseFace:
    from melib.face import FaceNotFoundError, detect_faces, dlib_landmarks

    image = load_base_photo(name)
    inside = [b for b in detect_faces(image) if b[0] <= hint[0] <= b[2] and b[1] <= hint[1] <= b[3]]
    if not inside:
        raise FaceNotFoundError(f"dlib found no face around {hint} in base photo {name!r}")
    return BaseFace(name, image, dlib_landmarks(image, box=inside[0]))


def _similarity(src_center: np.ndarray, dst_center: np.ndarray, scale: float, angle: float,
                mirror: bool) -> np.ndarray:
    """2x3 affine: mirror (x -> -x), rotate by ``angle`` rad, scale, move ``src_center`` to ``dst_center``."""
    c, s = np.cos(angle), np.sin(angle)
    lin = scale * np.array([[c, -s], [s, c]]) @ np.diag([-1.0 if mirror else 1.0, 1.0])
    return np.hstack([lin, (dst_center - lin @ src_center)[:, None]])


def _shape_offsets(rng: np.random.Generator) -> np.ndarray:
    """Per-landmark ``(out, up)`` offsets in IOD units for a new face shape (right-side convention)."""
    off = np.zeros((68, 2))
    eyes = rng.uniform(-0.04, 0.04)            # eyes further apart / closer
    brows = rng.uniform(-0.03, 0.05)           # brows higher / lower
    nose_len = rng.uniform(-0.05, 0.05)        # nose tip lower / higher
    nose_w = rng.uniform(-0.03, 0.04)          # nostril wings out / in
    mouth_y = rng.uniform(-0.05, 0.05)         # mouth lower / higher
    mouth_w = rng.uniform(-0.04, 0.04)         # mouth wider / narrower
    jaw_w = rng.uniform(-0.06, 0.06)           # jaw wider / narrower
    chin = rng.uniform(-0.05, 0.05)            # chin longer / shorter
    off[36:48, 0] += eyes
    off[17:27, 0] += eyes
    off[17:27, 1] += brows
    off[30:36, 1] -= nose_len
    off[[31, 35], 0] += nose_w
    off[[32, 34], 0] += nose_w / 2
    off[48:68, 1] -= nose_len / 2 + mouth_y
    off[[48, 54, 60, 64], 0] += mouth_w
    jaw_profile = np.sin(np.linspace(0, np.pi, 17))  # widest at the cheeks, zero at the chin
    off[0:17, 0] += jaw_w * jaw_profile
    off[5:12, 1] -= chin * np.hanning(9)[1:-1]
    return off


def _shape_field(landmarks: np.ndarray, offsets: np.ndarray) -> RBFField:
    """Interpolating field that moves each landmark by its ``(out, up)`` offset (inner lips left free)."""
    ex, up, iod = face_frame(landmarks)
    side = np.array([0.0 if i in MIDLINE_68 else (-1.0 if i in RIGHT_68 else 1.0) for i in range(68)])
    disp = iod * (offsets[:, :1] * side[:, None] * ex[None] + offsets[:, 1:2] * up[None])
    keep = list(range(60))  # inner-lip points coincide when the mouth is closed: let them follow
    return RBFField.interpolate(landmarks[keep], disp[keep], 0.8 * iod)


@functools.lru_cache(maxsize=4)
def make_subject(subject: int, seed: int, size: int = 256) -> Subject:
    """Build subject ``subject`` (1-based) of the dataset with ``seed``; deterministic.

    Results are cached per process: treat the returned arrays as read-only.
    """
    rng = np.random.default_rng([seed, subject, 0x1D])
    base = base_faces()[(subject - 1) % len(BASE_PHOTOS)]
    mirror = bool(rng.random() < 0.5)
    lm = base.landmarks.astype(np.float64)
    _, _, iod = face_frame(lm)
    center = 0.5 * (lm[36:48].mean(0) + lm[48:68].mean(0))
    scale = size * rng.uniform(0.31, 0.36) / iod
    angle = np.deg2rad(rng.uniform(-4.0, 4.0))
    dst = size * np.array([0.5 + rng.uniform(-0.03, 0.03), 0.56 + rng.uniform(-0.03, 0.03)])
    affine = _similarity(center, dst, scale, angle, mirror)
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.warpAffine(base.image, affine, (size, size), flags=flags, borderMode=cv2.BORDER_REFLECT101)
    lm = lm @ affine[:, :2].T + affine[:, 2]
    if mirror:  # the subject's right eye must keep indices 36-41 after the flip
        lm = lm[MIRROR_68]

    field = _shape_field(lm, _shape_offsets(rng))
    grid = field.grid((size, size))
    mapx, mapy = invert_displacement(grid, iterations=6)
    image = cv2.remap(image.astype(np.float32), mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    lm = lm + field.at(lm)

    tone = rng.uniform(-1.5, 0.3)  # < 0 darker and warmer, > 0 lighter
    gain = np.exp(tone * np.array([0.25, 0.35, 0.45]))
    gamma = rng.uniform(0.85, 1.15)
    albedo = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma * gain
    theta = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.0, 0.3)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    shading = 1.0 + strength * (np.cos(theta) * xs + np.sin(theta) * ys)
    return Subject(subject, base.name, mirror, albedo.astype(np.float32), shading[..., None].astype(np.float32), lm)
