"""The run layout: names of tags, metrics, artifacts and journal files, in one place.

The run writer (``modeler.tracking``) writes these and ``modeler.compare`` reads them; the
contract is documented in ``docs/run-layout.md``. Change a name here only together with that
page, its tests and a way to read runs written under the old name.

>>> from modeler import layout
>>> layout.metric("roc_auc"), layout.CURVES_PATH
('eval.roc_auc', 'eval/curves.json')
"""

from __future__ import annotations

# --- tags -------------------------------------------------------------------------------------
MODEL_TYPE = "modeler.model_type"  # keras, or the estimator's class name
TASK = "modeler.task"  # binary, multiclass, regression
EVAL_SOURCE = "modeler.eval_source"  # validation_data, validation_split, dataset, explicit, none
THRESHOLD = "modeler.threshold"  # the run's threshold for precision / recall / F1
SAMPLING = "modeler.sampling"  # JSON: method, params, class counts before and after
LOGGING_ERROR = "modeler.logging_error"  # what could not be logged (training was unaffected)
NICKNAME = "modeler.nickname"
MODEL_VERSION = "modeler.model_version"  # <run name>_<registered version>
REGISTERED_MODEL = "modeler.registered_model"
JOURNAL_ID = "modeler.journal_id"  # the run's full unique id; its journal folder's name
LEGACY_OUTBOX_ID = "modeler.outbox_id"  # the same, for runs kept by modeler 0.1's outbox
RECOVERED = "modeler.recovered"  # completed from its journal after its process ended
JOURNAL_TRUNCATED = "modeler.journal_truncated"  # the journal's last record was cut
MODEL_MISSING = "modeler.model_missing"  # why a run has no model
COMPARISON = "modeler.comparison"  # "true" on a comparison report's run
THRESHOLD_UNSTABLE = "modeler.threshold_unstable"  # "true": the savings may be <= 0 on new data
# comparisons live in a companion experiment "<experiment>/comparisons", linked both ways
COMPARISONS_EXPERIMENT = "modeler.comparisons_experiment"  # on the models' experiment
MODELS_EXPERIMENT = "modeler.models_experiment"  # on the companion and each report run
MODELS_EXPERIMENT_ID = "modeler.models_experiment_id"
COMPARED_RUNS = "modeler.compared_runs"  # on a report run: the run ids, comma-separated
COMPARED_EXPERIMENTS = "modeler.compared_experiments"
WORKERS = "modeler.workers"  # processes of a distributed job (only its chief logs)
LAUNCHER = "modeler.launcher"  # what started them: tf_config, torchrun, mpi, slurm, jax, ...
EVAL_SKIPPED = "modeler.eval_skipped"  # why a run with validation data has no evaluation

# --- metrics ----------------------------------------------------------------------------------
EVAL = "eval"  # prefix of the final evaluation on held-out data; "test" for a test evaluation
HEADLINE = ("roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy")
COUNTS = ("tp", "fp", "tn", "fn", "n", "positives")
COST = (
    "cost",
    "cost_optimal_threshold",
    "cost_at_optimal",
    "savings",
    "decision_threshold",
    "cost_at_decision",
)
PR_CURVE = "pr_curve"  # history: step = recall in thousandths, value = interpolated precision
ROC_CURVE = "roc_curve"  # history: step = false-positive rate in thousandths, value = best TPR


def metric(name: str, prefix: str = EVAL) -> str:
    """``eval.<name>`` (or ``<prefix>.<name>``)."""
    return f"{prefix}.{name}"


# --- artifacts (paths inside a run) ---------------------------------------------------------
CURVES_PATH = "eval/curves.json"
COST_CURVE_PATH = "eval/cost_curve.json"
SCORES_PATH = "eval/scores.parquet"
UNCERTAINTY_PATH = "eval/uncertainty.json"
MODEL_PATH = "model"
MODEL_SUMMARY = "model_summary.txt"

# --- the journal (mlruns/journal/<journal id>/) ------------------------------------------------
JOURNAL_DIR = "journal"  # beside the embedded store: <cwd>/mlruns/journal
LEGACY_OUTBOX_DIR = "outbox"  # modeler 0.1 kept runs here while a server was down
DAMAGED_DIR = "damaged"  # journals that cannot be read are moved here, with a reason
JOURNAL_RUN = "run.json"  # who, where: journal id, store (no password), experiment, name, tags
JOURNAL_OPS = "ops.jsonl"  # one operation per line, appended and fsync'ed
JOURNAL_PROGRESS = "progress.json"  # how many operations the store has, and the run id there
JOURNAL_LOCK = "lock"  # flock'ed by the one process writing or replaying the journal
JOURNAL_SCHEMA = 1
