"""The evidence of an evaluation, ``eval/scores.parquet``: labels, scores and per-row costs.

Everything an evaluation reports (metrics, intervals, the decision threshold, a paired
comparison with another run on the same rows) can be recomputed from this table, without the
model::

    >>> table = scores_table(y_val, scores, costs)               # doctest: +SKIP
    >>> data = read_scores(scores_parquet(table))                 # doctest: +SKIP
    >>> data.labels, data.scores, data.costs, data.weights        # doctest: +SKIP

Bounded size: up to ``CAP`` rows (100,000) every row is kept with weight 1. Above it, every
positive is kept and a uniform sample of ``CAP - positives`` negatives, each with weight
``negatives / sampled``, so weighted sums estimate the full data's (if the positives alone
exceed half the cap, they are sampled too, to ``CAP // 2``). The sample is drawn with a fixed
seed from the labels alone: two runs evaluated on the same rows keep the same rows, and the
``row`` column (the row's index in the validation data) says which.

Columns: ``row`` (int32), ``label`` (int8), ``score``, ``weight`` and, with costs, ``fn`` and
``tp`` (float32: about 7 significant digits). The false-alarm cost and the counts of the full
data are in the file's metadata (key ``modeler``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.cost import Costs

CAP = 100_000
SCHEMA = 1
_SEED = 0
_META_KEY = b"modeler"


def labels_digest(labels: Any) -> str:
    """A digest of the labels in order: equal for evaluations on the same validation rows.

    >>> labels_digest([0, 1, 1])[:12]
    'ca331159b911'
    """
    y = np.ascontiguousarray(np.asarray(labels).astype(np.int8).ravel())
    return hashlib.sha256(len(y).to_bytes(8, "little") + y.tobytes()).hexdigest()


def _sample(rng: np.random.Generator, idx: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    if k >= len(idx):
        return idx, 1.0
    return np.sort(rng.choice(idx, size=k, replace=False)), len(idx) / k


def scores_table(labels: Any, scores: Any, costs: Costs | None = None, *, cap: int = CAP) -> Any:
    """A pandas DataFrame of the evaluation's rows, bounded to ``cap`` rows (see module doc).

    ``labels`` are 0/1, ``scores`` the positive class's scores, ``costs`` a parsed ``Costs``
    (per-row ``fn`` / ``tp`` or numbers) or None. The metadata is in ``table.attrs``.

    >>> scores_table([0, 1, 0], [0.2, 0.9, 0.4]).columns.tolist()
    ['row', 'label', 'score', 'weight']

    Raises:
        OptionError: ``cap`` is not an int >= 2.
        EvaluationError: labels and scores differ in length.
    """
    import pandas as pd

    from modeler.evaluation.metrics import as_binary_scores, check_binary_labels

    if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < 2:
        raise OptionError(f"cap must be an int >= 2 (rows kept in scores.parquet); got {cap!r}")
    y = check_binary_labels(labels)
    s = as_binary_scores(scores)
    if len(y) != len(s):
        raise EvaluationError(f"labels and scores differ in length: {len(y)} and {len(s)}")
    n = len(y)
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(_SEED)
    if n <= cap:
        keep_pos, w_pos, keep_neg, w_neg = pos_idx, 1.0, neg_idx, 1.0
    else:
        keep_pos, w_pos = _sample(rng, pos_idx, min(len(pos_idx), cap // 2))
        keep_neg, w_neg = _sample(rng, neg_idx, cap - len(keep_pos))
    rows = np.sort(np.concatenate((keep_pos, keep_neg)))
    weight = np.where(y[rows] == 1, w_pos, w_neg)
    frame = pd.DataFrame(
        {
            "row": rows.astype(np.int32),
            "label": y[rows].astype(np.int8),
            "score": s[rows].astype(np.float32),
            "weight": weight.astype(np.float32),
        }
    )
    meta: dict[str, Any] = {
        "schema": SCHEMA,
        "n": n,
        "positives": len(pos_idx),
        "cap": int(cap),
        "sampled": bool(n > cap),
        "labels_digest": labels_digest(y),
        "fp": None,
    }
    if costs is not None:
        for key, value in (("fn", costs.fn), ("tp", costs.tp_gain)):
            arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
            frame[key] = (arr[rows] * y[rows]).astype(np.float32)  # only positives carry them
        meta["fp"] = float(costs.fp)
    frame.attrs["modeler"] = meta
    return frame


def scores_parquet(table: Any) -> bytes:
    """The bytes of ``eval/scores.parquet`` (zstd-compressed) for a ``scores_table`` frame.

    >>> scores_parquet(scores_table([0, 1], [0.2, 0.9]))[:4]
    b'PAR1'
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta.pop(b"pandas", None)  # the column types say it all; keeps attrs out of the file twice
    meta[_META_KEY] = json.dumps(table.attrs.get("modeler", {})).encode()
    arrow = arrow.replace_schema_metadata(meta)
    sink = io.BytesIO()
    pq.write_table(arrow, sink, compression="zstd")
    return sink.getvalue()


@dataclass(frozen=True)
class Scores:
    """What ``read_scores`` gives back."""

    labels: np.ndarray  # int64 0/1
    scores: np.ndarray  # float64
    costs: Costs | None  # per-row fn / tp gain (float64), fp; None when none were logged
    weights: np.ndarray  # sampling weight of each row (1.0 when every row was kept)
    rows: np.ndarray  # each row's index in the validation data
    meta: dict[str, Any]  # n, positives, cap, sampled, labels_digest, fp


def _numbers(column: Any) -> np.ndarray:
    """A column of fixed-width numbers without nulls, read from its buffer.

    pyarrow's ``to_numpy`` imports pandas for its conversions, even for such a column; the
    buffer holds exactly these values, so a view of it is the same array.
    """
    import pyarrow as pa

    array = column.combine_chunks()
    kind = (
        "f" if pa.types.is_floating(array.type)
        else "i" if pa.types.is_signed_integer(array.type)
        else "u" if pa.types.is_unsigned_integer(array.type)
        else None
    )  # fmt: skip
    if kind is None or array.null_count:
        return np.asarray(array.to_numpy(zero_copy_only=False))
    dtype = np.dtype(f"{kind}{array.type.bit_width // 8}")
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def read_scores(source: str | os.PathLike | bytes) -> Scores:
    """Read ``eval/scores.parquet`` from a path or its bytes.

    >>> read_scores("eval/scores.parquet").weights              # doctest: +SKIP

    Raises:
        EvaluationError: not a parquet file, or one without the columns and metadata above.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = "<bytes>" if isinstance(source, bytes | bytearray) else os.fspath(source)
    try:
        handle = pa.BufferReader(source) if isinstance(source, bytes | bytearray) else name
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports
        # pandas (0.6-0.9 s in a fresh process, and `modeler compare` needs none)
        table = pq.ParquetFile(handle).read()
    except (OSError, pa.ArrowException) as exc:
        raise EvaluationError(f"{name}: cannot read a scores.parquet table: {exc}") from exc
    meta_raw = (table.schema.metadata or {}).get(_META_KEY)
    missing = [c for c in ("row", "label", "score", "weight") if c not in table.column_names]
    if meta_raw is None or missing:
        raise EvaluationError(
            f"{name}: not a modeler scores table: expected columns row, label, score, weight "
            f"and metadata key 'modeler'; missing {missing or ['metadata']}"
        )
    meta = json.loads(meta_raw)

    def col(key: str) -> np.ndarray:
        return _numbers(table.column(key)).astype(np.float64)

    costs = None
    if meta.get("fp") is not None and "fn" in table.column_names:
        tp = col("tp") if "tp" in table.column_names else np.zeros(table.num_rows)
        costs = Costs(fn=col("fn"), fp=float(meta["fp"]), tp_gain=tp)
    return Scores(
        labels=_numbers(table.column("label")).astype(np.int64),
        scores=col("score"),
        costs=costs,
        weights=col("weight"),
        rows=_numbers(table.column("row")).astype(np.int64),
        meta=meta,
    )


def on_score_grid(scores: np.ndarray | None, t: float | None) -> float | None:
    """A threshold as the stored scores see it.

    ``scores.parquet`` keeps scores as float32. A threshold that is a row's own float64 score
    (the decision threshold is one) would leave that row out once its score is rounded down,
    so the threshold is rounded the same way. Rows whose float64 scores round to the same
    float32 as the threshold are then flagged with it: the only difference from the run's own
    figures, and a rare one.

    >>> on_score_grid(np.array([0.25, 0.5], dtype=np.float32).astype(float), 0.1 + 0.2) < 0.3
    False
    """
    if t is None or scores is None or not math.isfinite(t):
        return t
    if not np.array_equal(scores.astype(np.float32).astype(np.float64), scores):
        return t  # scores kept at full precision: nothing to round
    return float(np.float32(t))
