"""Apex spotting in the frequency domain, as IICL locates its apex frames (Li & Zhao 2021, Sec. 2.1, citing [16]).

[16] Y. Li, X. Huang, G. Zhao, "Can micro-expression be recognized based on single apex frame?", ICIP 2018:
the face is cut into blocks, a 3D FFT is taken over each block of a sliding temporal window, the amplitude
above a high-frequency cut-off is summed over blocks, and the window with the largest sum gives the apex,
searched between onset and offset. The IICL paper gives none of the settings; the defaults here
(LBP images, a 6 x 6 grid) follow [16]'s description, the window and the cut-off were chosen on a few
synthetic clips (``benchmarks/bench_spotting.py`` measures them), and every one is a :class:`SpotSettings`
field. ``smooth`` (off by default) is our addition: ``E`` peaks on the flanks of a movement (the windows
holding its fastest change), and a box filter over ``E`` moves the maximum to a symmetric movement's peak.

Math -> code (``E`` is :func:`energy_curve`, ``x_b`` block ``b`` of the (LBP-filtered) frames)::

    F_{b,c}(u, v, w) = FFT3( x_b[c - W//2 : c + W//2 + 1] )           # 3D FFT of one window
    E(c) = sum_b sum_{D(u,v,w) > D0} |F_{b,c}(u, v, w)|                # high-frequency amplitude
    apex = argmax_c E(c),  c in onset..offset                          # frequency_apex

with ``D`` the distance of a frequency from zero in cycles per sample (each axis in [-0.5, 0.5]).
:func:`spot_apex` reads a manifest row's frames; :func:`cached_apex` keeps the answer on disk
(``<MELIB_CACHE>/spotting/<settings hash>/``, keyed by the frame files' names, sizes and times), which
is how :func:`melib.data.read_annotations` spots SMIC's apex without re-reading every clip each time.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import fft as sfft

from .config import cache_root, config_hash
from .data.frames import available_frames, frame_path, load_frame

FEATURES = ("lbp", "gray")
CACHE_VERSION = 1
_TIE_RTOL = 1e-6  # energies within this relative distance of the maximum count as the maximum


@dataclass(frozen=True)
class SpotSettings:
    """Settings of :func:`frequency_apex`; every field is part of :func:`cached_apex`'s key."""

    window: int = 61            # frames per 3D FFT window (odd; at most the clip); not given in IICL: chosen on synthetic data
    grid: tuple[int, int] = (6, 6)  # blocks (rows, cols), as [16]
    cutoff: float = 0.3         # D0: keep |frequency| > cutoff cycles/sample; not given in IICL: chosen on synthetic data
    feature: str = "lbp"        # "lbp" ([16] filters the frames with LBP first) or "gray"
    smooth: int = 0             # box-filter E(c) over this many frames before the argmax; 0 = off (the paper)

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ValueError(f"feature must be one of {FEATURES}; got {self.feature!r}")
        if int(self.window) < 1:
            raise ValueError(f"window must be >= 1 frame; got {self.window}")
        if int(self.smooth) < 0:
            raise ValueError(f"smooth must be >= 0 frames; got {self.smooth}")
        if len(self.grid) != 2 or min(self.grid) < 1:
            raise ValueError(f"grid must be (rows, cols) >= 1; got {self.grid}")
        if not 0.0 <= self.cutoff < 0.87:
            raise ValueError(f"cutoff must be in [0, 0.87) cycles/sample (sqrt(3)/2 is the corner); got {self.cutoff}")
        object.__setattr__(self, "grid", (int(self.grid[0]), int(self.grid[1])))
        object.__setattr__(self, "window", int(self.window))


def lbp_image(gray: np.ndarray) -> np.ndarray:
    """Basic LBP (8 neighbours at radius 1, codes 0..255) of ``(..., H, W)`` images; borders replicated."""
    x = np.asarray(gray, dtype=np.float32)
    pad = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    h, w = x.shape[-2:]
    code = np.zeros(x.shape, dtype=np.uint8)
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]  # clockwise from top-left
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = pad[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        code |= (neighbour >= x).astype(np.uint8) << bit
    return code


def _gray(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[-1] == 3:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as cv2's RGB2GRAY
        return frames.astype(np.float32) @ weights
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, 3); got shape {frames.shape}")
    return frames.astype(np.float32)


def _blocks(x: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``(T, H, W) -> (T, rows*cols, bh, bw)``: equal blocks of the centre crop that the grid divides."""
    t, h, w = x.shape
    rows, cols = grid
    bh, bw = h // rows, w // cols
    if bh < 1 or bw < 1:
        raise ValueError(f"frames of {h}x{w} px are smaller than the {rows}x{cols} grid")
    y0, x0 = (h - bh * rows) // 2, (w - bw * cols) // 2
    x = x[:, y0:y0 + bh * rows, x0:x0 + bw * cols]
    return x.reshape(t, rows, bh, cols, bw).transpose(0, 1, 3, 2, 4).reshape(t, rows * cols, bh, bw)


def energy_curve(frames: np.ndarray, window: int = SpotSettings.window, grid: tuple[int, int] = SpotSettings.grid,
                 cutoff: float = SpotSettings.cutoff, feature: str = SpotSettings.feature) -> np.ndarray:
    """High-frequency amplitude ``E(c)`` of the window centred on each frame ``c`` ([16]; module docstring).

    Parameters
    ----------
    frames
        ``(T, H, W)`` gray or ``(T, H, W, 3)`` RGB frames of one clip, onset to offset.
    window
        Frames per window, made odd (``window | 1``) and at most ``T`` (odd) so every window fits the clip.
        Windows near the clip's ends repeat its first/last frame (edge padding) -- our choice, so
        every frame can be a centre.
    grid, cutoff, feature
        As :class:`SpotSettings`.

    Returns
    -------
    ``(T,)`` float64, one energy per frame (the window centred on it).
    """
    settings = SpotSettings(window, tuple(grid), cutoff, feature)
    x = _gray(frames)
    t = x.shape[0]
    if t == 0:
        raise ValueError("no frames")
    if settings.feature == "lbp":
        x = lbp_image(x).astype(np.float32)
    spatial = sfft.rfft2(_blocks(x, settings.grid), axes=(-2, -1))  # (T, B, bh, bw//2+1): the 3D FFT's spatial part
    w = min(settings.window | 1, t if t % 2 else t - 1)
    half = w // 2
    padded = np.concatenate([np.repeat(spatial[:1], half, 0), spatial, np.repeat(spatial[-1:], half, 0)])
    bh, bw = x.shape[1] // settings.grid[0], x.shape[2] // settings.grid[1]
    fw, fy, fx = np.meshgrid(sfft.fftfreq(w), sfft.fftfreq(bh), sfft.rfftfreq(bw), indexing="ij")
    # high-pass mask (w, bh, bw//2+1); columns other than 0 (and bw/2) stand for their conjugate twin too
    weight = (np.sqrt(fw ** 2 + fy ** 2 + fx ** 2) > settings.cutoff).astype(np.float32)
    weight[..., 1:(bw + 1) // 2] *= 2
    energy = np.empty(t, dtype=np.float64)
    chunk = max(1, int(2 ** 22 // max(padded[0].size * w, 1)))          # ~4M complex values per step
    windows = np.lib.stride_tricks.sliding_window_view(padded, w, axis=0)  # (T, B, bh, bw//2+1, w)
    weight = weight.transpose(1, 2, 0)                                  # (bh, bw//2+1, w), as the windows
    for start in range(0, t, chunk):
        amplitude = np.abs(sfft.fft(windows[start:start + chunk], axis=-1))  # the temporal part of the 3D FFT
        energy[start:start + chunk] = np.einsum("nbyxw,yxw->n", amplitude, weight)
    return energy


def argmax_nearest_middle(energy: np.ndarray) -> int:
    """Index of the largest value; ties (within a relative 1e-6) go to the one nearest the middle.

    A flat curve (a clip with no change) therefore gives the middle index ``(T - 1) // 2``, the
    frame the readers used before spotting.
    """
    energy = np.asarray(energy, dtype=np.float64)
    if energy.size == 0:
        raise ValueError("empty energy curve")
    top = energy.max()
    tied = np.flatnonzero(energy >= top - _TIE_RTOL * max(abs(top), 1e-12))
    middle = (energy.size - 1) // 2
    return int(tied[np.argmin(np.abs(tied - middle))])


def frequency_apex(frames: np.ndarray, window: int = SpotSettings.window, grid: tuple[int, int] = SpotSettings.grid,
                   cutoff: float = SpotSettings.cutoff, feature: str = SpotSettings.feature,
                   smooth: int = SpotSettings.smooth) -> int:
    """Index (0-based, into ``frames``) of the apex: the centre of the window with the most
    high-frequency amplitude ([16], via IICL Sec. 2.1). A flat clip gives the middle index.

    ``smooth`` > 0 (our addition, not in [16]) first averages ``E`` over that many frames (edges
    repeated): ``E`` often peaks on both flanks of a movement, where a window holds the fastest change,
    and smoothing moves the maximum between them. Other parameters as :func:`energy_curve`.
    """
    energy = energy_curve(frames, window, grid, cutoff, feature)
    if smooth > 1 and energy.size > 1:
        k = min(int(smooth), energy.size)
        padded = np.pad(energy, (k // 2, k - 1 - k // 2), mode="edge")
        energy = np.convolve(padded, np.ones(k) / k, mode="valid")
    return argmax_nearest_middle(energy)


def _clip_numbers(row: Mapping[str, Any]) -> list[int]:
    onset, offset = int(row["onset"]), int(row["offset"])
    numbers = [n for n in available_frames(row) if onset <= n <= offset]
    if not numbers:
        raise ValueError(f"no frames numbered {onset}..{offset} in {row['frames_dir']}")
    return numbers


def spot_apex(row: Mapping[str, Any], settings: SpotSettings | None = None) -> int:
    """Frame number of the spotted apex of a manifest row, searched among its frames onset..offset."""
    settings = settings or SpotSettings()
    numbers = _clip_numbers(row)
    frames = np.stack([load_frame(row, n, color="gray") for n in numbers])
    return numbers[frequency_apex(frames, **asdict(settings))]


def _frames_key(row: Mapping[str, Any], numbers: list[int]) -> str:
    """Hash of the clip's frame files (path, size, modification time) and its onset/offset."""
    digest = hashlib.sha256(f"{row['frames_dir']}|{row['frame_format']}|{row['onset']}|{row['offset']}".encode())
    for n in numbers:
        stat = frame_path(row, n).stat()
        digest.update(f"|{n}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def cached_apex(row: Mapping[str, Any], settings: SpotSettings | None = None,
                root: str | os.PathLike | None = None) -> int:
    """:func:`spot_apex`, remembered on disk under ``root`` (default ``<MELIB_CACHE>/spotting``).

    The entry's name hashes the settings and the frame files (names, sizes, times), so changed
    frames or settings are spotted afresh; an unreadable entry is recomputed.
    """
    settings = settings or SpotSettings()
    folder = Path(root) if root is not None else cache_root() / "spotting"
    folder = folder / config_hash({"cache_version": CACHE_VERSION, **asdict(settings)})
    path = folder / f"{_frames_key(row, _clip_numbers(row))}.json"
    try:
        return int(json.loads(path.read_text())["apex"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    apex = spot_apex(row, settings)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"apex": apex, "frames_dir": str(row["frames_dir"]), "settings": asdict(settings)}))
    os.replace(tmp, path)  # atomic: a killed run never leaves half an entry
    return apex
