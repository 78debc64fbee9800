"""What the Keras and scikit-learn adapters share: options, run start and end, nesting.

The adapters stay thin: :meth:`Hooks.start_run`, params and metrics to the writer, then — before
``fit`` returns — :meth:`Hooks.snapshot` and :meth:`Hooks.freeze_model`, and :meth:`Hooks.complete`
hands the rest to the background uploader.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeler import layout
from modeler.config import Tracking
from modeler.errors import ModelerWarning
from modeler.tracking.writer import RunWriter, guard_start, inline, param_value, uploader


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


def class_counts(y: Any) -> dict[str, int]:
    """``{"0": 9900, "1": 100}`` — class counts with JSON keys."""
    return {str(k): int(v) for k, v in sorted(Counter(np.asarray(y).ravel().tolist()).items())}


class Hooks:
    """The enabled autolog configuration and the bookkeeping around one run."""

    def __init__(self, session: Any, tracking: Callable[[], Tracking]) -> None:
        self.session = session
        self.tracking = tracking
        self.options = Options()
        self.enabled = False
        self._restores: list[Callable[[], None]] = []
        self.patched: set[str] = set()
        # model object -> the writer of its run, so accu.evaluate(model, ...) finds the run
        self.runs: weakref.WeakKeyDictionary[Any, RunWriter] = weakref.WeakKeyDictionary()
        # models loaded with mlflow.<flavor>.load_model -> the run they came from
        self.loaded: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.last_writer: RunWriter | None = None
        self.pipeline_samplings: list[dict[str, Any]] = []
        # runs fitted without validation data and not evaluated since: journal id -> warning
        self.unevaluated: dict[str, str] = {}

    @property
    def last_run_id(self) -> str | None:
        """The id of the latest run made in this session (waits until it is in the store)."""
        return self.last_writer.run_id if self.last_writer is not None else None

    def record_sampler(self, sampler: Any, y: Any, y_res: Any, X_res: Any) -> None:
        """A sampler ran: inside a logged fit it goes on that run, else on the next one."""
        from modeler.state import SamplingRecord

        params = {
            k: v for k, v in sampler.get_params(deep=False).items() if param_value(v) is not None
        }
        record = SamplingRecord(
            type(sampler).__name__, params, class_counts(y), class_counts(y_res), n_after=len(y_res)
        )
        if nesting.depth > 0:
            self.pipeline_samplings.append(record.as_json())
        else:
            self.session.record_sampling(record, X_res, y_res, labels=y_res)

    def add_restore(self, undo: Callable[[], None]) -> None:
        self._restores.append(undo)

    def restore(self) -> None:
        """Undo every patch, newest first."""
        while self._restores:
            self._restores.pop()()
        self.patched.clear()

    # --- one run --------------------------------------------------------------------------------
    def start_run(
        self,
        model_type: str,
        inputs: tuple[Any, ...] = (),
        labels: Any = None,
        *,
        sampling: str | None = None,
        name_type: str | None = None,
    ) -> RunWriter | None:
        """Open the run's journal, or return None (with one warning) if that fails, or
        silently in a worker of a distributed job that is not its chief."""
        from modeler.tracking.distributed import worker

        here = worker()
        if not here.chief:
            return None
        with guard_start():
            record = self.session.sampling_for(*inputs, labels=labels)
            writer = RunWriter.start(
                self.tracking(),
                model_type,
                tags={**self.options.tags, **here.tags()},
                sampling=record.method if record is not None else sampling,
                name_type=name_type,
            )
            self.last_writer = writer
            with writer.guard("dataset inputs"):
                writer.log_datasets(self.session.datasets)
            if record is not None:
                with writer.guard("sampling"):
                    writer.set_tags({layout.SAMPLING: record.as_json()})
            return writer
        return None

    def snapshot(self, writer: RunWriter, y: Any, outputs: Any, **kwargs: Any) -> None:
        """Freeze what the final evaluation needs, before ``fit`` returns."""
        from modeler.evaluation import check_threshold
        from modeler.tracking.evaluate import make_snapshot, write_snapshot

        snap = make_snapshot(
            y,
            outputs,
            threshold=check_threshold(self.options.threshold),
            costs=kwargs.pop("costs", self.options.costs),
            **kwargs,
        )
        write_snapshot(writer.journal, snap)

    def freeze_model(
        self, writer: RunWriter, flavor: str, model: Any, signature: Any = None
    ) -> None:
        if self.options.log_models:
            with writer.guard("model"):
                writer.freeze_model(
                    flavor,
                    model,
                    registered_model_name=self.options.register_model,
                    signature=signature,
                )

    def remember(self, model: Any, writer: RunWriter) -> None:
        try:
            self.runs[model] = writer
        except TypeError:  # an object without weak references
            pass

    def complete(self, writer: RunWriter) -> None:
        """``fit`` returned: the rest (evaluation report, MLflow model, end) runs in the
        background; inline in test mode, with ``MODELER_BACKGROUND=0`` and for runs the
        user opened."""
        with guard_start("end of run"):
            writer.returned()
            writer.end("FINISHED", wait=inline() or not writer.owned)
        self.show_messages(pending=False)

    def finish(self, writer: RunWriter, status: str) -> None:
        """End the run (fit failed or was interrupted); never an exception in the user's fit."""
        with guard_start("end of run"):
            writer.end(status, wait=inline() or not writer.owned)

    # --- waiting ----------------------------------------------------------------------------
    def wait(self) -> None:
        """Block until every run of this process is in its store (or its store is down)."""
        uploader().wait()
        self.show_messages()

    def note_unevaluated(self, writer: RunWriter, model_type: str) -> None:
        """The run has no held-out evaluation. Said at the next fit, ``wait`` or ``compare``
        unless ``accu.evaluate`` / ``add_experiment`` adds one first (then nothing is said)."""
        self.unevaluated[writer.journal.id] = (
            f"modeler: run {writer.run_name} ({model_type}) has no eval.* metrics: it was "
            "fitted without validation data and nothing evaluated it since (use "
            "accu.evaluate(model, X_val, y_val), or accu.autolog(validation=(X_val, y_val)) "
            "before fitting)"
        )

    def evaluated(self, writer: RunWriter | None) -> None:
        if writer is not None:
            self.unevaluated.pop(writer.journal.id, None)

    def show_messages(self, *, pending: bool = True) -> None:
        """Warnings the background uploader kept for the user's thread and, with ``pending``,
        those about runs left without an evaluation."""
        messages = uploader().messages()
        if pending:
            messages += list(self.unevaluated.values())
            self.unevaluated.clear()
        for message in messages:
            warnings.warn(message, ModelerWarning, stacklevel=4)
