"""Tables as Markdown, for README results and run summaries (no extra dependency)."""
from __future__ import annotations

import numpy as np
import pandas as pd

#: The separator cell of each column alignment :func:`markdown_table` takes.
ALIGNMENTS: dict[str, str] = {"right": "---:", "left": ":---", "center": ":---:", "none": "---"}


def mean_sd(mean: float, sd: float | None = None, digits: int = 3, signed: bool = False) -> str:
    """The one way melib writes a seed spread: ``"0.731 ± 0.020"``; the sd is left out where it is None or NaN
    (one seed). ``signed``: ``"+0.031 ± 0.010"`` (a difference)."""
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return text if sd is None or np.isnan(sd) else f"{text} ± {sd:.{digits}f}"


def markdown_table(table: pd.DataFrame, digits: int | None = 2, align: str = "right",
                   index_header: str | None = None) -> str:
    """GitHub Markdown for ``table``, its index as the first column (melib's one table writer).

    Parameters
    ----------
    table
        The rows; a MultiIndex row label is joined with " / ".
    digits
        Decimals of a float cell (NaN prints as "-"); ``None``: every cell as ``str(value)``, as given.
    align
        Alignment of the value columns (:data:`ALIGNMENTS`: ``"right"``, ``"left"``, ``"center"`` or
        ``"none"``, GitHub's default, left); the index column is never aligned.
    index_header
        Header of the index column; default the index's names joined with " / " (empty where unnamed).
    """
    if align not in ALIGNMENTS:
        raise ValueError(f"align must be one of {list(ALIGNMENTS)}, got {align!r}")

    def cell(value: object) -> str:
        if digits is not None and isinstance(value, (float, np.floating)):
            return "-" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    if index_header is None:
        index_header = " / ".join(n for n in (table.index.names or []) if n)
    header = [index_header] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [ALIGNMENTS[align]] * len(table.columns)) + "|"]
    for label, row in table.astype(object).iterrows():
        label = " / ".join(map(str, label)) if isinstance(label, tuple) else str(label)
        lines.append("| " + " | ".join([label] + [cell(v) for v in row.tolist()]) + " |")
    return "\n".join(lines)
