"""Accuinsight+ Modeler entry points, so existing notebooks run with one changed import.

>>> from modeler.compat import accuinsight          # was: from accuinsight.modeler ... import
>>> accu = accuinsight()
>>> df = accu.get_file("data.json")                                   # doctest: +SKIP
>>> accu.autolog(run_nickname_input="smote-v2", tag="fraud")         # doctest: +SKIP
>>> model.fit(x, y, validation_data=(xv, yv))                         # doctest: +SKIP
>>> with accu.add_experiment(clf, X_val, y_val) as run:              # doctest: +SKIP
...     run.log_params({"note": "manual"})

Differences from the original, all fixes: ``autolog`` needs calling once, not before every
fit; ``best_weights`` is accepted but evaluation always uses the weights ``fit`` returns
(after EarlyStopping restored them); runs are never lost silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from modeler.errors import OptionError


class ExperimentRun:
    """The run of an ``add_experiment`` block: extra params, metrics and tags go there."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.run_id: str = writer.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._writer.log_params(params)

    def log_metrics(self, metrics: Mapping[str, Any], step: int = 0) -> None:
        self._writer.log_metrics(metrics, step=step, flush=True)

    def log_tag(self, key: str, value: Any) -> None:
        self._writer.set_tags({key: value})


class accuinsight:
    """The original notebook object, backed by :data:`modeler.accu`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from modeler import accu

        self._accu = accu
        self._run_id: str | None = None

    def get_file(
        self,
        storage_json_file_name: str | None = None,
        *,
        source: str | None = None,
        **options: Any,
    ) -> Any:
        """``get_file(storage_json_file_name='data.json')`` as in the original."""
        source = source or storage_json_file_name
        if source is None:
            raise OptionError("get_file needs the descriptor JSON path (storage_json_file_name)")
        return self._accu.get_file(source, **options)

    def set_storage(self, storage_json_file_name: str = "data.json", **fields: Any) -> str:
        """Write a descriptor JSON (the original crashed here in ``save_json``)."""
        return self._accu.set_storage(storage_json_file_name, **fields)

    def autolog(
        self,
        run_nickname_input: str | None = None,
        tag: Any = None,
        best_weights: bool = False,
        **options: Any,
    ) -> None:
        """Turn on logging for every later fit; the nickname and tag go on each run."""
        tags = dict(options.pop("tags", None) or {})
        if run_nickname_input is not None:
            tags["modeler.nickname"] = str(run_nickname_input)
            tags["mlflow.note.content"] = str(run_nickname_input)
        if isinstance(tag, Mapping):
            tags.update({str(k): str(v) for k, v in tag.items()})
        elif tag is not None:
            tags["modeler.tag"] = str(tag)
        if not isinstance(best_weights, bool):
            raise OptionError(f"best_weights must be True or False; got {best_weights!r}")
        self._accu.autolog(tags=tags or None, **options)

    @contextmanager
    def add_experiment(self, model: Any, X_val: Any, y_val: Any) -> Iterator[ExperimentRun]:
        """A run for ``model``, evaluated on ``(X_val, y_val)`` when the block ends."""
        from modeler.evaluation.metrics import check_threshold
        from modeler.tracking.autolog import evaluate_into, hooks_of, model_type_of
        from modeler.tracking.writer import RunWriter

        hooks = hooks_of(self._accu)
        writer = RunWriter.start(
            self._accu.tracking(), model_type_of(model), tags=hooks.options.tags
        )
        self._run_id = writer.run_id
        status = "FINISHED"
        try:
            with writer.active():  # fits inside the block log into this run
                yield ExperimentRun(writer)
                evaluate_into(
                    hooks,
                    writer,
                    model,
                    X_val,
                    y_val,
                    threshold=check_threshold(hooks.options.threshold),
                )
        except BaseException:
            status = "FAILED"
            raise
        finally:
            writer.end(status)

    def get_current_run_id(self) -> str | None:
        """The id of the latest run made by this object or by autolog."""
        from modeler.tracking.autolog import hooks_of

        return self._run_id if self._run_id is not None else hooks_of(self._accu).last_run_id
