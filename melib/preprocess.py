"""The shared motion front end, computed once per clip and cached: frames a method needs, aligned,
magnified, resized, plus optional onset->apex optical flow.

Every method in ``shared/papers`` starts here. A :class:`FrontEnd` names what to compute; all its
fields, the data fingerprint and the dataset root make the cache key, so changing any setting (or
regenerating the synthetic dataset) computes a fresh entry and never reuses a stale one.

Frame sets (``frames``):

- ``"apex_window"``: onset, then apex-``close`` .. apex+``close`` (the apex and the ``close`` frames before
  and after it: IICL's "close-to-apex" frames with ``close=3``). Frame numbers are clipped to the frames on disk inside
  [onset, offset], so a short clip repeats its edge frames and every entry has the same length.
- ``"pair"``: onset, apex (two-frame magnification: annotation mimic, Micro-AU CLIP).
- ``"triplet"``: onset, apex, offset (annotation mimic's flow input).

Magnification is two-frame, each frame against the onset (:func:`melib.motion.magnify.magnify_pair`
for ``"eulerian"``, the learned magnifier for ``"learned"``), at the frames' own resolution before
resizing to ``size``.

Alignment: datasets shipped as whole camera frames (:data:`FULL_FRAME_DATASETS`: SAMM's 2040 x 1088
frames hold a face of about 400 x 400) need the face found and aligned before any method sees it;
:func:`default_align` is the per-dataset default every method's preset takes, and :func:`face_frames`
loads a clip's frames aligned by one transform from its onset (the methods that read frames themselves
call it). ``align="auto"`` decides per clip from its ``dataset`` (the MEGC composite mixes SAMM's full frames
with CASME II's and SMIC-HS's cropped faces; :func:`row_align`).

Every method's inputs come through here. IICL (and the ladder) take :class:`FrontEnd` entries as they are;
the methods whose input is an image made from the frames (annotation mimic's magnified-flow image, Micro-AU
CLIP's encoded flow, SelfME's motion) compute it from :func:`face_frames`, :func:`magnify_apex` and
:func:`resize_flow`, and keep it in a cache made and filled by :func:`input_cache` and :func:`build_inputs`:
one key recipe (the input's settings, the data fingerprint and the dataset root), one parallel, resumable
build that loads the learned magnifier once before forking and reports what it computed, reused or mended.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd

from .cache import BuildReport, ClipCache, dataset_fingerprint
from .config import display_path
from .data import available_frames, load_frame

FRAME_SETS = ("apex_window", "pair", "triplet")
#: Values renamed after caches existed, hashed under their former names so stored caches (and the runs
#: whose keys name them) keep their keys: the apex window was first called after the paper that uses it.
HASHED_AS = {"frames": {"apex_window": "iicl"}}
ALIGNERS = ("none", "dlib", "mediapipe", "auto")  # "auto": default_align of each row's own dataset
MAGNIFIERS = ("none", "eulerian", "learned")
#: EVM's spatial cut-off wavelength (px): the front end's default, and every method that magnifies by EVM.
EULERIAN_LAMBDA_C = 16.0
FLOWS = ("none", "tvl1", "farneback", "dis")
#: Datasets whose frames are whole camera frames, not face crops: methods align faces there by default.
FULL_FRAME_DATASETS = ("samm",)
#: Side of the square face crop :func:`face_frames` aligns into (about CASME II's cropped faces, 280 x 340).
ALIGN_SIZE = 256


def default_align(dataset: str) -> str:
    """The face aligner a method uses on ``dataset`` by default: ``"dlib"`` on full-frame datasets
    (:data:`FULL_FRAME_DATASETS`), ``"none"`` on datasets that ship cropped faces (CASME II, SMIC-HS,
    synthetic), ``"auto"`` on the MEGC composite (``"megc"``), whose rows come from both kinds: each row
    then gets its own dataset's default (:func:`row_align`)."""
    if dataset == "megc":
        return "auto"
    return "dlib" if dataset in FULL_FRAME_DATASETS else "none"


def row_align(row: Mapping[str, Any], align: str) -> str:
    """The aligner for one clip: ``align`` itself, or for ``"auto"`` the default of the row's ``dataset``
    (:func:`default_align`: SAMM rows aligned with dlib, CASME II and SMIC-HS rows as stored)."""
    if align not in ALIGNERS:
        raise ValueError(f"align must be one of {ALIGNERS}; got {align!r}")
    if align != "auto":
        return align
    if "dataset" not in row:
        raise KeyError("align='auto' needs the row's 'dataset' field (a manifest row from read_annotations)")
    resolved = default_align(str(row["dataset"]))
    if resolved == "auto":
        raise ValueError(f"align='auto': row dataset {row['dataset']!r} is itself a composite")
    return resolved


def face_frames(row: Mapping[str, Any], numbers: Sequence[int], align: str = "none", size: int = ALIGN_SIZE,
                color: str = "rgb") -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Frames ``numbers`` of a clip (number -> uint8 image) and the ``(2, 3)`` alignment matrix.

    ``align="none"`` returns the files as stored (identity matrix). Otherwise the face of the earliest
    frame (the onset, when ``numbers`` start there) is found with ``align``'s landmarks and every frame is
    warped by that one similarity transform into a ``size`` x ``size`` crop (:func:`melib.face.align_clip`),
    so the motion between frames is kept. ``"auto"`` picks per row (:func:`row_align`). Raises
    :class:`melib.face.FaceNotFoundError` when no face is found.
    """
    align = row_align(row, align)
    unique = sorted({int(n) for n in numbers})
    frames = [load_frame(row, n, color=color) for n in unique]
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if align != "none":
        from .face import align_clip

        aligned = align_clip(np.stack(frames), size=size, backend=align)
        frames, matrix = list(aligned.frames), aligned.matrix
    return dict(zip(unique, frames)), matrix


@dataclass(frozen=True)
class FrontEnd:
    """What the front end computes per clip; every field is part of the cache key."""

    frames: str = "apex_window"
    close: int = 3
    align: str = "none"          # "none": the dataset's own cropped faces (CASME II Cropped, synthetic)
    size: int = 256
    magnify: str = "eulerian"
    alpha: float = 10.0          # EVM convention for both magnifiers: displacement becomes (1 + alpha) times larger
    lambda_c: float = EULERIAN_LAMBDA_C  # EVM spatial cut-off wavelength (px)
    learned_checkpoint: str = ""  # learned magnifier weights; "" = melib's self-trained model
    learned_profile: str = "fast"
    flow: str = "none"           # onset->apex flow of the aligned, unmagnified frames
    color: str = "rgb"

    def __post_init__(self) -> None:
        for name, allowed in (("frames", FRAME_SETS), ("align", ALIGNERS), ("magnify", MAGNIFIERS),
                              ("flow", FLOWS), ("color", ("rgb", "gray"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"FrontEnd.{name} must be one of {allowed}; got {getattr(self, name)!r}")
        if self.size < 16 or self.close < 0 or self.alpha < 0:
            raise ValueError(f"FrontEnd: size >= 16, close >= 0 and alpha >= 0 required; got {self}")


def frame_numbers(row: Mapping[str, Any], front: FrontEnd) -> list[int]:
    """The frame numbers an entry holds, in order (see the module docstring)."""
    onset, apex, offset = int(row["onset"]), int(row["apex"]), int(row["offset"])
    if front.frames == "pair":
        return [onset, apex]
    if front.frames == "triplet":
        return [onset, apex, offset]
    present = [n for n in available_frames(row) if onset <= n <= offset]
    if not present:
        raise FileNotFoundError(f"{row['subject']}/{row['clip']}: no frames between onset {onset} and offset {offset}")
    lo, hi = present[0], present[-1]
    return [onset] + [min(max(apex + k, lo), hi) for k in range(-front.close, front.close + 1)]


def input_cache(name: str, settings: Mapping[str, Any], manifest: pd.DataFrame,
                root: str | os.PathLike | None = None) -> ClipCache:
    """The cache ``<cache root>/<name>/<key>`` of one kind of method input for ``manifest``'s dataset: the key
    hashes ``settings`` (what makes the input), the data fingerprint and the dataset root."""
    return ClipCache(name, {**dict(settings), "data": dataset_fingerprint(manifest),
                            "dataset_root": str(manifest.attrs.get("root", ""))}, root=root)


def build_inputs(cache: ClipCache, rows: pd.DataFrame, compute: Callable[[dict[str, Any]], dict[str, np.ndarray]],
                 label: str, workers: int | None = None, progress: bool = True, strict: bool = False,
                 learned: tuple[str, str] | None = None) -> BuildReport:
    """Compute every missing (or damaged) entry of ``rows`` into ``cache`` with ``compute(row)``, in ``workers``
    processes, resumably; print ``label``'s report when ``progress`` or when clips failed (``strict`` raises
    after the others are done). ``learned``: the learned magnifier's ``(checkpoint, profile)``, loaded (or
    trained) once here, before forking, so no worker trains its own."""
    if learned is not None:
        learned_magnifier(*learned)
    report = cache.build(rows, compute, workers=workers, progress=progress, strict=strict)
    if progress or report.failed:
        print(f"{label} {cache.key} ({display_path(cache.dir)}): {report}")
    return report


def cache_for(manifest: pd.DataFrame, front: FrontEnd, root: str | None = None) -> ClipCache:
    """The cache holding ``front``'s entries for ``manifest``'s dataset."""
    settings = dataclasses.asdict(front)
    for name, former in HASHED_AS.items():
        settings[name] = former.get(settings[name], settings[name])
    return input_cache("frontend", {"front_end": settings}, manifest, root)


def compute_clip(row: Mapping[str, Any], front: FrontEnd) -> dict[str, np.ndarray]:
    """One clip's entry: ``frames`` (K, S, S[, 3]) uint8, ``frame_numbers`` (K,), ``matrix`` (2, 3)
    alignment (identity when ``align="none"``), and ``flow`` (S, S, 2) float32 when asked for."""
    numbers = frame_numbers(row, front)
    raw, matrix = face_frames(row, numbers, front.align, front.size, front.color)
    onset = raw[numbers[0]]
    out_frames = [_resize(onset, front.size)]
    for n in numbers[1:]:
        out_frames.append(_resize(_magnify(onset, raw[n], front), front.size))
    entry = {"frames": np.stack(out_frames).astype(np.uint8), "frame_numbers": np.asarray(numbers),
             "matrix": matrix.astype(np.float64)}
    if front.flow != "none":
        from .motion.flow import optical_flow

        apex = raw[int(row["apex"])] if int(row["apex"]) in raw else load_frame(row, int(row["apex"]), front.color)
        scale = front.size / onset.shape[1]
        flow = optical_flow(_resize(onset, front.size), _resize(apex, front.size), method=front.flow)
        entry["flow"] = flow.astype(np.float32)
        entry["flow_scale"] = np.float64(scale)
    return entry


def resize_flow(flow: np.ndarray, size: int, enlarge: int = cv2.INTER_LINEAR) -> np.ndarray:
    """A flow field ``(H, W, 2)`` in pixels of its frames as ``(size, size, 2)`` in pixels of the ``size`` image:
    resampled (area averaging where both sides shrink, ``enlarge`` otherwise) and each component rescaled."""
    h, w = flow.shape[:2]
    if (h, w) == (size, size):
        return flow
    interpolation = cv2.INTER_AREA if h > size and w > size else enlarge
    return cv2.resize(flow, (size, size), interpolation=interpolation) * np.array([size / w, size / h], np.float32)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return image
    shrink = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _magnify(onset: np.ndarray, frame: np.ndarray, front: FrontEnd) -> np.ndarray:
    if front.magnify == "none" or front.alpha == 0:
        return frame
    if front.magnify == "eulerian":
        from .motion.magnify import magnify_pair

        return magnify_pair(onset, frame, front.alpha, lambda_c=front.lambda_c)
    from .motion import learned

    model = learned_magnifier(front.learned_checkpoint, front.learned_profile)
    return learned.magnify_pair(model, onset, frame, 1.0 + front.alpha)  # the learned model takes the total factor


def magnify_apex(onset: np.ndarray, apex: np.ndarray, method: str, factor: float, checkpoint: str = "",
                 profile: str = "fast") -> np.ndarray:
    """The apex magnified ``factor`` times in total against the onset, as the methods' inputs take it:
    ``"eulerian"`` (EVM, alpha = factor - 1, cut-off :data:`EULERIAN_LAMBDA_C`), ``"learned"`` (Oh et al.,
    :func:`learned_magnifier` of ``checkpoint``/``profile``) or ``"none"`` (the apex as it is)."""
    if method == "eulerian":
        from .motion.magnify import magnify_pair

        return magnify_pair(onset, apex, factor - 1.0, lambda_c=EULERIAN_LAMBDA_C)
    if method == "learned":
        from .motion import learned

        return learned.magnify_pair(learned_magnifier(checkpoint, profile), onset, apex, factor)  # total factor
    if method == "none":
        return apex
    raise ValueError(f"magnifier must be one of {MAGNIFIERS}; got {method!r}")


@functools.lru_cache(maxsize=2)
def learned_magnifier(checkpoint: str, profile: str):
    """The learned magnifier (Oh et al.) of a checkpoint ("" = melib's own weights), loaded once per process."""
    from .motion import learned

    return learned.load_or_train(checkpoint=checkpoint or None, profile=profile)


def preprocess(manifest: pd.DataFrame, front: FrontEnd, workers: int | None = None, progress: bool = True,
               strict: bool = False, root: str | None = None) -> ClipCache:
    """Compute every missing entry of ``front`` for ``manifest`` (parallel, resumable) and return the cache.

    Clips that fail are listed with their reasons; ``strict=True`` raises once the rest are done.
    """
    cache = cache_for(manifest, front, root)
    learned = (front.learned_checkpoint, front.learned_profile) if front.magnify == "learned" else None
    build_inputs(cache, manifest, functools.partial(compute_clip, front=front), "front end", workers, progress,
                 strict, learned)
    return cache
