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

How: each run is resampled together with the best. Positives are drawn row by row
(multinomial), one draw per resample shared by every pair. Negatives that both runs place
between the same two positive scores are interchangeable, so they are drawn per such group,
with Poisson counts (the Poisson bootstrap, summed exactly). For ``pr_auc`` each run's scores
are first snapped to ``levels`` quantiles of its positives' scores (ties within a level), which
keeps the groups few; the interval is then centred on the exact difference. Costs need no
snapping: only which runs flag a row matters.
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
    Layout,
    _group_stats,
    _weighted,
    average_precision_by_cut,
    check_bootstrap_options,
    draw_counts,
    layout,
)

METRICS = ("pr_auc", "cost")
# For pr_auc, each run's scores are snapped to this many quantiles of its positives' scores.
LEVELS = 64
METHOD = (
    "paired bootstrap: the same resampled rows for the run and the best (positives: "
    "multinomial, every row; negatives: Poisson counts, exact per group of rows that both runs "
    "rank alike); percentile interval of the difference, centred on the exact difference"
)


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
    order = np.argsort(-s)  # ties are summed as one step below: their order does not matter
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
    pr_auc_diffs: dict[str, tuple[np.ndarray, float]] = {}
    if metric == "pr_auc":
        lays = {
            r: layout(y, s, weights=w, freq=w, group_positives=False, max_levels=levels)
            for r, s in runs.items()
        }
        pr_auc_diffs = _pr_auc_differences(y, lays, best, w, rng, resamples, seed)
    for r in names:
        diff = values[r] - values[best]
        if r == best:
            lo = hi = 0.0
        else:
            if metric == "pr_auc":
                d, centre = pr_auc_diffs[r]
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


def _pr_auc_differences(
    y: np.ndarray,
    lays: dict[str, Layout],
    best: str,
    w: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
    seed: int,
) -> dict[str, tuple[np.ndarray, float]]:
    """For each run but the best: resampled differences of average precision (run - best) and
    the difference they scatter around (on the snapped scores).

    Every pair shares one draw of the positives per resample (each pair is still resampled
    jointly: the same rows for the run and the best); negatives are drawn per pair, per cell,
    each pair from its own copy of one random stream, so runs that rank rows alike (the same
    model twice) get the same draws and the same interval.
    """
    from scipy import sparse

    pos, neg = y == 1, y == 0
    n_pos = int(pos.sum())
    w_neg = w[neg]

    def positives_at_cuts(lay: Layout) -> Any:  # positive row -> its cut, weighted
        cut = lay.pos_cut[lay.row_group[pos]]
        return sparse.csc_matrix((w[pos], (np.arange(n_pos), cut)), shape=(n_pos, lay.m))

    def cells_at_cuts(lay: Layout, group_of_cell: np.ndarray) -> Any:  # cell -> its cut
        code = lay.neg_code[group_of_cell]
        on = np.flatnonzero(code >= 1)  # below the lowest cut: never flagged, not in AP
        return sparse.csc_matrix(
            (np.ones(len(on)), (on, (code[on] - 1) // 2)), shape=(len(code), lay.m)
        )

    at_cuts = {r: positives_at_cuts(lay) for r, lay in lays.items()}
    pairs = {}
    g_best = lays[best].row_group[neg]
    for r, lay in lays.items():
        if r == best:
            continue
        # Cells: negatives in the same group of both runs are interchangeable for this pair.
        g_run = lay.row_group[neg]
        _, cell, size = np.unique(
            g_run * (int(g_best.max(initial=0)) + 1) + g_best,
            return_inverse=True,
            return_counts=True,
        )
        cell = cell.ravel()
        cell_w, cell_sd = _group_stats(cell, size, w_neg)
        maps = []
        for lay_, groups in ((lay, g_run), (lays[best], g_best)):
            group_of_cell = np.zeros(len(size), dtype=np.int64)
            group_of_cell[cell] = groups
            maps.append(cells_at_cuts(lay_, group_of_cell))
        pairs[r] = (size, cell_w, cell_sd, maps, np.random.default_rng([seed, 1]))

    def differences(pos_counts: np.ndarray, neg_w: dict[str, np.ndarray]) -> dict[str, Any]:
        pw = {r: np.asarray(m.T.dot(pos_counts.T)).T for r, m in at_cuts.items()}
        out = {}
        for r, (_, _, _, (m_run, m_best), _) in pairs.items():
            nw = neg_w[r].T
            out[r] = average_precision_by_cut(
                pw[r], np.asarray(m_run.T.dot(nw)).T
            ) - average_precision_by_cut(pw[best], np.asarray(m_best.T.dot(nw)).T)
        return out

    centre = differences(np.ones((1, n_pos)), {r: (p[0] * p[1])[None, :] for r, p in pairs.items()})
    samples: dict[str, list[np.ndarray]] = {r: [] for r in pairs}
    widest = max([n_pos, 1] + [len(p[0]) for p in pairs.values()])
    block = max(1, min(resamples, 2_000_000 // widest))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        pos_counts = draw_counts(rng, np.ones(n_pos, dtype=np.int64), b).astype(float)
        # Negatives: the Poisson bootstrap (each row drawn Poisson(1) times), summed per cell.
        neg_w = {
            r: _weighted(own, own.poisson(size, size=(b, len(size))).astype(float), cw, sd)
            for r, (size, cw, sd, _, own) in pairs.items()
        }
        for r, d in differences(pos_counts, neg_w).items():
            samples[r].append(d)
        done += b
    return {r: (np.concatenate(v), float(centre[r][0])) for r, v in samples.items()}


def _unique_rows(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(flags, axis=0, return_inverse=True, return_counts=True)`` for a boolean
    (rows, runs) array, in the same order; up to 62 runs each row is read as one integer, which
    is an order of magnitude faster than sorting rows.

    >>> _unique_rows(np.array([[True, False], [False, True], [True, False]]))[1].tolist()
    [1, 0, 1]
    """
    if flags.shape[1] > 62:
        uniq, cell, size = np.unique(flags, axis=0, return_inverse=True, return_counts=True)
        return uniq, cell.ravel(), size
    # the first run is the most significant bit: integers sort as the rows do (False < True)
    shifts = np.arange(flags.shape[1] - 1, -1, -1, dtype=np.int64)
    codes = (flags.astype(np.int64) << shifts).sum(axis=1)
    _, first, cell, size = np.unique(
        codes, return_index=True, return_inverse=True, return_counts=True
    )
    return flags[first], cell.ravel(), size


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
    uniq, cell, cell_size = _unique_rows(flags)
    cell_w, cell_sd = _group_stats(cell, cell_size, w[neg])
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
