"""What the session remembers between calls: data loaded and resampling done.

This is the package's one piece of module-level state, owned by the ``accu`` object
(``accu.session`` is ``SESSION``). ``get_file`` and ``modeler.imbalance`` write to it; the run
writer reads it when the next run is made, so a run says which data fed it and how it was
resampled.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DatasetRecord:
    """A file loaded with ``get_file``: logged as an MLflow dataset input of later runs."""

    name: str
    source: str  # URI without credentials, e.g. s3://bucket/key or file:///abs/path
    digest: str  # content digest (sha256 hex, truncated by the writer as MLflow requires)
    rows: int | None = None
    columns: tuple[str, ...] = ()


@dataclass
class SamplingRecord:
    """A resampling: method, parameters, class counts before and after.

    The run trained on its output records it in the tag ``modeler.sampling``.
    """

    method: str
    params: dict[str, Any]
    before: dict[str, int]
    after: dict[str, int]
    n_after: int
    consumed: bool = False
    refs: list[Any] = field(default_factory=list)  # weak references to the returned X / y / dataset
    labels: str | None = None  # label_digest of the returned labels

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "params": self.params,
            "before": self.before,
            "after": self.after,
        }


def _ref(obj: Any) -> Any:
    try:
        return weakref.ref(obj)
    except TypeError:  # lists and tuples take no weak reference
        return None


def label_digest(y: Any) -> str | None:
    """A digest of a label vector's values and order, or None for what is not one: a copy of
    resampled labels (``y_res.to_numpy()``, a list, ``.astype("float32")``) has the original's.

    >>> label_digest([0, 1, 1]) == label_digest((0, 1, 1)), label_digest(None)
    (True, None)
    """
    if y is None or isinstance(y, str | bytes) or not hasattr(y, "__len__"):
        return None
    import hashlib

    import numpy as np

    try:
        arr = np.asarray(y)
        if arr.dtype == object:
            arr = arr.astype(str)
        if arr.ndim == 0 or arr.dtype.kind not in "biufUS":
            return None
        if arr.dtype.kind in "biuf":  # y_res.astype("float32") for Keras is the same labels
            arr = arr.astype(np.float64)
        head = f"{arr.dtype.kind}{arr.dtype.itemsize}{arr.shape}".encode()
        return hashlib.blake2b(
            head + np.ascontiguousarray(arr).tobytes(), digest_size=16
        ).hexdigest()
    except Exception:  # a tensor or a frame numpy cannot read: matched by identity only
        return None


def _same_outputs(record: SamplingRecord, outputs: tuple[Any, ...]) -> bool:
    targets = [r() for r in record.refs]
    return any(t is not None and t is o for t in targets for o in outputs)


class Session:
    """Remembers datasets and samplings for the next runs."""

    def __init__(self) -> None:
        self.datasets: list[DatasetRecord] = []
        self.samplings: list[SamplingRecord] = []
        # (tracking URI, experiment name) -> experiment id
        self.experiment_ids: dict[tuple[str, str], str] = {}
        # the background uploader of this process, made by modeler.tracking on first use
        self.uploader: Any = None

    def record_dataset(self, record: DatasetRecord) -> None:
        """Replace any record of the same source; every later run logs these as inputs."""
        self.datasets = [d for d in self.datasets if d.source != record.source] + [record]

    def record_sampling(self, record: SamplingRecord, *outputs: Any, labels: Any = None) -> None:
        """Remember a resampling, the objects it returned and its ``labels`` (the returned y)."""
        record.refs = [r for r in (_ref(o) for o in outputs if o is not None) if r is not None]
        record.labels = label_digest(labels)
        # a wrapper (modeler.imbalance) and the sampler it calls may both record the same output
        kept = [s for s in self.samplings if not s.consumed and not _same_outputs(s, outputs)]
        self.samplings = [*kept[-9:], record]

    def sampling_for(self, *inputs: Any, labels: Any = None) -> SamplingRecord | None:
        """The sampling that produced one of ``inputs`` (the objects passed to ``fit``).

        Matched by identity first; failing that, by ``labels`` (the y passed to ``fit``): the
        newest unconsumed record that returned the same labels in the same order (a copy of the
        resampled data, e.g. ``X_res.values``). Row counts alone never match: up-sampling by
        hand, RandomOverSampler and SMOTE all return twice the majority class.
        """
        for record in reversed(self.samplings):
            for ref in record.refs:
                target = ref()
                if target is not None and any(target is i for i in inputs if i is not None):
                    record.consumed = True
                    return record
        digest = label_digest(labels) if self.samplings else None
        if digest is not None:
            for record in reversed(self.samplings):
                if not record.consumed and record.labels == digest:
                    record.consumed = True
                    return record
        return None

    def clear(self) -> None:
        self.datasets.clear()
        self.samplings.clear()
        if self.uploader is not None:
            self.uploader.reset()
        self.experiment_ids.clear()


SESSION = Session()
