"""Training the magnification network (Oh et al., ECCV 2018, Sec. 3.1 "Training") on synthetic pairs.

``train(config)`` runs Adam on :func:`magnification_loss`, one fresh synthetic batch per step (batch
``s`` is made from seed ``(config.seed, s)``, so a resumed run sees the same data as an
uninterrupted one), with a progress bar and an atomic checkpoint every ``checkpoint_every`` steps.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch

from ...config import config_hash, resolve_profile
from ... import loop
from ...train import torch_threads
from .network import MagNet
from .synthetic import PairBatch, SyntheticConfig, make_batch


@dataclasses.dataclass(frozen=True)
class MagnifyConfig:
    """Architecture, data and optimisation settings; its :func:`melib.config.config_hash` names the weights.

    Paper values (Sec. 3.1-3.2): widths 16/32/64 (``width=1``), Adam lr 1e-4, betas (0.9, 0.999),
    batch 4, lambda = 0.1, 384x384 training images.
    """

    width: float = 1.0
    enc_blocks: int = 3
    texture_blocks: int = 2
    shape_blocks: int = 2
    manip_blocks: int = 1
    dec_blocks: int = 9
    data: SyntheticConfig = SyntheticConfig()
    steps: int = 3000
    batch_size: int = 4
    lr: float = 1e-4
    reg_weight: float = 0.1
    cosine_lr: bool = False   # paper: constant lr; True decays it to 0 over ``steps`` (helps short runs)
    seed: int = 0
    checkpoint_every: int = 200

    def build_model(self) -> MagNet:
        """A freshly initialised :class:`MagNet` (weights drawn from ``seed``, global RNG untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return MagNet(self.width, self.enc_blocks, self.texture_blocks, self.shape_blocks,
                          self.manip_blocks, self.dec_blocks)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "MagnifyConfig":
        """Inverse of ``dataclasses.asdict`` (JSON/checkpoint lists become tuples again)."""
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(values.get("data", {})).items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown MagnifyConfig fields {sorted(unknown)}")
        return cls(**{**values, "data": SyntheticConfig(**data)})


#: ``fast``: a tiny model (74k parameters) for 2 CPU cores: 32 px crops, magnified motion <= 6 px and a
#: weak colour perturbation (a strong one roughly halved the factor reached in 600 steps), Adam 1e-3
#: with cosine decay; about 2 minutes uncontended. ``full``: the paper's network and optimiser
#: (Sec. 3.1) at 384 px, alpha up to 100 and magnified motion capped at 30 px (Sec. 3.2), for a GPU.
PRESETS: dict[str, MagnifyConfig] = {
    "fast": MagnifyConfig(width=0.5, enc_blocks=1, texture_blocks=1, shape_blocks=1, manip_blocks=1, dec_blocks=2,
                          data=SyntheticConfig(image_size=32, max_input_motion=1.0, max_magnified_motion=6.0,
                                               color_gain=(0.9, 1.1), color_offset=0.04),
                          steps=2000, batch_size=8, lr=1e-3, cosine_lr=True, checkpoint_every=250),
    "full": MagnifyConfig(data=SyntheticConfig(image_size=384, alpha_range=(1.0, 100.0), max_input_motion=10.0,
                                               max_magnified_motion=30.0),
                          steps=100_000, batch_size=4, lr=1e-4, checkpoint_every=1000),
}


def preset(profile: str | MagnifyConfig = "fast") -> MagnifyConfig:
    """``"fast"``, ``"full"`` or ``"auto"`` (see :func:`melib.config.resolve_profile`) -> its config."""
    if isinstance(profile, MagnifyConfig):
        return profile
    return PRESETS[resolve_profile(profile)]


def magnification_loss(model: MagNet, batch: PairBatch, reg_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of Sec. 3.1: ``L1(Y', Yhat) + lambda * (L1(V_a, V_b) + L1(V_b', V_Y') + L1(M_b, M_b'))``.

    The network magnifies ``(X_a, X_b')`` (``'`` = colour-perturbed) and is compared with ``Y'``.
    The regulariser asks texture representations ``V`` to agree between frames of equal colour but
    different motion, and shape representations ``M`` to agree between frames of equal motion but
    different colour, which separates texture from shape. Images are mapped to [-1, 1].
    """
    n = batch.x_a.shape[0]
    frames = torch.cat([batch.x_a, batch.x_b_pert, batch.x_b, batch.y_pert]) * 2 - 1
    texture, shape = model.encode(frames)
    v_a, v_bp, v_b, v_yp = texture.split(n)
    m_a, m_bp, m_b, _ = shape.split(n)
    output = model.render(v_bp, m_a, m_bp, batch.alpha)
    l1 = (output - (batch.y_pert * 2 - 1)).abs().mean()
    reg = (v_a - v_b).abs().mean() + (v_bp - v_yp).abs().mean() + (m_b - m_bp).abs().mean()
    total = l1 + reg_weight * reg
    return total, {"loss": total.item(), "l1": l1.item(), "reg": reg.item()}


def learning_rate(config: MagnifyConfig, step: int) -> float:
    """Constant ``config.lr`` (paper), or cosine decay from it to 0 at ``config.steps`` if ``cosine_lr``."""
    if not config.cosine_lr:
        return config.lr
    return 0.5 * config.lr * (1 + math.cos(math.pi * min(step / config.steps, 1.0)))


def batch_seed(seed: int, step: int) -> int:
    """Seed of the synthetic batch for ``step`` (so resuming reproduces the same data stream)."""
    return seed * 1_000_003 + step


class SyntheticBatches(torch.utils.data.Dataset):
    """Item ``s`` is the training batch of step ``s`` (lets a DataLoader render batches in worker processes)."""

    def __init__(self, config: MagnifyConfig, total: int):
        self.config, self.total = config, total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, step: int) -> PairBatch:
        return make_batch(self.config.data, self.config.batch_size, seed=batch_seed(self.config.seed, step))


def train(config: MagnifyConfig, steps: int | None = None, device: str | torch.device | None = None,
          progress: bool = True, checkpoint: str | Path | None = None, workers: int = 0,
          threads: int | None = None) -> tuple[MagNet, dict[str, list[float]]]:
    """Train (or resume) a :class:`MagNet` in the step mode of the one training loop
    (:func:`melib.loop.train_steps`); returns the model in eval mode and the loss history.

    Parameters
    ----------
    steps : total number of steps to reach (default ``config.steps``); a resumed run continues from
        the checkpoint's step count.
    checkpoint : ``.pt`` file written atomically every ``config.checkpoint_every`` steps and at the end;
        if it exists it must come from the same config, and training resumes from it (a damaged one is
        named in a warning, set aside as ``<name>.damaged``, and training starts over).
    workers : processes rendering synthetic batches ahead (0: in this process). Batches depend only
        on the step, so the result does not depend on it; use several on a GPU machine (a 384 px
        batch of 4 takes about 0.7 s to render on one CPU core).
    threads : torch CPU threads during training, restored afterwards (None: leave as is). On 2 busy
        shared cores, 1 thread ran the ``fast`` model at 0.1 s/step and 2 threads at 2-6 s/step.
    """
    total = config.steps if steps is None else int(steps)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = config.build_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999))
    start, elapsed, history = 0, 0.0, {"loss": [], "l1": [], "reg": []}
    state = loop.resume_state(Path(checkpoint), "cpu") if checkpoint is not None else None
    if state is not None:
        if state["config_hash"] != config_hash(config):
            raise ValueError(f"checkpoint {checkpoint} was written for config {state['config_hash']}, "
                             f"not {config_hash(config)}; delete it or pass another path")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed, history = int(state["step"]), float(state["elapsed_s"]), state["history"]
    earlier = [{"step": s + 1, **{k: v[s] for k, v in history.items()}} for s in range(start)]
    began = time.perf_counter()
    batches = torch.utils.data.DataLoader(SyntheticBatches(config, total), batch_size=None, num_workers=workers,
                                          sampler=range(start, total))

    def losses_of(batch: PairBatch) -> dict[str, torch.Tensor]:
        loss, parts = magnification_loss(model, batch.to(device), config.reg_weight)
        return {"loss": loss, "l1": parts["l1"], "reg": parts["reg"]}

    def state_at(done: int, steps_so_far: list[dict]) -> dict[str, Any]:
        return checkpoint_state(model, optimizer, config, done, _as_lists(steps_so_far),
                                elapsed + time.perf_counter() - began)

    with torch_threads(threads):
        steps_done = loop.train_steps(model, optimizer, zip(range(start, total), batches), losses_of, total,
                                      start=start, lr_at=lambda step: learning_rate(config, step),
                                      checkpoint=None if checkpoint is None else Path(checkpoint),
                                      checkpoint_every=config.checkpoint_every, state_at=state_at, history=earlier,
                                      desc="learned magnifier", progress=progress)
    return model.eval(), _as_lists(steps_done)


def _as_lists(steps: list[dict]) -> dict[str, list[float]]:
    """Per-step logs ``[{"step", "loss", "l1", "reg"}, ...]`` as the history the checkpoints keep: a list per loss."""
    return {key: [float(s[key]) for s in steps] for key in ("loss", "l1", "reg")}


def checkpoint_state(model: MagNet, optimizer: torch.optim.Optimizer | None, config: MagnifyConfig, step: int,
                     history: dict[str, list[float]], elapsed_s: float) -> dict[str, Any]:
    """What a magnifier checkpoint holds: weights, optimiser state, config and history (plain types,
    ``weights_only``-safe)."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict() if optimizer else {},
            "config": dataclasses.asdict(config), "config_hash": config_hash(config), "step": int(step),
            "history": history, "elapsed_s": float(elapsed_s),
            "note": "self-trained on melib synthetic data; not the official weights of Oh et al. (2018)"}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (:func:`melib.loop.read_checkpoint`: ``weights_only=True``, on the CPU); ``ValueError``
    naming the file and the reason when it cannot be read."""
    state = loop.read_checkpoint(path)
    if isinstance(state, str):
        raise ValueError(f"cannot read {path} as a PyTorch weights file (torch.load(weights_only=True)): {state}")
    return state
