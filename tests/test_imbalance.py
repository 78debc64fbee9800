"""modeler.imbalance: resampling, class weights, output bias, the balanced tf.data stream."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from modeler.errors import OptionError, SamplingError
from modeler.imbalance import METHODS, balanced_dataset, class_weights, initial_bias, resample
from modeler.state import SESSION


def _data(n_neg: int = 40, n_pos: int = 10, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": np.r_[rng.normal(0, 1, n_neg), rng.normal(3, 1, n_pos)],
            "b": np.r_[rng.normal(0, 1, n_neg), rng.normal(3, 1, n_pos)],
        }
    )
    y = pd.Series([0] * n_neg + [1] * n_pos, name="isFraud")
    return X, y


@pytest.mark.parametrize("method", METHODS)
def test_resample_every_method_records_the_call(method):
    X, y = _data()
    X_res, y_res = resample(X, y, method=method, random_state=0)

    assert isinstance(X_res, pd.DataFrame) and list(X_res.columns) == ["a", "b"]
    assert isinstance(y_res, pd.Series) and len(X_res) == len(y_res)
    record = SESSION.sampling_for(X_res)
    assert record is not None and record.method == method
    assert record.before == {"0": 40, "1": 10}
    assert record.after == {str(k): int(v) for k, v in y_res.value_counts().items()}
    assert record.n_after == len(y_res)
    assert record.params["random_state"] == 0 and record.params["sampling_strategy"] == "auto"
    json.dumps(record.as_json())  # the run writer puts it in a tag as JSON


def test_down_and_up_give_the_expected_counts():
    X, y = _data()
    _, y_down = resample(X, y, "down", random_state=0)
    _, y_up = resample(X, y, "up", random_state=0)
    _, y_half = resample(X, y, "down", sampling_strategy=0.5, random_state=0)
    assert y_down.value_counts().to_dict() == {0: 10, 1: 10}
    assert y_up.value_counts().to_dict() == {0: 40, 1: 40}
    assert y_half.value_counts().to_dict() == {0: 20, 1: 10}


def test_smote_creates_new_points_and_records_extra_params():
    X, y = _data()
    X_res, y_res = resample(X, y, "smote", k_neighbors=3, random_state=0)
    new = X_res[y_res == 1].merge(X[y == 1], how="left", indicator=True)
    assert (y_res == 1).sum() == 40
    assert (new["_merge"] == "left_only").sum() == 30  # synthetic, not copies
    assert SESSION.sampling_for(y_res).params["k_neighbors"] == 3


def test_numpy_in_numpy_out():
    X, y = _data()
    X_res, _ = resample(X.to_numpy(), y.to_numpy(), "up", random_state=0)
    assert isinstance(X_res, np.ndarray) and X_res.shape == (80, 2)
    assert SESSION.sampling_for(X_res).after == {"0": 40, "1": 40}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "magic"}, r"method must be one of 'down', 'up', 'smote'.*got 'magic'"),
        (
            {"method": "down", "sampling_strategy": 0.1},
            r"greater or equal to the current.*10/40 = 0\.25 and 0\.1 is asked",
        ),
        (
            {"method": "up", "sampling_strategy": 0.1},
            r"over-sampling.*10/40 = 0\.25 and 0\.1 is asked",
        ),
        ({"method": "up", "sampling_strategy": 2.0}, r"should be in \(0, 1\]\. Got 2\.0"),
        (
            {"method": "down", "sampling_strategy": {0: 50, 1: 10}},
            r"cannot be carried out.*there is 40 samples and 50 samples are asked",
        ),
        (
            {"method": "smote", "k_neighbors": 10},
            r"at least k_neighbors \+ 1 = 11 samples\. Class 1 has 10",
        ),
    ],
)
def test_resample_errors(kwargs, match):
    X, y = _data()
    with pytest.raises(SamplingError, match=match):
        resample(X, y, **kwargs)
    assert SESSION.samplings == []


def test_single_class_is_refused_everywhere():
    X, y = _data()
    only = y[y == 0]
    with pytest.raises(SamplingError, match=r"y has only one class \(0\): resampling needs"):
        resample(X[y == 0], only)
    with pytest.raises(SamplingError, match="only one class"):
        class_weights(only)
    with pytest.raises(SamplingError, match="both classes must be present; got 0 positives"):
        initial_bias(only)


@pytest.mark.parametrize("method", ["smote", "smote-tomek", "adasyn", "near-miss"])
def test_non_numeric_features_are_named(method):
    X, y = _data()
    X = X.assign(type=["TRANSFER", "CASH_OUT"] * 25)
    hint = "SMOTENC" if method != "near-miss" else "encode them first"
    with pytest.raises(SamplingError, match=rf"non-numeric columns: 'type'.*{hint}"):
        resample(X, y, method, random_state=0)


def test_unknown_parameter_is_an_option_error():
    X, y = _data()
    with pytest.raises(OptionError, match=r"RandomUnderSampler .* got 'k_neighbors'"):
        resample(X, y, "down", k_neighbors=3)


def test_class_weights_follow_the_tutorial():
    y = np.array([0] * 8 + [1] * 2)
    # total / 2 / n_c: 10/2/8 and 10/2/2
    assert class_weights(y) == {0: 0.625, 1: 2.5}
    assert class_weights(pd.Series([0.0, 0.0, 1.0])) == {0: 0.75, 1: 1.5}
    three = class_weights([0, 0, 0, 1, 1, 2])  # total / (k * n_c)
    assert three == pytest.approx({0: 6 / 9, 1: 1.0, 2: 2.0})


def test_initial_bias_is_log_pos_over_neg():
    assert initial_bias([0] * 8 + [1] * 2) == pytest.approx(math.log(2 / 8))
    assert initial_bias(pd.Series([False, True, False])) == pytest.approx(math.log(0.5))
    with pytest.raises(SamplingError, match=r"binary labels 0 and 1.*got 2"):
        initial_bias([0, 1, 2])


def test_balanced_dataset_is_half_positive():
    pytest.importorskip("tensorflow")
    X, y = _data(n_neg=300, n_pos=20)
    ds, steps = balanced_dataset(X, y, batch_size=64, random_state=0)

    assert steps == math.ceil(2 * 300 / 64) == 10
    labels = np.concatenate([batch_y.numpy() for _, batch_y in ds.take(8)])
    assert len(labels) == 8 * 64
    assert 0.4 < labels.mean() < 0.6
    record = SESSION.sampling_for(ds)
    assert record.method == "balanced_dataset"
    assert record.params["weights"] == [0.5, 0.5] and record.params["batch_size"] == 64
    assert record.before == {"0": 300, "1": 20}
    assert record.after == {"0": 320, "1": 320} and record.n_after == 640
    with pytest.raises(SamplingError, match="only one class"):
        balanced_dataset(X[y == 0], y[y == 0])
