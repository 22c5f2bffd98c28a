"""The optimisation schedule a run trains with (hashed into its run key) and a method's profile settings
resolved into a config and a schedule."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCHEDULERS = ("step", "cosine_restarts", "exponential")


@dataclass(frozen=True)
class Schedule:
    """Optimisation schedule, stepped once per epoch.

    ``scheduler="step"``: ``lr`` multiplied by ``lr_gamma`` every ``lr_step`` epochs (StepLR).
    ``scheduler="exponential"``: ``lr`` multiplied by ``lr_gamma`` after every epoch (ExponentialLR; SelfME).
    ``scheduler="cosine_restarts"``: cosine annealing from ``lr`` to 0 with warm restarts (SGDR,
    Loshchilov & Hutter 2017), the first period ``t_0`` epochs and each next ``t_mult`` times longer
    (``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``); ``lr_step``/``lr_gamma`` unused.
    """

    epochs: int = 80
    batch_size: int = 32
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = 40
    lr_gamma: float = 0.1
    seed: int = 0
    num_workers: int = 0
    amp: bool = True
    channels_last: bool = True
    # Added after runs existed: run_key hashes these only when they differ from the defaults below
    # (see schedule_key), so every run made before they existed keeps its key.
    scheduler: str = "step"
    t_0: int = 10
    t_mult: int = 2

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw'; got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}; got {self.scheduler!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr_step < 1:
            raise ValueError(f"epochs, batch_size and lr_step must be >= 1: {self}")
        if self.t_0 < 1 or self.t_mult < 1:
            raise ValueError(f"t_0 and t_mult must be >= 1: {self}")


#: Schedule fields added after runs existed, with the values every earlier run implicitly had.
_LATER_FIELDS = {"scheduler": "step", "t_0": 10, "t_mult": 2}


def schedule_key(schedule: Schedule) -> dict[str, Any]:
    """What :func:`run_key` hashes of a schedule: every field, except the later-added ones at their
    defaults, so a schedule that does not use them hashes exactly as before they existed."""
    return {k: v for k, v in dataclasses.asdict(schedule).items()
            if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


def resolve_preset(presets: Mapping[str, Mapping[str, Any]], profile: str, config_cls: type,
                   overrides: Mapping[str, Any], base_config: Mapping[str, Any] | None = None,
                   method: str = "method") -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """A method's profile with overrides applied: ``(config fields, schedule fields, n_subjects)``.

    ``presets[profile]`` holds ``config``, ``schedule`` and ``subjects``; ``base_config`` comes first
    (dataset-dependent defaults). Each override goes to the config dataclass ``config_cls``, to
    :class:`Schedule`, or is ``subjects``; ``None`` values are ignored (notebook parameters default to
    the profile) and an unknown name raises, naming the method.
    """
    if profile not in presets:
        raise ValueError(f"profile must be one of {sorted(presets)} (resolve 'auto' first); got {profile!r}")
    base = presets[profile]
    cfg = {**dict(base_config or {}), **base["config"]}
    sched = dict(base["schedule"])
    subjects = base["subjects"]
    config_fields = {f.name for f in dataclasses.fields(config_cls)}
    schedule_fields = {f.name for f in dataclasses.fields(Schedule)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "subjects":
            subjects = value
        elif key in config_fields:
            cfg[key] = value
        elif key in schedule_fields:
            sched[key] = value
        else:
            raise ValueError(f"unknown {method} setting {key!r}")
    return cfg, sched, subjects


__all__ = ["SCHEDULERS", "Schedule", "resolve_preset", "schedule_key"]
