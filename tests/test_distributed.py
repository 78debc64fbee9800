"""Distributed jobs: only the chief logs; a real 2-process data-parallel fit gives one run.

Which process is the chief is read from what launchers set (TF_CONFIG, torchrun, Horovod, MPI,
SLURM, Keras/JAX); the real jobs run as users run them, in subprocesses on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from modeler import accu
from modeler.errors import ConfigError, ModelerWarning
from modeler.tracking.distributed import is_chief, worker

LAUNCHER_VARIABLES = (
    "TF_CONFIG",
    "KERAS_DISTRIBUTION_PROCESS_ID",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "HOROVOD_RANK",
    "HOROVOD_SIZE",
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_RANK",
    "PMI_SIZE",
    "SLURM_PROCID",
    "SLURM_NTASKS",
)


@pytest.fixture
def launcher(monkeypatch):
    """Sets a launcher's variables on a clean slate (the CI machine may be inside SLURM)."""
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_env(**variables: object) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value if isinstance(value, str) else json.dumps(value))

    return set_env


def tf_config(cluster: dict, kind: str, index: int) -> dict:
    return {"TF_CONFIG": {"cluster": cluster, "task": {"type": kind, "index": index}}}


WITH_CHIEF = {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"]}
WORKERS = {"worker": ["a:1", "b:1"]}


@pytest.mark.parametrize(
    ("env", "chief", "rank", "size", "launcher_name"),
    [
        ({}, True, 0, 1, "none"),
        (tf_config(WITH_CHIEF, "chief", 0), True, 0, 3, "tf_config"),
        (tf_config(WITH_CHIEF, "worker", 0), False, 1, 3, "tf_config"),
        (tf_config(WITH_CHIEF, "ps", 0), False, -1, 3, "tf_config"),
        (tf_config(WORKERS, "worker", 0), True, 0, 2, "tf_config"),
        (tf_config(WORKERS, "worker", 1), False, 1, 2, "tf_config"),
        (tf_config({**WORKERS, "evaluator": ["e:1"]}, "evaluator", 0), False, -1, 2, "tf_config"),
        (tf_config({"worker": ["a:1"]}, "worker", 0), True, 0, 1, "none"),
        ({"RANK": "0", "WORLD_SIZE": "4"}, True, 0, 4, "torchrun"),
        ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}, False, 3, 4, "torchrun"),
        ({"RANK": "0", "WORLD_SIZE": "1"}, True, 0, 1, "none"),
        ({"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}, False, 1, 2, "torchrun"),
        ({"HOROVOD_RANK": "1", "HOROVOD_SIZE": "2"}, False, 1, 2, "horovod"),
        ({"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"}, True, 0, 2, "mpi"),
        ({"PMI_RANK": "1", "PMI_SIZE": "3"}, False, 1, 3, "mpi"),
        ({"SLURM_PROCID": "2", "SLURM_NTASKS": "4"}, False, 2, 4, "slurm"),
        (
            {"KERAS_DISTRIBUTION_PROCESS_ID": "1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"},
            False,
            1,
            2,
            "keras",
        ),
        # torchrun inside a SLURM allocation: one srun task per node, RANK is the global rank
        (
            {"RANK": "5", "WORLD_SIZE": "8", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"},
            False,
            5,
            8,
            "torchrun",
        ),
        # TF_CONFIG is the job's own description: it wins over a stray RANK
        (
            {**tf_config(WORKERS, "worker", 1), "RANK": "0", "WORLD_SIZE": "2"},
            False,
            1,
            2,
            "tf_config",
        ),
    ],
)
def test_the_chief_is_rank_zero_as_launchers_say(launcher, env, chief, rank, size, launcher_name):
    launcher(**env)
    here = worker()
    assert (here.chief, here.rank, here.size, here.launcher) == (chief, rank, size, launcher_name)
    assert here.problem is None
    if launcher_name == "none":
        assert here.tags() == {}
    else:
        assert here.tags() == {"modeler.workers": str(size), "modeler.launcher": launcher_name}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TF_CONFIG": "{cluster: 1"}, "not JSON"),
        ({"TF_CONFIG": '["worker"]'}, 'must be an object with "cluster" and "task"'),
        (tf_config(WORKERS, "worker", 2), "task 'worker' 2 is not in the cluster"),
        (tf_config(WORKERS, "chief", 0), "task 'chief' 0 is not in the cluster"),
        (
            {"TF_CONFIG": {"cluster": WORKERS, "task": {"type": "worker", "index": "1"}}},
            "task index must be an integer; got '1'",
        ),
        ({"RANK": "one", "WORLD_SIZE": "2"}, "RANK='one' and WORLD_SIZE='2' must be integers"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 must be at least 0 and below WORLD_SIZE=2"),
        ({"SLURM_PROCID": "-1", "SLURM_NTASKS": "2"}, "SLURM_PROCID=-1 must be at least 0"),
    ],
)
def test_a_launcher_variable_that_cannot_be_read_is_an_error_that_names_it(launcher, env, named):
    launcher(**env)
    assert worker().problem is not None  # worker() itself never raises (it runs inside fit)
    with pytest.raises(ConfigError, match="cannot tell which process of the job logs") as err:
        is_chief()
    assert named in str(err.value)


def test_autolog_refuses_to_guess_which_process_logs(launcher):
    launcher(RANK="2", WORLD_SIZE="2")
    try:
        with pytest.raises(ConfigError, match="RANK=2 must be at least 0 and below WORLD_SIZE=2"):
            accu.autolog()
    finally:
        accu.autolog(disable=True)


def test_jax_imported_but_not_distributed_is_one_process_and_jax_is_left_unstarted():
    """Reading JAX's runtime must not start its backends: a later jax.distributed.initialize()
    would fail ("must be called before any JAX computations")."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed (pip install jax)")
    code = (
        "import jax\n"
        "from jax._src import xla_bridge\n"
        "from modeler.tracking.distributed import worker\n"
        "w = worker()\n"
        "print(w.launcher, w.chief, xla_bridge.backends_are_initialized())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["none", "True", "False"]


# --- in one process, as a worker of a job --------------------------------------------------
def _data(n=900, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = ((x[:, 0] + 0.7 * rng.normal(size=n)) > 1.0).astype("float32")
    return x, y


def _keras_model(d=5):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_worker_that_is_not_the_chief_writes_nothing(launcher, tmp_path):
    pytest.importorskip("keras")
    from sklearn.linear_model import LogisticRegression

    launcher(RANK="1", WORLD_SIZE="2")
    x, y = _data()
    said = r"not the chief of its 2-process job \(torchrun, RANK=1\)"
    with pytest.warns(ModelerWarning, match=said):
        accu.autolog()
        try:
            history = _keras_model().fit(x, y, validation_split=0.3, epochs=2, verbose=0)
            clf = LogisticRegression().fit(x[:600], y[:600])
            metrics = accu.evaluate(clf, x[600:], y[600:])
            accu.wait()
        finally:
            accu.autolog(disable=True)
    assert len(history.epoch) == 2  # the fit itself ran as usual
    # the numbers, for the worker's own use...
    scores = clf.predict_proba(x[600:])[:, 1]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y[600:], scores), abs=1e-9)
    # ...and nothing on disk: no store, no journal, no artifact
    # nothing but the test's own cache folder, made by conftest (stores: a link, not followed)
    assert _everything_under(tmp_path) == ["cache", "cache/stores"]


def test_the_chief_of_a_job_logs_one_complete_run_tagged_with_the_job(launcher, autolog):
    pytest.importorskip("keras")
    launcher(RANK="0", WORLD_SIZE="2")
    store = autolog()
    x, y = _data()
    model = _keras_model()
    model.fit(x[:600], y[:600], validation_data=(x[600:], y[600:]), epochs=2, verbose=0)
    run = store.only_run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["modeler.workers"] == "2"
    assert run.data.tags["modeler.launcher"] == "torchrun"
    scores = model.predict(x[600:], verbose=0).ravel()
    assert run.data.metrics["eval.roc_auc"] == pytest.approx(
        roc_auc_score(y[600:], scores), abs=1e-9
    )
    assert "modeler.model_missing" not in run.data.tags
    assert "modeler.logging_error" not in run.data.tags


# --- real jobs, as users run them ----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.update(MODELER_TEST_MODE="0", TF_CPP_MIN_LOG_LEVEL="3", **extra)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _expected(y, scores):
    pred = (scores >= 0.5).astype(int)
    return {
        "eval.roc_auc": roc_auc_score(y, scores),
        "eval.pr_auc": average_precision_score(y, scores),
        "eval.f1": f1_score(y, pred, zero_division=0),
    }


def _runs_in(folder: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    runs = []
    for exp in client.search_experiments():
        runs += client.search_runs([exp.experiment_id])
    return client, runs


JAX_WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import keras

    rank, port, out = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    keras.distribution.initialize(
        job_addresses=f"127.0.0.1:{port}", num_processes=2, process_id=rank
    )
    from modeler import accu

    accu.autolog()  # in every process, as the same script runs everywhere
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(
            devices=keras.distribution.list_devices(), auto_shard_dataset=False
        )
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2400, 5)).astype("float32")
    y = ((x[:, 0] + 0.7 * rng.normal(size=2400)) > 1.0).astype("float32")
    mine = slice(rank * 1200, (rank + 1) * 1200)  # each process feeds its own shard
    xs, ys = x[mine], y[mine]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    history = model.fit(
        xs[:900], ys[:900], validation_data=(xs[900:], ys[900:]),
        epochs=3, batch_size=100, verbose=0,
    )
    accu.wait()
    run_id = accu.get_current_run_id()
    result = {"loss": history.history["loss"], "val_loss": history.history["val_loss"]}

    class Subclassed(keras.Model):  # clone_model cannot copy it: no local copy, no guess
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, activation="sigmoid")

        def build(self, input_shape):
            self.dense.build(input_shape)

        def call(self, inputs):
            return self.dense(inputs)

    other = Subclassed()
    other.build((None, 5))
    other.compile(optimizer="adam", loss="binary_crossentropy")
    other.fit(xs[:900], ys[:900], validation_data=(xs[900:], ys[900:]), epochs=1, verbose=0)
    accu.wait()
    if rank == 0:
        # what the logged model predicts on this process's validation rows, read back through
        # MLflow on one device: the reference for eval.*
        import mlflow

        keras.distribution.set_distribution(None)
        mlflow.set_tracking_uri(accu.tracking().uri)
        loaded = mlflow.keras.load_model(f"runs:/{run_id}/model")
        np.save(out / "scores.npy", loaded.predict(xs[900:], verbose=0).ravel())
        np.save(out / "labels.npy", ys[900:])
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    """
)


def _run_job(script: str, tmp_path: Path, env: dict[str, str], n: int = 2):
    code = tmp_path / "job.py"
    code.write_text(script)
    out = tmp_path / "out"
    out.mkdir()
    port = str(_free_port())
    procs = []
    for rank in range(n):
        cwd = tmp_path / f"w{rank}"  # a folder each: whatever a worker writes shows
        cwd.mkdir()
        procs.append(
            subprocess.Popen(
                [sys.executable, str(code), str(rank), port, str(out)],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=420)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-4000:]
    return out, logs


@pytest.mark.slow
def test_two_process_data_parallel_fit_on_jax_gives_one_complete_run(tmp_path):
    """keras.distribution.DataParallel over 2 JAX CPU processes on 127.0.0.1: the chief logs
    one complete run per fit; the other process writes nothing at all."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed (pip install jax)")
    env = _user_env(KERAS_BACKEND="jax")
    out, logs = _run_job(JAX_WORKER, tmp_path, env)
    chief = json.loads((out / "rank0.json").read_text())
    other = json.loads((out / "rank1.json").read_text())
    assert chief["loss"] == pytest.approx(other["loss"])  # one model, trained on both shards
    assert _everything_under(tmp_path / "w1") == []  # the other worker wrote nothing
    said = "not the chief of its 2-process job (jax, jax.process_index()=1)"
    assert logs[1].count(said) == 1 and said not in logs[0]  # it said so, once
    client, runs = _runs_in(tmp_path / "w0")
    assert len(runs) == 2
    subclassed, run = runs  # newest first
    assert run.info.status == "FINISHED"
    assert run.data.tags["modeler.workers"] == "2"
    assert run.data.tags["modeler.launcher"] == "jax"
    # a model the chief cannot copy: the run says why it has no evaluation and no model
    assert subclassed.info.status == "FINISHED"
    why = "the model spans several processes and could not be copied to this one"
    assert subclassed.data.tags["modeler.eval_skipped"] == why
    assert subclassed.data.tags["modeler.model_missing"] == why
    assert not [k for k in subclassed.data.metrics if k.startswith("eval.")]
    assert len(client.get_metric_history(subclassed.info.run_id, "loss")) == 1
    history = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
    assert history == pytest.approx(chief["loss"], rel=1e-6)
    labels, scores = np.load(out / "labels.npy"), np.load(out / "scores.npy")
    assert run.data.metrics["eval.n"] == len(labels) == 300
    for key, value in _expected(labels, scores).items():
        assert run.data.metrics[key] == pytest.approx(value, abs=1e-9), key


MIRRORED = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import tensorflow as tf

    out = Path(sys.argv[3])
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from modeler import accu

    accu.autolog()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 5)).astype("float32")
    y = ((x[:, 0] + 0.7 * rng.normal(size=1500)) > 1.0).astype("float32")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((5,)), keras.layers.Dense(1, activation="sigmoid")]
        )
        model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(
        x[:1000], y[:1000], validation_data=(x[1000:], y[1000:]),
        epochs=2, batch_size=100, verbose=0,
    )
    np.save(out / "scores.npy", model.predict(x[1000:], verbose=0).ravel())
    np.save(out / "labels.npy", y[1000:])
    accu.wait()
    (out / "rank0.json").write_text(json.dumps({
        "replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"]
    }))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_in_one_process_gives_one_complete_run(tmp_path):
    pytest.importorskip("tensorflow")
    out, _ = _run_job(MIRRORED, tmp_path, _user_env(KERAS_BACKEND="tensorflow"), n=1)
    result = json.loads((out / "rank0.json").read_text())
    assert result["replicas"] == 2
    client, runs = _runs_in(tmp_path / "w0")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert "modeler.workers" not in run.data.tags  # one process: not a multi-worker job
    history = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
    assert history == pytest.approx(result["loss"], rel=1e-6)
    labels, scores = np.load(out / "labels.npy"), np.load(out / "scores.npy")
    for key, value in _expected(labels, scores).items():
        assert run.data.metrics[key] == pytest.approx(value, abs=1e-9), key
    assert "modeler.model_missing" not in run.data.tags
