"""Bootstrap intervals for binary metrics and business cost, from one sort of the scores.

    >>> boot = bootstrap_binary(y, scores, threshold=0.5, costs=costs, seed=0)   # doctest: +SKIP
    >>> boot.interval("pr_auc")                                                  # doctest: +SKIP
    (0.412, 0.583)

The method is a stratified bootstrap: each resample draws as many positives and as many
negatives as the data holds, with replacement. It is computed without building a single
resampled data set:

- The scores are sorted once. Every threshold the metrics need (each distinct score of a
  positive, the run's threshold, the plotted thresholds, "flag everything", "flag nothing") is
  a *cut*. Ranking metrics and costs only depend on how much weight of each class lies at or
  between the cuts.
- Negatives carry no per-row cost, so the negatives between two cuts are interchangeable: the
  number a resample draws from each such group is one multinomial draw over the groups (the
  exact distribution of the per-row counts, summed). Positives keep their own rows (each may
  carry its own cost), drawn the same way over rows.
- Cumulative sums along the cuts then give every resample's ROC-AUC, average precision,
  precision / recall / F1 at the threshold and cost at every cut at once: O(resamples x cuts)
  instead of O(resamples x rows x log rows).

When the positives hold more than ``MAX_LEVELS`` distinct scores, the scores are snapped down
to a grid of ``MAX_LEVELS`` positive-score quantiles (the thresholds asked for stay exact) and
the intervals are shifted by the difference between the exact and the snapped estimate; the
report says ``"binned": true``. With ``weights`` that vary within a group of negatives, a
group's resampled weight is its count times the mean weight plus a normal term with the
group's weight variance (exact in mean and variance); equal weights (no weights, or the
sampling weights of ``scores.parquet``) are exact. Likewise, more than
``MAX_POSITIVE_UNITS`` positives with costs of their own (a large, balanced set) are drawn per
cut rather than row by row, their costs resampled as count x mean plus a normal term.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeler.errors import EvaluationError, OptionError

# Distinct positive scores handled exactly; above, scores are snapped to a grid of this size.
MAX_LEVELS = 2000
# Positives with their own costs are drawn row by row up to this many; above, per cut (below).
MAX_POSITIVE_UNITS = 20_000
# Resamples are processed in blocks of about this many cells (resamples x cuts).
_BLOCK_CELLS = 2_000_000
# Costs within this fraction of the problem's scale are ties (as in cost.py).
_TIE_RTOL = 1e-12

METHOD = (
    "stratified bootstrap: per class, multinomial counts over rows (positives) and over "
    "groups of negatives between cuts; one sort of the scores; percentile intervals"
)


def check_bootstrap_options(resamples: Any, seed: Any, level: Any) -> tuple[int, int, float]:
    """Validated ``(resamples, seed, level)``.

    >>> check_bootstrap_options(1000, 0, 0.95)
    (1000, 0, 0.95)

    Raises:
        OptionError: resamples not an int >= 20, seed not an int >= 0, level not in (0, 1).
    """
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer):
        raise OptionError(f"resamples must be an int >= 20; got {resamples!r}")
    if resamples < 20:
        raise OptionError(f"resamples must be an int >= 20; got {resamples}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise OptionError(f"seed must be an int >= 0; got {seed!r}")
    ok = isinstance(level, int | float | np.number) and not isinstance(level, bool)
    if not ok or not 0.0 < float(level) < 1.0:
        raise OptionError(f"level must be a number between 0 and 1 (e.g. 0.95); got {level!r}")
    return int(resamples), int(seed), float(level)


# --- layout: one sort, cuts and groups ----------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """The data reduced to what the resampled metrics need (see the module docstring).

    Codes place a score against the ascending cuts ``a_0 < ... < a_{m-1}``: 0 below ``a_0``,
    ``2k + 1`` equal to ``a_k``, ``2k + 2`` strictly between ``a_k`` and ``a_{k+1}``.
    """

    cuts: np.ndarray  # ascending
    binned: bool
    # groups of negatives: one per occupied code
    neg_code: np.ndarray
    neg_size: np.ndarray
    neg_w: np.ndarray  # mean metric weight of the group
    neg_w_sd: np.ndarray  # its standard deviation (0 when equal)
    neg_f: np.ndarray  # mean frequency weight (what a row stands for in costs)
    neg_f_sd: np.ndarray
    # units of positives: identical rows (same cut, weights and costs), sorted by cut
    pos_cut: np.ndarray
    pos_size: np.ndarray
    pos_w: np.ndarray
    pos_f: np.ndarray
    pos_fn: np.ndarray  # missed cost of one row, times its frequency weight
    pos_tp: np.ndarray  # gain of one catch, times its frequency weight
    fp: float
    # per unit of positives: standard deviations of weight, missed cost and gain within it
    # (zeros unless more than MAX_POSITIVE_UNITS distinct positives were grouped by cut)
    pos_sd: np.ndarray = field(repr=False)
    # per row: its group (negatives) or unit (positives), for tests that resample rows
    row_group: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    s: np.ndarray = field(repr=False)  # the scores the cuts were placed on (snapped if binned)

    @property
    def m(self) -> int:
        return len(self.cuts)

    def cut_index(self, threshold: float) -> int:
        """Index of a cut; raises if ``threshold`` is not one."""
        k = int(np.searchsorted(self.cuts, threshold))
        if k >= self.m or self.cuts[k] != threshold:
            raise EvaluationError(f"threshold {threshold!r} is not a cut of this layout")
        return k


def _codes(cuts: np.ndarray, s: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(cuts, s, side="right")  # number of cuts <= s
    tie = (idx > 0) & (cuts[np.maximum(idx - 1, 0)] == s)
    return 2 * idx - tie


def _group_stats(
    inverse: np.ndarray, counts: np.ndarray, values: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``values`` per group (None: all ones)."""
    k = len(counts)
    if values is None:
        return np.ones(k), np.zeros(k)
    mean = np.bincount(inverse, weights=values, minlength=k) / counts
    sq = np.bincount(inverse, weights=(values - mean[inverse]) ** 2, minlength=k)
    sd = np.sqrt(np.maximum(sq / counts, 0.0))
    sd[sd <= 1e-12 * np.maximum(np.abs(mean), 1e-300)] = 0.0  # equal up to rounding
    return mean, sd


def layout(
    y: np.ndarray,
    s: np.ndarray,
    *,
    thresholds: Any = (),
    weights: np.ndarray | None = None,
    freq: np.ndarray | None = None,
    fn: np.ndarray | None = None,
    tp: np.ndarray | None = None,
    fp: float = 0.0,
    max_levels: int = MAX_LEVELS,
    group_positives: bool = True,
    max_units: int = MAX_POSITIVE_UNITS,
) -> Layout:
    """Reduce checked arrays (labels 0/1, float64 scores, per-row weights and costs) to a Layout.

    ``thresholds`` are extra cuts (the run's threshold, plotted thresholds). ``weights`` weigh
    the rates (precision, AUCs); ``freq`` says how many rows each row stands for in costs
    (sampling weights); ``fn`` / ``tp`` are per-row costs of positives. With
    ``group_positives=False`` each positive row is its own unit (``row_group`` of a positive
    is then its unit), so several layouts of the same rows can share one resample.

    >>> lay = layout(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4]), thresholds=[0.5])
    >>> lay.cuts.tolist()
    [0.2, 0.4, 0.5, 0.9, 0.9000000000000001]
    """
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    f = np.ones(n) if freq is None else np.asarray(freq, dtype=np.float64)
    fn_row = np.zeros(n) if fn is None else np.broadcast_to(np.asarray(fn, float), (n,))
    tp_row = np.zeros(n) if tp is None else np.broadcast_to(np.asarray(tp, float), (n,))
    pos = y == 1
    extra = np.asarray(list(thresholds), dtype=np.float64).ravel()
    top = np.nextafter(s.max(), np.inf)  # "flag nothing"
    fixed = np.unique(np.concatenate((extra, [s.min(), top])))
    levels = np.unique(s[pos])
    binned = len(levels) > max_levels
    if binned:
        # Snap down to a grid: a score >= a grid value stays >= it, so every fixed threshold
        # flags exactly the same rows; only the order inside a grid cell is lost.
        grid = np.quantile(levels, np.linspace(0.0, 1.0, max_levels), method="inverted_cdf")
        grid = np.unique(np.concatenate((grid, fixed)))
        s = grid[np.maximum(np.searchsorted(grid, s, side="right") - 1, 0)]
        levels = np.unique(s[pos])
    cuts = np.unique(np.concatenate((levels, fixed)))
    codes = _codes(cuts, s)

    # Groups of negatives: codes are small integers, so counting them needs no sort.
    neg_codes = codes[~pos]
    size_by_code = np.bincount(neg_codes, minlength=2 * len(cuts) + 1)
    neg_code = np.flatnonzero(size_by_code)
    neg_size = size_by_code[neg_code]
    group_of_code = np.zeros(len(size_by_code), dtype=np.int64)
    group_of_code[neg_code] = np.arange(len(neg_code))
    neg_inverse = group_of_code[neg_codes]
    neg_w, neg_w_sd = _group_stats(neg_inverse, neg_size, None if weights is None else w[~pos])
    neg_f, neg_f_sd = _group_stats(neg_inverse, neg_size, None if freq is None else f[~pos])

    pos_cut_row = (codes[pos] - 1) // 2  # positives sit on cuts (odd codes)
    key = np.column_stack((pos_cut_row, w[pos], f[pos], fn_row[pos] * f[pos], tp_row[pos] * f[pos]))
    if not group_positives:  # one unit per positive row, in the order of their cuts
        order = np.argsort(pos_cut_row, kind="stable")
        units, pos_size = key[order], np.ones(len(order), dtype=np.int64)
        pos_inverse = np.empty(len(order), dtype=np.int64)
        pos_inverse[order] = np.arange(len(order))
    elif len(key):
        units, pos_inverse, pos_size = np.unique(
            key, axis=0, return_inverse=True, return_counts=True
        )
    else:
        units, pos_inverse, pos_size = (
            np.zeros((0, 5)),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )
    pos_sd = np.zeros((len(units), 3))
    if group_positives and len(units) > max_units:
        # Too many positives with costs of their own to draw row by row: group them by cut,
        # and resample each group's weight and costs as count x mean plus a normal term.
        cut_of_unit, pos_inverse, pos_size = np.unique(
            pos_cut_row, return_inverse=True, return_counts=True
        )
        moments = [_group_stats(pos_inverse, pos_size, key[:, j]) for j in (1, 2, 3, 4)]
        units = np.column_stack([cut_of_unit] + [mean for mean, _ in moments])
        pos_sd = np.column_stack([moments[j][1] for j in (0, 2, 3)])  # weight, fn, tp
    row_group = np.empty(n, dtype=np.int64)
    row_group[~pos] = neg_inverse.ravel()
    row_group[pos] = np.asarray(pos_inverse).ravel()
    return Layout(
        cuts=cuts,
        binned=binned,
        neg_code=neg_code,
        neg_size=neg_size.astype(np.int64),
        neg_w=neg_w,
        neg_w_sd=neg_w_sd,
        neg_f=neg_f,
        neg_f_sd=neg_f_sd,
        pos_cut=units[:, 0].astype(np.int64),
        pos_size=np.asarray(pos_size, dtype=np.int64),
        pos_w=units[:, 1],
        pos_f=units[:, 2],
        pos_fn=units[:, 3],
        pos_tp=units[:, 4],
        fp=float(fp),
        pos_sd=pos_sd,
        row_group=row_group,
        y=np.asarray(y),
        s=s,
    )


# --- drawing counts -----------------------------------------------------------------------------
def draw_counts(rng: np.random.Generator, sizes: np.ndarray, b: int) -> np.ndarray:
    """``b`` resamples of ``sum(sizes)`` rows with replacement, counted per group: (b, groups).

    The same distribution as a multinomial over the groups; when groups hold one row or two on
    average, drawing rows and counting them is faster than numpy's multinomial.

    >>> draw_counts(np.random.default_rng(0), np.array([3, 1]), 2).sum(axis=1).tolist()
    [4, 4]
    """
    k, total = len(sizes), int(sizes.sum())
    if k == 0:
        return np.zeros((b, 0), dtype=np.int64)
    if k == 1:
        return np.full((b, 1), total, dtype=np.int64)
    if total <= 2 * k:
        group_of_row = np.repeat(np.arange(k), sizes)
        rows = rng.integers(0, total, size=(b, total))
        flat = (group_of_row[rows] + (np.arange(b) * k)[:, None]).ravel()
        return np.bincount(flat, minlength=b * k).reshape(b, k)
    return rng.multinomial(total, sizes / total, size=b)


def _weighted(
    rng: np.random.Generator, counts: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> np.ndarray:
    """Resampled weight of each group: count x mean, plus a normal term where weights vary."""
    out = counts * mean
    vary = np.flatnonzero(sd > 0)
    if len(vary):
        z = rng.standard_normal((counts.shape[0], len(vary)))
        out[:, vary] = np.maximum(out[:, vary] + np.sqrt(counts[:, vary]) * sd[vary] * z, 0.0)
    return out


# --- statistics of resamples --------------------------------------------------------------------
def _by_column(values: np.ndarray, columns: np.ndarray, m: int) -> np.ndarray:
    """Sum the columns of ``values`` (b, k) into ``m`` columns; ``columns`` sorted ascending."""
    out = np.zeros((values.shape[0], m))
    if values.shape[1] == 0:
        return out
    starts = np.flatnonzero(np.r_[True, columns[1:] != columns[:-1]])
    out[:, columns[starts]] = np.add.reduceat(values, starts, axis=1)
    return out


def _suffix(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x[:, ::-1], axis=1)[:, ::-1]


def _flagged(pw: np.ndarray, nw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive and negative weight flagged at each cut (score >= cut), and the precision there
    (0 where nothing is flagged), from the weight sitting on each cut: all (b, m)."""
    tp, fp = _suffix(pw), _suffix(nw)
    flagged = tp + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(flagged > 0, tp / np.where(flagged > 0, flagged, 1.0), 0.0)
    return tp, fp, precision


def _average_precision(pw: np.ndarray, tp: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Average precision per resample: the step sum over the cuts positives sit on (NaN
    without positives)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = (pw * precision).sum(axis=1) / tp[:, 0]
    return np.where(tp[:, 0] > 0, ap, np.nan)


def average_precision_by_cut(pw: np.ndarray, nw: np.ndarray) -> np.ndarray:
    """Average precision per resample from the positive / negative weight on each cut (b, m),
    as :func:`stats` computes it (``nw``: negatives at or just above each cut)."""
    tp, _, precision = _flagged(pw, nw)
    return _average_precision(pw, tp, precision)


@dataclass
class Counts:
    """One block of resamples as the layout's groups see them."""

    pos: np.ndarray  # (b, units) rows drawn per unit of positives
    neg_w: np.ndarray  # (b, groups) metric weight drawn per group of negatives
    neg_f: np.ndarray  # (b, groups) frequency weight drawn per group
    neg: np.ndarray | None = None  # (b, groups) rows drawn per group, when drawn
    # Resampled weight, missed cost and gain per unit of positives, when they are not simply
    # count x the unit's value (positives grouped by cut)
    pos_sums: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def positive(self, lay: Layout, j: int) -> np.ndarray:
        """Resampled weight (j=0), missed cost (1) or gain (2) of each unit of positives."""
        if self.pos_sums is not None:
            return self.pos_sums[j]
        return self.pos * (lay.pos_w, lay.pos_fn, lay.pos_tp)[j]


def identity_counts(lay: Layout) -> Counts:
    """The data itself as one "resample" (every row once): gives the point estimates."""
    neg_w = (lay.neg_size * lay.neg_w)[None, :]
    same = np.array_equal(lay.neg_w, lay.neg_f)
    return Counts(
        pos=lay.pos_size[None, :].astype(np.float64),
        neg_w=neg_w,
        neg_f=neg_w if same else (lay.neg_size * lay.neg_f)[None, :],
    )


def row_counts(lay: Layout, counts: np.ndarray) -> Counts:
    """Per-row resample counts (b, n) summed into the layout's groups (exact, for any weights).

    >>> row_counts(lay, np.ones((1, n)))        # the data itself          # doctest: +SKIP
    """
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    pos = lay.y == 1
    n_units, n_groups = len(lay.pos_size), len(lay.neg_size)
    b = counts.shape[0]
    pos_c = np.zeros((b, n_units))
    neg_c = np.zeros((b, n_groups))
    for i in range(b):
        pos_c[i] = np.bincount(lay.row_group[pos], weights=counts[i, pos], minlength=n_units)
        neg_c[i] = np.bincount(lay.row_group[~pos], weights=counts[i, ~pos], minlength=n_groups)
    # Exact when weights are equal within a group (what this helper is used for in tests).
    return Counts(pos=pos_c, neg_w=neg_c * lay.neg_w, neg_f=neg_c * lay.neg_f)


def draw(lay: Layout, rng: np.random.Generator, b: int) -> Counts:
    """``b`` stratified resamples of the layout's data."""
    pos = draw_counts(rng, lay.pos_size, b).astype(np.float64)
    neg = draw_counts(rng, lay.neg_size, b).astype(np.float64)
    neg_w = _weighted(rng, neg, lay.neg_w, lay.neg_w_sd)
    same = np.array_equal(lay.neg_w, lay.neg_f) and np.array_equal(lay.neg_w_sd, lay.neg_f_sd)
    neg_f = (
        neg_w if same and not lay.neg_w_sd.any() else _weighted(rng, neg, lay.neg_f, lay.neg_f_sd)
    )
    pos_sums = None
    if lay.pos_sd.any():
        pos_sums = (
            _weighted(rng, pos, lay.pos_w, lay.pos_sd[:, 0]),
            _weighted(rng, pos, lay.pos_fn, lay.pos_sd[:, 1]),
            _weighted(rng, pos, lay.pos_tp, lay.pos_sd[:, 2]),
        )
    return Counts(pos=pos, neg_w=neg_w, neg_f=neg_f, neg=neg, pos_sums=pos_sums)


@dataclass
class Stats:
    """Per-resample values of one block: each array has one entry (or row) per resample."""

    roc_auc: np.ndarray
    pr_auc: np.ndarray
    precision: np.ndarray  # at each asked threshold: (b, len(at))
    recall: np.ndarray
    f1: np.ndarray
    cost: np.ndarray | None  # (b, m): cost at every cut
    approve_all: np.ndarray | None
    flag_all: np.ndarray | None


def stats(lay: Layout, c: Counts, at: list[int], *, with_cost: bool) -> Stats:
    """ROC-AUC, average precision, rates at the cuts ``at``, and costs, per resample.

    Conventions are scikit-learn's: ties between a positive and a negative count one half in
    ROC-AUC, average precision is the step sum without interpolation, precision / F1 are 0
    when undefined.
    """
    m = lay.m
    pos_cut = lay.pos_cut
    pw = _by_column(c.positive(lay, 0), pos_cut, m)  # positive weight sitting on each cut
    neg_code = lay.neg_code
    on_cut = neg_code >= 1
    neg_cut = (neg_code[on_cut] - 1) // 2  # a group at or just above cut k
    nw = _by_column(c.neg_w[:, on_cut], neg_cut, m)
    tied = (neg_code % 2 == 1) & on_cut
    nw_tie = _by_column(c.neg_w[:, tied], (neg_code[tied] - 1) // 2, m)
    below0 = c.neg_w[:, ~on_cut].sum(axis=1)

    tp, fp, prec_all = _flagged(pw, nw)  # weight flagged at each cut (flag score >= cut)
    p_tot = tp[:, 0]
    n_tot = fp[:, 0] + below0
    ap = _average_precision(pw, tp, prec_all)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = n_tot[:, None] - fp  # negatives strictly below each cut
        roc = (pw * (below + 0.5 * nw_tie)).sum(axis=1) / (p_tot * n_tot)
        tp_at, fp_at = tp[:, at], fp[:, at]
        precision = prec_all[:, at]
        recall = np.where(p_tot[:, None] > 0, tp_at / p_tot[:, None], 0.0)
        denom = tp_at + fp_at + p_tot[:, None]
        f1 = np.where(denom > 0, 2 * tp_at / np.where(denom > 0, denom, 1.0), 0.0)
    roc = np.where((p_tot > 0) & (n_tot > 0), roc, np.nan)

    cost = approve = flag_all = None
    if with_cost:
        caught = _suffix(_by_column(c.positive(lay, 1), pos_cut, m))
        # The same weights twice (no sample weights): the false alarms are fp above.
        alarms = fp if c.neg_f is c.neg_w else _suffix(_by_column(c.neg_f[:, on_cut], neg_cut, m))
        approve = caught[:, 0]  # flag nothing: every positive missed
        cost = approve[:, None] - caught
        cost += lay.fp * alarms
        if lay.pos_tp.any():
            cost -= _suffix(_by_column(c.positive(lay, 2), pos_cut, m))
        flag_all = cost[:, 0]  # the lowest cut is the lowest score
    return Stats(roc, ap, precision, recall, f1, cost, approve, flag_all)


# --- the bootstrap ------------------------------------------------------------------------------
@dataclass
class Bootstrap:
    """Resampled values of one binary evaluation; see ``bootstrap_binary``."""

    layout: Layout
    resamples: int
    seed: int
    level: float
    samples: dict[str, np.ndarray]  # name -> (resamples,) values
    points: dict[str, float]  # the same quantities on the data (snapped scores when binned)
    cost_cuts: np.ndarray | None  # (resamples, cuts) cost at every cut; None without costs
    candidates: np.ndarray  # cut indices a cost optimum can sit on
    argmin: np.ndarray | None  # (resamples,) cut index of each resample's optimum
    neg_counts: np.ndarray | None = field(default=None, repr=False)  # (resamples, groups)

    def quantiles(self) -> tuple[float, float]:
        return (1.0 - self.level) / 2.0, (1.0 + self.level) / 2.0

    def interval(self, name: str, exact: float | None = None) -> tuple[float, float]:
        """The percentile interval of ``name``; with binned scores, shifted to ``exact``."""
        return self.interval_of(self.samples[name], self.points.get(name), exact)

    def interval_of(
        self, values: np.ndarray, point: float | None = None, exact: float | None = None
    ) -> tuple[float, float]:
        """Percentile interval of resampled ``values`` (shifted as ``interval`` says)."""
        if np.isnan(values).all():
            return float("nan"), float("nan")
        lo, hi = np.nanquantile(values, self.quantiles())
        if self.layout.binned and exact is not None and point is not None and np.isfinite(point):
            lo, hi = lo + (exact - point), hi + (exact - point)
        return float(lo), float(hi)

    def cost_band(self, cut_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the cost at the given cut indices."""
        if self.cost_cuts is None:
            raise EvaluationError("cost_band needs costs: none were given to the bootstrap")
        lo, hi = np.quantile(self.cost_cuts[:, cut_indices], self.quantiles(), axis=0)
        return lo, hi

    def cost_at(self, threshold: float) -> np.ndarray:
        """Each resample's cost at any ``threshold`` (not only at a cut).

        Between two cuts a threshold also flags part of one group of negatives; given the
        group's resampled count, that part is binomial (the multinomial's split property), so
        the cost stays exact. With binned scores the next cut above is used.
        """
        lay = self.layout
        if self.cost_cuts is None:
            raise EvaluationError("cost_at needs costs: none were given to the bootstrap")
        k = int(np.searchsorted(lay.cuts, threshold, side="left"))
        if k < lay.m and lay.cuts[k] == threshold:
            return self.cost_cuts[:, k]
        if k >= lay.m:  # above every score: flags nothing, like the top cut
            return self.cost_cuts[:, lay.m - 1]
        code = 2 * k  # the open gap below cut k (above cut k - 1)
        j = int(np.searchsorted(lay.neg_code, code))
        if lay.binned or self.neg_counts is None or j >= len(lay.neg_code):
            return self.cost_cuts[:, k]
        if lay.neg_code[j] != code:  # no negative in that gap: same rows as cut k
            return self.cost_cuts[:, k]
        in_group = (lay.y == 0) & (lay.row_group == j)
        share = float(np.count_nonzero(in_group & (lay.s >= threshold))) / float(lay.neg_size[j])
        rng = np.random.default_rng([self.seed, 1, k])
        split = rng.binomial(self.neg_counts[:, j].astype(np.int64), share)
        return self.cost_cuts[:, k] + lay.fp * lay.neg_f[j] * split


def _argmin(cost: np.ndarray, candidates: np.ndarray, scale: float) -> np.ndarray:
    """Per row of ``cost``, the highest candidate cut of minimal cost (ties within rounding)."""
    sub = cost[:, candidates]
    best = sub.min(axis=1, keepdims=True)
    tie = sub <= best + _TIE_RTOL * max(scale, 1.0)
    last = sub.shape[1] - 1 - np.argmax(tie[:, ::-1], axis=1)  # the highest threshold
    return candidates[last]


def bootstrap_binary(
    y: np.ndarray,
    s: np.ndarray,
    *,
    thresholds: dict[str, float] | None = None,
    plot_thresholds: Any = (),
    weights: np.ndarray | None = None,
    freq: np.ndarray | None = None,
    fn: np.ndarray | None = None,
    tp: np.ndarray | None = None,
    fp: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_levels: int = MAX_LEVELS,
    max_units: int = MAX_POSITIVE_UNITS,
) -> Bootstrap:
    """Resample a binary evaluation: checked 0/1 labels ``y`` and float64 scores ``s``.

    ``thresholds`` names the thresholds whose precision / recall / F1 (and cost) are wanted:
    the first gets the plain sample names (``precision``, ``recall``, ``f1``, ``cost``), the
    others ``precision@<name>``... Costs are on when ``fp`` is given (``fn`` / ``tp`` per row,
    or None). Samples also hold ``roc_auc``, ``pr_auc`` and, with costs, ``cost_at_optimal``,
    ``approve_all_cost``, ``flag_all_cost``; ``argmin`` each resample's cost optimum.

    >>> boot = bootstrap_binary(y, s, thresholds={"threshold": 0.5})    # doctest: +SKIP
    >>> boot.interval("roc_auc")                                        # doctest: +SKIP
    (0.902, 0.951)
    """
    resamples, seed, level = check_bootstrap_options(resamples, seed, level)
    named = dict(thresholds or {})
    with_cost = fp is not None
    lay = layout(
        y,
        s,
        thresholds=[*named.values(), *np.asarray(plot_thresholds, float).ravel().tolist()],
        weights=weights,
        freq=freq,
        fn=fn,
        tp=tp,
        fp=0.0 if fp is None else fp,
        max_levels=max_levels,
        max_units=max_units,
    )
    at = [lay.cut_index(float(t)) for t in named.values()]
    # A cost optimum sits on a positive's score (or flags nothing): between them, flagging
    # more only adds false alarms.
    candidates = np.unique(np.append(lay.pos_cut, lay.m - 1)).astype(np.int64)
    scale = float(
        abs(lay.pos_fn @ lay.pos_size)
        + abs(lay.pos_tp @ lay.pos_size)
        + abs(lay.fp) * float(lay.neg_size @ lay.neg_f)
    )
    names = list(named)

    def collect(st: Stats, into: dict[str, list[np.ndarray]]) -> None:
        into.setdefault("roc_auc", []).append(st.roc_auc)
        into.setdefault("pr_auc", []).append(st.pr_auc)
        for j, name in enumerate(names):
            suffix = "" if j == 0 else f"@{name}"
            into.setdefault(f"precision{suffix}", []).append(st.precision[:, j])
            into.setdefault(f"recall{suffix}", []).append(st.recall[:, j])
            into.setdefault(f"f1{suffix}", []).append(st.f1[:, j])
            if st.cost is not None:
                into.setdefault(f"cost{suffix}", []).append(st.cost[:, at[j]])
        if st.cost is not None and st.approve_all is not None and st.flag_all is not None:
            into.setdefault("cost_at_optimal", []).append(st.cost[:, candidates].min(axis=1))
            into.setdefault("approve_all_cost", []).append(st.approve_all)
            into.setdefault("flag_all_cost", []).append(st.flag_all)

    point_lists: dict[str, list[np.ndarray]] = {}
    collect(stats(lay, identity_counts(lay), at, with_cost=with_cost), point_lists)
    points = {k: float(v[0][0]) for k, v in point_lists.items()}

    samples: dict[str, list[np.ndarray]] = {}
    cost_blocks: list[np.ndarray] = []
    argmins: list[np.ndarray] = []
    neg_blocks: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _BLOCK_CELLS // max(lay.m, len(lay.pos_size), 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        counts = draw(lay, rng, b)
        st = stats(lay, counts, at, with_cost=with_cost)
        collect(st, samples)
        if st.cost is not None and counts.neg is not None:
            cost_blocks.append(st.cost)
            argmins.append(_argmin(st.cost, candidates, scale))
            neg_blocks.append(counts.neg.astype(np.int32))
        done += b
    return Bootstrap(
        layout=lay,
        resamples=resamples,
        seed=seed,
        level=level,
        samples={k: np.concatenate(v) for k, v in samples.items()},
        points=points,
        cost_cuts=np.concatenate(cost_blocks) if cost_blocks else None,
        candidates=candidates,
        argmin=np.concatenate(argmins) if argmins else None,
        neg_counts=np.concatenate(neg_blocks) if neg_blocks else None,
    )
