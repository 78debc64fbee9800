"""Business cost: hand-computed cases, brute force agreement, and CostError messages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modeler.errors import CostError, OptionError
from modeler.evaluation import Costs, cost_at, cost_curve, cost_metrics, parse_costs

METRIC_KEYS = {
    "cost",
    "cost_optimal_threshold",
    "cost_at_optimal",
    "savings",
    "precision_at_optimal",
    "recall_at_optimal",
    "f1_at_optimal",
}


def _brute_force(y, scores, fn, fp, tp_gain=0.0):
    """Cost of every candidate threshold by a plain loop, and the chosen optimum."""
    fn = np.broadcast_to(np.asarray(fn, dtype=float), y.shape)
    gain = np.broadcast_to(np.asarray(tp_gain, dtype=float), y.shape)
    candidates = sorted({*scores.tolist(), float(np.nextafter(scores.max(), np.inf))})
    table = []
    for t in candidates:
        total = 0.0
        for yi, si, fni, gi in zip(y, scores, fn, gain, strict=True):
            if yi == 1 and si < t:
                total += fni
            elif yi == 0 and si >= t:
                total += fp
            elif yi == 1:
                total -= gi
        table.append((t, total))
    best = min(c for _, c in table)
    # Ties: the highest threshold of minimal cost.
    return max(t for t, c in table if c == best), best


# --- hand-computed ----------------------------------------------------------------------------
def test_hand_computed_small_case():
    y = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.1])
    costs = Costs(fn=100.0, fp=10.0)
    # threshold 0.5 flags 0.9 (tp) and 0.8 (fp); misses 0.4 (fn): 100 + 10
    assert cost_at(y, scores, costs, 0.5) == 110.0
    curve = cost_curve(y, scores, costs)
    # flag >= 0.4: tp 2, fp 1 -> 10; flag >= 0.9: one fn -> 100; flag all: 3 fps -> 30.
    assert curve["optimal_threshold"] == 0.4
    assert curve["cost_at_optimal"] == 10.0
    assert curve["approve_all_cost"] == 200.0
    assert curve["flag_all_cost"] == 30.0
    assert curve["savings"] == 20.0
    assert curve["precision_at_optimal"] == pytest.approx(2 / 3)
    assert curve["recall_at_optimal"] == 1.0
    assert curve["f1_at_optimal"] == pytest.approx(0.8)
    assert curve["thresholds"] == sorted(curve["thresholds"])
    assert curve["thresholds"][0] == 0.1
    assert curve["thresholds"][-1] == float(np.nextafter(0.9, 1))  # flag nothing
    assert curve["cost"][-1] == 200.0 and curve["cost"][0] == 30.0


def test_tied_scores_are_flagged_together():
    y = np.array([1, 0, 0, 1])
    scores = np.array([0.7, 0.7, 0.7, 0.2])
    curve = cost_curve(y, scores, Costs(fn=50.0, fp=10.0))
    # 0.7 flags all three ties: 1 tp + 2 fp + the missed 0.2 -> 20 + 50 = 70.
    assert dict(zip(curve["thresholds"], curve["cost"], strict=True))[0.7] == 70.0
    # Flagging everything: 2 fp -> 20, the cheapest; flagging nothing: 2 fn -> 100.
    assert curve["cost"] == [20.0, 70.0, 100.0]
    assert curve["optimal_threshold"] == 0.2 and curve["cost_at_optimal"] == 20.0


def test_equal_costs_pick_the_highest_threshold():
    y = np.array([0, 1, 0])
    scores = np.array([0.2, 0.5, 0.8])
    # fn=2, fp=1: flag nothing 2; >= 0.8: 3; >= 0.5: 1; >= 0.2: 2.
    assert cost_curve(y, scores, Costs(fn=2.0, fp=1.0))["optimal_threshold"] == 0.5
    # fn=1, fp=1: flag nothing 1; >= 0.8: 2; >= 0.5: 1; >= 0.2: 2. The tie goes to flag nothing.
    tie = Costs(fn=1.0, fp=1.0)
    curve = cost_curve(y, scores, tie)
    assert curve["optimal_threshold"] == float(np.nextafter(0.8, 1))
    assert curve["cost_at_optimal"] == 1.0 and curve["savings"] == 0.0


def test_all_negative_data_flags_nothing():
    scores = np.array([0.1, 0.5, 0.9])
    curve = cost_curve(np.zeros(3, dtype=int), scores, Costs(fn=100.0, fp=5.0))
    assert curve["optimal_threshold"] > scores.max()
    assert curve["cost_at_optimal"] == 0.0 == curve["approve_all_cost"]
    assert curve["flag_all_cost"] == 15.0
    assert curve["recall_at_optimal"] == curve["precision_at_optimal"] == 0.0


def test_per_row_amounts_and_tp_gain():
    frame = pd.DataFrame({"amount": [500.0, 0.0, 20.0, 0.0], "age": [1, 2, 3, 4]})
    costs = parse_costs({"fn": "amount", "fp": 5.0, "tp": 2.0}, n=4, frame=frame)
    y = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.6, 0.3, 0.1])
    # >= 0.5: catches 500 (gain 2), misses 20, one fp 5 -> 20 + 5 - 2 = 23
    assert cost_at(y, scores, costs, 0.5) == 23.0
    curve = cost_curve(y, scores, costs)
    # Nothing 520; >= 0.9: 20 - 2 = 18; >= 0.6: 23; >= 0.3: 5 - 4 = 1; all: 10 - 4 = 6.
    assert dict(zip(curve["thresholds"], curve["cost"], strict=True)) == {
        0.1: 6.0, 0.3: 1.0, 0.6: 23.0, 0.9: 18.0, float(np.nextafter(0.9, 1)): 520.0,
    }  # fmt: skip
    assert (curve["optimal_threshold"], curve["cost_at_optimal"]) == (0.3, 1.0)
    assert (curve["approve_all_cost"], curve["flag_all_cost"], curve["savings"]) == (520, 6, 5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimum_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    y = (rng.random(n) < 0.05).astype(int)
    scores = np.round(np.clip(rng.random(n) * 0.8 + 0.3 * y * rng.random(n), 0, 1), 3)  # ties
    amounts = rng.integers(1, 500, n).astype(float)  # whole numbers: exact float sums
    costs = parse_costs({"fn": amounts, "fp": 15.0, "tp": 3.0}, n=n)
    t_best, c_best = _brute_force(y, scores, amounts, 15.0, 3.0)
    curve = cost_curve(y, scores, costs, max_points=50)
    assert curve["optimal_threshold"] == t_best
    assert curve["cost_at_optimal"] == c_best
    assert curve["savings"] >= 0
    assert len(curve["thresholds"]) == len(curve["cost"]) <= 50
    assert t_best in curve["thresholds"]  # thinning keeps the optimum
    assert cost_at(y, scores, costs, t_best) == c_best


def test_random_float_costs_match_brute_force_within_rounding():
    rng = np.random.default_rng(9)
    n = 1000
    y = (rng.random(n) < 0.1).astype(int)
    scores = rng.random(n)
    amounts = rng.random(n) * 300
    costs = parse_costs({"fn": amounts, "fp": 7.3}, n=n)
    _, c_best = _brute_force(y, scores, amounts, 7.3)
    curve = cost_curve(y, scores, costs)
    assert curve["cost_at_optimal"] == pytest.approx(c_best, rel=1e-9)
    assert cost_at(y, scores, costs, curve["optimal_threshold"]) == pytest.approx(c_best)


def test_cost_metrics_keys_and_json():
    y = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.1])
    m = cost_metrics(y, scores, Costs(fn=100.0, fp=10.0), 0.5)
    assert set(m) == METRIC_KEYS
    assert (m["cost"], m["cost_optimal_threshold"], m["savings"]) == (110.0, 0.4, 20.0)
    json.dumps(cost_curve(y, scores, Costs(fn=100.0, fp=10.0)), allow_nan=False)


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ([100, 5], {}, "costs must be a dict like .*; got list"),
        (
            {"fn": 1, "fp": 1, "fnn": 2},
            {},
            r"unknown key\(s\) \['fnn'\]; allowed: \['fn', 'fp', 'tp'\]",
        ),
        ({"fn": 1.0}, {}, r"must set \['fp'\]"),
        ({"fp": 1.0}, {}, r"must set \['fn'\]"),
        ({"fn": -1.0, "fp": 1.0}, {}, "'fn' must be >= 0"),
        ({"fn": 1.0, "fp": float("nan")}, {}, "'fp' must be finite"),
        ({"fn": [1.0, -2.0, 3.0], "fp": 1.0}, {}, r"first at row 1 \(-2.0\)"),
        ({"fn": [1.0, np.inf, 3.0], "fp": 1.0}, {}, "must be finite; 1 value.*first at row 1"),
        ({"fn": [1.0, 2.0], "fp": 1.0}, {}, "one value per row: expected n=3, got 2"),
        ({"fn": "amount", "fp": 1.0}, {}, "names column 'amount', but no frame"),
        ({"fn": 1.0, "fp": [1, 2, 3]}, {}, "'fp' must be a number"),
        (
            {"fn": 1.0, "fp": True},
            {},
            r"'fp' must be a number \(the cost of each false alarm\); got True",
        ),
        ({"fn": 1.0, "fp": 1.0, "tp": -3}, {}, "'tp' must be >= 0"),
        ({"fn": {"a": 1}, "fp": 1.0}, {}, "'fn' must be a number, a column name or 3 numbers"),
    ],
)
def test_parse_costs_errors(spec, kwargs, match):
    with pytest.raises(CostError, match=match):
        parse_costs(spec, n=3, **kwargs)


def test_unknown_column_lists_at_most_ten_columns():
    frame = pd.DataFrame({f"c{i}": [1.0, 2.0, 3.0] for i in range(12)})
    with pytest.raises(
        CostError, match=r"not in the frame; columns: 'c0', .*'c9', \.\.\. \(12 in all\)"
    ):
        parse_costs({"fn": "amt", "fp": 1.0}, n=3, frame=frame)


def test_costs_must_fit_the_data():
    costs = parse_costs({"fn": [1.0, 2.0, 3.0], "fp": 1.0}, n=3)
    with pytest.raises(CostError, match="3 per-row values but the data has 2 rows"):
        cost_curve([0, 1], [0.1, 0.9], costs)
    with pytest.raises(CostError, match="costs must be a Costs"):
        cost_at([0, 1], [0.1, 0.9], {"fn": 1.0, "fp": 1.0}, 0.5)
    with pytest.raises(CostError, match="threshold must be a finite number"):
        cost_at([0, 1], [0.1, 0.9], Costs(fn=1.0, fp=1.0), float("nan"))
    with pytest.raises(OptionError, match="max_points must be >= 3"):
        cost_curve([0, 1], [0.1, 0.9], Costs(fn=1.0, fp=1.0), max_points=2)


def test_cost_report_is_cost_metrics_and_cost_curve_in_one_sweep():
    from modeler.evaluation.cost import cost_report

    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.05).astype(int)
    scores = np.round(rng.random(3000) * 0.6 + 0.4 * y, 3)
    costs = Costs(fn=rng.uniform(10, 500, 3000), fp=4.0, tp_gain=1.0)
    metrics, curve = cost_report(y, scores, costs, 0.5, max_points=200)
    assert metrics == cost_metrics(y, scores, costs, 0.5)
    assert curve == cost_curve(y, scores, costs, max_points=200)


def test_per_row_costs_follow_the_rows_they_belong_to():
    frame = pd.DataFrame({"amount": [10.0, 20.0, 30.0], 0: [1.0, 2.0, 3.0]}, index=[5, 6, 7])
    by_index = frame["amount"].sort_values(ascending=False)  # same rows, another order
    assert parse_costs({"fn": by_index, "fp": 1.0}, n=3, frame=frame).fn.tolist() == [10, 20, 30]
    positional = pd.Series([1.0, 2.0, 3.0])  # made from an array: taken by position
    assert parse_costs({"fn": positional, "fp": 1.0}, n=3, frame=frame).fn.tolist() == [1, 2, 3]
    other_rows = pd.Series([1.0, 2.0, 3.0], index=[8, 9, 10])
    with pytest.raises(CostError, match=r"index does not match the validation rows'"):
        parse_costs({"fn": other_rows, "fp": 1.0}, n=3, frame=frame)
    # a column labelled 0 (not "0") is found by its name as written
    assert parse_costs({"fn": "0", "fp": 1.0}, n=3, frame=frame).fn.tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("fn", "fp", "match"),
    [
        ("text", 1.0, r"costs 'fn' \(column 'text'\) must be a number.*row 1 holds '12,50'"),
        (np.ones((3, 2)), 1.0, r"one value per row \(a 1-D array of 3\); got shape \(3, 2\)"),
        (0.0, 0.0, r"costs are all zero: every threshold costs nothing"),
        ("amount", np.full(3, 5.0), r"costs 'fp' must be a number .*got ndarray of 3 values$"),
    ],
)
def test_cost_specs_that_cannot_price_rows_are_named(fn, fp, match):
    frame = pd.DataFrame({"amount": [10.0, 20.0, 30.0], "text": ["1", "12,50", "3"]})
    with pytest.raises(CostError, match=match):
        parse_costs({"fn": fn, "fp": fp}, n=3, frame=frame)
