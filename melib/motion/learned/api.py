"""Getting a trained magnifier and applying it to onset/apex pairs (the two-frame mode of Oh et al.).

Annotation mimic (Ruan et al. 2022) magnifies onset -> apex by a total factor of 6, Micro-AU CLIP
(Wei et al. 2026) by 3 (``factor`` here; ``alpha = factor - 1`` in melib's EVM convention). No
official PyTorch weights exist offline, so :func:`load_or_train` uses a
user file, else melib's own trained weights shipped with the package (``weights/<config hash>.pt``,
the ``fast`` preset), else a model melib trained on this machine (cached by config hash), else it
trains one now; it says which.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ... import loop
from ...config import cache_root, config_hash
from ...progress import print_once
from .network import MagNet
from .training import MagnifyConfig, load_checkpoint, preset, train

NOT_OFFICIAL = "self-trained on melib's synthetic data, not the official pretrained model of Oh et al. 2018"


def cached_weights_path(config: MagnifyConfig) -> Path:
    """``cache_root()/learned_magnify/<config_hash>.pt``."""
    return cache_root() / "learned_magnify" / f"{config_hash(config)}.pt"


def shipped_weights_path(config: MagnifyConfig) -> Path:
    """Weights melib ships for ``config`` (only the ``fast`` preset's): ``melib/motion/learned/weights/<hash>.pt``."""
    return Path(__file__).resolve().parent / "weights" / f"{config_hash(config)}.pt"


def load_or_train(checkpoint: str | Path | None = None, profile: str | MagnifyConfig = "fast",
                  device: str | torch.device | None = None, progress: bool = True,
                  workers: int | None = None, threads: int | None = 1) -> MagNet:
    """A :class:`MagNet` in eval mode: from ``checkpoint``, else the cache, else trained now and cached.

    Parameters
    ----------
    checkpoint : a file written by :func:`melib.motion.learned.train` (architecture read from it), or a
        bare ``state_dict`` for the architecture of ``profile``. Loaded with ``weights_only=True``.
    profile : ``"fast"``, ``"full"``, ``"auto"`` or a :class:`MagnifyConfig`.
    workers : data-rendering processes if training is needed (default: 0 on CPU, up to 8 on CUDA).
    threads : torch CPU threads while training (default 1: the tiny ``fast`` model gains little from
        more, and on busy shared cores 2 threads ran 20x slower than 1); ``None`` keeps torch's setting.
    """
    config = preset(profile)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if checkpoint is not None:
        model, source = _load_user_file(Path(checkpoint), config)
    elif shipped_weights_path(config).is_file():
        path = shipped_weights_path(config)
        state = load_checkpoint(path)
        model = config.build_model()
        model.load_state_dict(state["model"])
        source = (f"melib's shipped self-trained weights {path.name} (config {config_hash(config)}, {state['step']} "
                  f"steps, trained in {state['elapsed_s']:.0f} s on a 2-core CPU); {NOT_OFFICIAL}")
    else:
        path = cached_weights_path(config)
        state = loop.resume_state(path, "cpu", "training the magnifier again")  # a damaged one: named, set aside
        if state is not None and int(state["step"]) >= config.steps:
            model = config.build_model()
            model.load_state_dict(state["model"])
            source = (f"cached self-trained weights {path} (config {config_hash(config)}, {state['step']} steps, "
                      f"trained in {state['elapsed_s']:.0f} s); {NOT_OFFICIAL}")
        else:
            resumed = f", resuming at step {state['step']}" if state is not None else ""
            print(f"learned magnifier: no finished weights for config {config_hash(config)}{resumed}; "
                  f"training {config.steps} steps on {device}")
            if workers is None:
                workers = min(8, (os.cpu_count() or 1) - 1) if device.type == "cuda" else 0
            began = time.perf_counter()
            model, _ = train(config, device=device, progress=progress, checkpoint=path, workers=workers,
                             threads=threads)
            source = (f"freshly trained weights, saved to {path} (config {config_hash(config)}, {config.steps} "
                      f"steps in {time.perf_counter() - began:.0f} s); {NOT_OFFICIAL}")
    print_once(f"learned magnifier: {source}")
    return model.to(device).eval()


def _load_user_file(path: Path, config: MagnifyConfig) -> tuple[MagNet, str]:
    if not path.is_file():
        raise FileNotFoundError(f"magnifier checkpoint not found: {path}")
    state = load_checkpoint(path)
    if isinstance(state, dict) and "model" in state and "config" in state:
        try:
            config, weights = MagnifyConfig.from_dict(state["config"]), state["model"]
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: its stored config does not match this melib version: {err}") from err
        about = f"config {config_hash(config)}, {state.get('step', '?')} steps"
    elif isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
        weights, about = state, f"bare state_dict, architecture of config {config_hash(config)}"
    else:
        raise ValueError(f"{path} is neither a melib magnifier checkpoint nor a state_dict of tensors")
    model = config.build_model()
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise ValueError(f"weights in {path} do not fit MagNet(width={config.width}, blocks "
                         f"{config.enc_blocks}/{config.texture_blocks}/{config.shape_blocks}/{config.manip_blocks}/"
                         f"{config.dec_blocks}); note that the authors' TensorFlow checkpoint cannot be loaded "
                         f"directly.\n{err}") from err
    return model, f"user-supplied weights {path} ({about})"


def magnify_pair(model: MagNet, onset: np.ndarray, apex: np.ndarray, factor: float,
                 keep_apex_detail: bool = False) -> np.ndarray:
    """Apex with the onset -> apex motion magnified ``factor`` times (``factor = 1`` returns ~apex).

    ``factor`` is the total factor (Oh et al. call it alpha), ``1 + alpha`` in melib's EVM convention:
    everywhere else in melib ``alpha`` means EVM's alpha, so the motion becomes ``1 + alpha`` times larger.

    ``onset``/``apex``: ``(H, W)`` grey or ``(H, W, 3)`` RGB, uint8 (0-255) or float (0-1). The
    result has the same shape and dtype; grey input is replicated to 3 channels and averaged back.
    ``keep_apex_detail``: see :func:`magnify_pairs`.
    """
    return magnify_pairs(model, np.asarray(onset)[None], np.asarray(apex)[None], factor,
                         keep_apex_detail=keep_apex_detail)[0]


def magnify_pairs(model: MagNet, onsets: np.ndarray | Sequence[np.ndarray], apexes: np.ndarray | Sequence[np.ndarray],
                  factor: float | Sequence[float], batch_size: int = 8, keep_apex_detail: bool = False) -> np.ndarray:
    """Batched :func:`magnify_pair`: ``(N, H, W[, 3])`` onsets and apexes -> ``(N, H, W[, 3])``.

    ``factor`` (total, ``1 + alpha``) is one for all pairs or one per pair. ``keep_apex_detail=False``
    returns the network output, as in the paper. ``True`` (not in the paper) returns ``apex + G(factor) - G(1)``:
    the blur of an under-trained (e.g. ``fast``) model cancels, fine texture keeps the apex's
    position and coarser structure moves ``factor`` times; for a perfect model ``G(1) = apex``.
    """
    onsets, apexes = _stack(onsets, "onsets"), _stack(apexes, "apexes")
    if onsets.shape != apexes.shape or onsets.dtype != apexes.dtype:
        raise ValueError(f"onsets {onsets.shape} {onsets.dtype} and apexes {apexes.shape} {apexes.dtype} "
                         "must have the same shape and dtype")
    factors = np.asarray(factor, dtype=np.float32).reshape(-1)
    if factors.size not in (1, onsets.shape[0]):
        raise ValueError(f"factor must be one number or one per pair ({onsets.shape[0]}); got {factors.size} values")
    factors = torch.from_numpy(np.broadcast_to(factors, (onsets.shape[0],)).copy())
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, onsets.shape[0], batch_size):
            part = slice(start, start + batch_size)
            x_a = _to_tensor(onsets[part], device) * 2 - 1
            x_b = _to_tensor(apexes[part], device) * 2 - 1
            alpha_part = factors[part].to(device)
            if keep_apex_detail:
                both = model(torch.cat([x_a, x_a]), torch.cat([x_b, x_b]),
                             torch.cat([alpha_part, torch.ones_like(alpha_part)]))
                out = x_b + both[: len(x_a)] - both[len(x_a):]
            else:
                out = model(x_a, x_b, alpha_part)
            outputs.append(((out.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy())
    result = np.concatenate(outputs)
    if onsets.ndim == 3:
        result = result.mean(axis=3)
    if onsets.dtype == np.uint8:
        return np.round(result * 255).astype(np.uint8)
    return result.astype(onsets.dtype)


def _stack(images: np.ndarray | Sequence[np.ndarray], name: str) -> np.ndarray:
    try:
        array = np.asarray(images) if isinstance(images, np.ndarray) else np.stack([np.asarray(i) for i in images])
    except ValueError as err:
        raise ValueError(f"{name}: images must all have the same shape ({err})") from err
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] != 3):
        raise ValueError(f"{name} must be (N, H, W) grey or (N, H, W, 3) RGB; got shape {array.shape}")
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 (0-255) or float (0-1); got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and array.size and (array.min() < -0.01 or array.max() > 1.01):
        raise ValueError(f"float {name} must lie in [0, 1]; got range [{array.min():.3g}, {array.max():.3g}] "
                         "(pass uint8 for 0-255 images)")
    return array


def _to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(N, H, W[, 3])`` uint8/float -> ``(N, 3, H, W)`` float32 in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device=device, dtype=torch.float32)
    if images.dtype == np.uint8:
        x = x / 255.0
    if x.ndim == 3:
        x = x[..., None].expand(*x.shape, 3)
    return x.permute(0, 3, 1, 2).clamp(0, 1)
