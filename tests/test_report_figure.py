"""report.figure draws each row against its own protocol's yardsticks; report.collect finds the notebooks' runs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from melib import report
from melib.experiments import runs

SECTION = report.Section("comparison-au", "AU detection", "au", (
    report.Row("iicl", "senet", "kfold", label="A, kfold"), report.Row("iicl", "iicl", "loso", label="B, loso"),
    report.Row("iicl", "intracl", "loso", label="C, loso")))
STICKS = {"flow probe, kfold": {"auc_avg": 0.8}, "onset null, kfold": {"auc_avg": 0.55},
          "flow probe, loso": {"auc_avg": 0.9}, "onset null, loso": {"auc_avg": 0.6}}


def test_figure_draws_each_protocols_yardsticks_over_its_own_bars_and_marks_rows_not_run():
    results = pd.DataFrame({"section": "comparison-au", "row": ["A, kfold", "A, kfold", "B, loso"],
                            "status": "done", "auc_avg": [0.7, 0.72, 0.65]})
    fig = report.figure(results, SECTION, STICKS)
    ax = fig.axes[0]
    lines = {c.get_label(): c for c in ax.collections if c.get_label() in ("flow probe", "onset null")}
    assert set(lines) == {"flow probe", "onset null"}  # one legend entry each, though drawn per protocol
    spans = sorted((seg[0][0], seg[1][0], seg[0][1]) for c in ax.collections if hasattr(c, "get_segments")
                   for seg in c.get_segments())
    assert (-0.45, 0.45, 0.8) in [tuple(round(v, 2) for v in s) for s in spans]   # kfold probe over bar 0 only
    assert (0.55, 2.45, 0.9) in [tuple(round(v, 2) for v in s) for s in spans]    # loso probe over bars 1-2
    assert any(t.get_text() == "not run" for t in ax.texts)  # row C has no run
    assert any(line.get_label() == "chance (AUC 0.5)" for line in ax.lines)
    plt.close(fig)


def test_experiment_with_seed_none_is_the_profiles_own_run(tiny_synthetic):
    own = runs.experiment("micro_au_clip", "full", None, "fast", root=str(tiny_synthetic), subjects=0)
    preset_seed = own.method.methods.preset("fast", "synthetic")[1].seed
    assert own.seed == own.schedule.seed == preset_seed
    other = runs.experiment("micro_au_clip", "full", preset_seed + 1, "fast", root=str(tiny_synthetic), subjects=0)
    assert other.seed == preset_seed + 1
