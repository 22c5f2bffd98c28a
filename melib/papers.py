"""The papers' published numbers in one schema, the one lookup that pairs a melib run with them, and the
project's one rule for whether a direction agrees with the paper.

Every number a paper prints that melib shows beside a run is a :class:`PaperNumber`: which method,
table and row, on which dataset, under which protocol and class count, which metric, its value, and the
row of the same table it is an ablation of (``reference``). Each method module lists its own as
``PAPER_NUMBERS`` (built with :func:`table`); :func:`paper_comparison` finds the row a melib variant
reproduces and its reference row in the same table, so a run is never read against a number of another
table, protocol or class count. :func:`direction` is the agreement rule used by the report and by every
notebook: a change agrees or disagrees with the paper's only when it is beyond two standard errors of
the difference of the seed means; otherwise it is inconclusive, and the seed counts are always shown.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Protocols as melib names them: ``kfold`` = subject-independent 4-fold cross-validation (IICL),
#: ``loso`` = leave-one-subject-out (the other three papers).
PROTOCOLS = ("kfold", "loso")
#: The margin of the agreement rule, in standard errors of the difference of the seed means.
AGREEMENT_SE = 2.0


@dataclass(frozen=True)
class PaperNumber:
    """One printed number of a paper.

    ``classes`` is the emotion class count (``None`` for AU detection); ``reference`` is the label of the
    row of the same table this row is an ablation of (``None`` for a headline or reference row);
    ``variants`` are the melib variants that reproduce the row (empty: melib has no counterpart).
    """

    method: str
    table: str
    row: str
    dataset: str
    protocol: str
    classes: int | None
    metric: str
    value: float
    reference: str | None = None
    variants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"PaperNumber {self.table} / {self.row}: protocol must be one of {PROTOCOLS}, "
                             f"got {self.protocol!r}")
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"PaperNumber {self.table} / {self.row}: value {self.value} is not in [0, 1]")


def table(method: str, name: str, dataset: str, protocol: str, classes: int | None,
          rows: Mapping[str, tuple[Mapping[str, float], Sequence[str]]], reference: str | None = None) -> list[PaperNumber]:
    """The entries of one printed table: ``rows`` maps a row label to ``({metric: value}, variants)``;
    every row but ``reference`` itself is an ablation of the ``reference`` row."""
    if reference is not None and reference not in rows:
        raise ValueError(f"{method} {name}: reference row {reference!r} is not one of its rows")
    return [PaperNumber(method, name, row, dataset, protocol, classes, metric, float(value),
                        None if row == reference else reference, tuple(variants))
            for row, (values, variants) in rows.items() for metric, value in values.items()]


def numbers(method: str | None = None) -> list[PaperNumber]:
    """Every paper number melib holds (of one method, or of all)."""
    from .methods import NAMES

    names = [method] if method else list(NAMES)
    out: list[PaperNumber] = []
    for name in names:
        if name not in NAMES:
            raise ValueError(f"unknown method {name!r}; choose from {sorted(NAMES)}")
        out += list(importlib.import_module(f"melib.methods.{name}").PAPER_NUMBERS)
    return out


def _headline_metric(entries: Iterable[PaperNumber]) -> str:
    metrics = {e.metric for e in entries}
    for m in ("f1_avg", "uf1"):
        if m in metrics:
            return m
    raise ValueError(f"no headline metric among {sorted(metrics)}")


def paper_comparison(method: str, variant: str, dataset: str = "casme2", classes: int | None = None,
                     protocol: str | None = None, metric: str | None = None,
                     table_name: str | None = None) -> dict[str, Any] | None:
    """The paper's row that ``variant`` reproduces, with its table's reference row, or ``None``.

    ``dataset``: the paper's dataset to read; when the variant's row exists on one other dataset only
    (SelfME's gamma rows are SMIC-HS), that row is used and named in ``dataset``. ``classes`` (emotion
    class count) and ``protocol`` must match when given: a run is never read against a number of another
    class count or protocol. ``metric``: default the task's headline (average AU F1, or UF1).
    ``table_name``: one table when the variant appears in several (default: the first listed where the
    variant is an ablation, else the first listed).

    Returns ``value``, ``reference_value`` (the same table's reference row; ``None`` for a headline row),
    ``delta`` (value - reference_value, or ``None``), ``table``, ``row``, ``reference_row``,
    ``reference_variants`` (melib's variants of the reference row), ``dataset``, ``protocol``,
    ``classes`` and ``metric``.
    """
    entries = [e for e in numbers(method) if variant in e.variants]
    if classes is not None:
        entries = [e for e in entries if e.classes == classes]
    if protocol is not None:
        entries = [e for e in entries if e.protocol == protocol]
    if table_name is not None:
        entries = [e for e in entries if e.table == table_name]
    if not entries:
        return None
    metric = metric or _headline_metric(entries)
    entries = [e for e in entries if e.metric == metric]
    here = [e for e in entries if e.dataset == dataset]
    if not here:
        others = sorted({e.dataset for e in entries})
        if len(others) != 1:
            return None
        here = entries
    entry = next((e for e in here if e.reference is not None), here[0])  # an ablation row before a reference row
    ref = None
    if entry.reference is not None:
        ref = next(e for e in numbers(method) if e.table == entry.table and e.row == entry.reference
                   and e.dataset == entry.dataset and e.metric == entry.metric)
    return {"method": method, "value": entry.value, "reference_value": ref.value if ref else None,
            "delta": round(entry.value - ref.value, 6) if ref else None, "table": entry.table, "row": entry.row,
            "reference_row": entry.reference, "reference_variants": ref.variants if ref else (),
            "dataset": entry.dataset, "protocol": entry.protocol, "classes": entry.classes, "metric": metric}


def row_values(comparison: Mapping[str, Any]) -> dict[str, float]:
    """Every metric the paper prints in the row a :func:`paper_comparison` found (same table, row,
    dataset and class count), e.g. per-AU F1 and ``f1_avg``, or ``acc``, ``uf1`` and ``uar``."""
    key = (comparison["table"], comparison["row"], comparison["dataset"], comparison["classes"])
    return {e.metric: e.value for e in numbers(comparison["method"]) if (e.table, e.row, e.dataset, e.classes) == key}


def direction(ours: Sequence[float], reference: Sequence[float], paper_delta: float | None = None,
              k: float = AGREEMENT_SE) -> dict[str, Any]:
    """The project's one agreement rule, on one metric over seeds for a variant (``ours``) and for its
    reference row; see :func:`direction_stats`."""
    return direction_stats(*seed_stats(ours), *seed_stats(reference), paper_delta=paper_delta, k=k)


def seed_stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    """``(mean, sample sd, n)`` of one metric over seeds, missing values left out (NaN where undefined)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return (float(v.mean()) if v.size else np.nan, float(v.std(ddof=1)) if v.size > 1 else np.nan, int(v.size))


def direction_stats(mean: float, sd: float, n: int, ref_mean: float, ref_sd: float, ref_n: int,
                    paper_delta: float | None = None, k: float = AGREEMENT_SE) -> dict[str, Any]:
    """The agreement rule from seed means, sample sds and seed counts.

    The difference of the seed means is a finding only when it is beyond ``k`` (2) standard errors of
    that difference, ``sqrt(sd^2 / n + ref_sd^2 / ref_n)``; then it ``agrees`` with the paper when it has
    the sign of ``paper_delta`` and ``disagrees`` otherwise. Anything else (within the margin, fewer than
    two seeds on a side) is ``inconclusive``; a finding with no paper direction (``None`` or 0) is an
    ``effect``. Returns ``delta``, ``se``, ``n`` (``(n, ref_n)``), ``beyond``, ``verdict`` and ``text``
    (e.g. ``"+0.041 ± 0.020 (2 SE), 3 vs 3 seeds: agrees"``).
    """
    n2 = (int(n), int(ref_n))
    if min(n2) == 0:
        return {"delta": None, "se": None, "n": n2, "beyond": False, "verdict": "inconclusive",
                "text": f"not run ({n2[0]} vs {n2[1]} seeds)"}
    delta = float(mean - ref_mean)
    se = float(np.sqrt(sd ** 2 / n + ref_sd ** 2 / ref_n)) if min(n2) > 1 else None
    beyond = se is not None and abs(delta) > k * se
    if not beyond:
        verdict = "inconclusive"
    elif paper_delta is None or paper_delta == 0:
        verdict = "effect"
    else:
        verdict = "agrees" if (delta > 0) == (paper_delta > 0) else "disagrees"
    margin = f" ± {k * se:.3f} ({k:g} SE)" if se is not None else " (no SE: one seed)"
    return {"delta": delta, "se": se, "n": n2, "beyond": beyond, "verdict": verdict,
            "text": f"{delta:+.3f}{margin}, {n2[0]} vs {n2[1]} seeds: {verdict}"}


__all__ = ["AGREEMENT_SE", "PROTOCOLS", "PaperNumber", "direction", "direction_stats", "numbers", "paper_comparison",
           "row_values", "seed_stats", "table"]
