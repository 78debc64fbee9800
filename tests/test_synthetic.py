"""modeler.data.synthetic: PaySim-like and credit-card-like frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modeler.data.synthetic import (
    CREDITCARD_COLUMNS,
    PAYSIM_COLUMNS,
    make_creditcard_like,
    make_paysim,
)
from modeler.errors import OptionError


@pytest.fixture(scope="module")
def paysim() -> pd.DataFrame:
    return make_paysim(20_000, fraud_rate=0.01, random_state=0)


def test_paysim_schema(paysim):
    assert tuple(paysim.columns) == PAYSIM_COLUMNS
    assert len(paysim) == 20_000
    assert set(paysim["type"]) == {"PAYMENT", "TRANSFER", "CASH_OUT", "DEBIT", "CASH_IN"}
    assert paysim["step"].between(1, 743).all()
    assert paysim["nameOrig"].str.fullmatch(r"C\d{9,10}").all()
    assert paysim["nameDest"].str.fullmatch(r"[CM]\d{9,10}").all()
    for column in ("isFraud", "isFlaggedFraud", "step"):
        assert paysim[column].dtype == np.int64
    shares = paysim["type"].value_counts(normalize=True)
    assert shares["CASH_OUT"] == pytest.approx(0.35, abs=0.02)
    assert shares["DEBIT"] == pytest.approx(0.01, abs=0.005)


def test_paysim_mechanics(paysim):
    fraud = paysim[paysim["isFraud"] == 1]
    assert set(fraud["type"]) == {"TRANSFER", "CASH_OUT"}
    assert (fraud["amount"] == fraud["oldbalanceOrg"]).all()
    assert (fraud["newbalanceOrig"] == 0).all()

    merchant = paysim["nameDest"].str.startswith("M")
    assert (paysim.loc[merchant, "type"] == "PAYMENT").all()
    assert (paysim.loc[paysim["type"] == "PAYMENT", "nameDest"].str.startswith("M")).all()
    assert (paysim.loc[merchant, ["oldbalanceDest", "newbalanceDest"]] == 0).all().all()

    flagged = (fraud["type"] == "TRANSFER") & (fraud["amount"] > 200_000)
    assert (paysim["isFlaggedFraud"] == 1).sum() == flagged.sum() > 0
    # Not separable by the "emptied account" rule alone: some legit rows do it too.
    legit = paysim[paysim["isFraud"] == 0]
    emptied = (legit["amount"] == legit["oldbalanceOrg"]) & (legit["newbalanceOrig"] == 0)
    assert emptied.any()
    assert fraud["amount"].median() > legit["amount"].median()


def test_paysim_rate_and_determinism():
    df = make_paysim(5_000, fraud_rate=0.0013, random_state=3)
    assert df["isFraud"].mean() == pytest.approx(0.0013, abs=0.0005)
    pd.testing.assert_frame_equal(df, make_paysim(5_000, fraud_rate=0.0013, random_state=3))
    assert not df.equals(make_paysim(5_000, fraud_rate=0.0013, random_state=4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, r"n must be an integer >= 1; got 0"),
        ({"n": 10, "fraud_rate": 0}, r"fraud_rate must be a number in \(0, 1\); got 0"),
        ({"n": 10, "fraud_rate": 1.5}, r"fraud_rate .* got 1\.5"),
    ],
)
def test_paysim_options(kwargs, match):
    with pytest.raises(OptionError, match=match):
        make_paysim(**kwargs)


def test_creditcard_like_shape_rate_and_signal():
    df = make_creditcard_like(20_000, positive_rate=0.005, random_state=0)
    assert tuple(df.columns) == CREDITCARD_COLUMNS and df.shape == (20_000, 31)
    assert df.drop(columns=["Time", "Class"]).shape[1] == 29
    assert df["Class"].sum() == 100 and df["Time"].is_monotonic_increasing
    pd.testing.assert_frame_equal(df, make_creditcard_like(20_000, 0.005, random_state=0))

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    X, y = df.drop(columns=["Time", "Class", "Amount"]), df["Class"]
    scores = LogisticRegression(max_iter=500).fit(X[::2], y[::2]).predict_proba(X[1::2])[:, 1]
    pr_auc = average_precision_score(y[1::2], scores)
    assert 0.1 < pr_auc < 0.98  # far above the base rate (0.005), well below 1
    with pytest.raises(OptionError, match="positive_rate"):
        make_creditcard_like(10, positive_rate=1.0)
