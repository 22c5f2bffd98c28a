"""The dataset plan: subjects, clips, AU combinations, emotions and every per-clip random setting.

Planning is cheap (no images), so the annotation sheet of any size can be drawn on its own
(:func:`plan_dataset`, :func:`annotation_frame`).

AU combinations come from expression *templates* with CASME II-like counts (out of 255 clips).
Template counts are turned into per-dataset quotas (largest remainder) and shuffled over the
clips, so AU frequencies follow the template table closely at any dataset size. The emotion of a
template follows CASME II practice, checked against the objective classes of Davison et al. (2018):

=====================  ===========  ==========================================================
AUs                    emotion      rule
=====================  ===========  ==========================================================
6, 12, 6+12, 7+12 ...  happiness    AU6/AU12 (objective class I)
1+2, 1+2+5, 1+2+25, 2  surprise     brow raise without AU4 (class II)
1+2+4                  fear         class VI
1+4, 4+15              sadness      class V
9, 10, 4+9, 4+7+10 ... disgust      nose wrinkle / upper lip raise (class IV)
4, 4+7                 others 2/3,  CASME II codes brow lowering mostly "others", about a third
                       disgust 1/3  "disgust" (class III, anger, does not exist in CASME II)
14, 15, 17, 15+17 ...  repression   mouth-region suppression; some 14/17 clips are "others"
7, 24, 4+17, 17+24 ... others
=====================  ===========  ==========================================================

Subject style (``subject_style`` > 0; 0 = the default, independent of the subject): real subjects differ
in emotion mix and in how they move (CASME II's range from mostly "others" to mostly "disgust"). Each
subject then draws (:func:`subject_styles`) an emotion propensity ``p ~ Dirichlet(q * STYLE_CONCENTRATION /
style)`` around the dataset's mix ``q``, a preference for each AU combination (a Gamma weight of mean 1,
shape ``1 / style``) and a movement scale (log-normal, sd ``STYLE_AMPLITUDE_SD * style``) that multiplies
its clips' amplitude. The templates are still dealt from the same quotas (global AU and emotion counts
unchanged): slots are visited in a random order, and each draws from the templates left with weight
``left * p[emotion] / q[emotion] * preference``. A clip-level random split can then learn who the subject
is and guess from their habits, as on real data.

Annotator noise: with probability ``EMOTION_NOISE`` a clip's emotion is replaced by another one
drawn uniformly. Laterality: in ``LATERAL_PROBABILITY`` of the clips that contain AU 2, 10, 12, 14
or 15, those AUs act on one side only and are written ``L``/``R`` (``4+7+L10``, ``R12``).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

FPS = 200
EMOTIONS = ("happiness", "disgust", "repression", "surprise", "others", "fear", "sadness")
EMOTION_NOISE = 0.05
LATERAL_PROBABILITY = 0.2
LATERAL_AUS = frozenset({2, 10, 12, 14, 15})
AMPLITUDE_RANGE = (0.3, 2.0)  # px at 256 x 256, drawn log-uniformly (times the dataset's amplitude_scale)
BLINK_PROBABILITY = 0.3
#: Total Dirichlet concentration of a subject's emotion mix at ``subject_style`` 1 (divided by the style).
STYLE_CONCENTRATION = 2.0
#: sd of log(per-subject movement scale) at ``subject_style`` 1 (times the style).
STYLE_AMPLITUDE_SD = 0.5

#: CASME II AU counts (IICL Table 2) the templates are tuned to, out of ``CASME2_CLIPS`` clips.
CASME2_AU_COUNTS = {1: 26, 2: 21, 4: 129, 7: 58, 12: 34, 14: 21, 15: 16, 17: 25}
CASME2_CLIPS = 255

#: (AU codes, emotion, count out of 255)
TEMPLATES: tuple[tuple[str, str, int], ...] = (
    ("12", "happiness", 18), ("6+12", "happiness", 12), ("6+7+12", "happiness", 2),
    ("7+12", "happiness", 2), ("6", "happiness", 1),
    ("1+2", "surprise", 15), ("1+2+25", "surprise", 2), ("1+2+5", "surprise", 2),
    ("2", "surprise", 1), ("25", "surprise", 1),
    ("1+2+4", "fear", 2), ("1+4", "sadness", 5), ("4+15", "sadness", 2),
    ("4+9", "disgust", 9), ("4+7+9", "disgust", 4), ("9", "disgust", 4), ("4+10", "disgust", 3),
    ("4+7+10", "disgust", 4), ("10", "disgust", 4), ("4", "disgust", 16), ("4+7", "disgust", 16),
    ("14", "repression", 9), ("15", "repression", 7), ("15+17", "repression", 7),
    ("17", "repression", 5), ("14+17", "repression", 2),
    ("4", "others", 33), ("4+7", "others", 22), ("7", "others", 4), ("4+7+17", "others", 3),
    ("4+17", "others", 2), ("17+24", "others", 2), ("24", "others", 5), ("4+14", "others", 6),
    ("14", "others", 4), ("17", "others", 4), ("5", "others", 3), ("10", "others", 4),
    ("9", "others", 3), ("6", "others", 2), ("25", "others", 1), ("4+5+7", "others", 2),
)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """Everything that defines one clip; frame numbers are absolute (``reg_img<n>.jpg``)."""

    subject: int
    index: int                  # 0-based clip index within the subject
    filename: str               # e.g. EP02_01f
    codes: tuple[str, ...]      # AU codes with laterality, e.g. ("4", "7", "L10")
    emotion: str
    onset: int                  # = first frame on disk
    apex: int
    offset: int                 # = last frame on disk
    amplitude: float            # px at apex, per AU primary anchor
    intensity: float            # relative AU intensity in (0, 1]: amplitude / top of AMPLITUDE_RANGE, before scaling
    head_drift: tuple[float, float]   # px over the clip
    head_wobble: tuple[float, float]  # px, amplitude of a slow sinusoid (x, y)
    wobble_cycles: float
    wobble_phase: float
    illumination_drift: float   # relative gain change over the clip
    noise_sigma: float          # grey levels (0-255)
    blink: tuple[int, int, float] | None  # (first frame, number of frames, peak closure 0-1)

    @property
    def au_string(self) -> str:
        """CASME II style, e.g. ``4+7+L10``."""
        return "+".join(self.codes)

    @property
    def aus(self) -> tuple[int, ...]:
        return tuple(sorted(int(c.lstrip("LR")) for c in self.codes))

    @property
    def frame_numbers(self) -> np.ndarray:
        return np.arange(self.onset, self.offset + 1)


def clip_counts(subjects: int, seed: int, clips_per_subject: int | None = None) -> list[int]:
    """Clips per subject: fixed, or drawn like CASME II (3-20, mean about 9.8)."""
    if clips_per_subject is not None:
        return [int(clips_per_subject)] * subjects
    return [int(np.clip(round(np.random.default_rng([seed, s, 0xC]).lognormal(np.log(8.5), 0.6)), 3, 20))
            for s in range(1, subjects + 1)]


def template_quota(n_clips: int) -> list[int]:
    """Number of clips per template for a dataset of ``n_clips`` (largest-remainder rounding)."""
    counts = np.array([c for _, _, c in TEMPLATES], dtype=np.float64)
    exact = counts * n_clips / counts.sum()
    quota = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n_clips - quota.sum()]] += 1
    return quota.tolist()


def _filenames(rng: np.random.Generator, n: int) -> list[str]:
    """CASME II style names ``EPxx_yy[f]``, unique within a subject."""
    episodes = np.sort(rng.integers(1, 20, size=n))
    names, seen = [], {}
    for ep in episodes:
        seen[ep] = seen.get(ep, 0) + 1
        names.append(f"EP{ep:02d}_{seen[ep]:02d}" + ("f" if rng.random() < 0.4 else ""))
    return names


def _lateralise(rng: np.random.Generator, codes: list[str]) -> tuple[str, ...]:
    if any(int(c) in LATERAL_AUS for c in codes) and rng.random() < LATERAL_PROBABILITY:
        side = "L" if rng.random() < 0.5 else "R"
        codes = [side + c if int(c) in LATERAL_AUS else c for c in codes]
    return tuple(codes)


def _clip(rng: np.random.Generator, subject: int, index: int, filename: str, template: tuple[str, str, int],
          size: int, amplitude_scale: float = 1.0) -> ClipSpec:
    codes, emotion, _ = template
    codes = _lateralise(rng, codes.split("+"))
    if rng.random() < EMOTION_NOISE:
        emotion = str(rng.choice([e for e in EMOTIONS if e != emotion]))
    rise = int(rng.integers(20, 61))            # onset -> apex: 0.10-0.30 s at 200 fps
    fall = int(rng.integers(20, 71))            # apex -> offset: 0.10-0.35 s
    fall = min(fall, 120 - rise)                # whole clip 41-121 frames (0.2-0.6 s)
    onset = int(rng.integers(1, 300))
    lo, hi = np.log(AMPLITUDE_RANGE[0]), np.log(AMPLITUDE_RANGE[1])
    natural = float(np.exp(rng.uniform(lo, hi)))
    amplitude = natural * size / 256 * amplitude_scale
    angle = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0, 0.6) * size / 256
    wobble = rng.uniform(0, 0.15, size=2) * size / 256
    blink = None
    if rng.random() < BLINK_PROBABILITY:
        length = int(rng.integers(20, 31))
        # A blink never covers the onset or apex frame, so flow_onset_apex stays exact:
        # it sits in the fall when it fits there, else in the rise, else the clip has none.
        if fall - 1 >= length:
            blink = (onset + rise + int(rng.integers(1, fall - length + 1)), length, float(rng.uniform(0.6, 0.85)))
        elif rise - 1 >= length:
            blink = (onset + int(rng.integers(1, rise - length + 1)), length, float(rng.uniform(0.6, 0.85)))
    return ClipSpec(
        subject=subject, index=index, filename=filename, codes=codes, emotion=emotion,
        onset=onset, apex=onset + rise, offset=onset + rise + fall, amplitude=round(amplitude, 4),
        intensity=round(natural / AMPLITUDE_RANGE[1], 4),
        head_drift=(round(drift * np.cos(angle), 4), round(drift * np.sin(angle), 4)),
        head_wobble=(round(float(wobble[0]), 4), round(float(wobble[1]), 4)),
        wobble_cycles=round(float(rng.uniform(0.5, 2.0)), 4), wobble_phase=round(float(rng.uniform(0, 2 * np.pi)), 4),
        illumination_drift=round(float(rng.uniform(-0.03, 0.03)), 4),
        noise_sigma=round(float(rng.uniform(0.8, 2.5)), 4), blink=blink,
    )


@dataclasses.dataclass(frozen=True)
class SubjectStyle:
    """One subject's habits (``subject_style`` > 0): emotion propensity, preference per template
    (aligned with :data:`TEMPLATES`) and movement scale (multiplies the clips' amplitude)."""

    subject: int
    emotion_propensity: dict[str, float]
    template_preference: tuple[float, ...]
    amplitude_factor: float


def _emotion_mix() -> dict[str, float]:
    """The templates' emotion frequencies (before annotator noise)."""
    total = sum(c for _, _, c in TEMPLATES)
    return {e: sum(c for _, te, c in TEMPLATES if te == e) / total for e in EMOTIONS}


def subject_styles(subjects: int, seed: int, subject_style: float) -> list[SubjectStyle]:
    """Each subject's habits for ``subject_style`` > 0 (module docstring); empty for 0."""
    if not subject_style >= 0:
        raise ValueError(f"subject_style must be >= 0; got {subject_style}")
    if subject_style == 0:
        return []
    q = _emotion_mix()
    alpha = np.array([q[e] for e in EMOTIONS]) * STYLE_CONCENTRATION / subject_style
    out = []
    for s in range(1, subjects + 1):
        rng = np.random.default_rng([seed, s, 0x57])
        p = rng.dirichlet(alpha)
        pref = rng.gamma(1 / subject_style, subject_style, size=len(TEMPLATES))
        factor = float(np.exp(rng.normal(0, STYLE_AMPLITUDE_SD * subject_style)))
        out.append(SubjectStyle(s, {e: round(float(v), 4) for e, v in zip(EMOTIONS, p)},
                                tuple(float(v) for v in pref), round(factor, 4)))
    return out


def _styled_templates(counts: list[int], seed: int, styles: list[SubjectStyle]) -> list[list[int]]:
    """Template index of every clip slot, per subject, dealt from the quotas with each subject's tilt."""
    left = np.array(template_quota(sum(counts)), dtype=np.float64)
    q = _emotion_mix()
    slots = [(si, i) for si, n in enumerate(counts) for i in range(n)]
    rng = np.random.default_rng([seed, 0x7E, 0x57])
    chosen = [[0] * n for n in counts]
    for k in rng.permutation(len(slots)):
        si, i = slots[k]
        style = styles[si]
        tilt = np.array([style.emotion_propensity[e] / q[e] * style.template_preference[t]
                         for t, (_, e, _) in enumerate(TEMPLATES)])
        w = left * np.maximum(tilt, 1e-12)
        t = int(rng.choice(len(TEMPLATES), p=w / w.sum()))
        chosen[si][i] = t
        left[t] -= 1
    return chosen


def plan_dataset(subjects: int = 26, seed: int = 0, size: int = 256,
                 clips_per_subject: int | None = None, amplitude_scale: float = 1.0,
                 subject_style: float = 0.0) -> list[ClipSpec]:
    """All clips of a dataset, ordered by subject then filename. Cheap: renders nothing.

    ``amplitude_scale`` multiplies every clip's motion amplitude (the 0.3-2 px range at 256 px);
    the AU ``intensity`` (which drives the appearance changes) does not change with it.
    ``subject_style`` > 0 gives each subject its own emotion/AU propensities and movement scale
    (:func:`subject_styles`); 0 gives the default plan, labels independent of the subject.
    """
    if not amplitude_scale > 0:
        raise ValueError(f"amplitude_scale must be > 0; got {amplitude_scale}")
    if not subject_style >= 0:
        raise ValueError(f"subject_style must be >= 0; got {subject_style}")
    if subjects < 1:
        raise ValueError(f"subjects must be >= 1; got {subjects}")
    if clips_per_subject is not None and clips_per_subject < 1:
        raise ValueError(f"clips_per_subject must be >= 1 or None; got {clips_per_subject}")
    counts = clip_counts(subjects, seed, clips_per_subject)
    styles = subject_styles(subjects, seed, subject_style)
    if styles:
        chosen = _styled_templates(counts, seed, styles)
        templates = [[TEMPLATES[t] for t in row] for row in chosen]
    else:  # the default: the quota pool shuffled over the clips, whoever the subject
        pool = [t for t, q in zip(TEMPLATES, template_quota(sum(counts))) for _ in range(q)]
        order = np.random.default_rng([seed, 0x7E]).permutation(len(pool))
        flat = iter(pool[o] for o in order)
        templates = [[next(flat) for _ in range(n)] for n in counts]
    specs = []
    for subject, n in zip(range(1, subjects + 1), counts):
        names = _filenames(np.random.default_rng([seed, subject, 0xF]), n)
        scale = amplitude_scale * (styles[subject - 1].amplitude_factor if styles else 1.0)
        for index, name in enumerate(names):
            rng = np.random.default_rng([seed, subject, index, 0x5EC])
            specs.append(_clip(rng, subject, index, name, templates[subject - 1][index], size, scale))
    return specs


#: Header of the CASME II coding sheet; ``None`` marks the two columns with an empty header.
SHEET_COLUMNS = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion")


def sheet_rows(specs: list[ClipSpec]) -> list[tuple]:
    """Rows of the coding sheet, aligned with :data:`SHEET_COLUMNS` (empty columns are ``None``)."""
    return [(s.subject, s.filename, None, s.onset, s.apex, s.offset, None, s.au_string, s.emotion) for s in specs]


def annotation_frame(specs: list[ClipSpec]) -> pd.DataFrame:
    """The coding sheet as a DataFrame (empty-header columns named ``Unnamed: 2``/``Unnamed: 6``
    as pandas reads them), plus nothing else."""
    columns = [c if c is not None else f"Unnamed: {i}" for i, c in enumerate(SHEET_COLUMNS)]
    return pd.DataFrame(sheet_rows(specs), columns=columns)
