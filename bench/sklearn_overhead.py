"""What accu.autolog() adds to a scikit-learn fit, against a bare fit and mlflow.sklearn.autolog().

    .venv/bin/python bench/sklearn_overhead.py [--rounds 3] [--rows 200000]

A RandomForestClassifier (50 trees, depth 12, both cores) on 200,000 rows of imbalanced data
(20 features, 1% positives); ours evaluates on 50,000 held-out rows and logs the model. The
variants run alternately in one process; figures are medians of per-round ratios. "fit" is
what the caller waits for; "run complete" adds the wait for the background end of the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    import mlflow
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from modeler import accu

    X, y = make_classification(
        n_samples=args.rows + 50_000,
        n_features=20,
        n_informative=8,
        weights=[0.99],
        flip_y=0.005,
        random_state=0,
    )
    X, Xv, y, yv = X[: args.rows], X[args.rows :], y[: args.rows], y[args.rows :]
    tmp = Path(tempfile.mkdtemp(prefix="modeler-bench-"))

    def forest():
        return RandomForestClassifier(n_estimators=50, max_depth=12, n_jobs=-1, random_state=0)

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def bare():
        return {"fit": timed(lambda: forest().fit(X, y))}

    def ours():
        accu.set_tracking(f"sqlite:///{tmp / 'ours.db'}", "bench")
        accu.autolog(validation=(Xv, yv))
        try:
            fit = timed(lambda: forest().fit(X, y))
            done = timed(accu.wait)
        finally:
            accu.autolog(disable=True)
        return {"fit": fit, "complete": fit + done}

    def plain_mlflow():
        mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
        mlflow.set_experiment("bench")
        mlflow.sklearn.autolog()
        try:
            return {"fit": timed(lambda: forest().fit(X, y))}
        finally:
            mlflow.sklearn.autolog(disable=True)
            mlflow.set_tracking_uri(None)

    variants = {"bare": bare, "accu.autolog": ours, "mlflow.sklearn.autolog": plain_mlflow}
    times: dict[str, list[float]] = {k: [] for k in variants}
    complete: list[float] = []
    print(
        f"RandomForest(50 trees, depth 12) on {X.shape}, validation {Xv.shape}, "
        f"{args.rounds} rounds"
    )
    for r in range(args.rounds):
        for name, fn in variants.items():
            result = fn()
            times[name].append(result["fit"])
            if "complete" in result:
                complete.append(result["complete"])
        print(
            f"round {r + 1}: "
            + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
            + f", accu run complete {complete[-1]:.2f} s"
        )

    med = statistics.median
    bare_t = times["bare"]

    def ratio(values: list[float]) -> float:
        return med([v / b for v, b in zip(values, bare_t, strict=True)])

    print(f"\n{'variant':<26}{'median s':>10}{'/ bare':>10}")
    print(f"{'bare fit':<26}{med(bare_t):>10.2f}{1.0:>10.2f}")
    print(
        f"{'accu.autolog() fit':<26}{med(times['accu.autolog']):>10.2f}"
        f"{ratio(times['accu.autolog']):>10.3f}   (target <= 1.10)"
    )
    print(f"{'accu.autolog() complete':<26}{med(complete):>10.2f}{ratio(complete):>10.3f}")
    print(
        f"{'mlflow.sklearn.autolog()':<26}{med(times['mlflow.sklearn.autolog']):>10.2f}"
        f"{ratio(times['mlflow.sklearn.autolog']):>10.3f}"
    )


if __name__ == "__main__":
    main()
