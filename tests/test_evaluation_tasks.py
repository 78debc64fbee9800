"""Task resolution: which evaluation raw outputs call for, and problems named, not raised."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.special import expit

from modeler.errors import EvaluationError
from modeler.evaluation.tasks import resolve_task


def test_probabilities_softmax_and_logits():
    r = resolve_task([0, 1, 1], [0.2, 0.9, 0.6])
    assert (r.task, r.transform, r.problem) == ("binary", "none", None)
    r = resolve_task([0, 1], [[0.8, 0.2], [0.3, 0.7]])
    assert r.task == "binary" and r.scores.tolist() == [0.2, 0.7]
    logits = np.array([[-2.0], [3.1], [0.4]])
    r = resolve_task(np.array([[0], [1], [1]]), logits)
    assert (r.task, r.transform) == ("binary", "sigmoid")
    np.testing.assert_allclose(r.scores, expit(logits[:, 0]))
    r = resolve_task([[1, 0], [0, 1]], [0.1, 0.8])  # one-hot labels against one score
    assert r.task == "binary" and r.labels.tolist() == [0, 1]


def test_multiclass_and_regression():
    proba = np.full((4, 3), 1 / 3)
    assert resolve_task([0, 2, 1, 2], proba).task == "multiclass"
    assert resolve_task([1.5, 2.25, 3.0], [1.4, 2.0, 3.3]).task == "regression"
    # Integer targets with predictions outside [0, 1]: a regression of counts.
    assert resolve_task([0, 3, 7, 12], [0.4, 2.9, 7.5, 11.0]).task == "regression"


@pytest.mark.parametrize(
    ("labels", "outputs", "match"),
    [
        (
            [0, 1, 2, 1],
            [0.1, 0.5, 0.9, 0.4],
            r"labels hold 3 classes \[0, 1, 2\] but the model "
            r"gives one score per row in \[0, 1\] \(a sigmoid\)",
        ),
        ([1, 2, 1], [0.2, 0.3, 0.4], r"labels hold 2 classes \[1, 2\]"),
        ([-1, 1, 1], [-0.3, 2.0, 4.0], r"labels hold 2 classes \[-1, 1\]"),
        (
            [0, 1, 2],
            [[0.2, 0.8], [0.3, 0.7], [0.1, 0.9]],
            r"got values \[0, 1, 2\] for a "
            r"binary model's scores",
        ),
        (
            [0, 3, 1],
            [[0.2, 0.7, 0.1]] * 3,
            r"labels hold classes \[0, 1, 3\] but the model "
            r"has 3 outputs: expected class indices 0..2",
        ),
        (
            ["ok", "fraud", "ok"],
            [0.1, 0.9, 0.2],
            r"labels are text \['fraud', 'ok'\]: metrics need numbers, 0/1 for a binary model",
        ),
    ],
)
def test_labels_that_do_not_fit_the_outputs_are_named(labels, outputs, match):
    r = resolve_task(labels, outputs)
    assert r.task == "unsupported"
    assert r.problem_tag == "modeler.task_mismatch"
    assert r.problem is not None

    assert re.search(match, r.problem), r.problem
    assert r.problem.endswith("no metrics, only counts")


def test_non_finite_outputs_are_named():
    r = resolve_task([0, 1, 0], [0.2, np.nan, np.inf])
    assert r.problem_tag == "modeler.scores_invalid"
    assert r.problem.startswith(
        "2 of 3 model outputs are NaN or infinite (the first at flat index 1"
    )


@pytest.mark.parametrize(
    ("labels", "outputs", "match"),
    [
        ([], [], "validation data is empty"),
        ([0, 1, 1], [0.2, 0.4], "model outputs have 2 rows but the labels have 3"),
        ([0, 1], ["a", "b"], "model outputs must be numbers"),
        (
            [0, 1],
            np.zeros((2, 2, 2)),
            r"shape \(n,\) or \(n, k\); got dtype float64, shape \(2, 2, 2\)",
        ),
    ],
)
def test_nothing_to_evaluate_raises(labels, outputs, match):
    with pytest.raises(EvaluationError, match=match):
        resolve_task(labels, outputs)


def test_a_classifiers_outputs_against_labels_that_are_no_class():
    """0.9 is a regression target for a regressor, but not a label of a 0/1 classifier."""
    assert resolve_task([0.0, 0.9, 0.9], [0.1, 0.8, 0.7]).task == "regression"
    r = resolve_task([0.0, 0.9, 0.9], [0.1, 0.8, 0.7], classes=["0", "1"])
    assert r.task == "unsupported" and r.problem_tag == "modeler.task_mismatch"
    assert r.problem is not None and r.problem.startswith(
        "labels hold values [0.0, 0.9] but the model is a classifier of classes ['0', '1']"
    )


def test_labels_held_as_python_objects_are_the_numbers_they_hold():
    labels = np.array([0, 1, 1, 0], dtype=object)
    r = resolve_task(labels, [0.2, 0.7, 0.6, 0.1])
    assert r.task == "binary" and r.labels.tolist() == [0, 1, 1, 0]
