"""Business cost of a decision threshold, and the threshold that minimises it.

A row is flagged when ``score >= threshold``. The total cost of a threshold is::

    sum(fn cost of each missed positive) + fp * (number of false alarms)
        - sum(tp gain of each caught positive)

``fn`` and ``tp`` may be per row (a missed fraud costs its amount)::

    >>> costs = parse_costs({"fn": [100.0, 20.0, 0.0], "fp": 5.0}, n=3)
    >>> cost_at([1, 1, 0], [0.9, 0.2, 0.6], costs, threshold=0.5)
    25.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeler.errors import CostError, OptionError
from modeler.evaluation.curves import SCHEMA, check_max_points, thin_curve
from modeler.evaluation.metrics import as_binary_scores, check_binary_labels, check_threshold

ALLOWED_KEYS = ("fn", "fp", "tp")
# Costs that differ by less than this fraction of the problem's scale are ties: cumulative sums
# over a million rows round differently from a direct sum, and that noise must not pick the
# threshold.
_TIE_RTOL = 1e-12


@dataclass(frozen=True)
class Costs:
    """What errors cost: ``fn`` per missed positive, ``fp`` per false alarm, ``tp_gain`` per catch.

    ``fn`` and ``tp_gain`` are a float or a float64 array with one value per row.
    """

    fn: float | np.ndarray
    fp: float
    tp_gain: float | np.ndarray = 0.0


# --- parsing ----------------------------------------------------------------------------------
def _columns(frame: Any) -> dict[str, Any]:
    """Column name -> the label the frame knows it by (0, not "0")."""
    cols = frame.columns if hasattr(frame, "columns") else frame.keys()
    return {str(c): c for c in cols}


def _column(key: str, name: str, frame: Any) -> Any:
    if frame is None:
        raise CostError(
            f"costs '{key}' names column {name!r}, but no frame of features was given; "
            f"pass frame=<validation DataFrame> or an array of per-row values"
        )
    columns = _columns(frame)
    if name not in columns:
        names = list(columns)
        shown = ", ".join(repr(c) for c in names[:10])
        more = f", ... ({len(names)} in all)" if len(names) > 10 else ""
        raise CostError(
            f"costs '{key}' names column {name!r}, not in the frame; columns: {shown}{more}"
        )
    return frame[columns[name]]


def _aligned(key: str, value: Any, frame: Any) -> Any:
    """A pandas Series of per-row values in the order of ``frame``'s rows (by index, as pandas
    aligns), or a CostError when it holds other rows."""
    if not (hasattr(value, "index") and hasattr(value, "reindex") and hasattr(frame, "index")):
        return value
    if value.index.equals(frame.index) or _plain_positions(value.index):
        return value  # a Series made from an array (index 0..n-1) is taken by position
    if len(value) == len(frame) and value.index.is_unique and set(value.index) == set(frame.index):
        return value.reindex(frame.index)
    raise CostError(
        f"costs '{key}' is a Series whose index does not match the validation rows' (its first "
        f"labels {list(value.index[:3])}, the rows' {list(frame.index[:3])}); give a column "
        "name, or the values in the rows' order (.to_numpy())"
    )


def _plain_positions(index: Any) -> bool:
    import pandas as pd

    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _first_not_a_number(values: Any) -> str:
    for row, v in enumerate(np.asarray(values, dtype=object).ravel()):
        try:
            float(v)
        except (TypeError, ValueError):
            return f"; row {row} holds {v!r}"
    return ""


def _short(value: Any) -> str:
    if hasattr(value, "__len__") and not isinstance(value, str):
        return f"{type(value).__name__} of {len(value)} values"
    return repr(value)


def _check_values(key: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise CostError(
            f"costs '{key}' must be finite; {int(bad.sum())} value(s) are NaN or infinite, "
            f"the first at row {first}"
        )
    neg = values < 0
    if neg.any():
        first = int(np.flatnonzero(neg)[0])
        raise CostError(
            f"costs '{key}' must be >= 0; {int(neg.sum())} value(s) are negative, "
            f"the first at row {first} ({float(values[first])!r})"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _parse_number(key: str, value: Any, what: str) -> float:
    if not _is_number(value):
        raise CostError(f"costs '{key}' must be a number ({what}); got {_short(value)}")
    _check_values(key, np.array([float(value)]))
    return float(value)


def _parse_value(key: str, value: Any, n: int, frame: Any) -> float | np.ndarray:
    """A number, a column of ``frame`` or ``n`` per-row values."""
    if isinstance(value, bool) or _is_number(value):
        return _parse_number(key, value, "or a column name, or one value per row")
    where = ""
    if isinstance(value, str):
        where = f" (column {value!r})"
        value = _column(key, value, frame)
    else:
        value = _aligned(key, value, frame)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CostError(
            f"costs '{key}'{where} must be a number, a column name or {n} numbers; got "
            f"{type(value).__name__}{_first_not_a_number(value)}"
        ) from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise CostError(
            f"costs '{key}' must be one value per row (a 1-D array of {n}); got shape {arr.shape}"
        )
    if len(arr) != n:
        raise CostError(
            f"costs '{key}' must have one value per row: expected n={n}, got {len(arr)}"
        )
    _check_values(key, arr)
    return arr


def parse_costs(spec: Any, *, n: int, frame: Any = None) -> Costs:
    """Validate a cost specification for ``n`` rows.

    ``spec`` is a dict with keys ``fn`` and ``fp`` (required) and ``tp`` (a gain per true
    positive, optional). ``fn`` and ``tp`` may be a number, a column name of ``frame`` (the
    validation features) or ``n`` per-row values; ``fp`` is a number.

    >>> parse_costs({"fn": "amount", "fp": 5.0}, n=2, frame={"amount": [120.0, 8.5]}).fn
    array([120. ,   8.5])

    Raises:
        CostError: not a dict, unknown or missing keys, negative or non-finite values, wrong
            length, unknown column, or a column name with no frame.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise CostError(f"n must be a number of rows (int >= 0); got {n!r}")
    if not isinstance(spec, dict):
        raise CostError(
            f"costs must be a dict like {{'fn': 100.0, 'fp': 5.0}}; got {type(spec).__name__}"
        )
    unknown = [k for k in spec if k not in ALLOWED_KEYS]
    if unknown:
        raise CostError(f"costs has unknown key(s) {unknown}; allowed: {list(ALLOWED_KEYS)}")
    missing = [k for k in ("fn", "fp") if k not in spec]
    if missing:
        raise CostError(
            f"costs must set {missing} (fn: cost of a missed positive, fp: cost of a false "
            f"alarm); got keys {sorted(spec)}"
        )
    costs = Costs(
        fn=_parse_value("fn", spec["fn"], int(n), frame),
        fp=_parse_number("fp", spec["fp"], "the cost of each false alarm"),
        tp_gain=_parse_value("tp", spec.get("tp", 0.0), int(n), frame),
    )
    if n and costs.fp == 0 and not np.any(costs.fn) and not np.any(costs.tp_gain):
        raise CostError(
            "costs are all zero: every threshold costs nothing, so no decision can be chosen; "
            "give fn the cost of a missed positive and fp that of a false alarm"
        )
    return costs


# --- evaluation -------------------------------------------------------------------------------
def _prepare(
    y_true: Any, scores: Any, costs: Costs
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores, fn cost and tp gain per row (0 on negatives), checked against each other."""
    if not isinstance(costs, Costs):
        raise CostError(f"costs must be a Costs (see parse_costs); got {type(costs).__name__}")
    y = check_binary_labels(y_true)
    s = as_binary_scores(scores)
    if len(y) != len(s):
        raise CostError(f"y_true and scores must have the same length; got {len(y)} and {len(s)}")
    per_row = []
    for key, value in (("fn", costs.fn), ("tp", costs.tp_gain)):
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(len(y), float(arr))
        if len(arr) != len(y):
            raise CostError(
                f"costs '{key}' has {len(arr)} per-row values but the data has {len(y)} rows"
            )
        per_row.append(arr * y)  # only positives carry them
    return y, s, per_row[0], per_row[1]


def cost_at(y_true: Any, scores: Any, costs: Costs, threshold: float) -> float:
    """Total cost when rows with ``score >= threshold`` are flagged.

    >>> cost_at([1, 0, 0], [0.3, 0.8, 0.1], Costs(fn=100.0, fp=5.0), 0.5)
    105.0
    """
    y, s, fn_cost, tp_gain = _prepare(y_true, scores, costs)
    flagged = s >= _check_any_threshold(threshold)
    false_alarms = int(np.count_nonzero(flagged & (y == 0)))
    return float(fn_cost[~flagged].sum() + costs.fp * false_alarms - tp_gain[flagged].sum())


def _check_any_threshold(threshold: Any) -> float:
    # Not limited to [0, 1]: "flag nothing" sits just above the highest score, maybe above 1.
    ok = isinstance(threshold, int | float | np.number) and not isinstance(threshold, bool)
    if not ok or not np.isfinite(threshold):
        raise CostError(f"threshold must be a finite number; got {threshold!r}")
    return float(threshold)


@dataclass(frozen=True)
class _Sweep:
    """Cost of every distinct threshold, from "flag nothing" (index 0) to "flag everything"."""

    thresholds: np.ndarray  # decreasing
    cost: np.ndarray
    tp: np.ndarray  # counts flagged at each threshold
    fp: np.ndarray
    positives: int
    best: int


def _sweep(y_true: Any, scores: Any, costs: Costs) -> _Sweep:
    y, s, fn_cost, tp_gain = _prepare(y_true, scores, costs)
    order = np.argsort(-s, kind="stable")  # one sort; flags grow along it
    s_desc = s[order]
    # The last row of each run of tied scores: a threshold flags all ties or none.
    last = np.flatnonzero(np.append(s_desc[1:] != s_desc[:-1], True))
    y_desc = y[order]
    tp = np.concatenate(([0], np.cumsum(y_desc)[last]))
    fp = np.concatenate(([0], (last + 1) - tp[1:]))
    caught = np.concatenate(([0.0], np.cumsum(fn_cost[order])[last]))
    gained = np.concatenate(([0.0], np.cumsum(tp_gain[order])[last]))
    total_fn = float(fn_cost.sum())
    cost = total_fn - caught + costs.fp * fp - gained
    flag_nothing = np.nextafter(s_desc[0], np.inf)  # flags no row: score >= t never holds
    thresholds = np.concatenate(([flag_nothing], s_desc[last]))
    scale = total_fn + costs.fp * (len(y) - int(y.sum())) + float(tp_gain.sum())
    # Ties (within rounding) go to the first index: the highest threshold, the fewest flags.
    best = int(np.flatnonzero(cost <= cost.min() + _TIE_RTOL * max(scale, 1.0))[0])
    return _Sweep(thresholds, cost, tp, fp, int(y.sum()), best)


def _rates(sweep: _Sweep, i: int) -> tuple[float, float, float]:
    tp, fp = float(sweep.tp[i]), float(sweep.fp[i])
    fn = sweep.positives - tp
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / sweep.positives if sweep.positives > 0 else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0
    return precision, recall, f1


def _summary(sweep: _Sweep) -> dict[str, float]:
    best_cost = float(sweep.cost[sweep.best])
    approve_all, flag_all = float(sweep.cost[0]), float(sweep.cost[-1])
    precision, recall, f1 = _rates(sweep, sweep.best)
    return {
        "optimal_threshold": float(sweep.thresholds[sweep.best]),
        "cost_at_optimal": best_cost,
        "approve_all_cost": approve_all,
        "flag_all_cost": flag_all,
        # Both trivial policies are points of the sweep, so this is >= 0 up to rounding.
        "savings": max(min(approve_all, flag_all) - best_cost, 0.0),
        "precision_at_optimal": precision,
        "recall_at_optimal": recall,
        "f1_at_optimal": f1,
    }


def cost_curve(y_true: Any, scores: Any, costs: Costs, *, max_points: int = 1000) -> dict:
    """Cost of every distinct score threshold, the optimum and the trivial policies.

    The sweep covers each distinct score (flag rows with ``score >= it``) and "flag nothing"
    (``nextafter(max(score), inf)``); the lowest score is "flag everything". Among thresholds
    of minimal cost, the highest one (the fewest flags) is the optimum. ``thresholds`` and
    ``cost`` are increasing in threshold, thinned to at most ``max_points`` points that always
    include the optimum. One sort and cumulative sums: O(n log n).

    >>> c = cost_curve([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3], Costs(fn=100.0, fp=5.0))
    >>> c["optimal_threshold"], c["cost_at_optimal"], c["savings"]
    (0.3, 5.0, 5.0)
    """
    if check_max_points(max_points) < 3:
        raise OptionError(f"max_points must be >= 3 (first, last and optimum); got {max_points}")
    sweep = _sweep(y_true, scores, costs)
    thr, cost = sweep.thresholds[::-1], sweep.cost[::-1]
    best = len(thr) - 1 - sweep.best
    keep = thin_curve(thr, cost, max_points - 1)  # room left for the optimum
    if best not in keep:
        keep = np.sort(np.append(keep, best))
    return {
        "schema": SCHEMA,
        "thresholds": thr[keep].tolist(),
        "cost": cost[keep].tolist(),
        **_summary(sweep),
    }


def _run_metrics(summary: dict[str, Any], cost: float) -> dict[str, float]:
    return {
        "cost": cost,
        "cost_optimal_threshold": summary["optimal_threshold"],
        "cost_at_optimal": summary["cost_at_optimal"],
        "savings": summary["savings"],
        "precision_at_optimal": summary["precision_at_optimal"],
        "recall_at_optimal": summary["recall_at_optimal"],
        "f1_at_optimal": summary["f1_at_optimal"],
    }


def cost_metrics(y_true: Any, scores: Any, costs: Costs, threshold: float) -> dict[str, float]:
    """Cost metrics of a run (the writer logs them with the ``eval.`` prefix).

    Keys: cost (at ``threshold``), cost_optimal_threshold, cost_at_optimal, savings,
    precision_at_optimal, recall_at_optimal, f1_at_optimal.

    >>> cost_metrics([0, 1], [0.2, 0.7], Costs(fn=10.0, fp=1.0), 0.5)["cost"]
    0.0
    """
    summary = _summary(_sweep(y_true, scores, costs))
    return _run_metrics(summary, cost_at(y_true, scores, costs, check_threshold(threshold)))


def cost_report(
    y_true: Any, scores: Any, costs: Costs, threshold: float, *, max_points: int = 1000
) -> tuple[dict[str, float], dict]:
    """``cost_metrics`` and ``cost_curve`` from one sweep (one sort of the scores).

    >>> metrics, curve = cost_report([0, 1], [0.2, 0.7], Costs(fn=10.0, fp=1.0), 0.5)
    >>> metrics["cost_at_optimal"] == curve["cost_at_optimal"]
    True
    """
    curve = cost_curve(y_true, scores, costs, max_points=max_points)
    cost = cost_at(y_true, scores, costs, check_threshold(threshold))
    return _run_metrics(curve, cost), curve
