# Shared set-up: environment, config validation, the job grid and input functions.
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

# One BLAS thread per job, set before any job imports NumPy; Snakemake's parallel jobs use the
# cores (two single-threaded processes beat one two-threaded one on these tiny matrices).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

from gdbasins import browse, cost, sources
from gdbasins.blas import pin_kernels

# Every job runs the same OpenBLAS kernels (Haswell, on any x86-64 CPU with AVX2), so the same
# config gives the same numbers on an AVX-512 machine too (see gdbasins/blas.py).
pin_kernels()

from gdbasins.config import ConfigError, check_time, eta_label, load_config, resolve
from gdbasins.config import validate as check_config
from gdbasins import preflight
from gdbasins.files import IntegrityError
from gdbasins.tracking import TrackingStoreError, code_version, redact, tracking_uri

# Checked before any job runs; a mistake stops the workflow with one line naming the key.
try:
    for _path in workflow.configfiles:
        load_config(
            _path
        )  # Snakemake's YAML reading keeps the last of two equal keys silently
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
# A password in the URI stays in the environment, off the disk.
TRACKING_URI = redact(tracking_uri())
EXPERIMENT = f"gdbasins/{STUDY}"
ARTIFACTS = str(Path("mlartifacts").resolve())

# Once per run, before any job (not again in each job's own Snakemake): the store must be usable,
# and must hold what the study's records say; what it lost is logged again by this run.
try:  # the run's core count; a cluster executor's run has none (workflow.cores raises)
    CORES = workflow.cores
except WorkflowError:
    CORES = None
if workflow.is_main_process:
    try:  # an absurd study is refused, a long one announced (gdbasins.cost.study_seconds)
        _warning = check_time(RESOLVED, config, CORES)
    except ConfigError as exc:
        raise ValueError(f"Invalid configuration: {exc}") from None
    if _warning:
        print(_warning, file=sys.stderr)
    try:
        preflight.check_usable(tracking_uri())
        for _line in preflight.restore(
            ROOT,
            tracking_uri(),
            EXPERIMENT,
            ARTIFACTS,
            dry_run=workflow.output_settings.dryrun,
        ):
            print(f"Tracking store: {_line}.", file=sys.stderr)
    except (TrackingStoreError, IntegrityError) as exc:
        raise ValueError(f"Tracking store: {exc}") from None
# The commit every job records, read once here from the submitting checkout (the jobs inherit it,
# or get it exported in their job script on a cluster).
if not os.environ.get("GDBASINS_CODE_VERSION"):
    os.environ["GDBASINS_CODE_VERSION"] = code_version(workflow.basedir)


envvars:
    "GDBASINS_CODE_VERSION",


wildcard_constraints:
    dataset="|".join(DATASETS),
    variant="batch|minibatch|sgd",
    eta=r"[0-9][0-9.e+-]*",


def code(script):
    """Digest of ``workflow/scripts/<script>`` and of every package module it loads (see
    ``gdbasins/sources.py``). As a param of the rule running the script, an edit to one of them
    reruns its jobs, with or without a shared file system (the jobs import the package from
    ``src/`` next to ``workflow/``, shipped in Snakemake's source archive when nothing is shared).
    """
    return sources.digest(Path(workflow.basedir) / "workflow" / "scripts" / script)


def store_code():
    """Digest of what creates the tracking store: ``init_tracking.py``, ``tracking.py`` and the
    small modules it needs at the top, not the engine ``tracking.py`` loads lazily for models.
    Every training job depends on the store (ancient: a new store re-logs, it does not retrain),
    and Snakemake does not check the params of jobs downstream of a job it reruns; with the full
    digest, an edit to the engine reran the store and hid the training jobs' changed code, so
    nothing was retrained."""
    return sources.file_digest(
        Path(workflow.basedir) / "workflow" / "scripts" / "init_tracking.py",
        *(
            sources.PACKAGE / f"{m}.py"
            for m in ("__init__", "blas", "browse", "files", "preflight", "tracking")
        ),
    )


def job_spec(wildcards):
    return JOBS[(wildcards.dataset, wildcards.variant, wildcards.eta)]


def run_dir(dataset, variant, eta):
    return f"{ROOT}/runs/{dataset}/{variant}/eta={eta}"


def dataset_runs(wildcards, name):
    """One file of every job of a dataset (``name``: results.npz, timing.json, ...)."""
    return [
        f"{run_dir(d, v, e)}/{name}" for (d, v, e) in JOBS if d == wildcards.dataset
    ]


def batch_runs(wildcards, name):
    """One file of every batch job of a dataset: where the escape experiment starts."""
    return [
        f"{run_dir(d, v, e)}/{name}"
        for (d, v, e) in JOBS
        if d == wildcards.dataset and v == "batch"
    ]


def dataset_grids(dataset):
    """Variant -> sorted learning rates of a dataset's jobs."""
    grids = {}
    for (d, v, e), j in JOBS.items():
        if d == dataset:
            grids.setdefault(v, []).append(j["eta"])
    return {v: sorted(grids[v]) for v in sorted(grids)}


def escape_settings(dataset):
    """The escape experiment's settings, with the dataset's mini-batch size."""
    return dict(
        RESOLVED["escape_experiment"],
        minibatch_size=RESOLVED["datasets"][dataset]["minibatch_size"],
    )


def cost_spec():
    """Per dataset: its network, and per variant trained on it the batch size and the smallest
    learning rate (the cost of an update does not depend on the rate; the smallest stays finite).
    """
    spec = {}
    for (d, v, e), j in JOBS.items():
        s = spec.setdefault(d, {"network": j["network"], "variants": {}})
        old = s["variants"].get(v)
        if old is None or j["eta"] < old["eta"]:
            s["variants"][v] = {"batch_size": j["batch_size"], "eta": j["eta"]}
    # sorted: the same grid written in another order plans no new measurement
    return {
        d: dict(spec[d], variants=dict(sorted(spec[d]["variants"].items())))
        for d in sorted(spec)
    }
