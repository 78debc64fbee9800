"""``modeler demo``: the fraud example, end to end, on the embedded store.

Synthetic PaySim-like transactions are written to disk and described by a descriptor, loaded
back with ``get_file``, prepared as in the lab, and five Keras models are trained with
different ways of handling the imbalance — baseline, class weights, down-sampling,
up-sampling, SMOTE — each logged by one ``accu.autolog()``. Then ``accu.compare`` overlays
their PR and ROC curves, and the business metric picks the cheapest model.

>>> run_demo(rows=60_000, epochs=5)        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

REVIEW_COST = 10.0  # what one false alarm costs: an analyst reviews the transaction


def _model(n_features: int, *, bias: float | None = None, seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    init = keras.initializers.Constant(bias) if bias is not None else "zeros"
    model = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid", bias_initializer=init),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.AUC(curve="PR", name="prc"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )
    return model


def run_demo(
    rows: int = 60_000,
    epochs: int = 5,
    experiment: str = "fraud-demo",
    out_dir: Path | str = "reports",
    echo: Callable[[str], Any] = print,
    fraud_rate: float = 0.01,
    random_state: int = 7,
) -> Any:
    """Run the fraud example; returns the comparison report."""
    from sklearn.preprocessing import StandardScaler

    from modeler import accu
    from modeler.data import paysim
    from modeler.data.synthetic import make_paysim
    from modeler.imbalance import class_weights, initial_bias, resample

    out_dir = Path(out_dir)
    data_dir = Path("mlruns") / "demo-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    echo(f"1/5 writing {rows:,} PaySim-like transactions to {data_dir}/paysim.csv")
    make_paysim(rows, fraud_rate=fraud_rate, random_state=random_state).to_csv(
        data_dir / "paysim.csv", index=False
    )
    descriptor = accu.set_storage(
        str(data_dir / "paysim.json"), target="local", filePath=str(data_dir), fileName="paysim.csv"
    )

    echo(f"2/5 loading it back with accu.get_file({descriptor!r}) and preparing it")
    df = accu.get_file(descriptor)
    split = paysim.prepare(df, random_state=random_state)
    scaler = StandardScaler().fit(split.X_train)
    X_train = scaler.transform(split.X_train).astype("float32")
    X_val = scaler.transform(split.X_val).astype("float32")
    y_train = split.y_train.to_numpy().astype("float32")
    y_val = split.y_val.to_numpy().astype("float32")
    amounts = split.X_val["amount"].to_numpy()  # a missed fraud costs its amount
    echo(
        f"    train {len(y_train):,} rows ({int(y_train.sum())} frauds), "
        f"validation {len(y_val):,} rows ({int(y_val.sum())} frauds)"
    )

    echo("3/5 training five models; accu.autolog() is called once and logs every fit")
    accu.set_tracking(experiment=experiment)
    accu.autolog(costs={"fn": amounts, "fp": REVIEW_COST})
    fit = {"epochs": epochs, "batch_size": 512, "validation_data": (X_val, y_val), "verbose": 0}
    n = X_train.shape[1]
    try:
        _model(n, bias=initial_bias(y_train)).fit(X_train, y_train, **fit)
        echo("    baseline (initial output bias) done")
        _model(n).fit(X_train, y_train, class_weight=class_weights(y_train), **fit)
        echo("    class weights done")
        for method in ("down", "up", "smote"):
            X_res, y_res = resample(X_train, y_train, method=method, random_state=random_state)
            # down-sampling leaves a few hundred rows: smaller batches, so it trains at all
            batch = 512 if len(y_res) > 5_000 else 32
            _model(n).fit(X_res, y_res.astype("float32"), **{**fit, "batch_size": batch})
            echo(f"    {method}-sampling done ({len(y_res):,} rows after resampling)")
    finally:
        accu.autolog(disable=True)

    echo("4/5 comparing the five runs")
    report = accu.compare(
        experiment=experiment, top=5, by="eval.pr_auc", output_dir=out_dir / experiment
    )
    echo(report.to_text())

    echo("5/5 the business metric")
    table = report.table
    if report.cheapest is not None and "Cost at decision" in table.columns:
        row = table.loc[table["Model Version"] == report.cheapest].iloc[0]
        echo(f"    cheapest model: {report.cheapest}")
        interval = ""
        if "Decision threshold low" in table.columns:
            interval = (
                f" (95% interval {row['Decision threshold low']:.3f}-"
                f"{row['Decision threshold high']:.3f})"
            )
        echo(
            f"    flag transactions scoring >= {row['Decision threshold']:.3f}{interval}: cost "
            f"{row['Cost at decision']:,.0f} on the validation set, saving "
            f"{row['Savings']:,.0f} against the best trivial policy; confirm it once on the "
            "untouched test set (accu.evaluate(model, X_test, y_test, prefix='test', costs=...))"
        )
    echo(f"\nHTML report: {Path(report.html_path).resolve()}")
    echo("Browse every run: modeler ui   (then open http://127.0.0.1:5000)")
    return report
