"""Replaying a journal into its MLflow store, from where the store left off.

The one way anything reaches MLflow: the background uploader, ``accu.sync()`` and
``modeler sync`` all call :meth:`Replayer.replay`. Progress is saved after each request, so a
replay can stop anywhere (a server outage, a killed process) and resume without duplicates:
a run created earlier is found again by its ``modeler.journal_id`` tag, metric points the store
already holds are skipped, and a model already logged is not logged twice.

>>> Replayer(journal, tracking_uri).replay()      # doctest: +SKIP
True                                              # the run is complete in the store
"""

from __future__ import annotations

from typing import Any

from modeler import layout
from modeler.config import test_mode
from modeler.errors import TrackingError
from modeler.redact import redact_text
from modeler.tracking.client import dataset_inputs, is_transient
from modeler.tracking.journal import Journal

# MLflow's limits for one log_batch request
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
# operations that only matter to the journal itself (finishing, recovery), not to the store
LOCAL_OPS = ("evaluate", "evaluated", "model_snapshot", "model_failed", "returned")


class StoreUnavailable(TrackingError):
    """The store did not answer (or is locked); the journal stays and is replayed later."""


class NotYet(TrackingError):
    """The run this journal adds to is not in the store yet (its own journal comes first)."""


class Replayer:
    """Sends one journal's operations to its store; safe to call again at any point."""

    def __init__(self, journal: Journal, tracking_uri: str, *, resume: bool = False) -> None:
        """``resume``: a journal from disk (not written by this process): the store may hold
        more than its progress says (a crash between a request and saving progress)."""
        self.journal = journal
        self.tracking_uri = tracking_uri
        self.remote = tracking_uri.startswith(("http://", "https://"))
        self.progress = journal.progress()
        self.resuming = resume or self.progress["done"] > 0 or "run_id" in self.progress
        self._client: Any = None
        self._known: dict[str, set[tuple[int, int, float]]] = {}
        self.complete = False

    @property
    def run_id(self) -> str | None:
        return self.progress.get("run_id") or self.journal.meta.get("run_id")

    def _set_run_id(self, run_id: str) -> None:
        self.progress["run_id"] = run_id
        self.journal.run_id = run_id  # kept in memory after the journal folder is gone

    @property
    def client(self) -> Any:
        if self._client is None:
            from modeler.tracking.store import mlflow_env_defaults, open_client

            mlflow_env_defaults()
            self._client = open_client(self.tracking_uri)
        return self._client

    # --- the loop ---------------------------------------------------------------------------
    def replay(self) -> bool:
        """Send every operation not yet in the store. True once the journal's end was sent.

        Raises StoreUnavailable when the store cannot be reached (nothing is lost: the
        progress made so far is saved). Other failures of one operation are recorded as the
        tag ``modeler.logging_error`` and the operation is skipped (raised in test mode).
        """
        try:
            ops = self.journal.read().ops
            self._ensure_run()
            i = self.progress["done"]
            while i < len(ops):
                batch_end = self._batch_end(ops, i)
                if batch_end > i:
                    self._guarded(lambda s=i, e=batch_end: self._send_batch(ops[s:e]), ops[i])
                    i = batch_end
                else:
                    self._guarded(lambda op=ops[i]: self._apply(op), ops[i])
                    i += 1
                self.progress["done"] = i
                self.journal.save_progress(self.progress)
                if ops[i - 1]["op"] == "end":
                    self.complete = True
            if not self.journal.owned and i == len(ops) and any(o["op"] == "end" for o in ops):
                self.complete = True
            return self.complete
        except NotYet:
            raise
        except StoreUnavailable:
            self.resuming = True
            raise
        except Exception as exc:
            if is_transient(exc, self.remote):
                # the store may have done what it did not answer (a run, a model): look before
                # doing it again
                self.resuming = True
                raise StoreUnavailable(
                    f"tracking store {redact_text(self.tracking_uri)} did not answer: "
                    f"{type(exc).__name__}: {redact_text(_first_line(exc))}"
                ) from exc
            raise

    def _guarded(self, send: Any, op: dict[str, Any]) -> None:
        try:
            send()
        except Exception as exc:
            if is_transient(exc, self.remote) or test_mode():
                raise
            # the store refused this operation (bad value, conflict): say so on the run
            message = f"{op['op']}: {type(exc).__name__}: {redact_text(_first_line(exc))}"[:500]
            self.progress.setdefault("errors", []).append(message)

    # --- the run ----------------------------------------------------------------------------
    def _ensure_run(self) -> None:
        if self.run_id is not None:
            self.journal.run_id = self.run_id
            return
        meta = self.journal.meta
        attach_to = meta.get("attach_to")
        if attach_to:  # a later evaluation of a run whose own journal may not be replayed yet
            found = self._find_by_journal_id(attach_to)
            if found is None:
                raise NotYet(
                    f"{self.journal.root}: the run of journal {attach_to} is not in the store "
                    "yet; it is replayed first"
                )
            self._set_run_id(found)
        else:
            run_id = self._find_by_journal_id(meta["journal_id"]) if self.resuming else None
            if run_id is None:
                run_id = self._create_run()
            self._set_run_id(run_id)
            self.resuming = self.resuming or self.progress["done"] > 0
        self.journal.save_progress(self.progress)

    def _experiment_id(self) -> str:
        from modeler.config import Tracking
        from modeler.tracking.store import connect

        meta = self.journal.meta
        return connect(Tracking(self.tracking_uri, meta["experiment"], None)).experiment_id

    def _find_by_journal_id(self, journal_id: str) -> str | None:
        for key in (layout.JOURNAL_ID, layout.LEGACY_OUTBOX_ID):
            found = self.client.search_runs(
                [self._experiment_id()],
                filter_string=f"tags.`{key}` = '{journal_id}'",
                max_results=1,
            )
            if found:
                return str(found[0].info.run_id)
        return None

    def _create_run(self) -> str:
        meta = self.journal.meta
        tags = {**meta.get("tags", {}), layout.JOURNAL_ID: meta["journal_id"]}
        run = self.client.create_run(
            self._experiment_id(),
            start_time=meta.get("start_time"),
            run_name=meta["run_name"],
            tags=tags,
        )
        return str(run.info.run_id)

    # --- operations -------------------------------------------------------------------------
    @staticmethod
    def _batch_end(ops: list[dict[str, Any]], start: int) -> int:
        """End of the run of consecutive ``batch`` operations that fit one request."""
        metrics = params = tags = 0
        i = start
        while i < len(ops) and ops[i]["op"] == "batch":
            op = ops[i]
            m, p, t = len(op.get("metrics", ())), len(op.get("params", {})), len(op.get("tags", {}))
            if i > start and (
                metrics + m > MAX_METRICS or params + p > MAX_PARAMS or tags + t > MAX_TAGS
            ):
                break
            metrics, params, tags = metrics + m, params + p, tags + t
            i += 1
        return i

    def _send_batch(self, ops: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        metrics = [
            Metric(k, float(v), int(ts), int(step))
            for op in ops
            for k, v, ts, step in op.get("metrics", ())
        ]
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        for op in ops:
            params.update(op.get("params", {}))
            tags.update(op.get("tags", {}))
        if self.resuming:
            metrics = [
                m for m in metrics if (m.step, m.timestamp, m.value) not in self._have(m.key)
            ]
        # one operation may hold more than a request takes (a long curve history)
        for i in range(0, max(len(metrics), 1), MAX_METRICS):
            self.client.log_batch(
                self.run_id,
                metrics=metrics[i : i + MAX_METRICS],
                params=[Param(k, v) for k, v in params.items()] if i == 0 else [],
                tags=[RunTag(k, v) for k, v in tags.items()] if i == 0 else [],
            )
        if self.resuming:
            for m in metrics:
                self._have(m.key).add((m.step, m.timestamp, m.value))

    def _have(self, key: str) -> set[tuple[int, int, float]]:
        if key not in self._known:
            history = self.client.get_metric_history(self.run_id, key)
            self._known[key] = {(m.step, m.timestamp, m.value) for m in history}
        return self._known[key]

    def _apply(self, op: dict[str, Any]) -> None:
        kind = op["op"]
        if kind in LOCAL_OPS:
            return
        run_id = self.run_id
        if kind == "artifacts":
            self.client.log_artifacts(run_id, str(self.journal.root / op["dir"]), op.get("path"))
        elif kind == "inputs":
            self.client.log_inputs(run_id, datasets=dataset_inputs(op["datasets"]))
        elif kind == "name":
            self.client.update_run(run_id, name=op["name"])
        elif kind == "model":
            self._log_model(op)
        elif kind == "register":  # modeler 0.1 outbox: the model was in an artifacts folder
            self._register(op["name"], f"runs:/{run_id}/model")
        elif kind == "end":
            self._end(op)
        else:
            raise TrackingError(f"{self.journal.ops_path}: unknown operation {kind!r}")

    def _log_model(self, op: dict[str, Any]) -> None:
        from modeler.tracking.client import has_logged_model, log_saved_model

        run_id = str(self.run_id)
        if self.resuming and has_logged_model(self.client, run_id):
            return
        info = log_saved_model(
            self.client,
            run_id,
            self.journal.root / op["dir"],
            registered_model_name=op.get("registered_model_name"),
        )
        version = getattr(info, "registered_model_version", None)
        if version is not None:
            self._tag_version(op["registered_model_name"], version)

    def _register(self, name: str, uri: str) -> None:
        import mlflow

        from modeler.tracking.client import use_tracking_uri

        with use_tracking_uri(self.tracking_uri):
            version = mlflow.register_model(uri, name)
        self._tag_version(name, version.version)

    def _tag_version(self, name: str, version: Any) -> None:
        run_name = self.journal.meta["run_name"]
        self.client.set_tag(self.run_id, layout.MODEL_VERSION, f"{run_name}_{version}")
        self.client.set_tag(self.run_id, layout.REGISTERED_MODEL, name)

    def _end(self, op: dict[str, Any]) -> None:
        errors = self.progress.get("errors") or []
        if errors:  # beside what the writer already reported
            earlier = self.client.get_run(self.run_id).data.tags.get(layout.LOGGING_ERROR)
            text = "; ".join([earlier, *errors] if earlier else errors)
            self.client.set_tag(self.run_id, layout.LOGGING_ERROR, text[:5000])
        if self.journal.owned:
            self.client.set_terminated(self.run_id, op["status"], end_time=op.get("end_time"))


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:300] if text else ""
