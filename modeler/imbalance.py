"""Class imbalance: resampling (imbalanced-learn), class weights, output bias, balanced tf.data.

Every resampling is remembered in ``modeler.state.SESSION`` together with the objects it
returned, so the next run whose ``fit`` receives them records the tag ``modeler.sampling``
(method, parameters, class counts before and after)::

    from modeler import imbalance

    X_res, y_res = imbalance.resample(X_train, y_train, method="smote", random_state=0)
    model.fit(X_res, y_res)          # this run is tagged modeler.sampling={"method": "smote", ...}

imbalanced-learn, scikit-learn and TensorFlow are imported inside the functions that use them,
so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modeler.errors import OptionError, SamplingError
from modeler.state import SESSION, SamplingRecord

# method name -> (imblearn module, class name, kind). "kind" decides which ratio rule applies.
_METHODS: dict[str, tuple[str, str, str]] = {
    "down": ("imblearn.under_sampling", "RandomUnderSampler", "under"),
    "up": ("imblearn.over_sampling", "RandomOverSampler", "over"),
    "smote": ("imblearn.over_sampling", "SMOTE", "over"),
    "smote-tomek": ("imblearn.combine", "SMOTETomek", "over"),
    "smote-enn": ("imblearn.combine", "SMOTEENN", "over"),
    "adasyn": ("imblearn.over_sampling", "ADASYN", "over"),
    "tomek": ("imblearn.under_sampling", "TomekLinks", "clean"),
    "near-miss": ("imblearn.under_sampling", "NearMiss", "under"),
}
_SMOTE_FAMILY = ("smote", "smote-tomek", "smote-enn", "adasyn")
# Nearest-neighbour methods compute distances, so every feature must be a number.
_NEEDS_NUMERIC = (*_SMOTE_FAMILY, "tomek", "near-miss")

METHODS: tuple[str, ...] = tuple(_METHODS)
"""The names ``resample`` accepts."""


# --- helpers -------------------------------------------------------------------------------
def _labels(y: Any) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:  # a one-column frame or an (n, 1) array
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise SamplingError(f"y must be one-dimensional (one label per row); got shape {arr.shape}")
    return arr


def _key(label: Any) -> Any:
    """A label as a plain Python value: 1.0 -> 1, np.int64(0) -> 0, 'a' -> 'a'."""
    value = label.item() if isinstance(label, np.generic) else label
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _class_counts(y: Any) -> dict[Any, int]:
    values, counts = np.unique(_labels(y), return_counts=True)
    return {_key(v): int(c) for v, c in zip(values, counts, strict=True)}


def _as_json_counts(counts: Mapping[Any, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in counts.items()}


def _require_two_classes(counts: Mapping[Any, int]) -> None:
    if len(counts) < 2:
        only = ", ".join(repr(k) for k in counts) or "none"
        raise SamplingError(f"y has only one class ({only}): resampling needs at least two")


def _jsonable(value: Any) -> Any:
    """Parameters as JSON values, so the run writer can put them in a tag unchanged."""
    if isinstance(value, Mapping):
        return {str(_key(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)  # an estimator or a callable: its repr is the most a tag can hold


def _non_numeric(X: Any) -> str | None:
    """Which features are not numbers, in words; None when all are."""
    if isinstance(X, pd.DataFrame):
        bad = [
            repr(str(c))
            for c, dtype in X.dtypes.items()
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
        ]
        return f"non-numeric columns: {', '.join(bad)}" if bad else None
    dtype = np.asarray(X).dtype
    return None if dtype.kind in "biuf" else f"X has dtype {dtype}"


# --- resample ------------------------------------------------------------------------------
def _check_numeric(X: Any, method: str) -> None:
    found = _non_numeric(X)
    if found is None:
        return
    if method in _SMOTE_FAMILY:
        rule = "interpolates between neighbours"
        hint = (
            "encode them (e.g. pandas.get_dummies or an OrdinalEncoder), or use "
            "imblearn.over_sampling.SMOTENC, which handles categorical columns"
        )
    else:
        rule = "measures distances between samples"
        hint = "encode them first (e.g. pandas.get_dummies or an OrdinalEncoder)"
    raise SamplingError(
        f"method {method!r} {rule}, so every feature must be numeric; {found}. To resample, {hint}."
    )


def _check_float_ratio(ratio: float, counts: Mapping[Any, int], method: str, kind: str) -> None:
    """A float strategy is the minority/majority ratio wanted after resampling (binary only)."""
    if kind == "clean":
        raise SamplingError(
            f"method {method!r} only removes ambiguous samples, so it takes no ratio: "
            "sampling_strategy must be 'auto', 'majority', 'not minority', 'not majority', "
            f"'all' or a list of classes. Got {ratio}."
        )
    if len(counts) != 2:
        return  # imbalanced-learn itself rejects a float for more than two classes
    if not 0 < ratio <= 1:
        raise SamplingError(
            "A float sampling_strategy is the minority/majority ratio wanted after resampling "
            f"and should be in (0, 1]. Got {ratio}."
        )
    n_min, n_maj = sorted(counts.values())
    current = n_min / n_maj
    if ratio >= current:
        return
    if kind == "under":
        asked = math.floor(n_min / ratio)
        raise SamplingError(
            f"With under-sampling ({method!r}), a float sampling_strategy should be greater or "
            "equal to the current minority/majority ratio, since samples can only be removed. "
            f"Originally, the ratio is {n_min}/{n_maj} = {current:.4g} and {ratio} is asked "
            f"(that is {asked} majority samples where there are {n_maj})."
        )
    asked = math.floor(ratio * n_maj)
    raise SamplingError(
        f"With over-sampling ({method!r}), a float sampling_strategy should be greater or "
        "equal to the current minority/majority ratio, since samples can only be added. "
        f"Originally, the ratio is {n_min}/{n_maj} = {current:.4g} and {ratio} is asked "
        f"(that is {asked} minority samples where there are {n_min})."
    )


def _neighbours(method: str, params: Mapping[str, Any]) -> tuple[str, int] | None:
    """The neighbour parameter a SMOTE-like method will use, when it is a plain number."""
    name = "n_neighbors" if method == "adasyn" else "k_neighbors"
    k = params.get(name, 5)  # 5 is imbalanced-learn's default for SMOTE and ADASYN
    if method in ("smote-tomek", "smote-enn") and "smote" in params:
        k = getattr(params["smote"], "k_neighbors", None)
    return (name, int(k)) if isinstance(k, int | np.integer) else None


def _check_neighbours(
    counts: Mapping[Any, int], method: str, sampling_strategy: Any, params: Mapping[str, Any]
) -> None:
    from imblearn.utils import check_sampling_strategy

    found = _neighbours(method, params)
    if found is None:
        return
    name, k = found
    try:
        to_generate = check_sampling_strategy(
            sampling_strategy, _counts_as_labels(counts), "over-sampling"
        )
    except ValueError:
        return  # an invalid strategy is reported, with its numbers, by the sampler itself
    for label, n_new in to_generate.items():
        n = counts.get(_key(label), 0)
        if n_new > 0 and n < k + 1:
            raise SamplingError(
                f"{method!r} builds each new sample from a minority sample and its {name}="
                f"{k} nearest neighbours of the same class, so a class to over-sample needs at "
                f"least {name} + 1 = {k + 1} samples. Class {_key(label)!r} has {n}. Lower "
                f"{name} (e.g. {name}={max(n - 1, 1)}) or use method='up'."
            )


def _counts_as_labels(counts: Mapping[Any, int]) -> np.ndarray:
    # check_sampling_strategy needs a label vector; rebuilding it from counts is cheap.
    return np.repeat(np.array(list(counts)), list(counts.values()))


def _build_sampler(
    method: str, sampling_strategy: Any, random_state: Any, params: dict[str, Any]
) -> Any:
    import importlib

    module, name, _ = _METHODS[method]
    cls = getattr(importlib.import_module(module), name)
    params = dict(params)
    if method in ("smote-tomek", "smote-enn") and "k_neighbors" in params:
        # Let users say k_neighbors=3 for the combined methods as they would for SMOTE.
        from imblearn.over_sampling import SMOTE

        params["smote"] = SMOTE(
            k_neighbors=params.pop("k_neighbors"),
            sampling_strategy=sampling_strategy,
            random_state=random_state,
        )
    accepted = cls().get_params()
    kwargs = {"sampling_strategy": sampling_strategy, **params}
    if "random_state" in accepted:  # TomekLinks and NearMiss are deterministic
        kwargs["random_state"] = random_state
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise OptionError(
            f"{name} (method {method!r}) accepts the parameters {', '.join(sorted(accepted))}; "
            f"got {', '.join(repr(u) for u in unknown)}"
        )
    return cls(**kwargs)


def resample(
    X: Any,
    y: Any,
    method: str = "down",
    *,
    sampling_strategy: Any = "auto",
    random_state: Any = None,
    **params: Any,
) -> tuple[Any, Any]:
    """Resample ``(X, y)`` with imbalanced-learn and remember it for the next run.

    Methods: ``"down"`` (RandomUnderSampler), ``"up"`` (RandomOverSampler), ``"smote"``
    (SMOTE), ``"smote-tomek"`` (SMOTETomek), ``"smote-enn"`` (SMOTEENN), ``"adasyn"``
    (ADASYN), ``"tomek"`` (TomekLinks), ``"near-miss"`` (NearMiss). Pandas in gives pandas out.

    Example::

        X_res, y_res = resample(X_train, y_train, method="down", random_state=0)
        X_res, y_res = resample(X_train, y_train, method="smote", sampling_strategy=0.5,
                                k_neighbors=3, random_state=0)

    The call is recorded in ``modeler.state.SESSION`` with ``X_res`` and ``y_res``; a later
    ``fit`` on them tags its run ``modeler.sampling`` with the method, the parameters and the
    class counts before and after.

    Args:
        X: Features, a DataFrame or an array of shape (n, d).
        y: Labels, a Series or an array of length n.
        method: One of the names above.
        sampling_strategy: As in imbalanced-learn: ``"auto"``, a float (the minority/majority
            ratio wanted after resampling, binary only), or a dict ``{class: n_samples}``.
        random_state: Seed for reproducible sampling.
        **params: Other parameters of the imbalanced-learn class, e.g. ``k_neighbors=3``
            (also accepted by ``"smote-tomek"`` and ``"smote-enn"``) or ``version=2``.

    Returns:
        ``(X_res, y_res)`` of the same types as ``X`` and ``y``.

    Raises:
        SamplingError: unknown method, a single class, a ratio that cannot be met,
            non-numeric features for a neighbour-based method, too few minority samples for
            ``k_neighbors``.
        OptionError: a parameter the imbalanced-learn class does not accept.
    """
    if method not in _METHODS:
        raise SamplingError(
            f"method must be one of {', '.join(repr(m) for m in METHODS)}; got {method!r}"
        )
    counts = _class_counts(y)
    _require_two_classes(counts)
    kind = _METHODS[method][2]
    if isinstance(sampling_strategy, float):
        _check_float_ratio(sampling_strategy, counts, method, kind)
    if method in _NEEDS_NUMERIC:
        _check_numeric(X, method)
    if method in _SMOTE_FAMILY:
        _check_neighbours(counts, method, sampling_strategy, params)

    sampler = _build_sampler(method, sampling_strategy, random_state, params)
    try:
        X_res, y_res = sampler.fit_resample(X, y)
    except (ValueError, RuntimeError) as exc:
        # imbalanced-learn states the rule and the numbers; add which call it was.
        raise SamplingError(
            f"method {method!r} ({type(sampler).__name__}) with sampling_strategy="
            f"{sampling_strategy!r} cannot be carried out: {exc}"
        ) from exc

    record = SamplingRecord(
        method=method,
        params=_jsonable(
            {"sampling_strategy": sampling_strategy, "random_state": random_state, **params}
        ),
        before=_as_json_counts(counts),
        after=_as_json_counts(_class_counts(y_res)),
        n_after=len(y_res),
    )
    SESSION.record_sampling(record, X_res, y_res, labels=y_res)
    return X_res, y_res


# --- weights and bias ----------------------------------------------------------------------
def class_weights(y: Any) -> dict[int, float]:
    """Keras ``class_weight`` that gives every class the same total weight.

    The TensorFlow tutorial's rule ``weight_c = total / (2 * n_c)``; for ``k`` classes it
    generalises to ``total / (k * n_c)``. Scaling by ``total / k`` keeps the sum of the weights
    of all examples equal to ``total``, so the loss stays of a similar magnitude.

    Example::

        weights = class_weights(y_train)     # e.g. {0: 0.50, 1: 289.44} on the credit-card data
        model.fit(x_train, y_train, class_weight=weights)

    Args:
        y: Integer class labels (bools and 0.0/1.0 floats are read as 0/1).

    Returns:
        ``{class: weight}`` with plain ``int`` keys and ``float`` values.

    Raises:
        SamplingError: y has a single class, or labels that are not integers.
    """
    counts = _class_counts(y)
    _require_two_classes(counts)
    bad = [k for k in counts if not isinstance(k, int)]
    if bad:
        raise SamplingError(
            "class_weights needs integer class labels (Keras's class_weight keys); got "
            + ", ".join(repr(b) for b in bad)
        )
    total, k = sum(counts.values()), len(counts)
    return {int(c): total / (k * n) for c, n in counts.items()}


def initial_bias(y: Any) -> float:
    """Output-layer bias ``log(pos / neg)`` so a sigmoid starts at the base rate.

    With this bias the first predictions equal ``pos / total``, so the model does not spend
    its first epochs learning that positives are rare (the TensorFlow tutorial's "careful bias").

    Example::

        b0 = initial_bias(y_train)           # log(492/284315) = -6.36 on the credit-card data
        output = keras.layers.Dense(1, activation="sigmoid",
                                    bias_initializer=keras.initializers.Constant(b0))

    Args:
        y: Binary labels, positive class 1 (bools and 0.0/1.0 floats accepted).

    Returns:
        The bias as a float.

    Raises:
        SamplingError: a class is absent, or y is not binary 0/1.
    """
    counts = _class_counts(y)
    extra = [k for k in counts if k not in (0, 1)]
    if extra:
        raise SamplingError(
            "initial_bias needs binary labels 0 and 1 (1 is the positive class); got "
            + ", ".join(repr(e) for e in extra)
        )
    pos, neg = counts.get(1, 0), counts.get(0, 0)
    if pos == 0 or neg == 0:
        raise SamplingError(
            "initial_bias is log(pos/neg), so both classes must be present; "
            f"got {pos} positives and {neg} negatives"
        )
    return math.log(pos / neg)


# --- tf.data oversampling ------------------------------------------------------------------
def _features_array(x: Any) -> np.ndarray:
    found = _non_numeric(x)
    if found is not None:
        raise SamplingError(f"balanced_dataset needs numeric features (tensors); {found}")
    return x.to_numpy() if isinstance(x, pd.DataFrame) else np.asarray(x)


def _steps_per_epoch(n_neg: int, batch_size: int) -> int:
    # The tutorial's epoch: enough batches to see each negative once, half of every batch
    # being negative.
    return math.ceil(2.0 * n_neg / batch_size)


def balanced_dataset(
    x: Any,
    y: Any,
    batch_size: int = 2048,
    *,
    random_state: int | None = None,
    buffer_size: int = 100_000,
) -> tuple[Any, int]:
    """A tf.data stream with 50% positives, and the steps per epoch it implies.

    The TensorFlow tutorial's oversampling: positives and negatives each become a shuffled,
    repeated stream; ``tf.data.Dataset.sample_from_datasets`` draws from both with weights
    ``[0.5, 0.5]``; the result is batched and prefetched. As the stream never ends, an epoch
    is ``ceil(2 * n_neg / batch_size)`` batches: each negative seen about once.

    Example::

        ds, steps = balanced_dataset(x_train, y_train, batch_size=2048, random_state=0)
        model.fit(ds, steps_per_epoch=steps, epochs=10, validation_data=(x_val, y_val))

    The dataset is recorded in ``modeler.state.SESSION`` (method ``"balanced_dataset"``), so
    the run that fits on it is tagged ``modeler.sampling``.

    Args:
        x: Numeric features, a DataFrame or an array of shape (n, d).
        y: Binary labels 0/1.
        batch_size: Examples per batch.
        random_state: Seed of the shuffles and of the sampling, for a reproducible stream.
        buffer_size: Shuffle buffer of each stream.

    Returns:
        ``(dataset, steps_per_epoch)``; the dataset yields ``(features, labels)`` batches.

    Raises:
        SamplingError: a single class, labels other than 0/1, non-numeric features.
        OptionError: batch_size or buffer_size below 1.
    """
    for name, value in (("batch_size", batch_size), ("buffer_size", buffer_size)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise OptionError(f"{name} must be a positive integer; got {value!r}")
    labels = _labels(y)
    counts = _class_counts(labels)
    _require_two_classes(counts)
    extra = [k for k in counts if k not in (0, 1)]
    if extra:
        raise SamplingError(
            "balanced_dataset needs binary labels 0 and 1; got " + ", ".join(map(repr, extra))
        )
    features = _features_array(x)
    if len(features) != len(labels):
        raise SamplingError(f"x has {len(features)} rows but y has {len(labels)} labels")

    import tensorflow as tf

    is_pos = labels.astype(int) == 1

    def stream(mask: np.ndarray) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((features[mask], labels[mask]))
        return ds.shuffle(buffer_size, seed=random_state).repeat()

    dataset = tf.data.Dataset.sample_from_datasets(
        [stream(is_pos), stream(~is_pos)], weights=[0.5, 0.5], seed=random_state
    )
    dataset = dataset.batch(batch_size).prefetch(2)
    steps = _steps_per_epoch(counts[0], batch_size)

    per_class = steps * batch_size // 2
    record = SamplingRecord(
        method="balanced_dataset",
        params=_jsonable(
            {
                "batch_size": batch_size,
                "weights": [0.5, 0.5],
                "steps_per_epoch": steps,
                "buffer_size": buffer_size,
                "random_state": random_state,
            }
        ),
        before=_as_json_counts(counts),
        after={"0": per_class, "1": per_class},  # expected per epoch, not exact
        n_after=steps * batch_size,
    )
    SESSION.record_sampling(record, dataset)
    return dataset, steps
