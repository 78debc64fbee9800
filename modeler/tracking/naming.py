"""Run names readable in MLflow's runs table at its default width.

``<nickname>-<model type>-<sampling>-<suffix>``, leaving out what is not there, e.g.
``keras-smote-7F3A9C`` or ``v2-RandomForest-down-0B12EE``. The suffix is the start of the run's
journal id, which stays whole in the tag ``modeler.journal_id``.

>>> run_name("RandomForestClassifier", "0b12ee9f" * 4, sampling="RandomUnderSampler")
'RandomForest-down-0B12EE'
>>> run_name("keras", "7f3a9c00" * 4, nickname="v2")
'v2-keras-7F3A9C'
"""

from __future__ import annotations

import re

SUFFIX_LENGTH = 6

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
    """``RandomForestClassifier`` -> ``RandomForest``; other names unchanged."""
    short = re.sub(r"(Classifier|Regressor)$", "", model_type)
    return short or model_type


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
