"""What the Keras and scikit-learn adapters share: options, run start/finish, nesting.

The adapters stay thin: they call :meth:`Hooks.start_run`, stream params and metrics to the
writer, call :meth:`Hooks.evaluate` once after training, and :meth:`Hooks.finish`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from modeler.config import Tracking


@dataclass
class Options:
    """``accu.autolog`` options, validated by :func:`modeler.tracking.autolog.autolog`."""

    threshold: float = 0.5
    log_models: bool = True
    register_model: str | None = None
    validation: tuple[Any, Any] | None = None
    costs: Any = None
    tags: dict[str, str] = field(default_factory=dict)


class _Nesting(threading.local):
    depth = 0


nesting = _Nesting()


@contextmanager
def nested() -> Iterator[None]:
    """Fits inside a logged fit (a Pipeline's steps, a forest's trees) are not logged."""
    nesting.depth += 1
    try:
        yield
    finally:
        nesting.depth -= 1


class Hooks:
    """The enabled autolog configuration and the bookkeeping around one run."""

    def __init__(self, session: Any, tracking: Callable[[], Tracking]) -> None:
        self.session = session
        self.tracking = tracking
        self.options = Options()
        self.enabled = False
        self._restores: list[Callable[[], None]] = []
        self.patched: set[str] = set()
        # model object -> run id, so accu.evaluate(model, ...) finds the model's run
        self.runs: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.last_run_id: str | None = None
        self.pipeline_samplings: list[dict[str, Any]] = []
        self._finisher: Any = None

    def record_sampler(self, sampler: Any, y: Any, y_res: Any, X_res: Any) -> None:
        """A sampler ran: inside a logged fit it goes on that run, else on the next one."""
        from modeler.state import SamplingRecord
        from modeler.tracking.sklearn import class_counts
        from modeler.tracking.writer import param_value

        params = {
            k: v for k, v in sampler.get_params(deep=False).items() if param_value(v) is not None
        }
        record = SamplingRecord(
            type(sampler).__name__, params, class_counts(y), class_counts(y_res), n_after=len(y_res)
        )
        if nesting.depth > 0:
            self.pipeline_samplings.append(record.as_json())
        else:
            self.session.record_sampling(record, X_res, y_res)

    def add_restore(self, undo: Callable[[], None]) -> None:
        self._restores.append(undo)

    def restore(self) -> None:
        """Undo every patch, newest first."""
        while self._restores:
            self._restores.pop()()
        self.patched.clear()

    # --- one run --------------------------------------------------------------------------------
    def start_run(
        self, model_type: str, inputs: tuple[Any, ...] = (), n_rows: int | None = None
    ) -> Any:
        """Open the run writer, or return None (with one warning) if the store fails."""
        from modeler.tracking.writer import RunWriter, guard_start

        with guard_start():
            writer = RunWriter.start(self.tracking(), model_type, tags=self.options.tags)
            self.last_run_id = writer.run_id
            with writer.guard("dataset inputs"):
                writer.log_datasets(self.session.datasets)
            with writer.guard("sampling"):
                record = self.session.sampling_for(*inputs, n_rows=n_rows)
                if record is not None:
                    writer.set_tags({"modeler.sampling": record.as_json()})
            return writer
        return None

    def evaluate(self, writer: Any, y: Any, outputs: Any, **kwargs: Any) -> dict[str, float]:
        from modeler.tracking.evaluate import log_evaluation

        return log_evaluation(
            writer,
            y,
            outputs,
            threshold=self.options.threshold,
            costs=kwargs.pop("costs", self.options.costs),
            **kwargs,
        )

    def model_logged(self, writer: Any, info: Any) -> None:
        version = getattr(info, "registered_model_version", None)
        if version is not None:
            writer.set_tags(
                {
                    "modeler.model_version": f"{writer.run_name}_{version}",
                    "modeler.registered_model": self.options.register_model,
                }
            )

    def remember(self, model: Any, writer: Any) -> None:
        try:
            self.runs[model] = writer.run_id
        except TypeError:  # an object without weak references
            pass

    # --- finishing ------------------------------------------------------------------------
    @property
    def finisher(self) -> Any:
        if self._finisher is None:
            from modeler.tracking.finisher import Finisher

            self._finisher = Finisher()
        return self._finisher

    def wait(self) -> None:
        """Block until every run still being finished in the background is written."""
        if self._finisher is not None:
            self._finisher.wait()

    def settle(self) -> None:
        """Like :meth:`wait` before a fit: a failure there is a warning, never an exception."""
        from modeler.tracking.finisher import notify

        try:
            self.wait()
        except Exception as exc:
            notify(f"modeler: finishing the previous run failed: {type(exc).__name__}: {exc}")

    def complete(self, writer: Any, tail: Callable[[], None]) -> None:
        """Run ``tail`` (evaluation, model) and end the run: in the background when we may.

        Runs the user opened, test mode and ``MODELER_BACKGROUND=0`` finish in the caller.
        """
        import os

        from modeler.config import test_mode

        def job() -> None:
            try:
                tail()
            finally:
                self.finish(writer, "FINISHED")

        background = (
            writer.owned and not test_mode() and os.environ.get("MODELER_BACKGROUND", "1") != "0"
        )
        if background:
            self.finisher.submit(job)
        else:
            job()

    def finish(self, writer: Any, status: str) -> None:
        """End the run; a failure here is a warning, never an exception in the user's fit."""
        from modeler.tracking.writer import guard_start

        with guard_start("end of run"):
            writer.end(status)
