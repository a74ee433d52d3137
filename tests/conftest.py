import os

import pytest

# One BLAS thread, set before NumPy is first imported (see shared engineering notes).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# The package pins OpenBLAS's kernels as the workflow's jobs run them; imported here, before any
# test module loads NumPy, so that in-process results match the jobs' (gdbasins.blas).
import gdbasins  # noqa: E402, F401


@pytest.fixture(scope="session")
def small_study(tmp_path_factory):
    """The workflow run once on two datasets (moons: tanh-sigmoid with cross-entropy; teacher:
    tanh-identity with squared error) and three seeds; shared by the model and MLflow UI tests."""
    from helpers import smoke_config, snakemake

    datasets = ("moons", "teacher")
    cfg = smoke_config(study="small", seeds=3)
    cfg["datasets"] = {k: v for k, v in cfg["datasets"].items() if k in datasets}
    work = tmp_path_factory.mktemp("small")
    # Up to the runs in MLflow (rule track); the report stage is not needed here.
    snakemake(work, "--cores", "2", *(f"data/small/tracking/{d}.json" for d in datasets), config=cfg)
    return work


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """The smoke study (config/smoke.yaml) run once, end to end, as the README says; its console
    (Snakemake's output) is kept in ``console.txt`` and its wall time in ``seconds.txt``. Shared by
    the pipeline and the MLflow UI tests, which only read it (or restore what they change)."""
    import time

    from helpers import snakemake

    work = tmp_path_factory.mktemp("smoke")
    start = time.perf_counter()
    proc = snakemake(work, "--cores", "2")
    (work / "seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    (work / "console.txt").write_text(proc.stdout + proc.stderr)
    return work
