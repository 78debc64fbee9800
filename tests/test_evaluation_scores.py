"""eval/scores.parquet: bounded, weighted, read back as it was written."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeler.errors import EvaluationError, OptionError
from modeler.evaluation.cost import Costs, cost_at
from modeler.evaluation.scores import labels_digest, read_scores, scores_parquet, scores_table


def _data(n, rate=0.01, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    return y, rng.random(n), rng.lognormal(3, 1, n)


def test_small_data_keeps_every_row_and_reads_back(tmp_path):
    y, s, amounts = _data(500)
    costs = Costs(fn=amounts, fp=5.0, tp_gain=1.5)
    table = scores_table(y, s, costs)
    assert len(table) == 500 and (table["weight"] == 1.0).all()
    assert table["score"].dtype == np.float32 and table["label"].dtype == np.int8
    path = tmp_path / "scores.parquet"
    path.write_bytes(scores_parquet(table))
    back = read_scores(path)
    assert back.labels.tolist() == y.tolist()
    np.testing.assert_array_equal(back.scores, s.astype(np.float32))
    assert back.costs is not None and back.costs.fp == 5.0
    np.testing.assert_allclose(back.costs.fn, (amounts * y).astype(np.float32))
    np.testing.assert_allclose(back.costs.tp_gain, 1.5 * y)
    assert back.meta["n"] == 500 and back.meta["sampled"] is False
    assert back.meta["labels_digest"] == labels_digest(y)
    # Recomputed from the file, the cost equals the original up to float32 rounding.
    assert cost_at(back.labels, back.scores, back.costs, 0.5) == pytest.approx(
        cost_at(y, s.astype(np.float32), costs, 0.5), rel=1e-6
    )


def test_large_data_keeps_every_positive_and_weighs_sampled_negatives():
    y, s, _ = _data(30_000, rate=0.01, seed=1)
    table = scores_table(y, s, cap=5000)
    positives = int(y.sum())
    assert len(table) == 5000
    assert int(table["label"].sum()) == positives
    neg = table[table["label"] == 0]
    assert neg["weight"].sum() == pytest.approx((y == 0).sum(), rel=1e-6)
    assert (table.loc[table["label"] == 1, "weight"] == 1.0).all()
    rows = table["row"].to_numpy()
    assert (np.diff(rows) > 0).all()  # original order, no repeats
    np.testing.assert_array_equal(table["score"], s[rows].astype(np.float32))
    # The sample depends on the labels only: another model on the same rows keeps the same rows.
    other = scores_table(y, np.random.default_rng(9).random(len(y)), cap=5000)
    np.testing.assert_array_equal(other["row"], rows)
    assert table.attrs["modeler"]["sampled"] is True


def test_positives_over_half_the_cap_are_sampled_too():
    y = np.r_[np.ones(900, int), np.zeros(300, int)]
    table = scores_table(y, np.linspace(0, 1, 1200), cap=400)
    assert len(table) == 400 and int(table["label"].sum()) == 200
    assert table.loc[table["label"] == 1, "weight"].iloc[0] == pytest.approx(4.5)
    assert table.loc[table["label"] == 0, "weight"].iloc[0] == pytest.approx(1.5)


def test_errors(tmp_path):
    with pytest.raises(OptionError, match="cap must be an int >= 2"):
        scores_table([0, 1], [0.1, 0.2], cap=1)
    with pytest.raises(EvaluationError, match="labels and scores differ in length: 2 and 3"):
        scores_table([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(EvaluationError, match=r"<bytes>: cannot read a scores\.parquet table"):
        read_scores(b"not parquet")
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"score": [0.1]}), plain)
    with pytest.raises(EvaluationError, match=r"plain.parquet: not a modeler scores table"):
        read_scores(plain)
