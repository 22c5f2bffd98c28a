"""melib.yardsticks: one margin decides "learned" for the report, the run scripts and every notebook."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melib import metrics, yardsticks
from melib.methods import annotation_mimic, iicl


def test_learned_is_at_least_the_margin_above_the_floor():
    m = yardsticks.LEARN_MARGIN
    assert yardsticks.learned(0.5 + m, 0.5) and not yardsticks.learned(0.5 + m - 1e-9, 0.5)
    assert yardsticks.learned(0.60, 0.5, margin=0.1) and not yardsticks.learned(0.59, 0.5, margin=0.1)


def test_the_methods_verdicts_use_the_one_margin():
    m = yardsticks.LEARN_MARGIN
    assert iicl.verdict is yardsticks.au_verdict and annotation_mimic.verdict is yardsticks.emotion_verdict
    assert "NOT clearly above" not in yardsticks.au_verdict(0.5 + m + 0.001, null_auc=0.45, flow_auc=0.9)
    assert "NOT clearly above" in yardsticks.au_verdict(0.5 + m - 0.001, null_auc=0.45, flow_auc=0.9)
    sticks = pd.DataFrame({"uf1": [0.30, 0.20, 0.80], "uar": [0.33, 0.33, 0.80]}, index=["null", "majority", "flow"])
    assert "NOT" not in yardsticks.emotion_verdict(0.30 + m + 0.01, 0.33 + m + 0.01, sticks, "flow").split(";")[0]
    assert "NOT clearly above" in yardsticks.emotion_verdict(0.30 + m + 0.01, 0.33, sticks, "flow")


def test_majority_row_is_always_answering_the_most_frequent_class():
    y = np.array([0, 0, 0, 1, 2, 2])
    acc, uf1, uar = yardsticks.majority_row(y, 3)
    guess = np.zeros_like(y)
    assert acc == pytest.approx(0.5) and uar == pytest.approx(1 / 3)
    assert uf1 == pytest.approx(metrics.uf1(y, guess, [0, 1, 2]))
    assert yardsticks.majority_row([1, 1, 0], 4)[2] == pytest.approx(1 / 4)  # UAR over all four classes
    with pytest.raises(ValueError, match="no labels"):
        yardsticks.majority_row([], 3)
