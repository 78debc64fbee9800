"""Run names readable in MLflow's runs table at its default width.

``<nickname>-<model type>-<sampling>-<suffix>``, leaving out what is not there, e.g.
``keras-smote-7F3A`` or ``v2-RF-down-0B12``: MLflow's runs table shows about 18 characters of a
name at its default width. Model types are shortened (``LogReg``, ``RF``, initials of long
names); the suffix is the start of the run's journal id, which stays whole in the tag
``modeler.journal_id``, and the model type whole in ``modeler.model_type``.

>>> run_name("RandomForestClassifier", "0b12ee9f" * 4, sampling="RandomUnderSampler")
'RF-down-0B12'
>>> run_name("keras", "7f3a9c00" * 4, nickname="v2")
'v2-keras-7F3A'
"""

from __future__ import annotations

import re

SUFFIX_LENGTH = 4
LONGEST_TYPE = 12  # longer model types are shortened to their initials

# usual estimators, by the names people use for them
_TYPES = {
    "LogisticRegression": "LogReg",
    "LogisticRegressionCV": "LogRegCV",
    "RandomForest": "RF",
    "BalancedRandomForest": "BalancedRF",
    "GradientBoosting": "GBM",
    "HistGradientBoosting": "HGB",
    "DecisionTree": "Tree",
    "KNeighbors": "KNN",
    "XGB": "XGB",
    "LGBM": "LGBM",
    "CatBoost": "CatBoost",
}

# sampler class (or modeler.imbalance method) -> the word used in run names
_SAMPLING = {
    "RandomUnderSampler": "down",
    "RandomOverSampler": "up",
    "SMOTE": "smote",
    "SMOTETomek": "smote-tomek",
    "SMOTEENN": "smote-enn",
    "ADASYN": "adasyn",
    "TomekLinks": "tomek",
    "NearMiss": "near-miss",
    "balanced_dataset": "balanced",
    "class_weight": "cw",
}


def short_type(model_type: str) -> str:
    """``RandomForestClassifier`` -> ``RF``; long names -> their initials; short ones kept.

    >>> short_type("LogisticRegression"), short_type("BalancedBaggingClassifier"), short_type("SVC")
    ('LogReg', 'BB', 'SVC')
    """
    short = re.sub(r"(Classifier|Regressor)$", "", model_type) or model_type
    short = _TYPES.get(short, short)
    if len(short) > LONGEST_TYPE:
        short = "".join(re.findall(r"[A-Z]", short)) or short[:LONGEST_TYPE]
    return short


def display_type(estimator: object) -> str:
    """What a run of ``estimator`` is named after: a pipeline's or a search's own estimator.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> display_type(make_pipeline(StandardScaler(), LogisticRegression()))
    'LogisticRegression'
    """
    inner = getattr(estimator, "steps", None)
    if inner:
        return display_type(inner[-1][1])
    for name in ("estimator", "base_estimator"):
        wrapped = getattr(estimator, name, None)
        if (
            wrapped is not None
            and hasattr(wrapped, "fit")
            and type(estimator).__name__.endswith("SearchCV")
        ):
            return display_type(wrapped)
    return type(estimator).__name__


def short_sampling(method: str) -> str:
    """``RandomUnderSampler`` -> ``down``; ``smote`` stays ``smote``."""
    return _SAMPLING.get(method, method.lower())


def run_name(
    model_type: str, journal_id: str, *, nickname: str | None = None, sampling: str | None = None
) -> str:
    parts = [nickname] if nickname else []
    parts.append(short_type(model_type))
    if sampling:
        parts.append(short_sampling(sampling))
    parts.append(journal_id[:SUFFIX_LENGTH].upper())
    return "-".join(parts)
