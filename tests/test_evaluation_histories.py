"""PR and ROC curves as metric histories, checked against scikit-learn's curves by brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from modeler.evaluation.histories import curve_histories
from modeler.evaluation.metrics import binary_core


@pytest.mark.parametrize("decimals", [2, 8])
def test_histories_equal_brute_force_interpolation(decimals):
    rng = np.random.default_rng(decimals)
    y = (rng.random(3000) < 0.05).astype(int)
    s = np.round(rng.random(3000) * 0.7 + 0.3 * y * rng.random(3000), decimals)
    h = curve_histories(binary_core(y, s))
    assert [k for k, _ in h["pr_curve"]] == list(range(1001))
    assert [k for k, _ in h["roc_curve"]] == list(range(1001))
    precision, recall, _ = precision_recall_curve(y, s)
    fpr, tpr, _ = roc_curve(y, s)
    for k in range(0, 1001, 7):
        r = k / 1000
        expected = max(p for p, rc in zip(precision, recall, strict=True) if rc >= r - 1e-12)
        assert h["pr_curve"][k][1] == pytest.approx(expected), k
        expected = max(t for f, t in zip(fpr, tpr, strict=True) if f <= r + 1e-12)
        assert h["roc_curve"][k][1] == pytest.approx(expected), k
    pr_values = [v for _, v in h["pr_curve"]]
    roc_values = [v for _, v in h["roc_curve"]]
    assert pr_values == sorted(pr_values, reverse=True)  # interpolated precision never rises
    assert roc_values == sorted(roc_values)
    assert roc_values[-1] == 1.0


def test_one_class_has_no_histories():
    assert curve_histories(binary_core([0, 0, 0], [0.1, 0.5, 0.2])) == {}
