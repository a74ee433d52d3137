"""Wall time of one trimmed study run three ways: local jobs, the cluster-generic executor
(tests/cluster/, jobs in the background) and the Slurm executor on a one-node cluster (Debian's
Slurm, tests/slurm_cluster.py), all logging to one tracking server on PostgreSQL.

The study is the Slurm test's (tests/test_server.py::test_slurm_executor_runs_the_study_with_the_
shipped_profile): the smoke config's moons alone, 3 seeds, every rule up to the report (14 jobs).
Each run starts from a fresh clone of this checkout (its tracked files as they are on disk) with a
study name of its own; the order of the three rotates from repeat to repeat so that a noisy
machine slows each alike. Needs root (it installs Debian's Slurm when missing and starts its
daemons, like the test).

    python3 workflow/benchmarks/bench_executors.py               # 3 repeats (about 15 minutes)
    python3 workflow/benchmarks/bench_executors.py --repeats 1
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from helpers import checkout, smoke_config, snakemake  # noqa: E402
from services import mlflow_server, postgres_server  # noqa: E402
from slurm_cluster import slurm_cluster  # noqa: E402

CLUSTER = REPO / "tests" / "cluster"
MODES = ("local", "cluster-generic", "slurm")


def flags(mode: str, jobs_dir: Path) -> tuple[list[str], dict]:
    """Snakemake's options and extra environment for ``mode``, as the README gives them."""
    if mode == "local":
        return ["--cores", "2"], {}
    if mode == "cluster-generic":
        options = ["--executor", "cluster-generic", "--jobs", "2",
                   "--cluster-generic-submit-cmd", f"{CLUSTER}/submit.sh",
                   "--cluster-generic-status-cmd", f"{CLUSTER}/status.sh",
                   "--cluster-generic-cancel-cmd", f"{CLUSTER}/cancel.sh"]
        return options, {"GDBASINS_CLUSTER_DIR": str(jobs_dir)}
    return ["--workflow-profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "2"], {}


def run(mode: str, base: Path, study: str, url: str) -> float:
    clone = base / study
    clone.mkdir()
    checkout(clone)
    cfg = smoke_config(study=study, seeds=3)
    cfg["datasets"] = {"moons": cfg["datasets"]["moons"]}
    args, env = flags(mode, base / f"{study}-jobs")
    start = time.perf_counter()
    snakemake(clone, *args, config=cfg, snakefile=None, timeout=1800, MLFLOW_TRACKING_URI=url, **env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # stop the daemons
    base = Path(tempfile.mkdtemp(prefix="gdbasins-bench-executors-"))
    times = {m: [] for m in MODES}
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)", flush=True)
    with postgres_server() as database, \
            mlflow_server(database, base / "artifacts", base / "mlflow.log") as url, \
            slurm_cluster(base / "slurm") as cluster:
        print(f"{cluster.version}, node {cluster.node}: {cluster.cpus} CPUs, {cluster.memory_mb} MB",
              flush=True)
        for i in range(args.repeats):
            order = MODES[i % 3:] + MODES[:i % 3]
            for mode in order:
                times[mode].append(run(mode, base, f"exec{i}{mode.replace('-', '')}", url))
                print(f"repeat {i + 1}, {mode}: {times[mode][-1]:.1f} s (load average "
                      f"{os.getloadavg()[0]:.1f})", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\n| executor | wall time (s), median | runs |")
    print("|---|---:|---|")
    for mode in MODES:
        runs = ", ".join(f"{t:.1f}" for t in times[mode])
        print(f"| {mode} | {statistics.median(times[mode]):.1f} | {runs} |")


if __name__ == "__main__":
    main()
