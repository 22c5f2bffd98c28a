"""The learnability ladder as a figure (table from :func:`melib.ladder.ladder_table`)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def ladder_plot(table: pd.DataFrame, title: str = "") -> Figure:
    """Average F1 per rung (bars), per-AU F1 (dots), the onset-alone null as a dashed line."""
    aus = [c for c in table.columns if c.startswith("AU")]
    rungs = list(table.index)[::-1]  # the first rung (the true displacement) on top
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rungs) + 1.2))
    y = np.arange(len(rungs))
    avg = table.loc[rungs, "avg F1"].to_numpy(dtype=float)
    ax.barh(y, avg, color="#4c72b0", alpha=0.8, height=0.6, label="average F1")
    for i, rung in enumerate(rungs):
        values = table.loc[rung, aus].to_numpy(dtype=float)
        ax.scatter(values, np.full(len(values), i), s=10, color="k", alpha=0.5, zorder=3,
                   label="per-AU F1" if i == 0 else None)
        ax.text(1.03, i, f"{avg[i]:.2f}  (AUC {table.loc[rung, 'avg AUC']:.2f})", va="center", fontsize=8)
    null = [r for r in rungs if "null" in r]
    if null:
        ax.axvline(float(table.loc[null[0], "avg F1"]), color="#c44e52", ls="--", lw=1, label="onset-alone null")
    ax.set_yticks(y, rungs, fontsize=8)
    ax.set(xlim=(0, 1.25), xticks=np.arange(0, 1.01, 0.2), xlabel="F1 (linear probe, pooled over 4 subject-independent folds)", title=title)
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.45, -0.12 - 0.3 / len(rungs)))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
