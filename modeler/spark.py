"""Evaluate scores that live in a Spark DataFrame, without collecting it.

The same numbers as the in-memory evaluation (``evaluate_binary`` and ``cost_report``), computed
where the rows are; only O(``max_points``) rows come back to the driver::

    >>> from modeler.spark import evaluate_spark
    >>> metrics, curves, cost_curve = evaluate_spark(        # doctest: +SKIP
    ...     df, label_col="is_fraud", score_col="score", fn_cost_col="amount", fp_cost=5.0)
    >>> metrics["roc_auc"], metrics["cost_optimal_threshold"]  # doctest: +SKIP

``metrics`` has the keys of ``evaluate_binary``'s metrics (and ``cost_report``'s with costs),
``curves`` is the ``eval/curves.json`` payload and ``cost_curve`` the ``eval/cost_curve.json``
one (None without costs): a run writer logs them as it logs an in-memory evaluation.

Two modes:

- ``exact=True`` (default): one scan (counts, checks, sums at the threshold, approximate
  quantiles that cut the score range into ``spark.sql.shuffle.partitions`` buckets), then one
  shuffle of the rows by bucket; each bucket counts its distinct scores and sums them in score
  order (a window per bucket, offset by the totals of the buckets above it), so no single task
  holds every score. ROC-AUC (in integers) and average precision are summed in Spark and equal
  the in-memory values to rounding. The curves' point lists equal the in-memory ones
  whenever a curve's candidate points (the ROC points scikit-learn keeps, the PR corners, every
  cost point) number at most ``max_collect``. Past that, Spark keeps, in each of
  ``max_collect // 4`` equal slices of the curve's length, its first, last, lowest and highest
  candidate (real points of the curve), and ``thin_curve`` thins those on the driver.
- ``exact=False``: one pass that counts the scores in ``bins`` equal-width bins of [0, 1] (of
  the scores' range when they leave it, which takes a second pass): no sort, no shuffle of the
  rows. The counts at the threshold (tp, fp, tn, fn, precision, recall, F1, accuracy) and the
  cost at the threshold stay exact, and every curve point is an exact point of the curve (its
  threshold is the lowest score of a bin). Approximate, with a bound computed from the
  histogram (``SparkEvaluation.error_bounds``):

  - ROC-AUC counts each (positive, negative) pair inside one bin as a tie, so
    ``|roc_auc - exact| <= sum_b pos_b * neg_b / (2 * P * N)``;
  - average precision treats each bin as one tied group. The exact contribution of bin b's
    positives lies between ``sum_j (T + j) / (T + j + FP_b)`` (j = 1..pos_b, T = TP_(b-1);
    bounded below by its integral) and ``pos_b * TP_b / (TP_b + FP_(b-1))``, so
    ``|pr_auc - exact| <= sum_b max(upper_b - est_b, est_b - lower_b) / P``;
  - the cost-optimal threshold is searched among the bins' lowest scores. Inside bin b the cost
    is at least ``C_(b-1) - fn_b - tp_b`` (the cost of flagging the bins above, less all the
    bin's positives could save), so the exact optimum is at most
    ``error_bounds["cost_at_optimal"]`` below ``cost_at_optimal``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modeler.errors import CostError, EvaluationError, OptionError, SparkDataError
from modeler.evaluation.curves import SCHEMA, check_max_points, lttb, thin_curve
from modeler.evaluation.metrics import BINARY_KEYS, check_threshold

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, Row

DEFAULT_BINS = 10_000
COST_KEYS = (
    "cost",
    "cost_optimal_threshold",
    "cost_at_optimal",
    "savings",
    "precision_at_optimal",
    "recall_at_optimal",
    "f1_at_optimal",
)
# Costs within this fraction of the problem's scale are ties, as in modeler.evaluation.cost.
_TIE_RTOL = 1e-12


@dataclass(frozen=True)
class SparkEvaluation:
    """What ``spark_evaluation`` computed.

    ``metrics``, ``curves`` and ``cost_curve`` have the shapes of the in-memory evaluation.
    ``error_bounds``: for roc_auc, pr_auc and (with costs) cost_at_optimal, how far the value
    can be from the exact one (0.0 in exact mode). ``exact_points``: per curve (roc, pr, cost),
    whether its point list is the in-memory one. ``histories``: the ``pr_curve`` and
    ``roc_curve`` metric histories of ``modeler.evaluation.histories.curve_histories`` (exact
    mode: equal to them; binned: from the bins' points; empty with one class).
    ``rows_collected``: rows the driver received.
    """

    metrics: dict[str, float]
    curves: dict[str, Any]
    cost_curve: dict[str, Any] | None
    exact: bool
    error_bounds: dict[str, float]
    exact_points: dict[str, bool] = field(default_factory=dict)
    histories: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    rows_collected: int = 0

    def as_tuple(self) -> tuple[dict[str, float], dict[str, Any], dict[str, Any] | None]:
        """``(metrics, curves, cost_curve)``, as ``evaluate_spark`` returns them."""
        return self.metrics, self.curves, self.cost_curve


def evaluate_spark(
    df: DataFrame,
    *,
    label_col: str,
    score_col: str,
    threshold: float = 0.5,
    fn_cost_col: str | float | None = None,
    fp_cost: float | None = None,
    tp_gain_col: str | float | None = None,
    exact: bool = True,
    bins: int = DEFAULT_BINS,
    max_points: int = 1000,
    max_collect: int | None = None,
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any] | None]:
    """Metrics, the curves.json payload and the cost curve (None without costs) of a DataFrame.

    ``label_col`` holds 0/1 or booleans; ``score_col`` numbers, or a probability vector / array
    of size 1 or 2 (the positive class last, as a Spark ML ``probability`` column). A row is
    flagged when ``score >= threshold``. Costs as in ``accu.autolog(costs=...)``:
    ``fn_cost_col`` (a column or a number) is what a missed positive costs, ``fp_cost`` (a
    number) what a false alarm costs, ``tp_gain_col`` (optional) what a caught positive gains;
    the metrics then also hold cost, cost_optimal_threshold, cost_at_optimal, savings and
    precision / recall / f1 at the optimum. ``max_collect`` (default ``50 * max_points``) caps
    the rows per curve that reach the driver. ``df`` is read twice (binned: once, twice when
    scores leave [0, 1]): cache it first when it is costly to compute, e.g. a model's
    ``transform``.

    >>> metrics, curves, cost = evaluate_spark(df, label_col="y", score_col="p")  # doctest: +SKIP

    Raises:
        SparkDataError: a missing column, a non-numeric score or label column, labels other
            than 0/1, null / NaN / infinite scores, or an empty DataFrame.
        CostError: a missing cost column, negative, null or non-finite costs, or fn without fp.
        OptionError: a bad threshold, exact, bins, max_points or max_collect.
    """
    return spark_evaluation(
        df,
        label_col=label_col,
        score_col=score_col,
        threshold=threshold,
        fn_cost_col=fn_cost_col,
        fp_cost=fp_cost,
        tp_gain_col=tp_gain_col,
        exact=exact,
        bins=bins,
        max_points=max_points,
        max_collect=max_collect,
    ).as_tuple()


def spark_evaluation(
    df: DataFrame,
    *,
    label_col: str,
    score_col: str,
    threshold: float = 0.5,
    fn_cost_col: str | float | None = None,
    fp_cost: float | None = None,
    tp_gain_col: str | float | None = None,
    exact: bool = True,
    bins: int = DEFAULT_BINS,
    max_points: int = 1000,
    max_collect: int | None = None,
) -> SparkEvaluation:
    """``evaluate_spark`` with its error bounds and how exact the curve points are.

    >>> ev = spark_evaluation(df, label_col="y", score_col="p", exact=False)  # doctest: +SKIP
    >>> ev.metrics["roc_auc"], ev.error_bounds["roc_auc"]                     # doctest: +SKIP
    """
    opts = _Options.check(
        threshold, fn_cost_col, fp_cost, tp_gain_col, exact, bins, max_points, max_collect
    )
    source = _Source.of(df, label_col, score_col, opts)
    return _Exact(source, opts).run() if opts.exact else _binned(source, opts)


# --- options ----------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise OptionError(f"{name} must be an int >= {low}; got {value!r}")
    return int(value)


def _check_cost_number(name: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(float(value)) or float(value) < 0:
        raise CostError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _Options:
    threshold: float
    fn: str | float | None
    fp: float | None
    tp: str | float | None
    exact: bool
    bins: int
    max_points: int
    max_collect: int

    @property
    def costs(self) -> bool:
        return self.fp is not None

    @classmethod
    def check(cls, threshold, fn, fp, tp, exact, bins, max_points, max_collect) -> _Options:
        try:
            threshold = check_threshold(threshold)
        except EvaluationError as exc:
            raise OptionError(str(exc)) from exc
        max_points = check_max_points(max_points)
        if not isinstance(exact, bool):
            raise OptionError(f"exact must be True or False; got {exact!r}")
        bins = _check_int("bins", bins, 1)
        if max_collect is None:
            max_collect = 50 * max_points
        max_collect = _check_int("max_collect", max_collect, max(max_points, 8))
        if (fn is None) != (fp is None):
            raise CostError(
                "costs need both fn_cost_col (what a missed positive costs) and fp_cost (what "
                f"a false alarm costs); got fn_cost_col={fn!r}, fp_cost={fp!r}"
            )
        if tp is not None and fn is None:
            raise CostError(f"tp_gain_col={tp!r} needs fn_cost_col and fp_cost too")
        if fp is not None:
            fp = _check_cost_number("fp_cost", fp)
            if max_points < 3:
                raise OptionError(
                    "max_points must be >= 3 with costs (first, last and optimum); "
                    f"got {max_points}"
                )
        for name, value in (("fn_cost_col", fn), ("tp_gain_col", tp)):
            if value is not None and not isinstance(value, str):
                _check_cost_number(f"{name} (a column name or a number)", value)
        return cls(threshold, fn, fp, tp, exact, bins, max_points, max_collect)


# --- columns ----------------------------------------------------------------------------------
def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _column(df: DataFrame, name: Any, role: str, error: type[EvaluationError]) -> tuple[Any, Any]:
    """The column ``name`` of df and its Spark type; a clear error when it is missing."""
    from pyspark.sql import functions as F

    if not isinstance(name, str):
        raise error(f"{role} must be a column name (str); got {name!r}")
    types = {f.name: f.dataType for f in df.schema.fields}
    if name not in types:
        shown = ", ".join(repr(c) for c in list(types)[:10])
        more = f", ... ({len(types)} in all)" if len(types) > 10 else ""
        raise error(f"{role} {name!r} is not a column of the DataFrame; columns: {shown}{more}")
    return F.col(_quoted(name)), types[name]


def _valid(s: Column) -> Column:
    """Scores that can be evaluated: not null, not NaN, not infinite."""
    from pyspark.sql import functions as F

    return s.isNotNull() & ~F.isnan(s) & (F.abs(s) != F.lit(float("inf")))


@dataclass(frozen=True)
class _Source:
    """The user's DataFrame and its reduction to s, y (0/1, null when not a label), costs, flags."""

    df: DataFrame
    label: str
    score: str
    data: DataFrame

    @classmethod
    def of(cls, df: Any, label_col: Any, score_col: Any, opts: _Options) -> _Source:
        from pyspark.ml.linalg import VectorUDT
        from pyspark.sql import DataFrame
        from pyspark.sql import functions as F
        from pyspark.sql.types import ArrayType, BooleanType, NumericType

        if not isinstance(df, DataFrame):
            raise SparkDataError(
                f"df must be a Spark DataFrame; got {type(df).__module__}.{type(df).__name__} "
                "(for in-memory data: modeler.evaluation.evaluate_binary or accu.evaluate)"
            )
        label, label_type = _column(df, label_col, "label_col", SparkDataError)
        score, score_type = _column(df, score_col, "score_col", SparkDataError)

        if isinstance(label_type, BooleanType):
            y = label.cast("long")
        elif isinstance(label_type, NumericType):
            y = F.when(label == 0, F.lit(0)).when(label == 1, F.lit(1)).cast("long")
        else:
            raise SparkDataError(
                f"label_col {label_col!r} must be numeric 0/1 or boolean; got type "
                f"{label_type.simpleString()}"
            )

        bad_size = F.lit(0)
        if isinstance(score_type, NumericType):
            s = score.cast("double")
        elif isinstance(score_type, VectorUDT) or (
            isinstance(score_type, ArrayType) and isinstance(score_type.elementType, NumericType)
        ):
            from pyspark.ml.functions import vector_to_array

            arr = vector_to_array(score) if isinstance(score_type, VectorUDT) else score
            ok = F.size(arr).isin(1, 2)
            s = F.when(ok, F.element_at(arr, -1)).cast("double")
            bad_size = F.when(score.isNotNull() & ~ok, F.lit(1)).otherwise(F.lit(0))
        else:
            raise SparkDataError(
                f"score_col {score_col!r} must be numeric, or a probability vector / array of "
                f"size 1 or 2 (the positive class last); got type {score_type.simpleString()}"
            )

        cols = [
            s.alias("s"),
            y.alias("y"),
            F.when(y.isNull(), F.lit(1)).otherwise(F.lit(0)).alias("bad_y"),
            bad_size.alias("bad_size"),
        ]
        if opts.costs:
            for key, spec in (("fn", opts.fn), ("tp", opts.tp)):
                value, bad = _cost_column(df, key, spec)
                cols += [value.alias(key), bad.alias(f"bad_{key}")]
        return cls(df, label_col, score_col, df.select(*cols))

    def check(self, t: dict[str, Any], opts: _Options) -> None:
        """Raise the first problem the totals show; offending values are fetched only then."""
        from pyspark.sql import functions as F

        if not t["n"]:
            raise SparkDataError("the DataFrame has no rows: expected at least one to evaluate")
        if t["bad_y"]:
            v = F.col(_quoted(self.label))
            bad = v.isNull() | ~v.cast("double").isin(0.0, 1.0)
            rows = self.df.filter(bad).select(v.alias("v")).distinct().limit(5).collect()
            raise SparkDataError(
                f"label_col {self.label!r} must hold binary labels 0/1 (or True/False); "
                f"{t['bad_y']} row(s) hold other values, e.g. {[r['v'] for r in rows]}"
            )
        if t["bad_size"]:
            raise SparkDataError(
                f"score_col {self.score!r} must hold probability vectors of size 1 or 2 "
                f"(a binary model); {t['bad_size']} row(s) have another size"
            )
        if t["bad_s"]:
            rows = self.data.filter(~_valid(F.col("s"))).select("s").limit(1).collect()
            raise SparkDataError(
                f"score_col {self.score!r} must hold finite numbers; {t['bad_s']} row(s) are "
                f"null, NaN or infinite, e.g. {rows[0]['s'] if rows else None}"
            )
        for key, role, spec in (("fn", "fn_cost_col", opts.fn), ("tp", "tp_gain_col", opts.tp)):
            if opts.costs and t.get(f"bad_{key}"):
                rows = self.data.filter(F.col(f"bad_{key}") == 1).select(key).limit(1).collect()
                raise CostError(
                    f"{role} {spec!r} must hold finite costs >= 0; {t[f'bad_{key}']} row(s) "
                    f"are negative, null, NaN or infinite, e.g. {rows[0][key] if rows else None}"
                )


def _cost_column(df: DataFrame, key: str, spec: str | float | None) -> tuple[Column, Column]:
    """A cost as a double column and a 0/1 flag of rows where it is null, NaN, infinite or < 0."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    if spec is None:
        return F.lit(0.0), F.lit(0)
    if not isinstance(spec, str):
        return F.lit(float(spec)), F.lit(0)
    role = "fn_cost_col" if key == "fn" else "tp_gain_col"
    col, dtype = _column(df, spec, role, CostError)
    if not isinstance(dtype, NumericType):
        raise CostError(f"{role} {spec!r} must be numeric; got type {dtype.simpleString()}")
    value = col.cast("double")
    bad = ~_valid(value) | (value < 0)
    return value, F.when(bad, F.lit(1)).otherwise(F.lit(0))


# --- sums at the threshold (both modes) ----------------------------------------------------
def _threshold_aggs(opts: _Options, count: Column, pos: Column, fnc: Column, tpg: Column) -> list:
    """Flagged rows and positives at the threshold; missed fn cost, gained tp value, totals."""
    from pyspark.sql import functions as F

    flag = _valid(F.col("s")) & (F.col("s") >= F.lit(opts.threshold))
    aggs = [F.sum(F.when(flag, pos)).alias("tp_at"), F.sum(F.when(flag, count)).alias("flagged")]
    if opts.costs:
        aggs += [
            F.sum(F.when(~flag, fnc)).alias("fn_missed"),
            F.sum(F.when(flag, tpg)).alias("tp_gained"),
            F.sum(fnc).alias("total_fn"),
            F.sum(tpg).alias("total_tp"),
            F.sum("bad_fn").alias("bad_fn"),
            F.sum("bad_tp").alias("bad_tp"),
        ]
    return aggs


def _threshold_metrics(t: dict[str, Any]) -> dict[str, float]:
    """Confusion-matrix metrics at the threshold, as ``binary_metrics`` computes them."""
    n, positives = float(t["n"]), float(t["pos"])
    tp, flagged = float(t["tp_at"] or 0), float(t["flagged"] or 0)
    fp, fn = flagged - tp, positives - tp
    tn = n - flagged - fn
    return {
        "roc_auc": float("nan"),
        "pr_auc": float("nan"),
        "precision": tp / (tp + fp) if tp + fp > 0 else 0.0,
        "recall": tp / (tp + fn) if tp + fn > 0 else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0,
        "accuracy": (tp + tn) / n if n > 0 else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n": n,
        "positives": positives,
    }


def _cost_at(t: dict[str, Any], fp_cost: float) -> float:
    false_alarms = float(t["flagged"] or 0) - float(t["tp_at"] or 0)
    return float(t["fn_missed"] or 0.0) + fp_cost * false_alarms - float(t["tp_gained"] or 0.0)


def _tie_tolerance(t: dict[str, Any], fp_cost: float) -> float:
    negatives = float(t["n"]) - float(t["pos"])
    scale = float(t["total_fn"] or 0.0) + fp_cost * negatives + float(t["total_tp"] or 0.0)
    return _TIE_RTOL * max(scale, 1.0)


# --- payloads (both modes) --------------------------------------------------------------------
def _floats(values: Any) -> list[float]:
    return np.asarray(values, dtype=np.float64).tolist()


def _payload(metrics: dict[str, float], opts: _Options, roc: dict, pr: dict) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "task": "binary",
        "n": int(metrics["n"]),
        "positives": int(metrics["positives"]),
        "threshold": float(opts.threshold),
        "roc": roc,
        "pr": pr,
    }


def _empty_curves(metrics: dict[str, float], opts: _Options) -> dict[str, Any]:
    """One class only: both curves are undefined, as in ``evaluate_binary``."""
    roc: dict[str, Any] = {"fpr": [], "tpr": [], "thresholds": [], "auc": None}
    pr: dict[str, Any] = {"recall": [], "precision": [], "thresholds": [], "auc": None}
    return _payload(metrics, opts, roc, pr)


def _roc_entry(fps, tps, thr, flag_nothing: float, auc: float, max_points: int) -> dict:
    """The "roc" entry from points in increasing fpr (``roc_curve``'s order), (0, 0) prepended."""
    fps = np.concatenate(([0.0], np.asarray(fps, dtype=np.float64)))
    tps = np.concatenate(([0.0], np.asarray(tps, dtype=np.float64)))
    thr = np.concatenate(([flag_nothing], np.asarray(thr, dtype=np.float64)))
    fpr, tpr = fps / fps[-1], tps / tps[-1]
    keep = thin_curve(fpr, tpr, max_points)
    return {
        "fpr": _floats(fpr[keep]),
        "tpr": _floats(tpr[keep]),
        "thresholds": _floats(thr[keep]),
        "auc": float(auc),
    }


def _pr_entry(tps, fps, thr, flag_nothing: float, auc: float, max_points: int, corners=False):
    """The "pr" entry from points in increasing threshold, (recall 0, precision 1) appended.

    ``corners=True``: the points are exactly the corners ``thin_curve`` would keep of the whole
    curve, so only its second step (Largest-Triangle-Three-Buckets) remains to be done.
    """
    tps = np.asarray(tps, dtype=np.float64)
    ps = tps + np.asarray(fps, dtype=np.float64)
    precision = np.append(np.divide(tps, ps, out=np.zeros_like(tps), where=ps != 0), 1.0)
    recall = np.append(tps / tps[0], 0.0)  # the lowest threshold flags every positive
    thresholds = np.append(np.asarray(thr, dtype=np.float64), flag_nothing)
    if not corners:
        keep = thin_curve(recall, precision, max_points)
    elif len(recall) > max_points:
        keep = lttb(recall, precision, max_points)
    else:
        keep = np.arange(len(recall))
    return {
        "recall": _floats(recall[keep]),
        "precision": _floats(precision[keep]),
        "thresholds": _floats(thresholds[keep]),
        "auc": float(auc),
    }


def _cost_payload(
    thresholds: np.ndarray,
    cost: np.ndarray,
    best: int,
    best_tp: float,
    best_fp: float,
    flag_all: float,
    positives: float,
    cost_at: float,
    max_points: int,
) -> tuple[dict[str, float], dict[str, Any]]:
    """``cost_report``'s (metrics, curve) from costs at decreasing thresholds (0: flag nothing)."""
    thr, cost_up = thresholds[::-1], cost[::-1]
    best_up = len(thr) - 1 - best
    keep = thin_curve(thr, cost_up, max_points - 1)
    if best_up not in keep:
        keep = np.sort(np.append(keep, best_up))
    tp, fp = best_tp, best_fp
    fn = positives - tp
    approve_all, best_cost = float(cost[0]), float(cost[best])
    summary = {
        "optimal_threshold": float(thresholds[best]),
        "cost_at_optimal": best_cost,
        "approve_all_cost": approve_all,
        "flag_all_cost": flag_all,
        "savings": max(min(approve_all, flag_all) - best_cost, 0.0),
        "precision_at_optimal": tp / (tp + fp) if tp + fp > 0 else 0.0,
        "recall_at_optimal": tp / positives if positives > 0 else 0.0,
        "f1_at_optimal": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0,
    }
    curve = {
        "schema": SCHEMA,
        "thresholds": _floats(thr[keep]),
        "cost": _floats(cost_up[keep]),
        **summary,
    }
    metrics = {
        "cost": cost_at,
        "cost_optimal_threshold": summary["optimal_threshold"],
        "cost_at_optimal": best_cost,
        "savings": summary["savings"],
        "precision_at_optimal": summary["precision_at_optimal"],
        "recall_at_optimal": summary["recall_at_optimal"],
        "f1_at_optimal": summary["f1_at_optimal"],
    }
    return metrics, curve


def _ordered(metrics: dict[str, float], opts: _Options) -> dict[str, float]:
    return {k: metrics[k] for k in (*BINARY_KEYS, *(COST_KEYS if opts.costs else ()))}


# --- exact mode -------------------------------------------------------------------------------
def _at(values: list, spark_type: str) -> Column:
    """``values[b]`` for each row's bucket b: a literal array indexed by the column b."""
    from pyspark.sql import functions as F

    array = F.array(*[F.lit(v).cast(spark_type) for v in values])
    return F.element_at(array, F.col("b") + 1)


def _bucket(edges: list[float]) -> Column:
    """Bucket of each score: how many edges lie above it (0 holds the highest scores).

    A balanced tree of comparisons, so a row costs log2(len(edges)) of them, not len(edges).
    """
    from pyspark.sql import functions as F

    s = F.col("s")

    def at_or_below(lo: int, hi: int) -> Column:  # edges[:i] <= s < edges[i:] for i in [lo, hi]
        if lo == hi:
            return F.lit(lo)
        mid = (lo + hi) // 2
        return F.when(s >= F.lit(edges[mid]), at_or_below(mid + 1, hi)).otherwise(
            at_or_below(lo, mid)
        )

    return (F.lit(len(edges)) - at_or_below(0, len(edges))).cast("int")


class _Exact:
    """Exact evaluation: one scan (totals, checks, bucket edges), one shuffle (counts per
    distinct score, grouped in buckets of the score range, with running sums per bucket),
    then sums and the chosen points over that cached table."""

    def __init__(self, source: _Source, opts: _Options):
        self.source, self.opts = source, opts
        self.collected = 0

    def run(self) -> SparkEvaluation:
        from pyspark import StorageLevel

        totals = self._totals()
        self.source.check(totals, self.opts)
        metrics = _threshold_metrics(totals)
        local = self._local(totals["edges"]).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            points = self._points(local, totals)
            sums = self._sums(points)
            return self._finish(points, totals, sums, metrics)
        finally:
            local.unpersist()

    def _buckets(self) -> int:
        """As many buckets as shuffle partitions (the cores' count where that is "auto")."""
        spark = self.source.df.sparkSession
        conf = spark.conf.get("spark.sql.shuffle.partitions") or ""
        if conf.isdigit():
            return max(1, int(conf))
        return max(1, 2 * spark.sparkContext.defaultParallelism)

    def _totals(self) -> dict[str, Any]:
        """One scan of the rows: counts, bad values, sums at the threshold, bucket edges."""
        from pyspark.sql import functions as F

        s, y = F.col("s"), F.col("y")
        valid = _valid(s)
        fnc, tpg = (F.col("fn") * y, F.col("tp") * y) if self.opts.costs else (F.lit(0.0),) * 2
        aggs = [
            F.count(F.lit(1)).alias("n"),
            F.sum(y).alias("pos"),
            F.sum(F.when(~valid, F.lit(1))).alias("bad_s"),
            F.sum("bad_y").alias("bad_y"),
            F.sum("bad_size").alias("bad_size"),
            F.max(F.when(valid, s)).alias("smax"),
            *_threshold_aggs(self.opts, F.lit(1), y, fnc, tpg),
        ]
        k = self._buckets()
        if k > 1:  # edges of k buckets of about as many rows each
            fractions = [i / k for i in range(1, k)]
            accuracy = max(10_000, 10 * k)
            aggs.append(F.percentile_approx(F.when(valid, s), fractions, accuracy).alias("edges"))
        row = self.source.data.agg(*aggs).collect()[0].asDict()
        self.collected += 1
        row["edges"] = sorted({float(e) for e in (row.get("edges") or []) if e is not None})
        return row

    def _local(self, edges: list[float]) -> DataFrame:
        """Per distinct score, highest first within its bucket: counts, running sums, next step.

        The rows are shuffled once, by bucket; counting per score and the window per bucket
        then run where the rows landed.
        """
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        y = F.col("y")
        aggs = [F.count(F.lit(1)).alias("cnt"), F.sum(y).alias("pos")]
        sums = []
        if self.opts.costs:
            aggs += [F.sum(F.col("fn") * y).alias("fnc"), F.sum(F.col("tp") * y).alias("tpg")]
            sums = ["fnc", "tpg"]
        per_score = (
            self.source.data.withColumn("b", _bucket(edges))
            .repartition(self._buckets(), "b")
            .groupBy("b", "s")
            .agg(*aggs)
            .withColumn("neg", F.col("cnt") - F.col("pos"))
        )
        w = Window.partitionBy("b").orderBy(F.col("s").desc())
        upto = w.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        return per_score.select(
            "b",
            "s",
            "pos",
            "neg",
            F.row_number().over(w).alias("r"),
            F.sum("pos").over(upto).alias("ltp"),
            F.sum("neg").over(upto).alias("lfp"),
            *[F.sum(c).over(upto).alias(f"l{c}") for c in sums],
            F.lead("pos").over(w).alias("npos"),
            F.lead("neg").over(w).alias("nneg"),
        )

    def _points(self, local: DataFrame, t: dict[str, Any]) -> DataFrame:
        """Global running sums: each bucket's are offset by the totals of the buckets above."""
        from pyspark.sql import functions as F

        sums = ["fnc", "tpg"] if self.opts.costs else []
        ends = F.struct("ltp", "lfp", *[f"l{c}" for c in sums])
        stats = (
            local.groupBy("b")
            .agg(
                F.max("r").alias("rows"),
                F.max_by(ends, "r").alias("end"),
                F.min_by(F.struct("pos", "neg"), "r").alias("first"),
            )
            .collect()
        )
        self.collected += len(stats)
        size = max([len(t["edges"]) + 1, *(r["b"] + 1 for r in stats)])
        off: dict[str, list] = {c: [0] * size for c in ("rows", "ltp", "lfp")}
        off.update({f"l{c}": [0.0] * size for c in sums})
        # the step after a bucket's last row: the next (non-empty) bucket's first
        nxt: dict[str, list] = {"pos": [None] * size, "neg": [None] * size}
        running = {c: 0 for c in off}
        before = None
        for row in sorted(stats, key=lambda r: r["b"]):  # b = 0 holds the highest scores
            b = row["b"]
            for c in off:
                off[c][b] = running[c]
                running[c] += row["rows"] if c == "rows" else row["end"][c]
            if before is not None:
                nxt["pos"][before], nxt["neg"][before] = row["first"]
            before = b
        t["distinct"] = running["rows"]

        cols: list[Column | str] = [
            "s",
            "pos",
            "neg",
            (F.col("r") + _at(off["rows"], "long")).alias("idx"),
            (F.col("ltp") + _at(off["ltp"], "long")).alias("ctp"),
            (F.col("lfp") + _at(off["lfp"], "long")).alias("cfp"),
            F.coalesce(F.col("npos"), _at(nxt["pos"], "long")).alias("npos"),
            F.coalesce(F.col("nneg"), _at(nxt["neg"], "long")).alias("nneg"),
        ]
        cols += [(F.col(f"l{c}") + _at(off[f"l{c}"], "double")).alias(f"c{c}") for c in sums]
        return self._derived(local.select(*cols), t)

    def _derived(self, scanned: DataFrame, t: dict[str, Any]) -> DataFrame:
        """Per point: its AUC terms, cost, and whether it is a candidate point of each curve."""
        from pyspark.sql import functions as F

        c = F.col
        distinct, positives = int(t["distinct"]), int(t["pos"])
        idx, pos, neg, ctp, cfp, npos, nneg = (
            c(x) for x in ("idx", "pos", "neg", "ctp", "cfp", "npos", "nneg")
        )
        first_or_last = (idx == 1) | (idx == distinct)
        # roc_curve keeps a point unless the steps before and after it are equal.
        roc = first_or_last | F.coalesce((npos != pos) | (nneg != neg), F.lit(False))
        # one class only: no curves (and no recall to divide by)
        pr_corner = self._pr_corner(positives) if 0 < positives < int(t["n"]) else F.lit(False)
        cols: list[Column | str] = [
            "idx",
            "s",
            "ctp",
            "cfp",
            (neg * (2 * (ctp - pos) + pos)).alias("auc2"),  # ROC area * 2PN, in integers
            F.when(pos > 0, pos * ctp.cast("double") / (ctp + cfp).cast("double")).alias("ap"),
            roc.alias("roc"),
            # the closing point (recall 0) is added on the driver: idx 1 is not an end here
            ((idx == distinct) | F.coalesce(pr_corner, F.lit(False))).alias("pr"),
        ]
        if self.opts.costs:
            total_fn = F.lit(float(t["total_fn"] or 0.0))
            # the same operations, in the same order, as modeler.evaluation.cost
            cost = total_fn - c("cfnc") + F.lit(self.opts.fp) * cfp.cast("double") - c("ctpg")
            cols.append(cost.alias("cost"))
        return scanned.select(*cols)

    @staticmethod
    def _pr_corner(positives: int) -> Column:
        """``thin_curve``'s corner test on the PR curve, in the same float operations.

        The in-memory PR curve runs from the lowest threshold up: a point's predecessor there
        is the next lower score (idx + 1), its successor the next higher (idx - 1, or the
        closing point recall 0, precision 1 after idx 1).
        """
        from pyspark.sql import functions as F

        c = F.col
        total = F.lit(float(positives))

        def precision(tp: Column, fp: Column) -> Column:
            ps = (tp + fp).cast("double")
            return F.when(ps != 0, tp.cast("double") / ps).otherwise(F.lit(0.0))

        def recall(tp: Column) -> Column:
            return tp.cast("double") / total

        tp, fp = c("ctp"), c("cfp")
        x, y = recall(tp), precision(tp, fp)
        x0, y0 = recall(tp + c("npos")), precision(tp + c("npos"), fp + c("nneg"))
        top = c("idx") == 1
        x2 = F.when(top, F.lit(0.0)).otherwise(recall(tp - c("pos")))
        y2 = F.when(top, F.lit(1.0)).otherwise(precision(tp - c("pos"), fp - c("neg")))
        dx1, dy1, dx2, dy2 = x - x0, y - y0, x2 - x, y2 - y
        cross = dx1 * dy2 - dy1 * dx2
        dot = dx1 * dx2 + dy1 * dy2
        return (cross != 0) | (dot < 0)

    def _sums(self, points: DataFrame) -> dict[str, Any]:
        from pyspark.sql import functions as F

        aggs = [
            F.sum("auc2").alias("auc2"),
            F.sum("ap").alias("ap"),
            F.sum(F.col("roc").cast("long")).alias("roc"),
            F.sum(F.col("pr").cast("long")).alias("pr"),
        ]
        if self.opts.costs:
            aggs += [F.min("cost").alias("min_cost"), F.max_by("cost", "idx").alias("flag_all")]
        self.collected += 1
        return points.agg(*aggs).collect()[0].asDict()

    # what comes back to the driver
    def _collect(self, points: DataFrame, flags: list[str]) -> list[Row]:
        """Every point that is a candidate of one of ``flags``' curves, in one job."""
        from functools import reduce

        from pyspark.sql import functions as F

        if not flags:
            return []
        wanted = reduce(lambda a, b: a | b, [F.col(f) for f in flags])
        keep = [c for c in ("idx", "s", "ctp", "cfp", "roc", "pr", "cost") if c in points.columns]
        rows = points.filter(wanted).select(*keep).collect()
        self.collected += len(rows)
        return sorted(rows, key=lambda r: r["idx"])

    def _sliced(self, points: DataFrame, curves: dict[str, Column], u: Column) -> dict:
        """Curves with more candidates than max_collect, in one job: in each of
        max_collect // 4 slices of ``u`` (the position along the curve, 0 to 1), each curve's
        first, last, lowest and highest candidate (by the curve's y, ``curves[flag]``)."""
        from pyspark.sql import functions as F

        if not curves:
            return {}
        slices = self.opts.max_collect // 4
        part = F.least(F.floor(u * F.lit(float(slices))), F.lit(slices - 1))
        point = F.struct("idx", "s", "ctp", "cfp", *(["cost"] if self.opts.costs else []))
        aggs = []
        for flag, y in curves.items():
            on = F.col("all" if flag == "cost" else flag)
            by_idx, by_y = F.when(on, F.col("idx")), F.when(on, y)  # others: null, ignored
            aggs += [
                F.min_by(point, by_idx).alias(f"{flag}_first"),
                F.max_by(point, by_idx).alias(f"{flag}_last"),
                F.min_by(point, by_y).alias(f"{flag}_low"),
                F.max_by(point, by_y).alias(f"{flag}_high"),
            ]
        picked = points.groupBy(part.alias("part")).agg(*aggs).collect()
        chosen = {}
        for flag in curves:
            ends = ("first", "last", "low", "high")
            unique = {p["idx"]: p for r in picked for e in ends if (p := r[f"{flag}_{e}"])}
            self.collected += len(unique)
            chosen[flag] = [unique[i] for i in sorted(unique)]
        return chosen

    def _finish(
        self, points: DataFrame, t: dict[str, Any], sums: dict[str, Any], metrics: dict
    ) -> SparkEvaluation:
        from pyspark.sql import functions as F

        opts, cap = self.opts, self.opts.max_collect
        positives, n, distinct = int(t["pos"]), int(t["n"]), int(t["distinct"])
        negatives = n - positives
        both = 0 < positives < n
        flag_nothing = _flag_nothing(t)
        tp, fp = F.col("ctp").cast("double"), F.col("cfp").cast("double")
        if both:
            u = (fp / F.lit(float(negatives)) + tp / F.lit(float(positives))) / F.lit(2.0)
        else:
            u = F.col("idx").cast("double") / F.lit(float(distinct))
        # one class only: both curves are empty lists, as in memory
        exact = {
            "roc": not both or int(sums["roc"]) <= cap,
            "pr": not both or int(sums["pr"]) <= cap,
        }
        if opts.costs:
            exact["cost"] = distinct + 1 <= cap
        wanted = [k for k in ("roc", "pr") if both and exact[k]]
        if exact.get("cost"):
            wanted = ["all"]  # every point is a cost candidate
        points = points.withColumn("all", F.lit(True))
        rows = self._collect(points, wanted)

        ys = {"roc": tp, "pr": tp / (tp + fp), "cost": F.col("cost")}
        sliced = self._sliced(points, {k: ys[k] for k, v in exact.items() if not v}, u)

        def chosen(flag: str) -> list[Row]:
            if not exact[flag]:
                return sliced[flag]
            return rows if flag == "cost" else [r for r in rows if r[flag]]

        if both:
            metrics["roc_auc"] = int(sums["auc2"]) / (2 * positives * negatives)
            metrics["pr_auc"] = float(sums["ap"]) / positives
            roc_rows = chosen("roc")
            roc = _roc_entry(
                [r["cfp"] for r in roc_rows],
                [r["ctp"] for r in roc_rows],
                [r["s"] for r in roc_rows],
                flag_nothing,
                metrics["roc_auc"],
                opts.max_points,
            )
            pr_rows = chosen("pr")[::-1]  # increasing threshold
            pr = _pr_entry(
                [r["ctp"] for r in pr_rows],
                [r["cfp"] for r in pr_rows],
                [r["s"] for r in pr_rows],
                flag_nothing,
                metrics["pr_auc"],
                opts.max_points,
                corners=exact["pr"],
            )
            curves = _payload(metrics, opts, roc, pr)
            histories = self._histories(points, positives, negatives)
        else:
            curves = _empty_curves(metrics, opts)
            histories = {}

        cost_curve = None
        if opts.costs:
            cost_metrics, cost_curve = self._cost(points, t, sums, chosen("cost"), exact["cost"])
            metrics.update(cost_metrics)
        bounds = dict.fromkeys(
            ("roc_auc", "pr_auc", *(("cost_at_optimal",) if opts.costs else ())), 0.0
        )
        return SparkEvaluation(
            metrics=_ordered(metrics, opts),
            curves=curves,
            cost_curve=cost_curve,
            exact=True,
            error_bounds=bounds,
            exact_points=exact,
            histories=histories,
            rows_collected=self.collected,
        )

    def _histories(self, points: DataFrame, positives: int, negatives: int) -> dict:
        """``curve_histories`` of the whole curves, in one job: per step of the 1,001-step
        grid, the best precision of the PR points whose recall reaches it first and the best
        TPR of the ROC points (those ``roc_curve`` keeps) whose FPR reaches it first; the
        running maxima over the steps are taken on the driver."""
        from pyspark.sql import functions as F

        from modeler.evaluation.histories import EPS, STEPS

        tp, fp = F.col("ctp").cast("double"), F.col("cfp").cast("double")
        recall, fpr = tp / F.lit(float(positives)), fp / F.lit(float(negatives))

        def grid(k: Column) -> Column:  # as np.arange(STEPS + 1) / STEPS
            return k.cast("double") / F.lit(float(STEPS))

        # pr_history counts a point at step k when recall >= k / STEPS - eps: its last step
        k0 = F.least(F.floor(recall * F.lit(float(STEPS))), F.lit(STEPS))
        up = (k0 + 1 <= STEPS) & (recall >= grid(k0 + 1) - F.lit(EPS))
        last = F.when(up, k0 + 1).otherwise(k0)
        # roc_history counts it at step k when fpr <= k / STEPS + eps: its first step
        k1 = F.least(F.ceil(fpr * F.lit(float(STEPS))), F.lit(STEPS))
        down = (k1 - 1 >= 0) & (fpr <= grid(k1 - 1) + F.lit(EPS))
        first = F.when(down, k1 - 1).otherwise(k1)
        steps = points.select(
            F.lit("pr").alias("curve"), last.alias("k"), (tp / (tp + fp)).alias("v")
        ).unionByName(
            points.filter(F.col("roc")).select(
                F.lit("roc").alias("curve"),
                first.alias("k"),
                (tp / F.lit(float(positives))).alias("v"),
            )
        )
        rows = steps.groupBy("curve", "k").agg(F.max("v").alias("v")).collect()
        self.collected += len(rows)
        pr = np.full(STEPS + 1, -np.inf)
        roc = np.full(STEPS + 1, -np.inf)
        pr[0] = 1.0  # the closing point: recall 0, precision 1
        roc[0] = 0.0  # the opening point: (0, 0)
        for r in rows:
            target = pr if r["curve"] == "pr" else roc
            target[r["k"]] = max(target[r["k"]], r["v"])
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # best at this step or a later one
        roc = np.maximum.accumulate(roc)  # best at this step or an earlier one
        pr = np.where(np.isfinite(pr), pr, 0.0)
        return {
            "pr_curve": [(k, float(v)) for k, v in enumerate(pr)],
            "roc_curve": [(k, float(v)) for k, v in enumerate(roc)],
        }

    def _cost(
        self, points, t, sums, rows: list[Row], every_point: bool
    ) -> tuple[dict[str, float], dict]:
        """The cost sweep: "flag nothing", then the chosen points (``every_point``: all of
        them), and the optimum, which is always among them."""
        from pyspark.sql import functions as F

        assert self.opts.fp is not None
        total_fn = float(t["total_fn"] or 0.0)
        bound = min(float(sums["min_cost"]), total_fn) + _tie_tolerance(t, self.opts.fp)
        # the highest threshold of (nearly) minimal cost: the fewest flags
        best_row = None
        if total_fn > bound:
            if every_point:  # in decreasing threshold: the first one
                best_row = next(r for r in rows if r["cost"] <= bound)
            else:  # the slices may have left it out: ask for it
                point = F.struct("idx", "s", "ctp", "cfp", "cost")
                best_row = (
                    points.filter(F.col("cost") <= F.lit(bound))
                    .agg(F.max_by(point, "s").alias("best"))
                    .collect()[0]["best"]
                )
                self.collected += 1
                if all(r["idx"] != best_row["idx"] for r in rows):
                    rows = sorted([*rows, best_row], key=lambda r: r["idx"])
        thresholds = np.array([_flag_nothing(t), *(r["s"] for r in rows)], dtype=np.float64)
        cost = np.array([total_fn, *(r["cost"] for r in rows)], dtype=np.float64)
        if best_row is None:
            best, best_tp, best_fp = 0, 0.0, 0.0
        else:
            best = 1 + next(i for i, r in enumerate(rows) if r["idx"] == best_row["idx"])
            best_tp, best_fp = float(best_row["ctp"]), float(best_row["cfp"])
        return _cost_payload(
            thresholds,
            cost,
            best,
            best_tp,
            best_fp,
            float(sums["flag_all"]),
            float(t["pos"]),
            _cost_at(t, self.opts.fp),
            self.opts.max_points,
        )


def _flag_nothing(t: dict[str, Any]) -> float:
    """The threshold that flags no row: the smallest float above the highest score."""
    return float(np.nextafter(float(t["smax"]), np.inf))


# --- binned mode ------------------------------------------------------------------------------
def _histogram(data: DataFrame, opts: _Options, lo: float, hi: float) -> list[Row]:
    """One pass: per bin of [lo, hi] (bin -1: null, NaN or infinite scores) counts and sums."""
    from pyspark.sql import functions as F

    s, y = F.col("s"), F.col("y")
    scale = opts.bins / (hi - lo) if hi > lo else 0.0
    position = F.least(
        F.greatest((s - F.lit(lo)) * F.lit(scale), F.lit(0.0)), F.lit(opts.bins - 1.0)
    )
    k = F.when(_valid(s), F.floor(position).cast("int")).otherwise(F.lit(-1))
    valid_s = F.when(_valid(s), s)
    fnc = F.col("fn") * y if opts.costs else F.lit(0.0)
    tpg = F.col("tp") * y if opts.costs else F.lit(0.0)
    aggs = [
        F.count(F.lit(1)).alias("cnt"),
        F.sum(y).alias("pos"),
        F.min(valid_s).alias("smin"),
        F.max(valid_s).alias("smax"),
        F.sum("bad_y").alias("bad_y"),
        F.sum("bad_size").alias("bad_size"),
        *_threshold_aggs(opts, F.lit(1), y, fnc, tpg),
    ]
    if opts.costs:
        aggs += [F.sum(fnc).alias("fnc"), F.sum(tpg).alias("tpg")]
    return data.groupBy(k.alias("k")).agg(*aggs).collect()


def _binned(source: _Source, opts: _Options) -> SparkEvaluation:
    rows = _histogram(source.data, opts, 0.0, 1.0)
    collected = len(rows)
    good = [r for r in rows if r["k"] >= 0]
    if good:
        lo, hi = min(r["smin"] for r in good), max(r["smax"] for r in good)
        if lo < 0.0 or hi > 1.0:  # scores outside [0, 1] (logits, say): bins over their range
            rows = _histogram(source.data, opts, lo, hi)
            collected += len(rows)
            good = [r for r in rows if r["k"] >= 0]

    def total(key: str, among: list[Row]) -> Any:
        return sum((r[key] or 0) for r in among)

    keys = ["bad_y", "bad_size", "tp_at", "flagged"]
    if opts.costs:
        keys += ["fn_missed", "tp_gained", "total_fn", "total_tp", "bad_fn", "bad_tp"]
    totals: dict[str, Any] = {key: total(key, rows) for key in keys}
    totals["n"] = total("cnt", rows)
    totals["bad_s"] = total("cnt", [r for r in rows if r["k"] < 0])
    source.check(totals, opts)

    good.sort(key=lambda r: -r["k"])  # highest scores first: flags grow along the list
    pos = np.array([r["pos"] for r in good], dtype=np.int64)
    neg = np.array([r["cnt"] for r in good], dtype=np.int64) - pos
    thr = np.array([r["smin"] for r in good], dtype=np.float64)
    positives, negatives = int(pos.sum()), int(neg.sum())
    totals["pos"] = positives
    metrics = _threshold_metrics(totals)
    flag_nothing = float(np.nextafter(max(r["smax"] for r in good), np.inf))
    ctp, cfp = np.cumsum(pos), np.cumsum(neg)
    bounds: dict[str, float] = {"roc_auc": 0.0, "pr_auc": 0.0}

    if positives and negatives:
        pairs = 2 * positives * negatives
        # pairs across bins are ordered; pairs inside a bin count one half, as ties
        area2 = sum(
            int(a) * (2 * int(b) + int(c)) for a, b, c in zip(neg, ctp - pos, pos, strict=True)
        )
        metrics["roc_auc"] = area2 / pairs
        bounds["roc_auc"] = sum(int(a) * int(c) for a, c in zip(pos, neg, strict=True)) / pairs
        est = pos * (ctp / (ctp + cfp))
        metrics["pr_auc"] = float(est.sum()) / positives
        bounds["pr_auc"] = _ap_bound(pos, ctp, cfp, est) / positives
        roc = _roc_entry(cfp, ctp, thr, flag_nothing, metrics["roc_auc"], opts.max_points)
        pr = _pr_entry(
            ctp[::-1], cfp[::-1], thr[::-1], flag_nothing, metrics["pr_auc"], opts.max_points
        )
        curves = _payload(metrics, opts, roc, pr)
        histories = _binned_histories(ctp, cfp, positives, negatives)
    else:
        curves = _empty_curves(metrics, opts)
        histories = {}

    cost_curve = None
    if opts.costs:
        assert opts.fp is not None
        fnc = np.array([r["fnc"] or 0.0 for r in good], dtype=np.float64)
        tpg = np.array([r["tpg"] or 0.0 for r in good], dtype=np.float64)
        total_fn = float(totals["total_fn"])
        cost = np.concatenate(
            ([total_fn], total_fn - np.cumsum(fnc) + opts.fp * cfp - np.cumsum(tpg))
        )
        thresholds = np.concatenate(([flag_nothing], thr))
        best = int(np.flatnonzero(cost <= cost.min() + _tie_tolerance(totals, opts.fp))[0])
        tps, fps = np.concatenate(([0], ctp)), np.concatenate(([0], cfp))
        cost_metrics, cost_curve = _cost_payload(
            thresholds,
            cost,
            best,
            float(tps[best]),
            float(fps[best]),
            float(cost[-1]),
            float(positives),
            _cost_at(totals, opts.fp),
            opts.max_points,
        )
        metrics.update(cost_metrics)
        # inside bin b the cost can fall below the cost above it by what b's positives save
        lower = min(float(cost.min()), float(np.min(cost[:-1] - fnc - tpg)))
        bounds["cost_at_optimal"] = max(float(cost[best]) - lower, 0.0)
    return SparkEvaluation(
        metrics=_ordered(metrics, opts),
        curves=curves,
        cost_curve=cost_curve,
        exact=False,
        error_bounds=bounds,
        exact_points={"roc": False, "pr": False, **({"cost": False} if opts.costs else {})},
        histories=histories,
        rows_collected=collected,
    )


def _binned_histories(ctp: np.ndarray, cfp: np.ndarray, positives: int, negatives: int) -> dict:
    """The metric histories of the curves through the bins' points (all exact curve points)."""
    from modeler.evaluation.histories import pr_history, roc_history

    recall = np.append(ctp / positives, 0.0)
    precision = np.append(ctp / (ctp + cfp), 1.0)
    fpr = np.concatenate(([0.0], cfp / negatives))
    tpr = np.concatenate(([0.0], ctp / positives))
    return {"pr_curve": pr_history(precision, recall), "roc_curve": roc_history(fpr, tpr)}


def _ap_bound(pos: np.ndarray, ctp: np.ndarray, cfp: np.ndarray, est: np.ndarray) -> float:
    """Sum over bins of how far a bin's exact AP contribution can be from its tied estimate."""
    p = pos.astype(np.float64)
    before = (ctp - pos).astype(np.float64)
    tp_end, fp_end = ctp.astype(np.float64), cfp.astype(np.float64)
    fp_start = np.concatenate(([0.0], fp_end[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = np.where(p > 0, p * tp_end / (tp_end + fp_start), 0.0)
        # sum_{j=1..p} (T+j)/(T+j+F) >= integral from T to T+p of x/(x+F) = p - F*log1p(p/(T+F))
        lower = np.where(fp_end > 0, p - fp_end * np.log1p(p / (before + fp_end)), p)
    lower = np.where(p > 0, np.minimum(lower, est), 0.0)
    return float(np.sum(np.maximum(upper - est, est - lower)))
