"""Atomic file writes: a run killed at any moment leaves either the old file or the new one, never half."""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` atomically.

    The temporary name keeps the file's suffix (or ``suffix``) so writers that look at the
    extension (``cv2.imwrite``, ``np.savez``) behave. On error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix if suffix is None else suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def save_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (sorted keys, indented, numpy values converted)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_to_builtin) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` through an atomic rename."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load an ``.npz`` written by :func:`save_npz` (no pickled objects allowed)."""
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:  # our handle: closed even when damaged
        return {k: data[k] for k in data.files}


#: What reading a damaged stored file raises: a truncated or garbled zip (npz, torch) or JSON, stray bytes.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile, zlib.error,
               pickle.UnpicklingError)


class DamagedFileWarning(UserWarning):
    """A stored file (cache entry, fold) could not be read; it was set aside and is being recomputed."""


def replace_folder(tmp: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Put the finished folder ``tmp`` in place of ``out`` (the old ``out`` is moved aside first, then
    removed), so a reader sees the old folder or the new one, never a half-written one."""
    import shutil

    tmp, out = Path(tmp), Path(out)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def damaged(path: str | os.PathLike, reason: str, action: str) -> None:
    """Warn that ``path`` cannot be read (``reason``) and say what is done about it (``action``)."""
    warnings.warn(f"{path}: damaged or unreadable ({reason}); {action}", DamagedFileWarning, stacklevel=3)


def describe(error: BaseException) -> str:
    """``"Type: first line of the message"`` (at most 200 characters), for a warning about a damaged file."""
    text = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {text[:200]}"


def zip_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a whole zip archive (``.npz``, a ``torch.save`` file), or None. Cheap: reads the
    directory at the end of the file, not the data, so it catches truncation, not every flipped byte."""
    try:
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except READ_ERRORS as error:
        return describe(error)
    if not members:
        return "an empty archive"
    end = max(m.header_offset + len(m.filename) + 30 + m.compress_size for m in members)
    return None if end <= size else f"truncated: {size} bytes, its members need at least {end}"


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
