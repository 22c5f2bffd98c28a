"""SelfME's motion learner (Sec. 3.1, Eqs. 6-8): trained per group of subjects, resumable, with its losses."""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from ... import loop, splits, train
from ...cache import dataset_fingerprint
from ...config import config_hash, outputs_root
from ...preprocess import face_frames
from ...progress import tqdm
from .config import SelfMEConfig
from .losses import equivariance, multiscale_reconstruction
from .model import MotionLearner, RandomTPS


# ------------------------------------------------------------------------------------ motion learner
def _file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def learner_groups(manifest: pd.DataFrame, k: int) -> list[list[str]]:
    """``k`` subject-disjoint groups (round-robin over the sorted subjects): learner g never sees group g."""
    subjects = splits.loso_subjects(manifest)
    if k > len(subjects):
        raise ValueError(f"motion_folds={k} needs at least {k} subjects; the manifest has {len(subjects)}")
    return [subjects[g::k] for g in range(k)]


def _frames(row: Mapping[str, Any], numbers: Sequence[int], size: int, align: str) -> list[np.ndarray]:
    """Frames ``numbers`` of a clip (faces aligned from the first one unless ``align="none"``) at ``size`` x ``size``."""
    frames, _ = face_frames(row, numbers, align)
    return [cv2.resize(frames[int(n)], (size, size), interpolation=cv2.INTER_AREA) for n in numbers]


def _training_frames(rows: pd.DataFrame, cfg: SelfMEConfig, progress: bool) -> list[np.ndarray]:
    """Per clip, ``(F, S, S, 3)`` uint8 frames between onset and offset (``frames_per_clip`` evenly spaced)."""
    clips = []
    for _, row in tqdm(list(rows.iterrows()), desc="motion-learner frames", disable=not progress, leave=False):
        first, last = int(row["onset"]), int(row["offset"]) if int(row["offset"]) > int(row["onset"]) else int(row["apex"])
        numbers = np.arange(first, last + 1)
        if cfg.frames_per_clip and len(numbers) > cfg.frames_per_clip:
            numbers = np.unique(np.linspace(first, last, cfg.frames_per_clip).round().astype(int))
        clips.append(np.stack(_frames(row, numbers, cfg.frame_size, cfg.align)))
    return clips


def _reconstruction_features(cfg: SelfMEConfig, device: torch.device):
    """``None`` for the weight-free pyramid; for ``"vgg19"`` a frozen VGG-19 feature extractor (Eq. 6)."""
    if cfg.reconstruction == "pyramid":
        return None
    import timm

    from ...models.backbones import load_state_dict_file

    pretrained = cfg.vgg_weights == "imagenet"
    vgg = timm.create_model("vgg19", pretrained=pretrained, features_only=True, out_indices=(0, 1, 2, 3, 4))
    if not pretrained:
        load_state_dict_file(vgg, "vgg19", Path(cfg.vgg_weights), strict=False)
    vgg.to(device).eval().requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return lambda x: vgg((x - mean.to(x)) / std.to(x))


def learner_path(manifest: pd.DataFrame, cfg: SelfMEConfig, seen: Sequence[str], seed: int = 0) -> Path:
    """Where the learner trained on subjects ``seen`` with ``seed`` is stored (the key hashes its
    settings, the starting weights' contents, the subjects, the seed and the data)."""
    start = cfg.checkpoint_path()
    key = config_hash({"learner": cfg.learner_settings(), "subjects": sorted(seen), "seed": seed,
                       "start": _file_digest(start) if start is not None else None,
                       "data": dataset_fingerprint(manifest)})
    return outputs_root() / "selfme" / "learners" / f"{key}.pt"


def learner_losses(model: MotionLearner, source: torch.Tensor, target: torch.Tensor, cfg: SelfMEConfig,
                   generator: torch.Generator, features=None) -> tuple[torch.Tensor, torch.Tensor]:
    """One motion-learner step's two terms of Eq. 8 on a batch of frame pairs ``(B, 3, S, S)`` in [0, 1]:
    the multi-scale reconstruction of ``target`` from ``source`` (Eq. 6; ``features`` as
    :func:`_reconstruction_features`) and the keypoint equivariance under a random TPS drawn from
    ``generator`` (Eq. 7)."""
    out = model(source, target, cfg.gamma_train)
    rec = multiscale_reconstruction(out["prediction"], target, features=features)
    tps = RandomTPS(len(source), generator=generator, device=source.device)
    kp_back = tps.warp_coordinates(model.kp_detector(tps.transform_frame(source)))
    return rec, equivariance(out["kp_source"], kp_back)


def train_motion_learner(manifest: pd.DataFrame, seen: Sequence[str], cfg: SelfMEConfig, seed: int = 0,
                         progress: bool = True, device: str | torch.device | None = None) -> tuple[MotionLearner, dict]:
    """Load-or-train the motion learner on the clips of subjects ``seen`` only (Eq. 8, random frame pairs),
    in the step mode of the one training loop (:func:`melib.loop.train_steps`).

    Resumable: ``<path>.last`` is written atomically every 50 steps with the optimiser state and the
    step (a resumed run reseeds its pair sampling from the step, so it is not bit-identical to an
    uninterrupted one; a damaged one is named, set aside and training starts over); the finished model goes to
    :func:`learner_path` with its loss history. Returns the model (eval mode, CPU) and
    ``{"path", "history", "steps", "seen"}``.
    """
    path = learner_path(manifest, cfg, seen, seed)
    model = MotionLearner(cfg.num_kp, 3, cfg.expansion)
    if path.is_file():
        state = loop.read_checkpoint(path)
        if isinstance(state, str):
            loop.set_aside(path, state, "training the motion learner again")
        else:
            model.load_state_dict(state["model"])
            return model.eval(), {"path": path, "history": state["history"], "steps": cfg.learner_steps,
                                  "seen": list(seen)}
    start_weights = cfg.checkpoint_path()
    if start_weights is not None:
        start_state = loop.read_checkpoint(start_weights)
        if isinstance(start_state, str):
            raise ValueError(f"cannot read the motion learner's starting weights {start_weights}: {start_state}")
        model.load_state_dict(start_state)
    device = torch.device(device) if device is not None else train.device_default()
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learner_lr, betas=(0.5, 0.999))
    milestones = [max(1, cfg.learner_steps // 2), max(1, 3 * cfg.learner_steps // 4)]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
    start, history = 0, []
    last = path.with_suffix(".last")
    if (state := loop.resume_state(last, "cpu", "the motion learner starts from step 0")) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, history = int(state["step"]), [dict(zip(("step", "rec", "eqv"), h)) for h in state["history"].tolist()]
    rows = manifest[manifest["subject"].astype(str).isin(set(seen))]
    clips = _training_frames(rows, cfg, progress) if start < cfg.learner_steps else []
    features = _reconstruction_features(cfg, device)
    rng = random.Random(f"{seed}-{start}")
    gen = torch.Generator().manual_seed(seed * 100003 + start)

    def pairs() -> tuple[torch.Tensor, torch.Tensor]:
        """``learner_batch`` random (source, target) frame pairs, each of one clip, ``(B, 3, S, S)`` in [0, 1]."""
        chosen = []
        for _ in range(cfg.learner_batch):
            frames = clips[rng.randrange(len(clips))]
            i, j = rng.sample(range(len(frames)), 2) if len(frames) > 1 else (0, 0)
            chosen.append((frames[i], frames[j]))
        return tuple(torch.from_numpy(np.stack([p[k] for p in chosen])).permute(0, 3, 1, 2).float().div(255).to(device)
                     for k in (0, 1))

    def losses_of(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        rec, eqv = learner_losses(model, *batch, cfg, gen, features)
        return {"loss": rec + eqv, "rec": rec, "eqv": eqv}

    def state_at(done: int, steps: list[dict]) -> dict:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": done, "history": _history_table(steps)}

    history = loop.train_steps(model, opt, ((step, pairs()) for step in range(start, cfg.learner_steps)), losses_of,
                               cfg.learner_steps, start=start, scheduler=sched, checkpoint=last, checkpoint_every=50,
                               state_at=state_at, history=history, desc="motion learner", progress=progress)
    table = _history_table(history)
    loop.save_checkpoint(path, {"model": {k: v.cpu() for k, v in model.state_dict().items()}, "history": table})
    last.unlink(missing_ok=True)
    return model.cpu().eval(), {"path": path, "history": table, "steps": cfg.learner_steps, "seen": list(seen)}


def _history_table(history: Sequence[Mapping[str, float]]) -> torch.Tensor:
    """The learner's loss history as stored: ``(steps, 3)`` float64 rows ``(step, rec, eqv)``."""
    return torch.tensor([[h["step"], h["rec"], h["eqv"]] for h in history], dtype=torch.float64).reshape(-1, 3)
