"""Frame files of a manifest row: paths, the frame numbers on disk, and decoding to uint8 arrays.

A row (a pandas Series from :func:`melib.data.read_annotations`, or a dict) needs ``frames_dir`` and
``frame_format``, a format string of the frame number ``n`` such as ``"reg_img{n}.jpg"`` or
``"006_{n:05d}.jpg"``; :func:`load_clip` also uses ``onset``/``offset`` for its default range.
"""
from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

COLORS = ("rgb", "gray")


class FrameReadError(IOError):
    """A frame file is missing or cannot be decoded; the message names the file."""


def _field(row: Mapping[str, Any], key: str) -> Any:
    try:
        return row[key]
    except KeyError:
        raise KeyError(f"row has no {key!r} field; expected a manifest row from read_annotations") from None


def _split_format(frame_format: str) -> tuple[str, str, str]:
    """``"006_{n:05d}.jpg" -> ("006_", "05d", ".jpg")``; the format must use ``{n}`` exactly once."""
    parts = list(string.Formatter().parse(frame_format))
    fields = [(i, name, spec) for i, (_, name, spec, _) in enumerate(parts) if name is not None]
    if len(fields) != 1 or fields[0][1] != "n":
        raise ValueError(f"frame_format must contain one '{{n}}' field; got {frame_format!r}")
    i, _, spec = fields[0]
    prefix = "".join(p[0] for p in parts[: i + 1])
    suffix = "".join(p[0] for p in parts[i + 1:])
    return prefix, spec or "", suffix


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def frame_numbers(folder: str | os.PathLike, frame_format: str) -> list[int]:
    """Sorted frame numbers ``n`` whose file ``frame_format.format(n=n)`` is in ``folder``."""
    prefix, _, suffix = _split_format(frame_format)
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
    found = []
    for name in os.listdir(folder):
        match = pattern.fullmatch(name)
        if match and frame_format.format(n=int(match.group(1))) == name:
            found.append(int(match.group(1)))
    return sorted(found)


def detect_frame_format(folder: str | os.PathLike, default: str) -> str:
    """The zero padding of ``default``'s frame names as the files in ``folder`` actually use it.

    ``default`` is kept when it names every matching file (or the folder has none); otherwise the
    width of the zero-padded numbers present is used (SAMM: 5 digits, some sessions 4), or no
    padding when no number has a leading zero.
    """
    prefix, _, suffix = _split_format(default)
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
    try:
        names = os.listdir(folder)
    except OSError:
        return default
    digits = [m.group(1) for m in map(pattern.fullmatch, names) if m]
    if all(default.format(n=int(d)) == prefix + d + suffix for d in digits):
        return default
    padded = [len(d) for d in digits if len(d) > 1 and d.startswith("0")]
    spec = f"{{n:0{max(padded)}d}}" if padded else "{n}"
    return _escape(prefix) + spec + _escape(suffix)


def frame_path(row: Mapping[str, Any], n: int) -> Path:
    """Path of frame number ``n`` of a manifest row (the file may or may not exist)."""
    return Path(_field(row, "frames_dir")) / _field(row, "frame_format").format(n=int(n))


def available_frames(row: Mapping[str, Any]) -> list[int]:
    """Frame numbers present on disk for the row's clip folder, sorted."""
    folder = Path(_field(row, "frames_dir"))
    if not folder.is_dir():
        raise FrameReadError(f"frame folder not found: {folder}")
    return frame_numbers(folder, _field(row, "frame_format"))


def load_frame(row: Mapping[str, Any], n: int, color: str = "rgb") -> np.ndarray:
    """Decode frame ``n`` to uint8: ``(H, W, 3)`` RGB for ``color="rgb"``, ``(H, W)`` for ``"gray"``.

    Grayscale files (SAMM) come back with three equal channels under ``"rgb"``.
    """
    if color not in COLORS:
        raise ValueError(f"color must be one of {COLORS}; got {color!r}")
    path = frame_path(row, n)
    if not path.is_file():
        raise FrameReadError(f"frame {n} not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # imdecode(fromfile) also handles non-ASCII paths
    flag = cv2.IMREAD_GRAYSCALE if color == "gray" else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flag) if data.size else None
    if image is None:
        raise FrameReadError(f"cannot decode frame {n} (corrupt or not an image): {path}")
    return image if color == "gray" else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_clip(row: Mapping[str, Any], start: int | None = None, stop: int | None = None,
              color: str = "rgb") -> np.ndarray:
    """Stack the frames on disk numbered ``start..stop`` (inclusive; default onset..offset).

    Only those frames are read. Returns ``(T, H, W, 3)`` for ``"rgb"`` or ``(T, H, W)`` for ``"gray"``.
    """
    start = int(_field(row, "onset") if start is None else start)
    stop = int(_field(row, "offset") if stop is None else stop)
    numbers = [n for n in available_frames(row) if start <= n <= stop]
    if not numbers:
        raise FrameReadError(f"no frames numbered {start}..{stop} in {_field(row, 'frames_dir')}")
    images = [load_frame(row, n, color) for n in numbers]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise FrameReadError(f"frames of {_field(row, 'frames_dir')} differ in size: {sorted(shapes)}")
    return np.stack(images)
