"""Tables as Markdown, for README results and run summaries (no extra dependency)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def mean_sd(mean: float, sd: float | None = None, digits: int = 3, signed: bool = False) -> str:
    """The one way melib writes a seed spread: ``"0.731 ± 0.020"``; the sd is left out where it is None or NaN
    (one seed). ``signed``: ``"+0.031 ± 0.010"`` (a difference)."""
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return text if sd is None or np.isnan(sd) else f"{text} ± {sd:.{digits}f}"


def markdown_table(table: pd.DataFrame, digits: int = 2) -> str:
    """GitHub Markdown for ``table``; a MultiIndex row label is joined with " / ", NaN prints as "-"."""
    def cell(value: object) -> str:
        if isinstance(value, (float, np.floating)):
            return "-" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    names = [n for n in (table.index.names or []) if n] or [""]
    header = [" / ".join(names)] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|"]
    for label, row in table.astype(object).iterrows():
        label = " / ".join(map(str, label)) if isinstance(label, tuple) else str(label)
        lines.append("| " + " | ".join([label] + [cell(v) for v in row.tolist()]) + " |")
    return "\n".join(lines)
