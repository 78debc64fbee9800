"""modeler.data.paysim.prepare: the lab's pipeline on generated data and on a CSV round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modeler.data.paysim import FEATURES, Split, prepare
from modeler.data.synthetic import make_paysim
from modeler.errors import DataError, OptionError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_paysim(6_000, fraud_rate=0.01, random_state=1)


def _check(split: Split, n_fraud_max: int) -> None:
    parts = [
        (split.X_train, split.y_train),
        (split.X_val, split.y_val),
        (split.X_test, split.y_test),
    ]
    for X, y in parts:
        assert list(X.columns) == split.feature_names == list(FEATURES)
        assert set(X["type"]) <= {0, 1} and y.dtype == np.int64
        assert set(y) == {0, 1}  # both classes in every part
        assert not {"nameOrig", "nameDest", "isFlaggedFraud"} & set(X.columns)
    rates = [y.mean() for _, y in parts]
    assert max(rates) - min(rates) < 0.01  # stratified
    assert sum(len(y) for _, y in parts) == split.summary["rows_kept"]
    assert sum(int(y.sum()) for _, y in parts) == split.summary["frauds_kept"] <= n_fraud_max


def test_prepare_generated_data(frame):
    split = prepare(frame, random_state=0)
    _check(split, n_fraud_max=60)
    kept = frame["type"].isin(["TRANSFER", "CASH_OUT"])
    assert split.summary["dropped_other_types"] == (~kept).sum()
    assert split.summary["frauds_kept"] == 60  # frauds are never outliers
    assert 0 < split.summary["dropped_outliers"] <= 0.01 * kept.sum() + 1
    assert len(split.y_test) == pytest.approx(0.2 * split.summary["rows_kept"], abs=1)


def test_prepare_csv_round_trip_with_float_labels_and_empty_rows(frame, tmp_path):
    written = frame.astype({"isFraud": float})  # the real CSV may say 0.0 / 1.0
    written.loc[3, "amount"] = np.nan
    written.loc[5, "type"] = "  "
    path = tmp_path / "paysim.csv"
    written.to_csv(path)  # with its index: read back as "Unnamed: 0", ignored
    with path.open("a") as f:
        f.write(",,,,,,,,,,,\n")  # an empty row
    df = pd.read_csv(path)
    assert df["isFraud"].dtype == float

    split = prepare(df, random_state=0)
    _check(split, n_fraud_max=60)
    assert split.summary["rows_in"] == len(frame) + 1
    dropped = {i for i in (3, 5) if frame.loc[i, "type"] in ("TRANSFER", "CASH_OUT")}
    assert split.summary["dropped_missing"] == 1 + 2
    kept = set(split.X_train.index) | set(split.X_val.index) | set(split.X_test.index)
    assert not dropped & kept


def test_prepare_accepts_string_labels(frame):
    df = frame.astype({"isFraud": str}).replace({"isFraud": {"1": "True", "0": "False"}})
    assert prepare(df, outlier_quantile=None).summary["frauds_kept"] == 60


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda d: d.drop(columns=["amount", "type"]), DataError, "missing: type, amount"),
        (lambda d: d[d["isFraud"] == 0], DataError, "no fraud rows"),
        (lambda d: d.assign(isFraud=d["isFraud"] * 2), DataError, "isFraud must be 0 or 1"),
        (
            lambda d: d.drop(index=d.index[d["isFraud"] == 1][2:]),
            DataError,
            r"needs both classes.*2 frauds",
        ),
    ],
)
def test_prepare_data_errors(frame, change, error, match):
    with pytest.raises(error, match=match):
        prepare(change(frame))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_size": 0}, r"test_size must be a fraction in \(0, 1\); got 0"),
        ({"test_size": 0.5, "val_size": 0.5}, "sum < 1"),
        ({"outlier_quantile": 1.5}, r"outlier_quantile must be in \(0, 1\]"),
    ],
)
def test_prepare_option_errors(frame, kwargs, match):
    with pytest.raises(OptionError, match=match):
        prepare(frame, **kwargs)
