"""The ``accu`` object: the notebook facade. Thin methods that delegate; no logic of its own.

>>> from modeler import accu
>>> df = accu.get_file("data.json")                       # doctest: +SKIP
>>> accu.autolog()                                        # doctest: +SKIP
>>> model.fit(x, y, validation_data=(xv, yv))             # doctest: +SKIP
>>> accu.compare(experiment="fraud", top=5)               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from modeler.state import SESSION, Session


class Accu:
    """One object per process, exposed as ``modeler.accu``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._tracking: tuple[str | None, str | None] = (None, None)

    # --- where runs go ---------------------------------------------------------------------
    def set_tracking(self, uri: str | None = None, experiment: str | None = None) -> str:
        """Use ``uri`` / ``experiment`` for later runs (overrides the environment).

        >>> accu.set_tracking("http://127.0.0.1:5000", experiment="fraud")   # doctest: +SKIP

        Returns the resolved tracking URI.
        """
        from modeler.config import resolve_tracking

        resolved = resolve_tracking(uri, experiment)
        self._tracking = (uri, experiment)
        return resolved.uri

    def tracking(self):
        """The resolved :class:`modeler.config.Tracking` for the next run."""
        from modeler.config import resolve_tracking

        return resolve_tracking(*self._tracking)

    # --- data --------------------------------------------------------------------------------
    def get_file(
        self,
        source: str,
        *,
        as_path: bool = False,
        cache_dir: str | None = None,
        refresh: bool = False,
    ) -> Any:
        """Load a pipeline export: a descriptor JSON path, ``s3://``, ``file://`` or a path.

        >>> df = accu.get_file("exports/data.json")                          # doctest: +SKIP
        """
        from modeler.data.files import get_file
        from modeler.tracking.autolog import hooks_of
        from modeler.tracking.sklearn import watch_samplers

        watch_samplers(hooks_of(self))  # data is loaded, then resampled, then autolog is on
        return get_file(
            source, as_path=as_path, cache_dir=cache_dir, refresh=refresh, session=self.session
        )

    def set_storage(self, path: str, **fields: Any) -> str:
        """Write a descriptor JSON that ``get_file`` can read back; returns its path.

        >>> accu.set_storage("data.json", target="local", filePath="out",
        ...                  fileName="d.csv")                       # doctest: +SKIP
        """
        from modeler.data.descriptor import save_descriptor

        return str(save_descriptor(path, **fields))

    # --- runs --------------------------------------------------------------------------------
    def autolog(self, **options: Any) -> None:
        """Make every later Keras or scikit-learn ``fit`` one MLflow run (until ``disable=True``).

        >>> accu.autolog(threshold=0.5, costs={"fn": "amount", "fp": 5.0})   # doctest: +SKIP
        """
        from modeler.tracking.autolog import autolog

        autolog(self, **options)

    def evaluate(self, model: Any, X: Any, y: Any, **options: Any) -> dict[str, float]:
        """Evaluate ``model`` on held-out data and attach it to the model's run.

        >>> accu.evaluate(clf, X_test, y_test, costs={"fn": 100, "fp": 5})   # doctest: +SKIP
        """
        from modeler.tracking.autolog import evaluate

        return evaluate(self, model, X, y, **options)

    def get_current_run_id(self) -> str | None:
        """The id of the latest run made in this session (by a fit, ``evaluate`` or the
        compat layer's ``add_experiment``), or None before the first one.

        >>> accu.get_current_run_id()          # doctest: +SKIP
        '3f2a9c...'
        """
        from modeler.tracking.autolog import hooks_of

        return hooks_of(self).last_run_id

    def evaluate_spark(self, df: Any, *, label_col: str, score_col: str, **options: Any) -> Any:
        """Evaluate scores held in a Spark DataFrame, without collecting it, and log it.

        >>> accu.evaluate_spark(scored, label_col="isFraud", score_col="p",
        ...                     fn_cost_col="amount", fp_cost=5.0)        # doctest: +SKIP

        Options: ``run_id=`` or ``model=`` (the run to add to; default a new run),
        ``prefix="eval"``, ``threshold=``, ``fn_cost_col=``, ``fp_cost=``, ``tp_gain_col=``,
        ``exact=True`` (False: a histogram with stated error bounds), ``bins=``. Returns the
        metrics. See ``modeler.spark`` for exact and binned evaluation.
        """
        from modeler.tracking.autolog import hooks_of
        from modeler.tracking.spark_runs import evaluate_spark

        return evaluate_spark(
            hooks_of(self), df, label_col=label_col, score_col=score_col, **options
        )

    def wait(self) -> None:
        """Block until runs still being finished in the background are completely written.

        ``fit`` returns as soon as training is done; the end of its run (plots, uploads, the
        model) is written in the background. The next fit, ``evaluate``, ``compare`` and
        ``sync`` wait by themselves.

        >>> accu.wait()                # doctest: +SKIP
        """
        from modeler.tracking.autolog import hooks_of

        hooks_of(self).wait()

    def sync(self) -> list[str]:
        """Complete and upload runs left in ``mlruns/journal`` by processes that ended, or
        kept there while their store was down. Returns the run ids now in their stores.

        >>> accu.sync()                # doctest: +SKIP
        ['3f2a...']

        Raises TrackingError naming what could not be synced (kept on disk for next time).
        """
        from modeler.errors import TrackingError
        from modeler.tracking.recovery import sync

        self.wait()
        tracking = self.tracking()
        result = sync(tracking.journal_home, echo=lambda _: None, current=tracking.uri)
        if not result.ok:
            raise TrackingError("could not sync: " + "; ".join(result.failed))
        return result.synced

    def compare(self, runs: Any = None, **options: Any) -> Any:
        """Compare up to ten runs: PR/ROC overlays, a metrics table, one HTML report.

        >>> report = accu.compare(experiment="fraud", top=5, by="eval.pr_auc")   # doctest: +SKIP
        >>> report.table, report.figure, report.html_path                         # doctest: +SKIP
        """
        from modeler.compare import compare

        self.wait()
        return compare(runs, tracking=self.tracking(), **options)


accu = Accu(SESSION)
