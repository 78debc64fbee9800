"""What accu.autolog() adds to a Keras fit, against a bare fit and mlflow.keras.autolog().

    .venv/bin/python bench/autolog_overhead.py [--rounds 7] [--epochs 30] [--big-rows 1000000]

The TensorFlow imbalanced-data tutorial's workload: credit-card-shaped data (284,807 rows,
29 features, 0.17% positives) split like the tutorial (about 182k train / 45k validation),
Dense(16, relu) - Dropout(0.5) - Dense(1, sigmoid) with the tutorial's METRICS, batch 2048.
The three variants run alternately in one process, so machine noise hits them alike; the
figures are medians over rounds of the per-round ratios. Stores are SQLite files in a temp dir.
Each variant is switched on before and off after its timed fit, as a user calls autolog once.
For ours, "fit" is what the notebook waits for (it includes the snapshot taken before ``fit``
returns: validation scores and the model, written to the run's journal); "run complete" adds
the wait for the rest (evaluation report, uploads, MLflow model), done by a background thread.
The snapshot alone is also timed on a validation set of ``--big-rows`` rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def workload():
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from modeler.data.synthetic import make_creditcard_like

    df = make_creditcard_like(284_807, random_state=0).drop(columns=["Time"])
    df["Amount"] = np.log(df["Amount"] + 0.001)
    y = df.pop("Class").to_numpy().astype("float32")
    X = df.to_numpy()
    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    X_tr, X_val, y_tr, y_val = train_test_split(
        X_tr, y_tr, test_size=0.2, stratify=y_tr, random_state=0
    )
    scaler = StandardScaler().fit(X_tr)
    clip = lambda a: np.clip(scaler.transform(a), -5, 5).astype("float32")  # noqa: E731
    return clip(X_tr), y_tr, clip(X_val), y_val


def make_model(n_features: int):
    import keras

    keras.utils.set_random_seed(0)
    metrics = [
        keras.metrics.TruePositives(name="tp"),
        keras.metrics.FalsePositives(name="fp"),
        keras.metrics.TrueNegatives(name="tn"),
        keras.metrics.FalseNegatives(name="fn"),
        keras.metrics.BinaryAccuracy(name="accuracy"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
        keras.metrics.AUC(name="auc"),
        keras.metrics.AUC(name="prc", curve="PR"),
    ]
    model = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=metrics
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    args = parser.parse_args()

    import mlflow

    from modeler import accu

    X, y, Xv, yv = workload()
    print(
        f"train {X.shape}, validation {Xv.shape}, positives {int(y.sum())}+{int(yv.sum())}, "
        f"{args.epochs} epochs, batch 2048, {args.rounds} rounds"
    )
    tmp = Path(tempfile.mkdtemp(prefix="modeler-bench-"))
    fit_kw = {"batch_size": 2048, "epochs": args.epochs, "validation_data": (Xv, yv), "verbose": 0}

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def bare() -> dict[str, float]:
        model = make_model(X.shape[1])
        return {"fit": timed(lambda: model.fit(X, y, **fit_kw))}

    inside: list[float] = []  # seconds spent in modeler's own code during each timed fit
    frozen: list[float] = []  # of which: the snapshot before fit returns

    def instrument() -> None:
        """Time our code in the fit path, so noise in the fit itself can be told apart."""
        import functools

        from modeler.tracking import hooks, keras, writer

        targets = [  # outermost calls only, so nothing is counted twice
            (hooks.Hooks, "start_run"),
            (hooks.Hooks, "complete"),
            (keras.KerasFit, "_log_fit_params"),
            (keras.KerasFit, "_prepare_validation"),
            (keras.KerasFit, "_freeze"),
            (writer.RunWriter, "log_metrics"),
        ]
        for owner, name in targets:
            original = getattr(owner, name)

            @functools.wraps(original)
            def timed_call(*a, _original=original, _name=name, **k):
                t = time.perf_counter()
                try:
                    return _original(*a, **k)
                finally:
                    took = time.perf_counter() - t
                    if inside:
                        inside[-1] += took
                    if _name == "_freeze":
                        frozen.append(took)

            setattr(owner, name, timed_call)

    instrument()

    def ours() -> dict[str, float]:
        # switched on once, as a user does; the timed part is the fit call and then the wait
        # for the background end of the run (plots, uploads, model)
        accu.set_tracking(f"sqlite:///{tmp / 'ours.db'}", "bench")
        accu.autolog()
        model = make_model(X.shape[1])
        inside.append(0.0)
        try:
            fit = timed(lambda: model.fit(X, y, **fit_kw))
            done = timed(accu.wait)
        finally:
            accu.autolog(disable=True)
        return {"fit": fit, "complete": fit + done}

    def plain_mlflow() -> dict[str, float]:
        mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
        mlflow.set_experiment("bench")
        mlflow.keras.autolog()
        model = make_model(X.shape[1])
        try:
            return {"fit": timed(lambda: model.fit(X, y, **fit_kw))}
        finally:
            mlflow.keras.autolog(disable=True)
            mlflow.set_tracking_uri(None)

    variants = {"bare": bare, "accu.autolog": ours, "mlflow.keras.autolog": plain_mlflow}
    times: dict[str, list[float]] = {k: [] for k in variants}
    complete: list[float] = []
    # warm-up, untimed: TensorFlow's first graphs, and the store's first open (a notebook
    # calls autolog in an early cell, so the store is open before the first fit)
    bare()
    ours()
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

    ours_ratio = [o / b for o, b in zip(times["accu.autolog"], times["bare"], strict=True)]
    mlf_ratio = [m / b for m, b in zip(times["mlflow.keras.autolog"], times["bare"], strict=True)]
    added_ours = [o - b for o, b in zip(times["accu.autolog"], times["bare"], strict=True)]
    added_mlf = [m - b for m, b in zip(times["mlflow.keras.autolog"], times["bare"], strict=True)]
    med = statistics.median
    print()
    print(f"{'variant':<22}{'median s':>10}{'/ bare':>10}")
    print(f"{'bare fit':<22}{med(times['bare']):>10.2f}{1.0:>10.2f}")
    print(f"{'accu.autolog()':<22}{med(times['accu.autolog']):>10.2f}{med(ours_ratio):>10.3f}")
    print(
        f"{'mlflow.keras.autolog()':<22}{med(times['mlflow.keras.autolog']):>10.2f}"
        f"{med(mlf_ratio):>10.3f}"
    )
    done_ratio = [c / b for c, b in zip(complete, times["bare"], strict=True)]
    print(
        f"{'accu, run complete':<22}{med(complete):>10.2f}{med(done_ratio):>10.3f}"
        "   (fit + waiting for the background end of the run)"
    )
    share = med(added_ours) / med(added_mlf) if med(added_mlf) > 0 else float("nan")
    print(
        f"\nadded seconds: ours {med(added_ours):.2f}, mlflow {med(added_mlf):.2f} "
        f"(ours / mlflow = {share:.2f}; target <= 0.20)"
    )
    own = med(inside[-args.rounds :])
    print(
        f"modeler's own code inside the fit (instrumented): {own:.3f} s "
        f"({own / med(added_mlf):.2f} of mlflow's added seconds)"
    )
    print(
        f"  of which the snapshot before fit returns ({len(yv):,} validation rows): "
        f"{med(frozen[-args.rounds :]):.3f} s"
    )
    print(
        f"ours / bare = {med(ours_ratio):.3f} (target <= 1.08); "
        f"run complete / bare = {med(done_ratio):.3f} (target <= 1.10)"
    )
    snapshot_at_scale(X, y, Xv, yv, args.big_rows, tmp, frozen)


def snapshot_at_scale(X, y, Xv, yv, rows: int, tmp: Path, frozen: list[float]) -> None:
    """The snapshot before fit returns, on a validation set of ``rows`` rows."""
    import numpy as np

    from modeler import accu

    pick = np.random.default_rng(0).integers(0, len(yv), rows)
    big_x, big_y = Xv[pick], yv[pick]
    accu.set_tracking(f"sqlite:///{tmp / 'ours.db'}", "bench-big")
    accu.autolog()
    try:
        model = make_model(X.shape[1])
        # one short epoch: what is timed is our snapshot, not Keras' own validation pass
        model.fit(
            X[:20_000],
            y[:20_000],
            batch_size=2048,
            epochs=1,
            verbose=0,
            validation_data=(big_x, big_y),
            validation_freq=2,
        )
        took = frozen[-1]
        accu.wait()
    finally:
        accu.autolog(disable=True)
    print(
        f"snapshot before fit returns on {rows:,} validation rows: {took:.2f} s "
        "(predictions, scores and labels to the journal, the model file)"
    )


if __name__ == "__main__":
    main()
