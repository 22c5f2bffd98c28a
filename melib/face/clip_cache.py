"""Per-clip landmarks, cached on disk as one ``.npz`` per clip and setting.

Frames are processed outwards from the onset frame. A frame where the backend finds no face reuses
the face box of its neighbour nearer the onset (dlib runs its shape predictor in that box; mediapipe
searches a crop around it, and if that fails too, copies the neighbour's landmarks). The onset frame
itself must contain a face: every later step (alignment, patches) is anchored on it.

Cache file: ``cache_root()/landmarks/<backend>/<dataset>/<subject>/<clip>-<hash>.npz``, the hash
covering the backend and its options, library versions, the FaceMesh mapping table, the frame
folder (relative to ``data_root()`` when inside it) and file pattern, and the frame numbers.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import config, io
from ..data.frames import available_frames, frame_path, load_frame
from .detect import BACKENDS, FaceNotFoundError, landmarks_and_box

#: ``fallback`` codes stored per frame.
DETECTED, PREVIOUS_BOX, PREVIOUS_LANDMARKS = 0, 1, 2

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-]+$")


@dataclass
class ClipLandmarks:
    """Landmarks of one clip: ``landmarks (T, 68, 2)`` for frame numbers ``frames (T,)``;
    ``fallback (T,)`` is 0 detected, 1 previous frame's box used, 2 previous landmarks copied."""

    frames: np.ndarray
    landmarks: np.ndarray
    fallback: np.ndarray
    path: Path | None


def select_frames(row: Mapping[str, Any], frames: str | Sequence[int] = "all") -> list[int]:
    """Frame numbers to process: ``"all"`` (every frame on disk from onset to offset), ``"key"`` (onset, apex,
    offset; a missing apex is skipped) or an explicit sequence. Always sorted and including the onset."""
    onset = int(row["onset"])
    if isinstance(frames, str):
        if frames == "all":
            chosen = [n for n in available_frames(row) if onset <= n <= int(row["offset"])]
        elif frames == "key":
            chosen = [int(v) for v in (row["onset"], row.get("apex"), row["offset"]) if not pd.isna(v)]
        else:
            raise ValueError(f"frames must be 'all', 'key' or a list of frame numbers; got {frames!r}")
    else:
        chosen = [int(v) for v in frames]
    return sorted(set(chosen) | {onset})


def _portable(folder: Path) -> str:
    """The folder relative to ``data_root()`` when inside it, so moving the data keeps the cache valid."""
    try:
        return folder.resolve().relative_to(config.data_root()).as_posix()
    except ValueError:
        return str(folder.resolve())


def cache_path(row: Mapping[str, Any], backend: str, frame_numbers: Sequence[int],
               options: Mapping[str, Any] | None = None) -> Path:
    """Where :func:`clip_landmark_record` keeps this clip's landmarks for these settings."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown landmark backend {backend!r}; choose one of {BACKENDS}")
    parts = [str(row["dataset"]), str(row["subject"]), str(row["clip"])]
    for part in parts:
        if not _SAFE_NAME.match(part):
            raise ValueError(f"clip {row['clip']!r}: {part!r} is not usable in a cache path")
    key: dict[str, Any] = {
        "backend": backend,
        "options": dict(options or {}),
        "frames_dir": _portable(Path(row["frames_dir"])),
        "frame_format": str(row["frame_format"]),
        "frames": [int(n) for n in frame_numbers],
    }
    if backend == "dlib":
        import dlib

        key["version"] = dlib.__version__
    else:
        import mediapipe

        from .facemesh import FACEMESH_TO_DLIB68

        key["version"], key["mapping"] = mediapipe.__version__, FACEMESH_TO_DLIB68
    dataset, subject, clip = parts
    return config.cache_root() / "landmarks" / backend / dataset / subject / f"{clip}-{config.config_hash(key)}.npz"


def _detect_clip(row: Mapping[str, Any], numbers: list[int], backend: str,
                 options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks ``(T, 68, 2)`` and fallback codes ``(T,)``, walking outwards from the onset."""
    pts = np.zeros((len(numbers), 68, 2))
    boxes = np.zeros((len(numbers), 4))
    fallback = np.zeros(len(numbers), dtype=np.int8)
    start = numbers.index(int(row["onset"]))
    try:
        pts[start], boxes[start] = landmarks_and_box(load_frame(row, numbers[start]), backend, **options)
    except FaceNotFoundError as err:
        raise FaceNotFoundError(f"no face in the onset frame of clip {row['clip']!r}: "
                                f"{frame_path(row, numbers[start])} ({err})") from err
    order = list(range(start + 1, len(numbers))) + list(range(start - 1, -1, -1))
    for i in order:
        prev = i - 1 if i > start else i + 1
        image = load_frame(row, numbers[i])
        try:
            pts[i], boxes[i] = landmarks_and_box(image, backend, **options)
            continue
        except FaceNotFoundError:
            boxes[i] = boxes[prev]
        try:
            pts[i] = landmarks_and_box(image, backend, box=boxes[prev], **options)[0]
            fallback[i] = PREVIOUS_BOX
        except FaceNotFoundError:
            pts[i] = pts[prev]
            fallback[i] = PREVIOUS_LANDMARKS
    return pts, fallback


def clip_landmark_record(row: Mapping[str, Any], backend: str = "dlib", frames: str | Sequence[int] = "all",
                         cache: bool = True, options: Mapping[str, Any] | None = None) -> ClipLandmarks:
    """Landmarks of a clip (manifest ``row``) with frame numbers and fallback codes, cached on disk.

    ``options`` go to the backend (e.g. ``{"upsample": 0}`` for dlib on large faces: about 4x faster)
    and are part of the cache key. ``cache=False`` neither reads nor writes the cache.

    Raises
    ------
    FaceNotFoundError
        When the onset frame has no detectable face (the message names the file).
    """
    options = dict(options or {})
    numbers = select_frames(row, frames)
    path = cache_path(row, backend, numbers, options)
    if cache and path.is_file():
        data = io.load_npz(path)
        return ClipLandmarks(data["frames"], data["landmarks"], data["fallback"], path)
    pts, fallback = _detect_clip(row, numbers, backend, options)
    result = ClipLandmarks(np.asarray(numbers, dtype=np.int64), pts, fallback, path if cache else None)
    if cache:
        io.save_npz(path, frames=result.frames, landmarks=result.landmarks, fallback=result.fallback)
    return result


def clip_landmarks(row: Mapping[str, Any], backend: str = "dlib", frames: str | Sequence[int] = "all",
                   cache: bool = True, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Landmarks ``(T, 68, 2)`` of a clip's frames (sorted frame numbers); see :func:`clip_landmark_record`."""
    return clip_landmark_record(row, backend, frames, cache, options).landmarks
