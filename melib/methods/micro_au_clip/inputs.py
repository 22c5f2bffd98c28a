"""Micro-AU CLIP's inputs: the encoded optical flow and apex landmarks of each clip, cached, and the Dataset over them."""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ... import face, preprocess
from ...cache import ClipCache
from ...data import au_matrix
from ...preprocess import face_frames, magnify_apex, resize_flow
from .config import FLOW_ENCODINGS, MEAN, STD, MicroAUCLIPConfig, _check


# --------------------------------------------------------------------------------------- input cache
def encode_flow(flow: np.ndarray, encoding: str = "hsv", max_magnitude: float = 0.0) -> tuple[np.ndarray, float]:
    """A flow field ``(H, W, 2)`` as a uint8 RGB image ``(H, W, 3)`` and the scale used (px).

    ``max_magnitude`` 0 scales by the field's largest magnitude. ``"hsv"``: hue = direction, value =
    magnitude / scale (:func:`melib.motion.flow.flow_to_hsv_image`); ``"xy_mag"``: ``(0.5 + 0.5 dx /
    scale, 0.5 + 0.5 dy / scale, |flow| / scale)``, each clipped to [0, 1] (zero flow = (128, 128, 0)).
    """
    from ...motion.flow import flow_magnitude, flow_to_hsv_image

    _check("flow_encoding", encoding, FLOW_ENCODINGS)
    magnitude = flow_magnitude(flow)
    scale = float(max_magnitude) if max_magnitude > 0 else float(magnitude.max())
    if encoding == "hsv":
        return flow_to_hsv_image(flow, max_magnitude=scale), scale
    inv = 1.0 / scale if scale > 0 else 0.0
    channels = np.stack([0.5 + 0.5 * flow[..., 0] * inv, 0.5 + 0.5 * flow[..., 1] * inv, magnitude * inv], axis=-1)
    return np.rint(np.clip(channels, 0.0, 1.0) * 255).astype(np.uint8), scale


def input_cache(manifest: pd.DataFrame, cfg: MicroAUCLIPConfig, root: str | Path | None = None) -> ClipCache:
    """The front end's cache of ``cfg``'s inputs for ``manifest``'s dataset (:func:`melib.preprocess.input_cache`)."""
    return preprocess.input_cache("micro_au_clip", {"micro_au_clip_input": cfg.input_settings()}, manifest, root)


def apex_landmarks(row: Mapping[str, Any], apex: np.ndarray, fallback: str = "none",
                   dataset_root: str = "") -> tuple[np.ndarray, int]:
    """dlib's 68 landmarks ``(68, 2)`` of the apex frame and their source (0 dlib, 1 ground truth).

    No face: raises :class:`melib.face.FaceNotFoundError` naming the clip, or with ``fallback=
    "groundtruth"`` returns the synthetic dataset's ground-truth apex landmarks (other datasets have none).
    """
    where = f"{row['dataset']} {row['subject']}/{row['clip']} (apex frame {int(row['apex'])})"
    try:
        return np.asarray(face.landmarks(apex), dtype=np.float64), 0
    except face.FaceNotFoundError as err:
        if fallback != "groundtruth":
            raise face.FaceNotFoundError(f"{where}: dlib found no face ({err}); drop the clip, or use "
                                         "landmark_fallback='groundtruth' on the synthetic dataset") from None
        reason = str(err)
    try:
        from ...data import synthetic

        truth = synthetic.load_groundtruth(dataset_root, row["subject"], row["clip"])
        k = np.flatnonzero(np.asarray(truth["frame_numbers"]) == int(row["apex"]))
        return np.asarray(truth["landmarks"][int(k[0])], dtype=np.float64), 1
    except Exception as err:  # no ground truth: not the synthetic dataset, or the apex is not in it
        raise face.FaceNotFoundError(f"{where}: dlib found no face ({reason}) and there is no ground-truth "
                                     f"fallback ({type(err).__name__}: {err})") from None


def compute_input(row: Mapping[str, Any], cfg: MicroAUCLIPConfig, dataset_root: str = "") -> dict[str, np.ndarray]:
    """One clip's entry: ``image`` (S, S, 3) uint8, the flow image onset -> magnified apex (see the
    module docstring); ``landmarks`` (68, 2) float32, the apex frame's (x, y) scaled to S x S;
    ``landmark_source`` (0 dlib, 1 ground truth), ``flow_scale`` (px at S of full intensity) and
    ``frame_numbers`` (onset, apex)."""
    from ...motion.flow import optical_flow

    numbers = [int(row["onset"]), int(row["apex"])]
    frames, matrix = face_frames(row, numbers, cfg.align)
    onset, apex = (frames[n] for n in numbers)
    magnified = magnify_apex(onset, apex, cfg.magnify, cfg.factor, cfg.learned_checkpoint, cfg.learned_profile)
    flow = optical_flow(onset, magnified, method=cfg.flow)
    (h, w), size = flow.shape[:2], cfg.image_size
    flow = resize_flow(flow, size)
    image, scale = encode_flow(flow, cfg.flow_encoding, cfg.flow_max)
    points, source = apex_landmarks(row, apex, cfg.landmark_fallback, dataset_root)
    if source == 1:  # ground truth is in the stored frame's pixels: into the aligned crop's
        points = face.warp_landmarks(points, matrix)
    points = points * np.array([size / w, size / h])
    return {"image": image, "landmarks": points.astype(np.float32), "landmark_source": np.int8(source),
            "flow_scale": np.float32(scale), "frame_numbers": np.asarray(numbers)}


def prepare(manifest: pd.DataFrame, cfg: MicroAUCLIPConfig, workers: int | None = None, progress: bool = True,
            strict: bool = True, root: str | Path | None = None) -> ClipCache:
    """Compute every missing input of ``manifest`` in parallel, resumably; ``strict`` raises (after the
    others are done) naming every clip that failed. The learned magnifier is loaded once, before forking."""
    cache = input_cache(manifest, cfg, root)
    learned = (cfg.learned_checkpoint, cfg.learned_profile) if cfg.magnify == "learned" else None
    compute = functools.partial(compute_input, cfg=cfg, dataset_root=str(manifest.attrs.get("root", "")))
    preprocess.build_inputs(cache, manifest, compute, "Micro-AU CLIP inputs", workers, progress, strict, learned)
    return cache


# -------------------------------------------------------------------------------------------- Dataset
class MicroAUCLIPDataset(Dataset):
    """Cached inputs of ``rows``: ``image`` (3, S, S) float32 (CLIP-normalised), ``landmarks`` (68, 2)
    float32 (pixels of the S x S image), ``aus`` (N,) float32 multi-hot, ``index`` (the row's label).
    No augmentation (the paper states none)."""

    def __init__(self, rows: pd.DataFrame, cache: ClipCache, aus: Sequence[int]):
        self.rows, self.cache = rows, cache
        self.labels = au_matrix(rows, aus)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        entry = self.cache.load(self.rows.iloc[i])
        image = torch.from_numpy(entry["image"].transpose(2, 0, 1).astype(np.float32) / 255.0)
        return {"image": (image - MEAN) / STD, "landmarks": torch.from_numpy(entry["landmarks"].astype(np.float32)),
                "aus": torch.from_numpy(self.labels[i].copy()), "index": int(self.rows.index[i])}
