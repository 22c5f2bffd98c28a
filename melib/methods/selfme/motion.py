"""SelfME's motion input: learned (Eq. 9, scaling and squaring) or optical-flow motion per clip, cached, and measured against the synthetic truth."""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ... import preprocess, splits
from ...cache import ClipCache
from ...config import drop_defaults
from ...motion.diffeo import bspline_upsample, folding_fraction, integrate_velocity
from ...preprocess import face_frames, resize_flow
from .config import ADDED_FIELDS, SelfMEConfig
from .learner import _frames, learner_groups, train_motion_learner
from .model import MotionLearner


# --------------------------------------------------------------------------------- motion input cache
def expand_motion(lattice_px: torch.Tensor, size: int, cfg: SelfMEConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Lattice displacement ``(B, 2, h, w)``, values already in OUTPUT pixels (of the ``size`` x ``size``
    image) -> ``(expanded (B, 2, size, size), before)``: Eq. 9 plus scaling and squaring when
    ``cfg.bspline``, bilinear otherwise; ``before`` is the expansion before integration."""
    if cfg.bspline:
        before = bspline_upsample(lattice_px, (size, size))
        return integrate_velocity(before, cfg.integrate_steps), before
    up = F.interpolate(lattice_px, size=(size, size), mode="bilinear", align_corners=True)
    return up, up


def motion_image(displacement: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``(2, S, S)`` forward displacement -> ``(3, S, S)`` float32 ``(dx, dy, |d|) / scale``; ``scale`` 0
    divides by the clip's largest magnitude (which hides the amplitude, and with it what MA changes)."""
    magnitude = np.hypot(displacement[0], displacement[1])
    scale = float(scale) or float(magnitude.max()) or 1.0
    return (np.concatenate([displacement, magnitude[None]]) / scale).astype(np.float32)


@torch.no_grad()
def compute_motion(row: Mapping[str, Any], cfg: SelfMEConfig, learner: MotionLearner | None) -> dict[str, np.ndarray]:
    """One clip's entry: ``motion`` (2, S, S) float32, the forward onset -> apex displacement in pixels
    of the ViT input size S; with the learner also ``folding_before``/``folding_after`` (share of
    folding pixels of the expanded motion before and after scaling and squaring)."""
    from ...motion.flow import optical_flow

    onset, apex = int(row["onset"]), int(row["apex"])
    size = cfg.vit_image_size
    if cfg.motion == "learned":
        frames = [torch.from_numpy(f).permute(2, 0, 1).float().div(255)[None]
                  for f in _frames(row, (onset, apex), cfg.frame_size, cfg.align)]
        out = learner.motion(frames[0], frames[1], cfg.gamma_test)
        lattice = MotionLearner.to_pixels(out["motion"], (cfg.frame_size, cfg.frame_size))
        lattice = -lattice * (size / cfg.frame_size)  # backward -> forward, frame pixels -> output pixels
        expanded, before = expand_motion(lattice, size, cfg)
        return {"motion": expanded[0].numpy().astype(np.float32), "gamma": np.float32(cfg.gamma_test),
                "folding_before": np.float32(folding_fraction(before)[0]),
                "folding_after": np.float32(folding_fraction(expanded)[0])}
    frames, _ = face_frames(row, (onset, apex), cfg.align)
    flow = optical_flow(frames[onset], frames[apex], method=cfg.motion)
    return {"motion": resize_flow(flow, size, enlarge=cv2.INTER_AREA).transpose(2, 0, 1).astype(np.float32)}


def prepare(manifest: pd.DataFrame, cfg: SelfMEConfig, seed: int = 0, progress: bool = True,
            root: str | Path | None = None, workers: int | None = None) -> tuple[ClipCache, dict[str, dict]]:
    """Train (or load) the motion learners and cache every clip's motion; returns the cache and, per
    learner group, ``{"path", "history", "seen", "subjects"}`` (empty for optical flow). ``workers``:
    processes for optical flow (default: all cores); learned motion runs in this process."""
    learners: dict[str, dict] = {}
    motion_keys = ("motion", "gamma_test", "bspline", "integrate_steps", "vit_image_size", "align")
    settings = {"selfme_motion": drop_defaults({k: v for k, v in dataclasses.asdict(cfg).items() if k in motion_keys},
                                               ADDED_FIELDS)}
    if cfg.motion == "learned":
        groups = learner_groups(manifest, cfg.motion_folds)
        everyone = splits.loso_subjects(manifest)
        for g, held in enumerate(groups):
            seen = [s for s in everyone if s not in held]
            model, info = train_motion_learner(manifest, seen, cfg, seed=seed, progress=progress)
            learners[str(g)] = {**info, "model": model, "subjects": held}
        settings["learners"] = [str(info["path"].name) for info in learners.values()]
    cache = preprocess.input_cache("selfme", settings, manifest, root)
    for g, info in (learners.items() if learners else [("flow", {"model": None, "subjects": None})]):
        rows = manifest if info["subjects"] is None else manifest[manifest["subject"].astype(str).isin(set(info["subjects"]))]
        compute = functools.partial(compute_motion, cfg=cfg, learner=info["model"])
        preprocess.build_inputs(cache, rows, compute, f"SelfME motion ({cfg.motion}) group {g}",
                                workers=1 if cfg.motion == "learned" else workers, progress=progress, strict=True)
    return cache, {g: {k: v for k, v in info.items() if k != "model"} for g, info in learners.items()}


def true_motion(root: str | Path, row: Mapping[str, Any], size: int) -> np.ndarray:
    """The synthetic clip's true forward onset -> apex displacement ``(2, size, size)`` in pixels of a
    ``size`` image (the ground truth resized with its values rescaled); raises for other datasets."""
    from ...data.synthetic import load_groundtruth

    truth = load_groundtruth(root, row["subject"], row["clip"])["flow_onset_apex"].astype(np.float32)
    return resize_flow(truth, size, enlarge=cv2.INTER_AREA).transpose(2, 0, 1)


def motion_against_truth(clips: pd.DataFrame, caches: Mapping[str, ClipCache], size: int) -> pd.DataFrame:
    """Per clip of the synthetic dataset: the mean end-point error (px at the ViT size) of each cached
    motion in ``caches`` (learned motion divided by its inference MA factor gamma first) (name -> cache) against the true motion, over the pixels that truly move
    (> 0.05 px) and over the whole face image, the true mean motion there (the error of answering "no
    motion"), and, where cached, the
    share of folding pixels before and after scaling and squaring."""
    root = str(clips.attrs.get("root", ""))
    rows = []
    for _, row in clips.iterrows():
        truth = true_motion(root, row, size)
        moving = np.hypot(truth[0], truth[1]) > 0.05
        out = {"subject": row["subject"], "clip": row["clip"], "true motion (px)": float(np.hypot(*truth)[moving].mean())
               if moving.any() else 0.0}
        for name, cache in caches.items():
            entry = cache.load(row)
            motion = entry["motion"] / float(entry["gamma"]) if "gamma" in entry else entry["motion"]  # undo MA
            error = np.hypot(*(motion - truth))
            out[f"EPE {name} (moving)"] = float(error[moving].mean()) if moving.any() else np.nan
            out[f"EPE {name} (all)"] = float(error.mean())
            for key in ("folding_before", "folding_after"):
                if key in entry:
                    out[f"{key.replace('_', ' ')} ({name})"] = float(entry[key])
        rows.append(out)
    return pd.DataFrame(rows)


def epe_by_amplitude(table: pd.DataFrame, bins: Sequence[float] | None = None) -> pd.DataFrame:
    """Mean EPE over the moving pixels of each motion in a :func:`motion_against_truth` table, by bin of
    the clip's true mean motion (px at the ViT size; default: the clips' tertiles); ``clips`` counts each bin."""
    if bins is None:
        inner = np.unique(np.round(np.quantile(table["true motion (px)"], [1 / 3, 2 / 3]), 3))
        bins = (0.0, *inner, np.inf)
    names = [c[len("EPE "):-len(" (moving)")] for c in table.columns if c.startswith("EPE ") and c.endswith("(moving)")]
    labels = [f"{lo:g}-{hi:g} px" if np.isfinite(hi) else f">= {lo:g} px" for lo, hi in zip(bins[:-1], bins[1:])]
    binned = pd.cut(table["true motion (px)"], list(bins), labels=labels, right=False)
    out = table.groupby(binned, observed=True)[[f"EPE {n} (moving)" for n in names]].mean()
    out.columns = names
    out.insert(0, "clips", table.groupby(binned, observed=True).size())
    out.index.name = "true motion"
    return out


def time_per_pair(clips: pd.DataFrame, configs: Mapping[str, SelfMEConfig], n: int = 8, seed: int = 0) -> pd.Series:
    """Seconds per onset -> apex pair of each motion source (name -> config), on the first ``n`` clips,
    this process, the threads torch and OpenCV have: frame loading, motion (the learner's forward pass,
    B-spline expansion and integration, or optical flow) and the resize to the ViT size. The learner is
    the one that held out the first clip's subject (loaded or trained as :func:`prepare` would)."""
    import time

    rows = clips.head(n)
    out = {}
    for name, cfg in configs.items():
        learner = None
        if cfg.motion == "learned":
            everyone = splits.loso_subjects(clips)
            held = next(g for g in learner_groups(clips, cfg.motion_folds) if rows["subject"].iloc[0] in g)
            learner, _ = train_motion_learner(clips, [s for s in everyone if s not in held], cfg, seed, progress=False)
        compute_motion(rows.iloc[0], cfg, learner)  # warm-up (imports, first allocations)
        began = time.perf_counter()
        for _, row in rows.iterrows():
            compute_motion(row, cfg, learner)
        out[name] = (time.perf_counter() - began) / len(rows)
    return pd.Series(out, name="seconds per pair")
