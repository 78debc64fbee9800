"""The lab's fraud-data pipeline for PaySim transactions, as one function.

``prepare(df)`` takes the Kaggle PaySim CSV as pandas reads it (or ``make_paysim``'s frame) and
returns stratified train / validation / test splits ready for a model::

    import pandas as pd
    from modeler.data import paysim

    split = paysim.prepare(pd.read_csv("PS_20174392719_1491204439457_log.csv"))
    model.fit(split.X_train, split.y_train, validation_data=(split.X_val, split.y_val))

Steps, in the lab's order: drop NA and empty rows; drop nameOrig and nameDest; keep TRANSFER
and CASH_OUT (the only types with fraud); remove newbalanceOrig outliers among non-fraud rows;
encode type; split, stratified on isFraud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modeler.errors import DataError, OptionError

TARGET = "isFraud"
FEATURES: tuple[str, ...] = (
    "step",
    "type",
    "amount",
    "oldbalanceOrg",
    "newbalanceOrig",
    "oldbalanceDest",
    "newbalanceDest",
)
"""The model's inputs, in this order.

Left out: nameOrig and nameDest (ids, near unique), and ``isFlaggedFraud``: PaySim's
rule-based flag (a TRANSFER over 200,000) is set only on rows already known to be fraud, so as a
feature it leaks the label rather than predicting it; and a rule that exists is no model.
"""
_DROPPED = ("nameOrig", "nameDest", "isFlaggedFraud")
TYPE_CODES: dict[str, int] = {"TRANSFER": 0, "CASH_OUT": 1}
"""How ``type`` is encoded. (The lab's platform coded all five types alphabetically from 1,
so its "type 2 and 5" are CASH_OUT and TRANSFER.)"""
_NUMERIC = tuple(c for c in FEATURES if c != "type")


@dataclass(frozen=True)
class Split:
    """Train / validation / test frames from ``prepare``; ``y_*`` are int Series 0/1."""

    X_train: pd.DataFrame
    X_val: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_val: pd.Series
    y_test: pd.Series
    feature_names: list[str]
    summary: dict[str, Any] = field(default_factory=dict)  # rows in, dropped per step, kept


# --- steps ---------------------------------------------------------------------------------
def _check_columns(df: Any) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"prepare expects a pandas DataFrame; got {type(df).__name__}")
    missing = [c for c in (*FEATURES, TARGET) if c not in df.columns]
    if missing:
        raise DataError(
            "prepare expects PaySim's columns (step, type, amount, oldbalanceOrg, "
            "newbalanceOrig, oldbalanceDest, newbalanceDest, isFraud); missing: "
            + ", ".join(missing)
            + f". Columns found: {', '.join(map(str, df.columns))}"
        )


def _blank_to_na(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty or whitespace-only strings become NA, so empty rows fall with the NA rows."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if not text:
        return frame
    frame = frame.copy()
    for c in text:
        values = frame[c]
        blank = values.astype("string").str.strip().eq("").fillna(False).astype(bool)
        frame[c] = values.mask(blank)
    return frame


def _labels(values: pd.Series) -> pd.Series:
    """isFraud as int 0/1, whether it was read as 0/1, 0.0/1.0, "1", "1.0" or True/False."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(np.int64)
    text = values.astype("string").str.strip().str.lower()
    mapped = text.map({"true": "1", "false": "0"}).fillna(text)
    numbers = pd.to_numeric(mapped, errors="coerce")
    bad = values[numbers.isna() | ~numbers.isin([0, 1])]
    if len(bad):
        shown = ", ".join(repr(v) for v in pd.unique(bad)[:5])
        raise DataError(f"isFraud must be 0 or 1 (0.0/1.0 and True/False accepted); got {shown}")
    return numbers.astype(np.int64)


def _clean(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop NA and empty rows; numbers that do not parse count as missing."""
    frame = _blank_to_na(df[[*FEATURES, TARGET]])
    frame["type"] = frame["type"].astype("string").str.strip()
    for c in _NUMERIC:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    kept = frame.dropna()
    return kept, len(frame) - len(kept)


def _outlier_mask(frame: pd.DataFrame, quantile: float | None) -> tuple[pd.Series, float | None]:
    """Non-fraud rows whose newbalanceOrig lies above its ``quantile`` among non-fraud rows.

    A quantile, not the 1.5*IQR fence: in PaySim most TRANSFER/CASH_OUT rows leave the origin
    at 0, so the quartiles are 0 and the fence would drop every account with money left. The
    strict ``>`` bounds what is removed to at most ``1 - quantile`` of the non-fraud rows.
    Fraud rows are never removed: they are the few examples the model has.
    """
    legit = frame[TARGET] == 0
    if quantile is None or not legit.any():
        return pd.Series(False, index=frame.index), None
    threshold = float(frame.loc[legit, "newbalanceOrig"].quantile(quantile))
    return legit & (frame["newbalanceOrig"] > threshold), threshold


def _check_fractions(test_size: float, val_size: float, outlier_quantile: float | None) -> None:
    for name, value in (("test_size", test_size), ("val_size", val_size)):
        if not isinstance(value, int | float) or not 0 < value < 1:
            raise OptionError(f"{name} must be a fraction in (0, 1); got {value!r}")
    if test_size + val_size >= 1:
        raise OptionError(
            "test_size + val_size must leave rows to train on (sum < 1); "
            f"got {test_size} + {val_size} = {test_size + val_size}"
        )
    if outlier_quantile is not None and not (
        isinstance(outlier_quantile, int | float) and 0 < outlier_quantile <= 1
    ):
        raise OptionError(
            "outlier_quantile must be in (0, 1], or None to keep every row; "
            f"got {outlier_quantile!r}"
        )


def _split(
    X: pd.DataFrame, y: pd.Series, test_size: float, val_size: float, random_state: Any
) -> tuple[pd.DataFrame, ...]:
    from sklearn.model_selection import train_test_split

    try:
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=random_state
        )
        # val_size is a fraction of all rows, so rescale it to what is left after the test set.
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest,
            y_rest,
            test_size=val_size / (1 - test_size),
            stratify=y_rest,
            random_state=random_state,
        )
    except ValueError as exc:
        raise DataError(
            "a stratified train/validation/test split needs at least 2 rows of each class in "
            f"every split it makes; {len(y)} rows with {int(y.sum())} frauds could not be "
            f"split: {exc}"
        ) from exc
    parts = (y_train, y_val, y_test)
    frauds = [int(part.sum()) for part in parts]
    if any(f in (0, len(part)) for f, part in zip(frauds, parts, strict=True)):
        raise DataError(
            "every part of the split (train, validation, test) needs both classes; "
            f"{int(y.sum())} frauds in {len(y)} rows gave {frauds[0]}/{frauds[1]}/{frauds[2]} "
            "frauds. Use more data, or larger test_size and val_size."
        )
    return X_train, X_val, X_test, y_train, y_val, y_test


# --- public --------------------------------------------------------------------------------
def prepare(
    df: pd.DataFrame,
    *,
    test_size: float = 0.2,
    val_size: float = 0.2,
    random_state: Any = 42,
    outlier_quantile: float | None = 0.99,
) -> Split:
    """The lab's PaySim pipeline: clean, filter, encode, and split stratified on isFraud.

    1. Drop rows with a missing value, an empty (blank) field or an unparsable number in the
       columns used. Other columns (nameOrig, nameDest, isFlaggedFraud, an index written by
       ``to_csv``) are dropped and never cause a row to be dropped.
    2. Keep type TRANSFER and CASH_OUT: PaySim has fraud in no other type.
    3. Drop non-fraud rows whose newbalanceOrig is above the ``outlier_quantile`` quantile of
       newbalanceOrig among non-fraud rows (strictly above, so at most ``1 - outlier_quantile``
       of them go; fraud rows always stay). ``None`` keeps every row.
    4. Encode type as TRANSFER=0, CASH_OUT=1; isFraud becomes int 0/1 (the CSV may hold
       0.0/1.0, "1" or True/False).
    5. Split stratified: ``test_size`` and ``val_size`` are fractions of all rows kept.

    ``isFlaggedFraud`` is never a feature: it is PaySim's rule-based flag, set only on frauds,
    so it leaks the label.

    Example::

        df = pd.read_csv("paysim.csv")               # or make_paysim(200_000, random_state=0)
        split = prepare(df, test_size=0.2, val_size=0.2, random_state=42)
        split.X_train.columns.tolist() == split.feature_names   # step, type, amount, ...
        split.y_train.mean()                                    # the fraud rate, as in y_test

    Args:
        df: The PaySim frame, columns as in the Kaggle CSV.
        test_size: Fraction of rows for the test set.
        val_size: Fraction of rows for the validation set.
        random_state: Seed of the splits.
        outlier_quantile: Quantile of non-fraud newbalanceOrig above which rows are dropped.

    Returns:
        A ``Split`` with X_train, X_val, X_test, y_train, y_val, y_test, feature_names and a
        ``summary`` of how many rows each step dropped.

    Raises:
        DataError: a PaySim column is missing, isFraud holds other values than 0/1, no fraud
            row (or too few to stratify) remains after filtering.
        OptionError: a fraction out of range.
    """
    _check_fractions(test_size, val_size, outlier_quantile)
    _check_columns(df)
    frame, n_missing = _clean(df)
    frame[TARGET] = _labels(frame[TARGET])

    wanted = frame["type"].isin(list(TYPE_CODES))
    n_other_types = int((~wanted).sum())
    frame = frame[wanted]
    outliers, threshold = _outlier_mask(frame, outlier_quantile)
    frame = frame[~outliers]

    n_fraud = int(frame[TARGET].sum())
    if n_fraud == 0:
        raise DataError(
            "no fraud rows (isFraud = 1) remain after dropping missing rows and keeping "
            f"TRANSFER and CASH_OUT; {len(frame)} rows remain, all isFraud = 0"
        )
    frame = frame.assign(type=frame["type"].map(TYPE_CODES).astype(np.int64))
    X, y = frame[list(FEATURES)], frame[TARGET]
    parts = _split(X, y, test_size, val_size, random_state)
    summary = {
        "rows_in": len(df),
        "dropped_missing": n_missing,
        "dropped_other_types": n_other_types,
        "dropped_outliers": int(outliers.sum()),
        "outlier_threshold": threshold,
        "rows_kept": len(frame),
        "frauds_kept": n_fraud,
    }
    return Split(*parts, feature_names=list(FEATURES), summary=summary)  # type: ignore[misc]
