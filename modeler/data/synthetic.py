"""Synthetic stand-ins for the two fraud datasets of the examples, generated in memory.

- ``make_paysim``: PaySim mobile-money transactions (the lab's data), same schema and column
  order as the Kaggle CSV, with its mechanics.
- ``make_creditcard_like``: the shape of the credit-card fraud dataset of the TensorFlow
  tutorial (Time, V1..V28, Amount, Class).

Both are vectorised numpy, deterministic for a given ``random_state``, and need no download,
so notebooks and tests run offline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modeler.errors import OptionError

PAYSIM_COLUMNS: tuple[str, ...] = (
    "step",
    "type",
    "amount",
    "nameOrig",
    "oldbalanceOrg",
    "newbalanceOrig",
    "nameDest",
    "oldbalanceDest",
    "newbalanceDest",
    "isFraud",
    "isFlaggedFraud",
)
"""PaySim's columns, in the order of the Kaggle CSV."""

# Type proportions of the real PaySim log (6.36M rows).
_TYPES = np.array(["CASH_OUT", "PAYMENT", "CASH_IN", "TRANSFER", "DEBIT"])
_TYPE_P = np.array([0.35, 0.34, 0.22, 0.08, 0.01])
# Lognormal (median, sigma) of legitimate amounts per type, near PaySim's per-type means.
_AMOUNT = {
    "CASH_OUT": (110_000.0, 1.0),
    "PAYMENT": (9_000.0, 0.9),
    "CASH_IN": (110_000.0, 0.9),
    "TRANSFER": (480_000.0, 1.1),
    "DEBIT": (3_500.0, 0.9),
}
_FRAUD_AMOUNT = (900_000.0, 1.0)  # frauds take larger sums (mean ~1.5M); PaySim caps at 10M
_FRAUD_CAP = 10_000_000.0
_HOURS = 743  # PaySim simulates 30 days plus, one step per hour
_FLAG_THRESHOLD = 200_000.0
# Noise that keeps the classes from being separable by one rule, as in the real log:
_P_UNKNOWN_BALANCE = 0.30  # legit rows whose origin balances read 0 before and after
_P_LEGIT_EMPTIES = 0.03  # legit TRANSFER/CASH_OUT that empty the account, like a fraud
_P_DEST_STALE_LEGIT = 0.05  # dest balances left at 0, as PaySim often does...
_P_DEST_STALE_FRAUD = 0.50  # ...and more often for frauds


def _check_size(n: Any, rate: Any, rate_name: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise OptionError(f"n must be an integer >= 1; got {n!r}")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1:
        raise OptionError(f"{rate_name} must be a number in (0, 1); got {rate!r}")


def _names(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    # PaySim ids look like C1231006815: a letter and 9-10 digits.
    digits = rng.integers(100_000_000, 2_147_483_647, size=n).astype(str)
    return np.char.add(prefix, digits).astype(object)


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(np.log(median), sigma, size=n)


def _steps(rng: np.random.Generator, is_fraud: np.ndarray) -> np.ndarray:
    # Legit traffic follows the day (quiet at night); fraud runs around the clock.
    steps = np.arange(1, _HOURS + 1)
    hour = (steps - 1) % 24
    daily = 0.15 + np.clip(np.sin((hour - 5) / 24 * 2 * np.pi), 0, None) + 0.3 * (hour >= 8)
    step = rng.choice(steps, size=len(is_fraud), p=daily / daily.sum())
    step[is_fraud] = rng.integers(1, _HOURS + 1, size=int(is_fraud.sum()))
    return step


def _amounts(rng: np.random.Generator, kind: np.ndarray, is_fraud: np.ndarray) -> np.ndarray:
    amount = np.empty(len(kind))
    for name, (median, sigma) in _AMOUNT.items():
        mask = kind == name
        amount[mask] = _lognormal(rng, median, sigma, int(mask.sum()))
    amount[is_fraud] = np.minimum(_lognormal(rng, *_FRAUD_AMOUNT, int(is_fraud.sum())), _FRAUD_CAP)
    return np.round(np.maximum(amount, 1.0), 2)


def _origin_balances(
    rng: np.random.Generator, kind: np.ndarray, amount: np.ndarray, is_fraud: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(kind)
    spare = np.round(_lognormal(rng, 60_000.0, 1.5, n), 2)
    old = amount + spare
    new = old - amount
    cash_in = kind == "CASH_IN"
    old[cash_in] = spare[cash_in]
    new[cash_in] = spare[cash_in] + amount[cash_in]

    u = rng.random(n)
    unknown = ~is_fraud & (u < _P_UNKNOWN_BALANCE)
    old[unknown] = 0.0
    new[unknown] = 0.0
    risky = np.isin(kind, ("TRANSFER", "CASH_OUT"))
    empties = is_fraud | (
        risky & ~is_fraud & (u >= _P_UNKNOWN_BALANCE) & (u < _P_UNKNOWN_BALANCE + _P_LEGIT_EMPTIES)
    )
    old[empties] = amount[empties]  # the account is drained: all of it goes
    new[empties] = 0.0
    return np.round(old, 2), np.round(new, 2)


def _dest_balances(
    rng: np.random.Generator, kind: np.ndarray, amount: np.ndarray, is_fraud: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(kind)
    old = np.round(_lognormal(rng, 300_000.0, 1.6, n), 2)
    old[rng.random(n) < 0.25] = 0.0  # fresh accounts
    cash_in = kind == "CASH_IN"
    # CASH_IN moves money from the receiving agent to the customer; the rest add to the dest.
    new = np.where(cash_in, np.maximum(old - amount, 0.0), old + amount)
    stale = rng.random(n) < np.where(is_fraud, _P_DEST_STALE_FRAUD, _P_DEST_STALE_LEGIT)
    merchant = kind == "PAYMENT"
    zero = merchant | stale  # PaySim keeps no balances for merchants
    old[zero] = 0.0
    new[zero] = 0.0
    return old, np.round(new, 2)


def make_paysim(
    n: int = 100_000, fraud_rate: float = 0.0013, random_state: Any = None
) -> pd.DataFrame:
    """Transactions with PaySim's schema and mechanics.

    Columns, in PaySim's order: step, type, amount, nameOrig, oldbalanceOrg, newbalanceOrig,
    nameDest, oldbalanceDest, newbalanceDest, isFraud, isFlaggedFraud.

    Mechanics kept from PaySim:
        - types CASH_OUT ~35%, PAYMENT ~34%, CASH_IN ~22%, TRANSFER ~8%, DEBIT ~1%;
        - fraud only in TRANSFER and CASH_OUT (half each), ``round(n * fraud_rate)`` rows;
        - a fraud empties the origin account: ``amount == oldbalanceOrg`` and
          ``newbalanceOrig == 0``; fraud amounts are lognormal and larger, capped at 10M;
        - merchants (``nameDest`` "M...") receive only PAYMENT and keep zero balances;
          customers are "C" + digits; ``step`` is the hour, 1..743;
        - ``isFlaggedFraud`` is 1 for TRANSFER frauds above 200,000.

    Noise so the classes are learnable but not separable by one rule: 30% of legitimate rows
    show zero origin balances (as many do in the real log), 3% of legitimate TRANSFER and
    CASH_OUT also empty the account, and destination balances are sometimes left at zero
    (often for frauds).

    Example::

        df = make_paysim(100_000, fraud_rate=0.0013, random_state=0)
        df.isFraud.mean()                    # 0.0013

    Args:
        n: Number of rows (1,000,000 take a few seconds).
        fraud_rate: Fraction of fraud rows, in (0, 1). Fraud rows are drawn from all rows
            and made TRANSFER or CASH_OUT, so any rate is honoured exactly.
        random_state: Seed (int or numpy Generator) for a reproducible frame.

    Returns:
        A DataFrame of ``n`` rows.

    Raises:
        OptionError: n < 1 or fraud_rate outside (0, 1).
    """
    _check_size(n, fraud_rate, "fraud_rate")
    n = int(n)
    rng = np.random.default_rng(random_state)
    kind = _TYPES[rng.choice(len(_TYPES), size=n, p=_TYPE_P)].astype(object)
    is_fraud = np.zeros(n, dtype=bool)
    fraud_rows = rng.choice(n, size=round(n * fraud_rate), replace=False)
    is_fraud[fraud_rows] = True
    # Frauds are TRANSFER to a mule and CASH_OUT from it: about half each, as in PaySim.
    kind[fraud_rows] = np.where(rng.random(len(fraud_rows)) < 0.5, "TRANSFER", "CASH_OUT")
    kind_str = kind.astype(str)

    amount = _amounts(rng, kind_str, is_fraud)
    old_org, new_org = _origin_balances(rng, kind_str, amount, is_fraud)
    old_dest, new_dest = _dest_balances(rng, kind_str, amount, is_fraud)
    name_dest = _names(rng, "C", n)
    merchant = kind_str == "PAYMENT"
    name_dest[merchant] = _names(rng, "M", int(merchant.sum()))
    flagged = is_fraud & (kind_str == "TRANSFER") & (amount > _FLAG_THRESHOLD)

    return pd.DataFrame(
        {
            "step": _steps(rng, is_fraud).astype(np.int64),
            "type": kind,
            "amount": amount,
            "nameOrig": _names(rng, "C", n),
            "oldbalanceOrg": old_org,
            "newbalanceOrig": new_org,
            "nameDest": name_dest,
            "oldbalanceDest": old_dest,
            "newbalanceDest": new_dest,
            "isFraud": is_fraud.astype(np.int64),
            "isFlaggedFraud": flagged.astype(np.int64),
        },
        columns=list(PAYSIM_COLUMNS),
    )


# --- credit-card-like ----------------------------------------------------------------------
CREDITCARD_COLUMNS: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class")
"""Time, V1..V28, Amount, Class: the credit-card fraud dataset's columns."""

# Features the positives move in (those that carry the signal in the real data), and by how
# many standard deviations at full strength; the sign is the direction frauds go there.
_SHIFTS = {"V3": -2.0, "V4": 1.8, "V10": -2.2, "V11": 1.6, "V12": -2.4, "V14": -2.6, "V17": -2.0}
_TWO_DAYS = 172_792  # the real dataset spans two days, in seconds


def make_creditcard_like(
    n: int = 100_000, positive_rate: float = 0.0017, random_state: Any = None
) -> pd.DataFrame:
    """Data shaped like the credit-card fraud dataset of the TensorFlow tutorial.

    Columns: ``Time`` (seconds, sorted, over two days), ``V1``..``V28`` (PCA-like components,
    centred, variance decreasing from V1 to V28), ``Amount`` (lognormal, median ~22) and
    ``Class`` (1 = fraud). Besides Time that is 29 feature columns (V1..V28 and Amount), the
    29 features the tutorial's model takes.

    Positives are shifted in V3, V4, V10, V11, V12, V14 and V17 by a random strength per row,
    some hardly at all, so a small Dense net or a logistic regression reaches a PR-AUC well
    below 1 but far above the base rate.

    Example::

        df = make_creditcard_like(100_000, positive_rate=0.0017, random_state=0)
        x, y = df.drop(columns=["Time", "Class"]).to_numpy(), df["Class"].to_numpy()

    Args:
        n: Number of rows.
        positive_rate: Fraction of positives, in (0, 1); ``round(n * positive_rate)`` rows.
        random_state: Seed (int or numpy Generator) for a reproducible frame.

    Returns:
        A DataFrame of ``n`` rows and 31 columns.

    Raises:
        OptionError: n < 1 or positive_rate outside (0, 1).
    """
    _check_size(n, positive_rate, "positive_rate")
    n = int(n)
    rng = np.random.default_rng(random_state)
    scales = np.linspace(1.9, 0.35, 28)
    v = rng.standard_normal((n, 28)) * scales
    positive = np.zeros(n, dtype=bool)
    positive[rng.choice(n, size=round(n * positive_rate), replace=False)] = True
    n_pos = int(positive.sum())

    strength = rng.uniform(0.0, 1.6, size=n_pos)  # some frauds look ordinary
    for name, shift in _SHIFTS.items():
        j = int(name[1:]) - 1
        v[positive, j] += shift * scales[j] * strength
    amount = _lognormal(rng, 22.0, 1.3, n)
    amount[positive] = _lognormal(rng, 12.0, 1.8, n_pos)  # frauds: many tiny test charges

    frame = pd.DataFrame(v, columns=[f"V{i}" for i in range(1, 29)])
    frame.insert(0, "Time", np.sort(rng.integers(0, _TWO_DAYS + 1, size=n)).astype(float))
    frame["Amount"] = np.round(amount, 2)
    frame["Class"] = positive.astype(np.int64)
    return frame
