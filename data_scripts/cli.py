"""What the ``data_scripts/run_<method>.py`` command lines share: their common flags, the experiments a
command names (``--reference`` included), and the mean ± sd table over seeds.

A method's script adds its own flags to :func:`experiment_parser`'s parser, builds one
:func:`melib.experiments.runs.experiment` per (variant, seed) with :func:`experiments`, then load-or-trains
each with :func:`melib.experiments.runs.run`. Scripts that must never see the evaluation identities
(diagnoses, pretraining) call :func:`require_development`. Not part of melib: only the scripts (and their
tests, through ``tests/conftest.py``'s ``data_script``) import it, with ``data_scripts/`` on ``sys.path``.
"""
from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.viz.tables import mean_sd  # noqa: E402

#: The datasets of the AU methods' scripts (:data:`melib.config.AU_DATASETS`).
DATASETS = config.AU_DATASETS
#: The datasets of the emotion methods (annotation mimic, SelfME): every dataset (:data:`melib.config.DATASETS`),
#: SMIC-HS without AU labels (annotation mimic trains its variants without WSCL there) and CAS(ME)^3 part A included.
EMOTION_DATASETS = config.DATASETS


def experiment_parser(description: str, variants: Sequence[str], default_variants: Sequence[str],
                      reference: Mapping[str, Any], fold_help: str,
                      overrides: Sequence[tuple[str, type]] = (("epochs", int), ("batch-size", int), ("lr", float),
                                                                ("image-size", int)),
                      datasets: Sequence[str] = DATASETS) -> argparse.ArgumentParser:
    """A parser with ``--dataset`` (one of ``datasets``) ``--root --profile --variants --fold --subjects``, one
    ``--<name>`` per schedule/config override (default ``None``: the profile's value), ``--weights``, ``--seeds``
    and ``--reference`` (the documented CPU reference ``reference``, applied by :func:`experiments`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="synthetic", choices=list(datasets))
    parser.add_argument("--root", default="", help="dataset root (default: the synthetic dataset / MELIB_DATA)")
    parser.add_argument("--profile", default="auto", choices=("auto", "fast", "full"))
    parser.add_argument("--variants", nargs="+", default=list(default_variants), choices=list(variants))
    parser.add_argument("--fold", type=int, default=-1, help=fold_help)
    parser.add_argument("--subjects", type=int, default=None, help="N subjects with most clips; 0 = all")
    for name, kind in overrides:
        parser.add_argument(f"--{name}", type=kind, default=None, help="override the profile's value")
    parser.add_argument("--weights", default=None, help="none | pretrained name | path to a state-dict file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds (init and batches); the folds do not change")
    parser.add_argument("--reference", action="store_true",
                        help=f"the documented CPU reference setting: fast profile with {dict(reference)}")
    return parser


def _requested_profile(args: argparse.Namespace) -> str:
    """The profile the command asks for: ``fast`` under ``--reference`` (as
    :func:`melib.experiments.runs.experiment` makes it), else ``--profile`` (maybe ``auto``)."""
    return "fast" if args.reference else args.profile


def resolve_profile(args: argparse.Namespace) -> str:
    """The profile the command runs (``auto`` -> ``fast`` or ``full``; ``fast`` under ``--reference``)."""
    return config.resolve_profile(_requested_profile(args))


def describe(args: argparse.Namespace) -> str:
    """:func:`melib.config.describe_run`'s line for the command's profile, device and roots."""
    return config.describe_run({"profile": resolve_profile(args), "profile_requested": _requested_profile(args)})


def experiments(method: str, args: argparse.Namespace, variants: Sequence[str] | None = None,
                **overrides: Any) -> dict[tuple[str, int], runs.Experiment]:
    """The experiment of each (variant, seed) the command names (``variants``: default ``--variants``; every
    ``--seeds``) on its ``--dataset --root --profile --subjects``, with ``--reference`` applied by
    :func:`melib.experiments.runs.experiment`. ``overrides`` are the method's flags (config or schedule fields);
    those not given (``None``) are dropped, so the profile's value, or the reference setting's, stays."""
    given = {k: v for k, v in {**overrides, "subjects": args.subjects}.items() if v is not None}
    return {(variant, seed): runs.experiment(method, variant, seed, args.profile, dataset=args.dataset, root=args.root,
                                             reference=args.reference, **given)
            for variant in (args.variants if variants is None else variants) for seed in args.seeds}


def parse_sets(items: list[str]) -> dict[str, object]:
    """``key=value`` pairs; values are Python literals where they parse (``2``, ``0.1``, ``'x'``, ``True``)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def require_development(root: str) -> None:
    """Exit with the reason when ``--root`` is not a synthetic development dataset (see
    :func:`melib.data.synthetic.check_development`: the evaluation identities, or no ``synthetic.json``)."""
    from melib.data import synthetic

    try:
        synthetic.check_development(root)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"--root: {err}") from None


def timed_run(label: str, seed: int, train: Callable[[], Any]) -> tuple[Any, float]:
    """Call ``train()`` (a load-or-train run), print its wall time and mean seconds per fold, and return
    ``(run, seconds per fold)`` (NaN before any fold is done)."""
    start = time.perf_counter()
    run = train()
    folds = run.fold_results()
    per_fold = float(np.mean([f["seconds_per_epoch"] * f["epochs"] for f in folds])) if folds else float("nan")
    print(f"{label} seed {seed}: {time.perf_counter() - start:.0f} s, {per_fold:.0f} s per fold, run {run.dir}")
    return run, per_fold


def mean_sd_table(per_seed: pd.DataFrame, by: str, columns: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """``per_seed`` (one row per run) grouped by ``by`` into ``"mean ± sd"`` cells (sample sd over
    seeds; a single seed shows the mean alone) plus a ``seeds`` column."""
    grouped = per_seed.groupby(by, sort=False)
    mean, sd = grouped[list(columns)].mean(), grouped[list(columns)].std()
    shown = pd.DataFrame({c: [mean_sd(m, s, digits) for m, s in zip(mean[c], sd[c])] for c in columns},
                         index=mean.index)
    shown["seeds"] = grouped.size()
    return shown


__all__ = ["DATASETS", "EMOTION_DATASETS", "describe", "experiment_parser", "experiments", "mean_sd_table",
           "parse_sets", "require_development", "resolve_profile", "timed_run"]
