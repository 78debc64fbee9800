"""One evaluation of a run, computed once: metrics, intervals, decision, histories, files.

    >>> rep = build_report(y_val, model_outputs, threshold=0.5, costs=costs)   # doctest: +SKIP
    >>> rep.metrics["pr_auc"], rep.metrics["pr_auc.ci_low"], rep.metrics["pr_auc.ci_high"]
    (0.81, 0.74, 0.87)
    >>> rep.tags["modeler.task"], sorted(rep.files)                          # doctest: +SKIP
    ('binary', ['confusion_matrix.png', 'cost_curve.json', 'cost_curve.png', 'curves.json',
     'pr.png', 'roc.png', 'scores.parquet', 'uncertainty.json'])

Pure: no MLflow, no files written, no global state; the run writer logs ``metrics`` with its
prefix (``eval.``), ``histories`` as metric histories, ``tags``, and ``files`` under ``eval/``,
and shows each of ``warnings`` once. The same inputs and seed give the same report, bytes
included. Charts use matplotlib's object API, so a background thread may build it.

Data problems a run survives are reported, never raised: labels of one class (AUCs undefined),
a tiny validation set, labels that do not fit the outputs, non-finite outputs, costs that cannot
be used. Each gets a tag and one warning, and what can be computed still is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from modeler.errors import CostError, EvaluationError, OptionError
from modeler.evaluation.cost import Costs, cost_at, cost_report, parse_costs
from modeler.evaluation.curves import binary_payload, check_max_points, thin_curve
from modeler.evaluation.metrics import (
    binary_core,
    check_sample_weight,
    check_threshold,
)
from modeler.evaluation.tasks import Resolved, resolve_task
from modeler.evaluation.uncertainty import METHOD, check_bootstrap_options

# Fewer rows than this in either class: intervals are wide and a decision barely informed.
MIN_PER_CLASS = 10
# The cost curve's interval band is computed at this many of its thresholds (each one is a cut
# of the bootstrap, so fewer keep it fast); the chart draws the band through them.
BAND_POINTS = 200
SCHEMA = 1
# Metrics with an interval, in the order uncertainty.json lists them.
_INTERVALS = (
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "f1",
    "cost",
    "cost_at_optimal",
    "decision_threshold",
    "cost_at_decision",
    "savings",
)


@dataclass
class EvalReport:
    """What ``build_report`` returns (see the module docstring)."""

    task: str  # "binary" | "multiclass" | "regression" | "unsupported"
    metrics: dict[str, float] = field(default_factory=dict)
    histories: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def problem(self, tag: str, message: str) -> None:
        """Name a problem in a tag and one warning."""
        self.tags[tag] = message
        self.warnings.append(message)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, allow_nan=False).encode("utf-8")


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _check_decision(value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if not ok or not np.isfinite(value):
        raise OptionError(
            f"decision_threshold must be a finite number (the run's eval.decision_threshold) "
            f"or None; got {value!r}"
        )
    return float(value)


def _as_costs(costs: Any, n: int) -> Costs:
    if isinstance(costs, Costs):
        return costs
    return parse_costs(costs, n=n)  # a dict spec; raises CostError when invalid


def build_report(
    y_true: Any,
    outputs: Any,
    *,
    threshold: float = 0.5,
    costs: Any = None,
    cost_error: str | None = None,
    sample_weight: Any = None,
    classes: list[str] | None = None,
    decision_threshold: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_points: int = 1000,
) -> EvalReport:
    """Evaluate raw model outputs against raw labels (see the module docstring).

    ``threshold`` is the run's threshold for precision / recall / F1 and ``eval.cost``.
    ``costs`` is a parsed ``Costs`` (or a dict spec) or None; ``cost_error`` says why costs could
    not be parsed (then the cost part is left out, tagged ``modeler.cost_error``). Without
    ``decision_threshold`` the report chooses one (``decision_threshold``, the bagged cost
    optimum); with it (a test evaluation), that threshold is used and none is chosen: the test
    set's own optimum is reported as ``hindsight_threshold`` / ``hindsight_cost`` only.

    Raises:
        EvaluationError: nothing at all can be evaluated (empty data, a different number of
            outputs and labels, outputs that are not numbers).
        OptionError: an invalid option (threshold, resamples, seed, level, max_points).
    """
    threshold = check_threshold(threshold)
    resamples, seed, level = check_bootstrap_options(resamples, seed, level)
    if check_max_points(max_points) < 3:
        raise OptionError(f"max_points must be >= 3 (first, last and optimum); got {max_points}")
    decision = _check_decision(decision_threshold)
    resolved = resolve_task(y_true, outputs, classes)
    rep = EvalReport(
        task=resolved.task,
        tags={
            "modeler.task": resolved.task,
            "modeler.threshold": repr(threshold),
            "modeler.score_transform": resolved.transform,
        },
    )
    if cost_error:
        rep.problem(
            "modeler.cost_error",
            f"costs left out: {cost_error}; the rest of the evaluation is kept",
        )
        costs = None
    if resolved.problem is not None:
        _counts_only(rep, resolved)
    elif resolved.task == "binary":
        _binary(
            rep,
            resolved,
            threshold=threshold,
            costs=costs,
            sample_weight=sample_weight,
            decision=decision,
            resamples=resamples,
            seed=seed,
            level=level,
            max_points=max_points,
        )
    else:
        try:
            if resolved.task == "multiclass":
                _multiclass(rep, resolved, classes, max_points)
            else:
                _regression(rep, resolved, max_points)
        except EvaluationError as exc:  # labels of another kind than the outputs
            rep.metrics = {"n": float(len(np.asarray(resolved.labels)))}
            rep.files = {}
            rep.problem("modeler.task_mismatch", f"{exc}; no metrics, only counts")
    if costs is not None and rep.task != "binary" and "modeler.cost_error" not in rep.tags:
        rep.problem(
            "modeler.cost_error",
            f"costs left out: they apply to a binary model's scores, and this evaluation is "
            f"{rep.task}",
        )
    return rep


def _unseen_false_alarms(
    y: np.ndarray, s: np.ndarray, w: np.ndarray | None, t: float, fp: float
) -> float | None:
    """When threshold ``t`` flags rows but no negative: the cost of the false alarms that
    are as likely as none on data of this size (3 per as many negatives, the rule of three:
    the 95% upper bound of a rate never seen), else None. A bootstrap of these rows never
    resamples a false alarm, so its interval cannot show them."""
    flagged = s >= t
    negatives = y == 0
    if fp <= 0 or not flagged.any() or (flagged & negatives).any() or not negatives.any():
        return None
    per_negative = 1.0 if w is None else float(np.mean(w[negatives]))
    return 3.0 * fp * per_negative


def _counts_only(rep: EvalReport, resolved: Resolved) -> None:
    y = np.asarray(resolved.labels)
    rep.metrics["n"] = float(len(y))
    if y.ndim == 1 and np.issubdtype(y.dtype, np.number) and np.isin(y, (0, 1)).all():
        rep.metrics["positives"] = float(np.sum(y == 1))
    assert resolved.problem_tag is not None and resolved.problem is not None
    rep.problem(resolved.problem_tag, resolved.problem)


# --- binary -------------------------------------------------------------------------------------
def _rates_at(y: np.ndarray, s: np.ndarray, w: np.ndarray | None, t: float) -> dict[str, float]:
    """Precision, recall and F1 at any threshold (also above 1: "flag nothing")."""
    flagged = s >= t
    wt = np.ones(len(y)) if w is None else w
    tp = float(wt[flagged & (y == 1)].sum())
    fp = float(wt[flagged & (y == 0)].sum())
    fn = float(wt[~flagged & (y == 1)].sum())
    return {
        "precision": tp / (tp + fp) if tp + fp > 0 else 0.0,
        "recall": tp / (tp + fn) if tp + fn > 0 else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0,
    }


def _binary(
    rep: EvalReport,
    resolved: Resolved,
    *,
    threshold: float,
    costs: Any,
    sample_weight: Any,
    decision: float | None,
    resamples: int,
    seed: int,
    level: float,
    max_points: int,
) -> None:
    from modeler.evaluation import plots
    from modeler.evaluation.histories import curve_histories

    y, s = resolved.labels, resolved.scores
    try:
        w = check_sample_weight(sample_weight, len(y))
    except EvaluationError as exc:
        rep.problem("modeler.sample_weight_error", f"sample weights left out: {exc}")
        w = None
    core = binary_core(y, s, threshold=threshold, sample_weight=w)
    metrics = dict(core.metrics)
    curves = binary_payload(core, threshold, max_points=max_points)
    positives, n = int(metrics["positives"]), int(metrics["n"])
    if core.roc is None:
        rep.problem(
            "modeler.auc_undefined",
            f"validation labels hold one class only ({positives} positives among {n:,} rows): "
            "ROC-AUC and PR-AUC are undefined and not logged; counts and rates are logged",
        )
        metrics.pop("roc_auc")
        metrics.pop("pr_auc")
    elif min(positives, n - positives) < MIN_PER_CLASS:
        rep.problem(
            "modeler.small_validation",
            f"the validation set is tiny ({positives} positives, {n - positives} negatives; "
            f"fewer than {MIN_PER_CLASS} in a class): intervals are wide and a threshold chosen "
            "on it is barely informed",
        )
    rep.metrics.update(metrics)
    rep.histories.update(curve_histories(core))
    rep.files["curves.json"] = _json(curves)
    rep.files["roc.png"] = plots.png_bytes(plots.roc_png, curves)
    rep.files["pr.png"] = plots.png_bytes(plots.pr_png, curves)
    rep.files["confusion_matrix.png"] = plots.png_bytes(
        plots.confusion_png, metrics, threshold=threshold
    )

    spec: Costs | None = None
    cost_metrics: dict[str, float] = {}
    curve: dict[str, Any] | None = None
    if costs is not None:
        try:
            spec = _as_costs(costs, len(y))
            cost_metrics, curve = cost_report(y, s, spec, threshold, max_points=max_points)
        except CostError as exc:
            rep.problem(
                "modeler.cost_error",
                f"costs left out: {exc}; the rest of the evaluation is kept",
            )
            spec, curve = None, None
    _with_uncertainty(
        rep,
        y,
        s,
        w,
        threshold=threshold,
        spec=spec,
        cost_metrics=cost_metrics,
        curve=curve,
        decision=decision,
        resamples=resamples,
        seed=seed,
        level=level,
    )
    from modeler.evaluation.scores import scores_parquet, scores_table

    rep.files["scores.parquet"] = scores_parquet(scores_table(y, s, spec))


def _with_uncertainty(
    rep: EvalReport,
    y: np.ndarray,
    s: np.ndarray,
    w: np.ndarray | None,
    *,
    threshold: float,
    spec: Costs | None,
    cost_metrics: dict[str, float],
    curve: dict[str, Any] | None,
    decision: float | None,
    resamples: int,
    seed: int,
    level: float,
) -> None:
    """Intervals, the decision threshold, cost metrics and their files."""
    from modeler.evaluation import plots
    from modeler.evaluation.threshold import RULE, decide
    from modeler.evaluation.uncertainty import bootstrap_binary

    named = {"threshold": threshold}
    if decision is not None:
        named["decision"] = decision
    fn = tp = None
    if spec is not None:
        fn = np.broadcast_to(np.asarray(spec.fn, float), y.shape) * y
        tp = np.broadcast_to(np.asarray(spec.tp_gain, float), y.shape) * y
    band_at = np.zeros(0)
    if curve is not None:  # the band is drawn through up to BAND_POINTS of the curve's corners
        thr = np.asarray(curve["thresholds"])
        band_at = thr[thin_curve(thr, np.asarray(curve["cost"]), BAND_POINTS)]
    boot = bootstrap_binary(
        y,
        s,
        thresholds=named,
        plot_thresholds=band_at,
        weights=w,
        fn=fn,
        tp=tp,
        fp=None if spec is None else spec.fp,
        resamples=resamples,
        seed=seed,
        level=level,
    )
    m = rep.metrics
    intervals: dict[str, tuple[float, float]] = {}
    for name in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
        if name in m:
            intervals[name] = boot.interval(name, m[name])

    decision_info: dict[str, Any] | None = None
    if decision is not None:
        m["decision_threshold"] = decision
        m.update({f"{k}_at_decision": v for k, v in _rates_at(y, s, w, decision).items()})
    if spec is not None and curve is not None:
        m["cost"] = cost_metrics["cost"]
        intervals["cost"] = boot.interval("cost", m["cost"])
        approve, flag_all = curve["approve_all_cost"], curve["flag_all_cost"]
        trivial_samples = np.minimum(
            boot.samples["approve_all_cost"], boot.samples["flag_all_cost"]
        )
        if decision is None:
            chosen = decide(boot, s)
            if min(m["positives"], m["n"] - m["positives"]) == 0:
                # One class: the optimum is a trivial policy, nothing to average.
                t_opt = cost_metrics["cost_optimal_threshold"]
                chosen = replace(chosen, threshold=t_opt, ci_low=t_opt, ci_high=t_opt)
            t_dec = chosen.threshold
            m["cost_optimal_threshold"] = cost_metrics["cost_optimal_threshold"]
            m["cost_at_optimal"] = cost_metrics["cost_at_optimal"]
            for key in ("precision_at_optimal", "recall_at_optimal", "f1_at_optimal"):
                m[key] = cost_metrics[key]
            intervals["cost_at_optimal"] = boot.interval("cost_at_optimal", m["cost_at_optimal"])
            m["decision_threshold"] = t_dec
            intervals["decision_threshold"] = (chosen.ci_low, chosen.ci_high)
            m.update({f"{k}_at_decision": v for k, v in _rates_at(y, s, w, t_dec).items()})
            dec_samples = boot.cost_at(t_dec)
            decision_info = {
                "rule": RULE,
                "threshold": t_dec,
                "ci_low": chosen.ci_low,
                "ci_high": chosen.ci_high,
                "flag_rate": chosen.flag_rate,
                "hindsight": False,
            }
        else:
            t_dec = decision
            # The test set's own optimum is hindsight: shown, never a decision.
            m["hindsight_threshold"] = cost_metrics["cost_optimal_threshold"]
            m["hindsight_cost"] = cost_metrics["cost_at_optimal"]
            dec_samples = boot.samples["cost@decision"]
            decision_info = {
                "rule": "given: the run's decision threshold (no threshold is chosen on this data)",
                "threshold": t_dec,
                "hindsight": True,
            }
        m["cost_at_decision"] = cost_at(y, s, spec, t_dec)
        m["savings"] = min(approve, flag_all) - m["cost_at_decision"]
        intervals["cost_at_decision"] = boot.interval_of(dec_samples)
        intervals["savings"] = boot.interval_of(trivial_samples - dec_samples)
        lo, hi = intervals["savings"]
        data = "the validation data" if decision is None else "this data"
        why = None
        if lo < 0 or (lo <= 0 < hi):
            why = (
                f"the {level:.0%} interval of its savings against the cheaper trivial policy, "
                f"[{lo:,.2f}, {hi:,.2f}], reaches {'below ' if lo < 0 else ''}zero "
                f"({int(m['positives'])} positives in {data})"
            )
        else:
            unseen = _unseen_false_alarms(y, s, w, t_dec, spec.fp)
            if unseen is not None and lo - unseen <= 0:
                negatives = int(m["n"] - m["positives"])
                why = (
                    f"it flags none of the {negatives:,} negatives of {data}, so "
                    "its false alarms on new data are unseen here: up to 3 in as many "
                    f"negatives is as likely as none (the rule of three), {unseen:,.2f} of cost, "
                    f"more than the low end of its savings' {level:.0%} interval ({lo:,.2f})"
                )
        unstable = why is not None
        if why is not None:
            rep.tags["modeler.threshold_unstable"] = "true"
            rep.warnings.append(
                f"the decision threshold {t_dec:.4g} is not reliable: {why}; collect more "
                "labelled data or check the costs before acting on it"
            )
        band_lo, band_hi = boot.cost_band(np.searchsorted(boot.layout.cuts, band_at))
        curve = {
            **curve,
            "savings": m["savings"],
            "band": {
                "level": level,
                "thresholds": band_at.tolist(),
                "low": band_lo.tolist(),
                "high": band_hi.tolist(),
            },
            "threshold": threshold,
            "decision_threshold": t_dec,
            "decision_interval": list(intervals.get("decision_threshold", (None, None))),
            "cost_at_decision": m["cost_at_decision"],
            "hindsight": decision is not None,
            "unstable": unstable,
        }
        rep.files["cost_curve.json"] = _json(curve)
        rep.files["cost_curve.png"] = plots.png_bytes(plots.cost_png, curve)

    for name, (lo, hi) in intervals.items():
        if np.isfinite(lo) and np.isfinite(hi):
            m[f"{name}.ci_low"], m[f"{name}.ci_high"] = float(lo), float(hi)
    rep.files["uncertainty.json"] = _json(
        {
            "schema": SCHEMA,
            "method": METHOD,
            "interval": "percentile",
            "level": level,
            "resamples": boot.resamples,
            "seed": boot.seed,
            "binned": boot.layout.binned,
            "weights": (
                "none"
                if w is None
                else "sample_weight: exact for positives; a normal term for the spread of "
                "weights within a group of negatives"
            ),
            "savings": "the cheaper trivial policy's cost minus the cost at the decision "
            "threshold, in each resample",
            "metrics": {
                name: {
                    "value": _finite(m[name]),
                    "ci_low": _finite(intervals[name][0]),
                    "ci_high": _finite(intervals[name][1]),
                }
                for name in _INTERVALS
                if name in intervals and name in m
            },
            "decision": decision_info,
        }
    )


# --- multi-class and regression: as before, no intervals -----------------------------------------
def _multiclass(rep: EvalReport, resolved: Resolved, classes: Any, max_points: int) -> None:
    from modeler.evaluation import plots
    from modeler.evaluation.curves import multiclass_curves
    from modeler.evaluation.metrics import multiclass_metrics

    proba = np.asarray(resolved.outputs, dtype=float)
    y = np.asarray(resolved.labels)
    if y.ndim == 2 and y.shape[1] == proba.shape[1]:  # one-hot labels
        y = y.argmax(axis=1)
    y = y.reshape(-1).astype(int)
    names = list(classes) if classes else [str(i) for i in range(proba.shape[1])]
    try:
        curves = multiclass_curves(y, proba, names, max_points=max_points)
    except EvaluationError as exc:  # class names that do not fit: keep going without them
        rep.problem("modeler.classes_error", f"class names left out: {exc}")
        curves = multiclass_curves(y, proba, None, max_points=max_points)
    rep.metrics.update(multiclass_metrics(y, proba))
    rep.files["curves.json"] = _json(curves)
    rep.files["roc.png"] = plots.png_bytes(plots.roc_png, curves)
    rep.files["pr.png"] = plots.png_bytes(plots.pr_png, curves)


def _regression(rep: EvalReport, resolved: Resolved, max_points: int) -> None:
    from modeler.evaluation import plots
    from modeler.evaluation.curves import regression_payload
    from modeler.evaluation.metrics import regression_metrics

    y = np.asarray(resolved.labels, dtype=float).reshape(-1)
    pred = np.asarray(resolved.outputs, dtype=float)
    pred = (pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 else pred).reshape(-1)
    payload = regression_payload(y, pred, max_points=max_points)
    rep.metrics.update(regression_metrics(y, pred))
    rep.files["curves.json"] = _json(payload)
    rep.files["true_vs_predicted.png"] = plots.png_bytes(plots.regression_png, payload)
