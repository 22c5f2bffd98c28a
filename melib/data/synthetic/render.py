"""Render one clip: expression, head motion, blink, lighting drift, sensor noise; and its ground truth.

Frame ``t`` is the neutral subject, shaded by the AUs' appearance changes (:mod:`.appearance`),
moved by the forward displacement

    ``d_t(x) = a(t) U(x) + c(t) B(x) + h(t)``

with ``U`` the sum of the clip's AU fields at full amplitude, ``a(t)`` the raised-cosine
expression profile (0 at onset and offset, 1 at apex), ``B`` the blink field with closure ``c(t)``
and ``h(t)`` a smooth sub-pixel head translation (``h`` = 0 at the first frame). The image is
``albedo(x) exp(a(t) s S(x))`` sampled at the inverse map (bilinear), with ``S`` the clip's
appearance log-shading at full strength and ``s = appearance * sqrt(intensity)``, times the subject's fixed lighting ramp and a
slowly drifting global gain, plus Gaussian sensor noise (luminance: the same in R, G and B),
rounded to uint8 (JPEG encoding happens
when the dataset is written).

Ground truth: ``flow_onset_apex[p] = d_apex(x) - d_onset(x)`` with ``x`` the neutral point seen at
onset pixel ``p`` (forward flow, the convention of ``optical_flow(onset, apex)``); the blink never
covers onset or apex, so this is ``U(p - h_onset) + h_apex - h_onset``. ``au_flow_onset_apex`` is
the same without the head term. Landmarks are the neutral ones moved by ``d_t``.
``appearance_apex`` is the relative brightness change the appearance makes at apex,
``exp(a(apex) s S) - 1``, in apex-frame pixels (0 where the AUs change no appearance).
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from .appearance import expression_appearance
from .faces import Subject
from .fields import expression_fields, face_frame
from .plan import ClipSpec
from melib.motion.warp import invert_displacement, pixel_grid, support_box


@dataclasses.dataclass(frozen=True)
class RenderedClip:
    """Frames ``(T, H, W, 3)`` uint8 RGB and the clip's ground truth."""

    frames: np.ndarray
    landmarks: np.ndarray          # (T, 68, 2)
    flow_onset_apex: np.ndarray    # (H, W, 2) float32
    au_flow_onset_apex: np.ndarray  # (H, W, 2) float32
    head_shift: np.ndarray         # (T, 2)
    expression: np.ndarray         # (T,) a(t)
    closure: np.ndarray            # (T,) c(t)
    gain: np.ndarray               # (T,) global illumination gain
    appearance_apex: np.ndarray    # (H, W) float32 relative brightness change at apex


def expression_profile(frame_numbers: np.ndarray, onset: int, apex: int, offset: int) -> np.ndarray:
    """Raised cosine: 0 at ``onset``, 1 at ``apex``, 0 at ``offset`` (smooth rise and fall)."""
    t = np.asarray(frame_numbers, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - onset) / max(apex - onset, 1), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - apex) / max(offset - apex, 1), 0, 1))
    return np.where(t <= apex, rise, fall)


def blink_profile(frame_numbers: np.ndarray, blink: tuple[int, int, float] | None) -> np.ndarray:
    """Eyelid closure per frame: closes over the first third of the blink, reopens over the rest."""
    t = np.asarray(frame_numbers, dtype=np.float64)
    if blink is None:
        return np.zeros_like(t)
    start, length, peak = blink
    end = start + length - 1
    top = start + (length - 1) / 3.0
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - start) / (top - start), 0, 1))
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - top) / (end - top), 0, 1))
    return peak * np.where(t <= top, up, down) * ((t >= start) & (t <= end))


def head_shift(spec: ClipSpec) -> np.ndarray:
    """``(T, 2)`` head translation: linear drift plus a slow sinusoid, zero at the first frame."""
    s = np.linspace(0.0, 1.0, spec.offset - spec.onset + 1)[:, None]
    phase = 2 * np.pi * spec.wobble_cycles * s + spec.wobble_phase
    return np.array(spec.head_drift) * s + np.array(spec.head_wobble) * (np.sin(phase) - np.sin(spec.wobble_phase))


def blink_field(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Forward field ``(H, W, 2)`` of a full blink (closure 1): the upper lid comes down to the lower.

    Per eye, in eye coordinates (``u`` along the corner-to-corner axis, +-1 at the corners; ``v`` in
    pixels, down the face), both lids are parabolas through the corners, opening ``gap(u)``. A point
    between the lids moves down by ``v_low(u) - v``: the upper lid lands on the lower lid and the eye
    between them is compressed (vertical gradient ``-closure``, so the warp stays invertible for
    closure < 1, see :mod:`.warp`). Above the upper lid the skin stretches over 1.5 gaps. The field
    is smoothed with a 1.5 px Gaussian. Closure is scaled per frame by :func:`blink_profile`.
    """
    h, w = shape
    field = np.zeros((h, w, 2), dtype=np.float32)
    _, up, _ = face_frame(landmarks)
    down = -up
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for corners, upper, lower in (((36, 39), (37, 38), (41, 40)), ((42, 45), (43, 44), (47, 46))):
        a, b = landmarks[corners[0]], landmarks[corners[1]]
        center, half = (a + b) / 2, np.linalg.norm(b - a) / 2
        axis = (b - a) / (2 * half)
        g_up = max(-float(np.mean((landmarks[list(upper)] - center) @ down)), 1.0)
        g_low = max(float(np.mean((landmarks[list(lower)] - center) @ down)), 1.0)
        # The lids at u = +-1/3 (landmarks 37/38) lie at 8/9 of the parabola's peak.
        g_up, g_low = g_up * 9 / 8, g_low * 9 / 8
        u = ((xs - center[0]) * axis[0] + (ys - center[1]) * axis[1]) / half
        v = (xs - center[0]) * down[0] + (ys - center[1]) * down[1]
        bump = np.clip(1 - u ** 2, 0, None)
        v_up, v_low, gap = -g_up * bump, g_low * bump, (g_up + g_low) * bump
        above = np.clip((v - (v_up - 1.5 * gap)) / np.maximum(1.5 * gap, 1e-6), 0, 1)
        between = np.clip((v_low - v) / np.maximum(gap, 1e-6), 0, 1)
        amount = gap * np.where(v < v_up, above, between)
        field += (amount[..., None] * down).astype(np.float32)
    return cv2.GaussianBlur(field, (0, 0), 1.5)


def _sample(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 1, 2)
    return cv2.remap(grid, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2)


def appearance_strength(spec: ClipSpec, appearance: float) -> float:
    """``s = appearance * sqrt(intensity)``: how strongly a clip's AUs show on the skin at apex."""
    return float(appearance) * float(np.sqrt(spec.intensity))


def render_clip(subject: Subject, spec: ClipSpec, seed: int, noise: bool = True,
                appearance: float = 1.0) -> RenderedClip:
    """Render the frames and ground truth of ``spec`` for ``subject``; deterministic given ``seed``.

    ``noise=False`` renders without sensor noise (for tests and figures). ``appearance`` scales the
    FACS appearance changes (0: motion only; the dataset default is calibrated, see :mod:`.dataset`).
    """
    size = subject.albedo.shape[:2]
    lm0 = subject.landmarks
    frames_n = spec.frame_numbers
    a = expression_profile(frames_n, spec.onset, spec.apex, spec.offset)
    c = blink_profile(frames_n, spec.blink)
    h = head_shift(spec)
    gain = 1.0 + spec.illumination_drift * np.linspace(0.0, 1.0, len(frames_n))
    fields = expression_fields(spec.codes, lm0, spec.amplitude)
    expr = np.zeros((*size, 2), dtype=np.float32)
    for f in fields:
        expr += f.grid(size)
    blink = blink_field(lm0, size) if spec.blink is not None else np.zeros_like(expr)
    strength = appearance_strength(spec, appearance)
    shade = expression_appearance(spec.codes, lm0, size) * np.float32(strength) if strength > 0 else None
    shade_box = None if shade is None else support_box(shade[..., None])
    expr_lm = sum(f.at(lm0) for f in fields)
    blink_lm = _sample(blink, lm0)
    rng = np.random.default_rng([seed, spec.subject, spec.index, 0xF7A])

    frames = np.empty((len(frames_n), *size, 3), dtype=np.uint8)
    landmarks = lm0 + a[:, None, None] * expr_lm + c[:, None, None] * blink_lm + h[:, None, :]
    xs, ys = pixel_grid(*size)
    shading = np.repeat(subject.shading, 3, axis=2)
    # Outside this box the expression and blink fields are zero: there a frame is a pure translation.
    region = support_box(expr + blink, margin=int(np.ceil(np.abs(h).max())) + 1)
    onset_i, apex_i = 0, spec.apex - spec.onset
    appearance_apex = np.zeros(size, dtype=np.float32)
    for i in range(len(frames_n)):
        shift = h[i].astype(np.float32)
        if region is None or (a[i] == 0 and c[i] == 0):
            mapx, mapy = xs - shift[0], ys - shift[1]
        else:
            d = np.float32(a[i]) * expr
            if c[i] > 0:
                d += np.float32(c[i]) * blink
            mapx, mapy = invert_displacement(d, shift, region)
        source = subject.albedo
        if shade_box is not None and a[i] > 0:
            change = np.exp(np.float32(a[i]) * shade[shade_box])
            source = source.copy()
            source[shade_box] *= change[..., None]
            if i == apex_i:
                full = np.zeros(size, dtype=np.float32)
                full[shade_box] = change - 1
                appearance_apex = cv2.remap(full, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = cv2.remap(source, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        cv2.multiply(img, shading, dst=img, scale=float(gain[i]))
        if noise:  # luminance noise: JPEG's 4:2:0 chroma subsampling would average chroma noise away
            img += (np.float32(spec.noise_sigma) * rng.standard_normal(size, dtype=np.float32))[..., None]
        frames[i] = np.clip(np.rint(img), 0, 255)

    h_on, h_ap = h[onset_i], h[apex_i]
    au_flow = np.zeros((*size, 2), dtype=np.float32)
    for f in fields:
        au_flow += f.grid(size, offset=h_on)
    au_flow *= np.float32(a[apex_i] - a[onset_i])
    flow = au_flow + (h_ap - h_on).astype(np.float32)
    return RenderedClip(frames, landmarks, flow, au_flow, h, a, c, gain, appearance_apex.astype(np.float32))
