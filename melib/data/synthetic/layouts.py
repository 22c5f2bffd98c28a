"""Write the synthetic dataset in the official layouts of SAMM, SMIC-HS and CAS(ME)^3 part A.

The generator (:mod:`.dataset`) writes the CASME II layout. :func:`convert` copies such a dataset
into another dataset's layout (``../shared/notes/datasets.md``), so every reader, front end and
notebook path can be rehearsed before the licence arrives; :func:`generate` does both in one go.

=========  ==========================================================================================
samm       ``SAMM_Micro_FACS_Codes_v2.xlsx`` (13 free-text rows, header on Excel row 14) and
           ``SAMM/<006>/<006_1_1>/<006>_<nnnnn>.jpg``: grayscale full frames (default 2040 x 1088) with
           the face crop blended off-centre onto a smooth background; 200 fps, same frame numbers.
           Subject k -> ``f"{k + 5:03d}"`` (006, 007, ...); clip ``<subject>_<inducement>_<n>``.
           AU notation: lateral codes carry an intensity letter and the terms are spaced
           (``R12B + 15``); emotions in SAMM's words (see :func:`samm_emotion`).
smic       ``HS/s<k>/micro/{positive,negative,surprise}/s<k>_{po,ne,sur}_NN/reg_image######.bmp``
           at 100 fps (every second frame), no sheet, so no AU and no apex label. Emotions map to
           SMIC's classes (:data:`SMIC_CLASSES`); ``others`` has no SMIC class and is left out.
casme3a    ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` and ``part_A/spNO.<k>/<Filename>/color/<n>.jpg``
           at 30 fps (the nearest frame in time); two clips share one recording (``Filename``), numbered
           along it, as CAS(ME)^3 does. Emotions in CAS(ME)^3's words.
=========  ==========================================================================================

Ground truth: ``groundtruth/`` is copied unchanged (source names and coordinates) and
``synthetic.json`` is the source's plus a ``"layout"`` entry: name, fps, frame size, every written clip
as the reader lists it (``subject, clip, onset, apex, offset, aus, emotion``; ``apex`` is the *true*
apex, also for SMIC, whose reader has none) with its source (``source_subject``, ``source_clip``,
``source_onset/apex/offset``, ``source_frames``: the source frame number of each written frame) and,
for SAMM, the face crop's top-left corner ``face_x, face_y`` in the full frame (a source pixel
``(x, y)`` lies at ``(x + face_x, y + face_y)``); plus ``left_out`` (source clips not written, with
the reason). :func:`truth_table` reads it as a DataFrame.

Frame-number mapping: written frame ``k`` (0-based in the clip) shows source frame
``onset + round(k * 200 / fps)``; SAMM keeps the numbers (identity), SMIC numbers frame ``k`` as
``onset // 2 + k``, CAS(ME)^3 numbers it along its recording. The true apex is the written frame
nearest in time to the source apex (``k = round((apex - onset) * fps / 200)``, halves up); the offset
is the last written frame.
"""
from __future__ import annotations

import math
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from melib.io import load_json, replace_folder, save_json

from ..mappings import objective_class
from .dataset import GENERATOR_VERSION, JPEG_QUALITY, dataset_info, generate as generate_casme2, is_complete as casme2_complete, \
    settings, write_workbook
from .plan import FPS

LAYOUTS = ("casme2", "samm", "smic", "casme3a")
LAYOUT_FPS = {"casme2": FPS, "samm": 200, "smic": 100, "casme3a": 30}
SAMM_FRAME_SIZE = (2040, 1088)  # width, height
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
CASME3_SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_PREAMBLE = [  # Excel rows 1..13: free text (a synthetic stand-in for SAMM's description rows)
    ["SAMM: Spontaneous Actions and Micro-Movements (synthetic stand-in written by melib)"],
    ["FACS coding of the micro-movements"], [],
    ["Subject: participant number; Filename: subject_inducement_index"],
    ["Inducement Code: the stimulus shown"], [],
    ["Onset/Apex/Offset Frame: frame numbers"], ["Duration: offset - onset + 1"],
    ["Micro: Micro - 1/2 for movements under half a second"], [],
    ["Action Units: FACS codes with laterality (L/R) and intensity (A-E)"],
    ["Objective Classes: Davison et al. 2018"], ["Notes: free text"],
]
CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "emotion", "Objective class"]
#: Source (CASME II) emotion -> SAMM's word; ``others`` clips whose AUs are objective class III
#: (4, 4+7, ...) become ``Anger`` as SAMM codes them (its example row: ``4+7, Anger``).
SAMM_EMOTIONS = {"happiness": "Happiness", "surprise": "Surprise", "disgust": "Disgust", "fear": "Fear",
                 "sadness": "Sadness", "repression": "Contempt", "others": "Other"}
#: Source emotion -> SMIC-HS class (None: no SMIC class, the clip is left out).
SMIC_CLASSES = {"happiness": "positive", "surprise": "surprise", "disgust": "negative", "repression": "negative",
                "fear": "negative", "sadness": "negative", "others": None}
SMIC_SHORT = {"positive": "po", "negative": "ne", "surprise": "sur"}
#: Source emotion -> CAS(ME)^3's word (no suppression class there: repression -> others);
#: ``others`` clips of objective class III become ``anger``, as for SAMM.
CASME3_EMOTIONS = {"happiness": "happy", "surprise": "surprise", "disgust": "disgust", "fear": "fear",
                   "sadness": "sad", "repression": "others", "others": "others"}
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}


# ----------------------------------------------------------------------------- label and frame mappings
def frame_map(onset: int, apex: int, offset: int, fps: float, source_fps: float = FPS) -> tuple[list[int], int]:
    """Source frame number of each written frame ``k`` and the index ``k`` of the true apex.

    Frame ``k`` is taken at time ``k / fps``: source frame ``onset + round(k * source_fps / fps)``
    (halves up), for ``k = 0 .. floor((offset - onset) * fps / source_fps)``; the apex is the
    written frame nearest in time to the source apex.
    """
    ratio = source_fps / fps
    last = math.floor((offset - onset) / ratio + 1e-9)
    frames = [onset + math.floor(k * ratio + 0.5) for k in range(last + 1)]
    return frames, min(math.floor((apex - onset) / ratio + 0.5), last)


def _codes(au_string: str) -> list[str]:
    return [c.strip() for c in str(au_string).split("+") if c.strip()]


def _aus(au_string: str) -> list[int]:
    return sorted(int(c.lstrip("LR")) for c in _codes(au_string))


def samm_aus(au_string: str, intensity: float) -> str:
    """SAMM notation of a CASME II AU string: a lateral code gets an intensity letter (``R12`` -> ``R12B``)
    and then the terms are spaced like SAMM's (``R12B + 15``); other strings stay (``4+7``)."""
    codes = _codes(au_string)
    if not any(c[0] in "LR" for c in codes):
        return "+".join(codes)
    letter = "ABCDE"[min(int(float(intensity) * 5), 4)]
    return " + ".join(c + letter if c[0] in "LR" else c for c in codes)


def _is_anger(aus: list[int]) -> bool:
    return objective_class(aus) == "III"


def samm_emotion(emotion: str, aus: list[int]) -> str:
    """SAMM's word for a source emotion (:data:`SAMM_EMOTIONS`; ``others`` of objective class III -> Anger)."""
    return "Anger" if emotion == "others" and _is_anger(aus) else SAMM_EMOTIONS[emotion]


def casme3_emotion(emotion: str, aus: list[int]) -> str:
    """CAS(ME)^3's word for a source emotion (:data:`CASME3_EMOTIONS`; ``others`` of class III -> anger)."""
    return "anger" if emotion == "others" and _is_anger(aus) else CASME3_EMOTIONS[emotion]


# ----------------------------------------------------------------------------- image helpers
def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read source frame {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _write(path: Path, image: np.ndarray, params: list[int] | None = None) -> None:
    ok, buf = cv2.imencode(path.suffix, image, params or [])
    if not ok:
        raise RuntimeError(f"image encoding failed for {path}")
    path.write_bytes(buf.tobytes())


def _background(seed: int, subject: int, width: int, height: int) -> np.ndarray:
    """A smooth grayscale background (one per subject: one recording set-up)."""
    rng = np.random.default_rng([seed, subject, 0x5A3])
    coarse = rng.normal(0.0, 1.0, size=(6, 10)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None] * rng.uniform(-20, 20)
    return np.clip(120 + 18 * smooth + ramp, 0, 255).astype(np.float32)


def _placement(seed: int, subject: int, width: int, height: int, face: int) -> tuple[int, int]:
    """Top-left corner of the face crop: left or right of centre (by 10-40 % of the free width)."""
    if face > width or face > height:
        raise ValueError(f"the face ({face} px) does not fit the {width}x{height} frame; use a larger frame")
    rng = np.random.default_rng([seed, subject, 0x9A5])
    free_x, free_y = width - face, height - face
    side = 1 if rng.random() < 0.5 else -1
    x0 = round(free_x * (0.5 + side * rng.uniform(0.1, 0.4)))
    y0 = round(free_y * rng.uniform(0.25, 0.6))
    return int(x0), int(y0)


def _feather(face: int) -> np.ndarray:
    """Blend weight of the face crop: 1 inside, ramping to 0 over its outer eighth."""
    width = max(face // 8, 1)
    ramp = np.clip(np.minimum(np.arange(face), np.arange(face)[::-1]) / width, 0, 1).astype(np.float32)
    return np.outer(ramp, ramp)


# ----------------------------------------------------------------------------- writers
def _source_frame(source: Path, clip: dict, n: int) -> Path:
    return source / "Cropped" / f"sub{int(clip['subject']):02d}" / clip["filename"] / f"reg_img{n}.jpg"


def _truth_row(clip: dict, subject: str, name: str, frames: list[int], numbers: list[int], apex_k: int,
               aus: str, emotion: str, **extra: Any) -> dict:
    return {"subject": subject, "clip": name, "onset": numbers[0], "apex": numbers[apex_k], "offset": numbers[-1],
            "aus": aus, "emotion": emotion, "source_subject": int(clip["subject"]), "source_clip": clip["filename"],
            "source_onset": int(clip["onset"]), "source_apex": int(clip["apex"]), "source_offset": int(clip["offset"]),
            "source_aus": clip["aus"], "source_emotion": clip["emotion"], "source_frames": frames, **extra}


def _write_samm(source: Path, out: Path, clips: list[dict], seed: int, frame_size: tuple[int, int]) -> tuple[list, list]:
    width, height = frame_size
    rows, truth, counters = [], [], Counter()
    backgrounds: dict[int, tuple] = {}
    for clip in clips:
        s = int(clip["subject"])
        subject = f"{s + 5:03d}"
        episode = int(re.match(r"EP(\d+)", clip["filename"]).group(1))
        inducement = (episode - 1) % 7 + 1
        counters[(s, inducement)] += 1
        name = f"{subject}_{inducement}_{counters[(s, inducement)]}"
        frames, apex_k = frame_map(clip["onset"], clip["apex"], clip["offset"], LAYOUT_FPS["samm"])
        folder = out / "SAMM" / subject / name
        folder.mkdir(parents=True, exist_ok=True)
        for n in frames:
            face = cv2.cvtColor(_read_rgb(_source_frame(source, clip, n)), cv2.COLOR_RGB2GRAY).astype(np.float32)
            size = face.shape[0]
            if s not in backgrounds:
                x0, y0 = _placement(seed, s, width, height, size)
                backgrounds[s] = (_background(seed, s, width, height), x0, y0, _feather(size))
            background, x0, y0, alpha = backgrounds[s]
            frame = background.copy()
            patch = frame[y0:y0 + size, x0:x0 + size]
            frame[y0:y0 + size, x0:x0 + size] = alpha * face + (1 - alpha) * patch
            _write(folder / f"{subject}_{n:05d}.jpg", np.clip(frame + 0.5, 0, 255).astype(np.uint8),
                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        aus, emotion = samm_aus(clip["aus"], clip["intensity"]), samm_emotion(clip["emotion"], _aus(clip["aus"]))
        duration = frames[-1] - frames[0] + 1
        rows.append([subject, name, inducement, frames[0], frames[apex_k], frames[-1], duration,
                     "Micro - 1/2" if duration <= LAYOUT_FPS["samm"] // 2 else "Micro", aus, emotion,
                     _ROMAN[objective_class(_aus(clip["aus"]))], None])
        _, x0, y0, _ = backgrounds[s]
        truth.append(_truth_row(clip, subject, name, frames, frames, apex_k, aus, emotion, face_x=x0, face_y=y0))
    write_workbook(out / SAMM_SHEET, SAMM_PREAMBLE + [SAMM_HEADER] + rows, title="FACS")
    return truth, []


def _write_smic(source: Path, out: Path, clips: list[dict]) -> tuple[list, list]:
    truth, left_out, counters = [], [], Counter()
    for clip in clips:
        cls = SMIC_CLASSES[clip["emotion"]]
        if cls is None:
            left_out.append({"source_subject": int(clip["subject"]), "source_clip": clip["filename"],
                             "reason": f"emotion {clip['emotion']!r} has no SMIC-HS class"})
            continue
        subject = f"s{int(clip['subject'])}"
        counters[(subject, cls)] += 1
        name = f"{subject}_{SMIC_SHORT[cls]}_{counters[(subject, cls)]:02d}"
        frames, apex_k = frame_map(clip["onset"], clip["apex"], clip["offset"], LAYOUT_FPS["smic"])
        numbers = [clip["onset"] // 2 + k for k in range(len(frames))]
        folder = out / "HS" / subject / "micro" / cls / name
        folder.mkdir(parents=True, exist_ok=True)
        for n, m in zip(numbers, frames):
            _write(folder / f"reg_image{n:06d}.bmp", cv2.imread(str(_source_frame(source, clip, m)), cv2.IMREAD_COLOR))
        truth.append(_truth_row(clip, subject, name, frames, numbers, apex_k, "", cls))
    return truth, left_out


def _write_casme3a(source: Path, out: Path, clips: list[dict]) -> tuple[list, list]:
    rows, truth = [], []
    recording_end: dict[tuple, int] = {}
    per_subject: Counter = Counter()
    fps = LAYOUT_FPS["casme3a"]
    for clip in clips:
        s = int(clip["subject"])
        subject = f"spNO.{s}"
        recording = per_subject[s] // 2 + 1  # two clips per recording
        per_subject[s] += 1
        name = f"rec{recording}"
        frames, apex_k = frame_map(clip["onset"], clip["apex"], clip["offset"], fps)
        key = (subject, name)
        start = recording_end[key] + 15 if key in recording_end else 1 + math.floor(clip["onset"] * fps / FPS)
        numbers = [start + k for k in range(len(frames))]
        recording_end[key] = numbers[-1]
        folder = out / "part_A" / subject / name / "color"
        folder.mkdir(parents=True, exist_ok=True)
        for n, m in zip(numbers, frames):
            shutil.copyfile(_source_frame(source, clip, m), folder / f"{n}.jpg")
        emotion = casme3_emotion(clip["emotion"], _aus(clip["aus"]))
        rows.append([subject, name, numbers[0], numbers[apex_k], numbers[-1], clip["aus"], emotion,
                     _ROMAN[objective_class(_aus(clip["aus"]))]])
        truth.append(_truth_row(clip, subject, name, frames, numbers, apex_k, clip["aus"], emotion))
    write_workbook(out / CASME3_SHEET, [CASME3_HEADER] + rows, title="label")
    return truth, []


def layout_settings(layout: str, frame_size: tuple[int, int] = SAMM_FRAME_SIZE) -> dict:
    """What ``synthetic.json["layout"]`` records besides the clips (compared by :func:`is_complete`)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}")
    out = {"name": layout, "fps": LAYOUT_FPS[layout]}
    if layout == "samm":
        out["frame_size"] = [int(frame_size[0]), int(frame_size[1])]
    return out


def convert(source: str | os.PathLike, out: str | os.PathLike, layout: str,
            frame_size: tuple[int, int] = SAMM_FRAME_SIZE) -> Path:
    """Write the CASME II-layout synthetic dataset ``source`` into ``out`` in ``layout``'s official layout.

    ``frame_size`` (width, height) applies to SAMM's full frames. ``out`` must be new or empty;
    ``synthetic.json`` is written last (see the module docstring for what it holds).
    """
    if layout not in ("samm", "smic", "casme3a"):
        raise ValueError(f"convert writes 'samm', 'smic' or 'casme3a'; got {layout!r}")
    source, out = Path(source).expanduser().resolve(), Path(out).expanduser().resolve()
    info = dataset_info(source)
    if "layout" in info:
        raise ValueError(f"{source} is already a {info['layout']['name']} layout; convert a CASME II-layout dataset")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    clips = info["clips"]
    if layout == "samm":
        truth, left_out = _write_samm(source, out, clips, int(info["seed"]), tuple(frame_size))
    elif layout == "smic":
        truth, left_out = _write_smic(source, out, clips)
    else:
        truth, left_out = _write_casme3a(source, out, clips)
    shutil.copytree(source / "groundtruth", out / "groundtruth")
    save_json(out / "synthetic.json", {**info, "layout": {**layout_settings(layout, frame_size), "n_clips": len(truth),
                                                        "clips": truth, "left_out": left_out}})
    return out


def generate(out: str | os.PathLike, layout: str = "casme2", frame_size: tuple[int, int] = SAMM_FRAME_SIZE,
             workers: int | None = None, progress: bool = True, **wanted: Any) -> Path:
    """Generate the synthetic dataset (``wanted``: :func:`melib.data.synthetic.generate`'s settings) in ``layout``.

    ``casme2`` is :func:`melib.data.synthetic.generate` itself. Otherwise the CASME II layout is
    generated into a hidden sibling, converted into another hidden sibling and renamed onto ``out``.
    """
    if layout == "casme2":
        return generate_casme2(out, workers=workers, progress=progress, **wanted)
    layout_settings(layout, frame_size)
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()) and not (out / "synthetic.json").is_file():
        raise FileExistsError(f"{out} exists and is not a synthetic dataset (no synthetic.json); "
                              "choose an empty or new folder")
    pid = os.getpid()
    source, tmp = out.parent / f".{out.name}.source-{pid}", out.parent / f".{out.name}.layout-{pid}"
    for path in (source, tmp):
        shutil.rmtree(path, ignore_errors=True)
    try:
        generate_casme2(source, workers=workers, progress=progress, **wanted)
        convert(source, tmp, layout, frame_size)
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def is_complete(root: str | os.PathLike, layout: str = "casme2", frame_size: tuple[int, int] = SAMM_FRAME_SIZE,
                **wanted: Any) -> bool:
    """True when ``root`` holds a finished dataset in ``layout`` with these settings."""
    if layout == "casme2":
        return casme2_complete(root, **wanted)
    meta = Path(root) / "synthetic.json"
    if not meta.is_file():
        return False
    info = load_json(meta)
    recorded = {k: v for k, v in info.get("layout", {}).items() if k not in ("n_clips", "clips", "left_out")}
    return (info.get("version") == GENERATOR_VERSION and info.get("settings") == settings(**wanted)
            and recorded == layout_settings(layout, frame_size))


def truth_table(root: str | os.PathLike) -> pd.DataFrame:
    """The written clips' ground truth (one row per clip, the reader's ``subject, clip, onset`` plus the
    true ``apex``, ``aus`` in the layout's notation, ``emotion``, the ``source_*`` columns and, for
    SAMM, ``face_x, face_y``); ``df.attrs["left_out"]`` lists the source clips not written."""
    info = dataset_info(root)
    if "layout" not in info:
        raise ValueError(f"{root} is the CASME II layout; its ground truth is synthetic.clip_table / load_groundtruth")
    df = pd.DataFrame(info["layout"]["clips"])
    df.attrs.update(layout=info["layout"]["name"], fps=info["layout"]["fps"], left_out=info["layout"]["left_out"])
    return df
