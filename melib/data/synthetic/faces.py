"""Synthetic subjects: identities made from the public-domain portraits that ship inside packages.

Base photos: ``skimage.data.astronaut()`` (NASA, public domain) and matplotlib's
``grace_hopper.jpg`` (US Navy, public domain). Their 68 landmarks are found once with dlib
(:func:`melib.face.dlib_landmarks`). Both portraits smile (the astronaut broadly, teeth showing), so
each is first *neutralised* (:func:`neutral_field`: mouth closed over inpainted teeth, lip corners
back to a neutral width and height, cheeks down). A subject is then, drawn from the subject's own
random stream: a morph of the two neutral faces (weight uniform in 0-1; both warped onto the
blended landmarks and cross-dissolved), mirroring, a similarity transform (scale, rotation,
position jitter) into the square crop, a landmark-based shape change (eye spacing, brow height,
nose, mouth, jaw and chin), a skin tone (per-channel gain and gamma), a directional lighting ramp
and an age (permanent lines, :func:`.appearance.age_lines`). Landmarks follow every transform
exactly, so the subject's neutral landmarks are known without running dlib again.
"""
from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from .appearance import age_lines
from .fields import MIDLINE_68, MIRROR_68, RIGHT_68, RBFField, face_frame
from melib.motion.warp import invert_displacement

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

    ``albedo`` is the neutral face (float32 RGB, 0-255) before lighting, permanent age lines included;
    a rendered frame is ``warp(albedo * exp(appearance)) * shading * gain(t)`` plus noise.
    ``landmarks`` are the neutral 68 points. ``morph`` is the weight of the second base photo
    (0 = all astronaut, 1 = all Grace Hopper); ``base`` names the nearer one. ``age`` (0-1) sets how
    many permanent lines the face has and how deep they are.
    """

    subject: int
    base: str
    mirrored: bool
    albedo: np.ndarray
    shading: np.ndarray  # (size, size, 1) float32 multiplicative lighting ramp
    landmarks: np.ndarray
    morph: float = 0.0
    age: float = 0.0


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
    eyes = rng.uniform(-0.06, 0.06)            # eyes further apart / closer
    brows = rng.uniform(-0.05, 0.07)           # brows higher / lower
    nose_len = rng.uniform(-0.08, 0.08)        # nose tip lower / higher
    nose_w = rng.uniform(-0.05, 0.06)          # nostril wings out / in
    mouth_y = rng.uniform(-0.07, 0.07)         # mouth lower / higher
    mouth_w = rng.uniform(-0.06, 0.06)         # mouth wider / narrower
    jaw_w = rng.uniform(-0.10, 0.10)           # jaw wider / narrower
    chin = rng.uniform(-0.08, 0.08)            # chin longer / shorter
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


def _side_sign() -> np.ndarray:
    """-1 for the subject's right-side landmarks, +1 for the left, 0 on the midline."""
    return np.array([0.0 if i in MIDLINE_68 else (-1.0 if i in RIGHT_68 else 1.0) for i in range(68)])


def _shape_displacement(landmarks: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(68, 2)`` pixel displacement of each landmark by its ``(out, up)`` offset (IOD units)."""
    ex, up, iod = face_frame(landmarks)
    return iod * (offsets[:, :1] * _side_sign()[:, None] * ex[None] + offsets[:, 1:2] * up[None])


#: Landmark pairs across the inner lips (upper, lower); their distance is the mouth opening.
_INNER_PAIRS = ((61, 67), (62, 66), (63, 65))
#: Neutral mouth: width at most this many IOD, corners this far (IOD) below the lip seam.
NEUTRAL_MOUTH_WIDTH = 0.85
NEUTRAL_CORNER_DROP = 0.02


def mouth_opening(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap in IOD units (0 for a closed mouth)."""
    _, up, iod = face_frame(landmarks)
    return float(np.mean([max((landmarks[a] - landmarks[b]) @ up, 0.0) for a, b in _INNER_PAIRS])) / iod


def neutral_field(landmarks: np.ndarray) -> RBFField:
    """Forward field that takes a face's own expression out: closes an open mouth (the lips meet at
    the middle of the gap, the chin follows by a third), brings the lip corners back to a neutral
    width and down to the lip seam, and lowers the cheeks with them. Eyes, brows, nose and the upper
    jaw are pinned. Both base portraits smile, one broadly with teeth showing."""
    lm = np.asarray(landmarks, dtype=np.float64)
    ex, up, iod = face_frame(lm)
    disp = np.zeros((68, 2))
    gap = mouth_opening(lm) * iod
    upper, lower = [49, 50, 51, 52, 53], [55, 56, 57, 58, 59]
    disp[upper] -= 0.5 * gap * up
    disp[lower] += 0.5 * gap * up
    disp[[7, 8, 9]] += 0.33 * gap * up
    seam = 0.5 * (lm[[61, 62, 63]].mean(0) + lm[[65, 66, 67]].mean(0))
    axis = (lm[54] - lm[48]) / np.linalg.norm(lm[54] - lm[48])
    narrow = max(np.linalg.norm(lm[54] - lm[48]) - NEUTRAL_MOUTH_WIDTH * iod, 0.0) / 2
    for corner, inner, sign in ((48, 60, 1.0), (54, 64, -1.0)):
        drop = (seam - lm[corner]) @ up - NEUTRAL_CORNER_DROP * iod
        disp[corner] = min(drop, 0.0) * up + sign * narrow * axis
        disp[inner] = disp[corner]
    for lid in ((40, 41), (46, 47)):
        # the cheek (below the lower lid) comes down with the corners
        cheek = lm[list(lid)].mean(0) - 0.30 * iod * up
        lm = np.vstack([lm, cheek])
        disp = np.vstack([disp, 0.4 * np.minimum(disp[[48, 54]] @ up, 0.0).mean() * up])
    anchors = list(range(0, 60)) + [68, 69]
    if gap > 0.02 * iod:  # inner lips: the upper comes down, the lower up (they meet at the seam)
        for a, b in _INNER_PAIRS:
            disp[a], disp[b] = disp[51], disp[57]
        anchors += [61, 62, 63, 65, 66, 67]
    moving = set(range(48, 60)) | {7, 8, 9, 68, 69} | {61, 62, 63, 65, 66, 67, 60, 64}
    keep = [i for i in anchors if i in moving or i < 48]
    return RBFField.interpolate(lm[keep], disp[keep], 0.5 * iod)


@functools.lru_cache(maxsize=4)
def _mouth_filled(name: str) -> np.ndarray:
    """The base photo (float32) with the open mouth's inside painted over in lip colour (no teeth)."""
    base = next(b for b in base_faces() if b.name == name)
    image = base.image
    if mouth_opening(base.landmarks) > 0.02:
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(base.landmarks[60:68]).astype(np.int32)], 255)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        image = cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)
    return image.astype(np.float32)


def _placed_base(base: BaseFace, dst: np.ndarray, iod: float, angle: float, mirror: bool
                 ) -> tuple[np.ndarray, np.ndarray, RBFField]:
    """``(affine, landmarks, neutral field)`` of a base photo moved into the subject's crop."""
    lm = base.landmarks.astype(np.float64)
    _, _, base_iod = face_frame(lm)
    center = 0.5 * (lm[36:48].mean(0) + lm[48:68].mean(0))
    affine = _similarity(center, dst, iod / base_iod, angle, mirror)
    lm = lm @ affine[:, :2].T + affine[:, 2]
    if mirror:  # the subject's right eye must keep indices 36-41 after the flip
        lm = lm[MIRROR_68]
    return affine, lm, neutral_field(lm)


def _render_base(base: BaseFace, affine: np.ndarray, neutral: RBFField, morph: RBFField,
                 size: int) -> np.ndarray:
    """The base photo in the subject's crop, neutralised then morphed: one resampling of the photo.

    The three maps compose: output pixel ``y`` comes from ``n^-1(m^-1(y))`` in the crop (inverse
    neutral and morph fields), which the inverse affine takes back into the photo.
    """
    mx, my = invert_displacement(morph.grid((size, size)), iterations=8)
    nx, ny = invert_displacement(neutral.grid((size, size)), iterations=8)
    px = cv2.remap(nx, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    py = cv2.remap(ny, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inv = cv2.invertAffineTransform(affine)
    srcx = (inv[0, 0] * px + inv[0, 1] * py + inv[0, 2]).astype(np.float32)
    srcy = (inv[1, 0] * px + inv[1, 1] * py + inv[1, 2]).astype(np.float32)
    return cv2.remap(_mouth_filled(base.name), srcx, srcy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


@functools.lru_cache(maxsize=4)
def make_subject(subject: int, seed: int, size: int = 256) -> Subject:
    """Build subject ``subject`` (1-based) of the dataset with ``seed``; deterministic.

    A subject is a morph of the two neutralised base photos (weight drawn uniformly), mirrored or
    not, placed by a similarity transform, reshaped (eyes, brows, nose, mouth, jaw, chin), toned
    (skin gain per channel, gamma), lit by a directional ramp and aged (permanent lines).
    Results are cached per process: treat the returned arrays as read-only.
    """
    rng = np.random.default_rng([seed, subject, 0x1D])
    morph_w = float(rng.uniform(0.0, 1.0))
    mirror = bool(rng.random() < 0.5)
    iod = size * rng.uniform(0.31, 0.36)
    angle = np.deg2rad(rng.uniform(-4.0, 4.0))
    dst = size * np.array([0.5 + rng.uniform(-0.03, 0.03), 0.56 + rng.uniform(-0.03, 0.03)])
    placed = [_placed_base(b, dst, iod, angle, mirror) for b in base_faces()]
    neutral_lm = [lm + field.at(lm) for _, lm, field in placed]
    target = (1 - morph_w) * neutral_lm[0] + morph_w * neutral_lm[1]
    target = target + _shape_displacement(target, _shape_offsets(rng))
    keep = list(range(60))  # inner-lip points coincide when the mouth is closed: let them follow
    image = np.zeros((size, size, 3), np.float32)
    for base, (affine, _, neutral), lm_n, w in zip(base_faces(), placed, neutral_lm, (1 - morph_w, morph_w)):
        morph = RBFField.interpolate(lm_n[keep], (target - lm_n)[keep], 0.8 * iod)
        image += np.float32(w) * _render_base(base, affine, neutral, morph, size)
    lm = target

    tone = rng.uniform(-1.5, 0.3)  # < 0 darker and warmer, > 0 lighter
    gain = np.exp(tone * np.array([0.25, 0.35, 0.45]) + rng.uniform(-0.08, 0.08, size=3))
    gamma = rng.uniform(0.8, 1.2)
    albedo = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma * gain
    age = float(rng.uniform(0.0, 1.0))
    albedo *= np.exp(age_lines(lm, (size, size), age, rng))[..., None]
    theta = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.0, 0.3)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    shading = 1.0 + strength * (np.cos(theta) * xs + np.sin(theta) * ys)
    base = BASE_PHOTOS[int(morph_w >= 0.5)][0]
    return Subject(subject, base, mirror, albedo.astype(np.float32), shading[..., None].astype(np.float32), lm,
                   round(morph_w, 4), round(age, 4))
