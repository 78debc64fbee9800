"""Paired comparison of runs evaluated on the same rows: is the best really better?

    >>> result = paired(y_val, {"A": scores_a, "B": scores_b}, metric="pr_auc")  # doctest: +SKIP
    >>> r = result["runs"]["B"]                                                  # doctest: +SKIP
    >>> result["best"], r["diff"], r["indistinguishable"]                       # doctest: +SKIP
    ('A', -0.014, True)

Every resample draws the same rows for every run (a paired, stratified bootstrap), so what the
runs share (the same hard positives, the same odd negatives) cancels out of their difference and
the interval of the difference is much narrower than the two runs' own intervals suggest. A run
is *indistinguishable from the best* when the interval of its difference to the best holds 0.

Metrics: ``pr_auc`` (average precision, higher is better) and ``cost`` (total cost at each run's
threshold, from ``thresholds``; lower is better). Rows may carry sampling weights (the
``weight`` column of ``eval/scores.parquet``).

How: each run is resampled together with the best (one pair at a time). Positives are drawn row
by row (multinomial). Negatives that both runs place between the same two positive scores are
interchangeable, so they are drawn per such group, with Poisson counts (the Poisson bootstrap,
summed exactly). For ``pr_auc`` each run's scores are first snapped to ``levels`` quantiles of
its positives' scores (ties within a level), which keeps the groups few; the interval is then
centred on the exact difference. Costs need no snapping: only which runs flag a row matters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.cost import Costs, parse_costs
from modeler.evaluation.metrics import (
    as_binary_scores,
    check_binary_labels,
    check_sample_weight,
)
from modeler.evaluation.uncertainty import (
    Counts,
    Layout,
    _weighted,
    check_bootstrap_options,
    draw_counts,
    layout,
    stats,
)

METRICS = ("pr_auc", "cost")
# For pr_auc, each run's scores are snapped to this many quantiles of its positives' scores.
LEVELS = 64
METHOD = (
    "paired bootstrap: the same resampled rows for the run and the best (positives: "
    "multinomial, every row; negatives: Poisson counts, exact per group of rows that both runs "
    "rank alike); percentile interval of the difference, centred on the exact difference"
)


def _group_sums(inverse: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(inverse, minlength=k)
    mean = np.bincount(inverse, weights=w, minlength=k) / counts
    var = np.bincount(inverse, weights=(w - mean[inverse]) ** 2, minlength=k) / counts
    sd = np.sqrt(np.maximum(var, 0.0))
    sd[sd <= 1e-12 * np.abs(mean)] = 0.0
    return mean, sd


def _check_inputs(
    labels: Any, scores: Any, metric: Any, costs: Any, thresholds: Any, weights: Any
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, Costs | None, dict[str, float]]:
    if metric not in METRICS:
        raise OptionError(f"metric must be one of {list(METRICS)}; got {metric!r}")
    if not isinstance(scores, dict) or not scores:
        raise OptionError(
            "scores must be a dict of run name to that run's scores, with at least one run; "
            f"got {type(scores).__name__}"
        )
    y = check_binary_labels(labels)
    runs = {}
    for name, values in scores.items():
        s = as_binary_scores(values)
        if len(s) != len(y):
            raise EvaluationError(
                f"run {name!r} has {len(s)} scores but the labels have {len(y)} rows: paired "
                "comparison needs every run evaluated on the same rows"
            )
        runs[str(name)] = s
    w = check_sample_weight(weights, len(y))
    w = np.ones(len(y)) if w is None else w
    spec, thr = None, {}
    if metric == "cost":
        if costs is None:
            raise OptionError("metric='cost' needs costs (a Costs or a dict like {'fn', 'fp'})")
        spec = costs if isinstance(costs, Costs) else parse_costs(costs, n=len(y))
        missing = [r for r in runs if r not in (thresholds or {})]
        if missing:
            raise OptionError(
                f"metric='cost' needs a threshold for every run (thresholds={{run: t}}); "
                f"missing for {missing}"
            )
        thr = {r: float(thresholds[r]) for r in runs}
    return y, runs, w, spec, thr


def average_precision(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """scikit-learn's ``average_precision_score`` with sample weights, from one sort.

    >>> average_precision(np.array([0, 1, 1, 0]), np.array([0.1, 0.4, 0.35, 0.8]), np.ones(4))
    0.5833333333333333
    """
    order = np.argsort(-s, kind="stable")
    ys, ss, ws = y[order], s[order], w[order]
    last = np.flatnonzero(np.append(ss[1:] != ss[:-1], True))  # the end of each run of ties
    tp = np.cumsum(ws * ys)[last]
    fp = np.cumsum(ws * (1 - ys))[last]
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * (tp / (tp + fp))))


def _cost_point(y, s, w, fn, tp, fp, t) -> float:
    flagged = s >= t
    pos = y == 1
    return float(
        (w * fn)[pos & ~flagged].sum()
        - (w * tp)[pos & flagged].sum()
        + fp * w[~pos & flagged].sum()
    )


def paired(
    labels: Any,
    scores: dict[str, Any],
    *,
    metric: str = "pr_auc",
    costs: Any = None,
    thresholds: dict[str, float] | None = None,
    weights: Any = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    levels: int = LEVELS,
) -> dict[str, Any]:
    """Each run's difference to the best run, with its interval (see the module docstring).

    Returns ``{"metric", "higher_is_better", "best", "level", "resamples", "seed", "method",
    "runs": {name: {"value", "diff", "ci_low", "ci_high", "indistinguishable", "best"}}}``;
    ``diff`` is the run's value minus the best's (and 0 with a [0, 0] interval for the best).

    Raises:
        OptionError: an unknown metric, no runs, cost without costs or thresholds, bad options.
        EvaluationError: labels that are not 0/1, or a run with another number of scores.
    """
    resamples, seed, level = check_bootstrap_options(resamples, seed, level)
    y, runs, w, spec, thr = _check_inputs(labels, scores, metric, costs, thresholds, weights)
    names = list(runs)
    n = len(y)
    fn = tp = np.zeros(n)
    if spec is not None:
        fn = np.broadcast_to(np.asarray(spec.fn, float), (n,)) * y
        tp = np.broadcast_to(np.asarray(spec.tp_gain, float), (n,)) * y
    if metric == "pr_auc":
        if y.min() == y.max():
            raise EvaluationError(
                f"pr_auc is undefined when the labels hold one class only ({int(y.sum())} "
                f"positives among {n} rows)"
            )
        values = {r: average_precision(y, s, w) for r, s in runs.items()}
        higher = True
    else:
        assert spec is not None
        values = {r: _cost_point(y, s, w, fn, tp, spec.fp, thr[r]) for r, s in runs.items()}
        higher = False
    best = max(names, key=lambda r: values[r]) if higher else min(names, key=lambda r: values[r])

    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    cost_samples: dict[str, np.ndarray] = {}
    cost_points: dict[str, float] = {}
    if metric == "cost":
        assert spec is not None
        cost_samples, cost_points = _cost_samples(y, runs, w, fn, tp, spec.fp, thr, rng, resamples)
    out_runs: dict[str, dict[str, Any]] = {}
    lays = {}
    if metric == "pr_auc":
        lays = {
            r: layout(y, s, weights=w, freq=w, group_positives=False, max_levels=levels)
            for r, s in runs.items()
        }
    for r in names:
        diff = values[r] - values[best]
        if r == best:
            lo = hi = 0.0
        else:
            if metric == "pr_auc":
                d, centre = _pr_auc_pair(y, (lays[r], lays[best]), w, rng, resamples)
            else:
                d = cost_samples[r] - cost_samples[best]
                centre = cost_points[r] - cost_points[best]
            # Centred on the exact difference (the snapped scores' one may differ slightly).
            q_lo, q_hi = np.quantile(d, [lo_q, hi_q])
            lo, hi = float(diff + q_lo - centre), float(diff + q_hi - centre)
        out_runs[r] = {
            "value": values[r],
            "diff": float(diff),
            "ci_low": lo,
            "ci_high": hi,
            "indistinguishable": bool(lo <= 0.0 <= hi),
            "best": r == best,
        }
    return {
        "metric": metric,
        "higher_is_better": higher,
        "best": best,
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "method": METHOD,
        "runs": out_runs,
    }


def _pr_auc_pair(
    y: np.ndarray,
    lays: tuple[Layout, Layout],
    w: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
) -> tuple[np.ndarray, float]:
    """Resampled differences of average precision (run - best) from the two runs' layouts,
    and the difference they scatter around (on the snapped scores)."""
    from scipy import sparse

    pos, neg = y == 1, y == 0
    # Cells: negatives in the same group of both runs are interchangeable for this pair.
    g_run, g_best = (lay.row_group[neg] for lay in lays)
    _, cell, cell_size = np.unique(
        g_run * (int(g_best.max(initial=0)) + 1) + g_best, return_inverse=True, return_counts=True
    )
    cell = cell.ravel()
    n_cells = len(cell_size)
    cell_w, cell_sd = _group_sums(cell, w[neg], n_cells)
    maps, orders = [], []
    for lay, groups in zip(lays, (g_run, g_best), strict=True):
        group_of_cell = np.zeros(n_cells, dtype=np.int64)
        group_of_cell[cell] = groups
        maps.append(
            sparse.csr_matrix(
                (np.ones(n_cells), (np.arange(n_cells), group_of_cell)),
                shape=(n_cells, len(lay.neg_size)),
            )
        )
        orders.append(np.argsort(lay.row_group[pos], kind="stable"))  # unit -> positive row

    def difference(pos_counts: np.ndarray, neg_w: np.ndarray) -> np.ndarray:
        aps = []
        for lay, cell_map, order in zip(lays, maps, orders, strict=True):
            g = np.asarray(cell_map.T.dot(neg_w.T)).T  # (b, groups of this run)
            aps.append(
                stats(
                    lay, Counts(pos=pos_counts[:, order], neg_w=g, neg_f=g), [], with_cost=False
                ).pr_auc
            )
        return aps[0] - aps[1]

    n_pos = int(pos.sum())
    centre = float(difference(np.ones((1, n_pos)), (cell_size * cell_w)[None, :])[0])
    out = []
    block = max(1, min(resamples, 2_000_000 // max(n_cells, n_pos, 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        pos_counts = draw_counts(rng, np.ones(n_pos, dtype=np.int64), b).astype(float)
        # Negatives: the Poisson bootstrap (each row drawn Poisson(1) times), summed per cell.
        neg_counts = rng.poisson(cell_size, size=(b, n_cells)).astype(float)
        out.append(difference(pos_counts, _weighted(rng, neg_counts, cell_w, cell_sd)))
        done += b
    return np.concatenate(out), centre


def _cost_samples(
    y: np.ndarray,
    runs: dict[str, np.ndarray],
    w: np.ndarray,
    fn: np.ndarray,
    tp: np.ndarray,
    fp: float,
    thr: dict[str, float],
    rng: np.random.Generator,
    resamples: int,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Cost of every run at its threshold in the same resamples (exact: no sampling)."""
    pos, neg = y == 1, y == 0
    names = list(runs)
    # Positives: each row's cost in each run; negatives: which runs flag them (cells).
    pos_cost = np.column_stack(
        [np.where(runs[r][pos] >= thr[r], -tp[pos], fn[pos]) * w[pos] for r in names]
    )
    flags = np.column_stack([runs[r][neg] >= thr[r] for r in names])
    uniq, cell, cell_size = np.unique(flags, axis=0, return_inverse=True, return_counts=True)
    cell = cell.ravel()
    cell_w, cell_sd = _group_sums(cell, w[neg], len(cell_size))
    alarm = fp * uniq.astype(np.float64)  # (cells, runs): a false alarm's cost where flagged
    sub_values = {
        r: float(pos_cost[:, j].sum() + (cell_size * cell_w) @ alarm[:, j])
        for j, r in enumerate(names)
    }
    samples: dict[str, list[np.ndarray]] = {r: [] for r in names}
    block = max(1, min(resamples, 2_000_000 // max(int(pos.sum()), len(cell_size), 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        k = draw_counts(rng, np.ones(int(pos.sum()), dtype=np.int64), b).astype(float)
        m = _weighted(rng, draw_counts(rng, cell_size, b).astype(float), cell_w, cell_sd)
        total = k @ pos_cost + m @ alarm
        for j, r in enumerate(names):
            samples[r].append(total[:, j])
        done += b
    return {r: np.concatenate(v) for r, v in samples.items()}, sub_values
