# Shared set-up: environment, config validation, the job grid and input functions.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# One BLAS thread per job, set before any job imports NumPy; Snakemake's parallel jobs use the
# cores (two single-threaded processes beat one two-threaded one on these tiny matrices).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

from gdbasins.config import ConfigError, eta_label, resolve
from gdbasins.config import validate as check_config
from gdbasins.tracking import redact, tracking_uri

# Checked before any job runs; a mistake stops the workflow with one line naming the key.
try:
    check_config(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    )
    validate(config, "../schemas/config.schema.yaml")  # fills in the schema's defaults
    RESOLVED = resolve(config)
except ConfigError as exc:
    raise ValueError(f"Invalid configuration: {exc}") from None

STUDY = config["study"]
ROOT = f"data/{STUDY}"
LOGS = f"logs/{STUDY}"
DATASETS = list(RESOLVED["datasets"])
JOBS = {(j["dataset"], j["variant"], eta_label(j["eta"])): j for j in RESOLVED["jobs"]}
TRACKING_URI = redact(tracking_uri())  # a password stays in the environment, off the disk
EXPERIMENT = f"gdbasins/{STUDY}"


wildcard_constraints:
    dataset="|".join(DATASETS),
    variant="batch|minibatch|sgd",
    eta=r"[0-9][0-9.e+-]*",


def sources(*modules):
    """Package modules a rule runs, declared as inputs so that editing them reruns the rule."""
    return [str(SRC / "gdbasins" / m) for m in ("__init__.py", *modules)]


def job_spec(wildcards):
    return JOBS[(wildcards.dataset, wildcards.variant, wildcards.eta)]


def run_dir(dataset, variant, eta):
    return f"{ROOT}/runs/{dataset}/{variant}/eta={eta}"


def dataset_runs(wildcards, name):
    """One file of every job of a dataset (``name``: results.npz, timing.json, ...)."""
    return [
        f"{run_dir(d, v, e)}/{name}" for (d, v, e) in JOBS if d == wildcards.dataset
    ]
