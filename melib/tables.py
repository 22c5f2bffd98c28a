"""What a report table is: rows (a method's variant under a protocol) grouped in sections.

Each paper's package declares its own ablation sections and the rows it adds to the comparison tables
(:class:`melib.methods.spec.MethodSpec`); :mod:`melib.report` assembles them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The metrics of a report row: AU detection (``auc_within``: metrics.au_auc_within_folds, a diagnostic) and emotion.
AU_METRICS = ("f1_avg", "auc_avg", "auc_within")
EMOTION_METRICS = ("uf1", "uar", "acc")


@dataclass(frozen=True)
class Row:
    """One row of a report table: a method's variant under a protocol, with config overrides."""

    method: str
    variant: str
    protocol: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    label_free: bool = False  # Micro-AU CLIP's emotion-label-free MER (Eq. 13) of the run
    label_table: str = "objective"  # the AU-emotion table of the label texts (methods.micro_au_clip.model.LABEL_TABLES)
    reference: str | None = None  # our variant this row is read against (default: its paper row's reference)
    paper_table: str | None = None  # the paper's table to read when the variant is in several

    @property
    def name(self) -> str:
        return self.label or f"{self.method} / {self.variant}"


@dataclass(frozen=True)
class Section:
    """A table of the report: its rows, task (``au`` | ``emotion``), reference row (for the
    direction of each ablation) and whether it belongs to the ``main`` scope or only to ``all``."""

    name: str
    title: str
    task: str
    rows: tuple[Row, ...]
    reference: str | None = None
    scope: str = "main"
    classes: int | None = None  # emotion class count of every row (None: AU detection)


def ours(run: Any, columns: Mapping[str, str]) -> dict[str, float] | None:
    """A complete run's pooled metrics as a table row (``{column: metric key}``); None while folds are missing."""
    results = run.results()
    return None if results is None else {column: results["metrics"][key] for column, key in columns.items()}


def stacked(rows: list[dict[str, float]], index: list[tuple[str, str]], columns: list[str],
            names: tuple[str, str]) -> Any:
    """Rows of ours beside the paper's as one table: a two-level index (``names``), ``columns`` in order
    (an empty table with those columns when there is no row)."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=list(names))).reindex(columns=columns)


__all__ = ["AU_METRICS", "EMOTION_METRICS", "Row", "Section", "ours", "stacked"]
