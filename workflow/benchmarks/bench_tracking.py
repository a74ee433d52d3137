"""Wall time of the smoke study against the embedded SQLite store and against a tracking server
on PostgreSQL, side by side in one run.

Starts a throw-away PostgreSQL server and ``mlflow server`` on 127.0.0.1 (the test services,
``tests/services.py``), then runs ``snakemake --cores 2 --configfile config/smoke.yaml`` in fresh
working directories, alternating the two stores within each repeat (SQLite first in even repeats,
the server first in odd ones) so that a noisy machine slows both alike. Each repeat uses a study
name of its own, so the server never retires runs of an earlier repeat. Prints, per repeat, both
wall times, their ratio, and the seconds the track jobs spent inside MLflow calls (from their
logs), then the medians.

    python3 workflow/benchmarks/bench_tracking.py               # 3 repeats (about 10 minutes)
    python3 workflow/benchmarks/bench_tracking.py --repeats 1

``--one-job SEEDS`` instead times :func:`gdbasins.tracking.log_job` of one XOR job with SEEDS seed
runs behind the server, with the seed runs written one at a time and ``SERVER_THREADS`` at a
time (alternating, median of ``--repeats``), and on the SQLite store's bulk path.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from helpers import smoke_config, snakemake  # noqa: E402
from services import mlflow_server, postgres_server  # noqa: E402


def run_study(work: Path, study: str, **env) -> tuple[float, float]:
    """(wall seconds of the whole workflow, seconds its track jobs spent logging to MLflow)."""
    start = time.perf_counter()
    snakemake(work, "--cores", "2", config=smoke_config(study=study), timeout=3600, **env)
    wall = time.perf_counter() - start
    logging = sum(float(re.search(r"jobs to MLflow in ([0-9.]+) s", p.read_text()).group(1))
                  for p in work.glob(f"logs/{study}/track/*.log"))
    return wall, logging


def one_job(seeds: int, repeats: int) -> None:
    """Seconds of ``log_job`` for one job of ``seeds`` seed runs: server with 1 and with
    ``SERVER_THREADS`` writers, and SQLite."""
    sys.path.insert(0, str(REPO / "src"))
    from gdbasins import datasets, tracking
    from gdbasins.job import run_job

    base = Path(tempfile.mkdtemp(prefix="gdbasins-bench-onejob-"))
    data, results = base / "xor.npz", base / "results.npz"
    datasets.write(data, "xor", "xor", {})
    job = {"key": "bench/xor/batch/eta=1.6", "study": "bench", "dataset": "xor", "variant": "batch", "eta": 1.6,
           "seeds": seeds, "epochs": 100, "minibatch_size": 2, "tolerances": {},
           "network": {"hidden": [2], "activation": "sigmoid", "output": "sigmoid", "loss": "mse", "l2": 0.0,
                       "init": "uniform", "init_scale": 1.0}}
    run_job(data, job, results)
    params = {k: v for k, v in job.items() if k != "key"}
    threads = tracking.SERVER_THREADS
    times = {"server, 1 writer": [], f"server, {threads} writers": [], "SQLite (bulk)": []}
    sqlite_uri = f"sqlite:///{base / 'mlflow.db'}"
    sqlite_exp = tracking.init_store(sqlite_uri, "bench", base / "sqlite-artifacts")
    with postgres_server() as database, mlflow_server(database, base / "artifacts", base / "mlflow.log") as url:
        exp = tracking.init_store(url, "bench")
        for i in range(repeats):
            order = [1, threads] if i % 2 == 0 else [threads, 1]
            for n in order:
                tracking.SERVER_THREADS = n
                t = time.perf_counter()
                tracking.log_job(url, exp, f"bench/xor/batch/eta={i}.{n}", params, results, data, code="bench")
                times[f"server, {n} writer" + ("s" if n > 1 else "")].append(time.perf_counter() - t)
            t = time.perf_counter()
            tracking.log_job(sqlite_uri, sqlite_exp, f"bench/xor/batch/eta={i}", params, results, data, code="bench")
            times["SQLite (bulk)"].append(time.perf_counter() - t)
            print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    tracking.SERVER_THREADS = threads
    print(f"\nlog_job of one job with {seeds} seed runs, median of {repeats}: "
          + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in times.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one-job", type=int, metavar="SEEDS", help="time one job's logging instead (see above)")
    args = parser.parse_args()
    if args.one_job:
        one_job(args.one_job, args.repeats)
        return
    # Stop the servers (the context managers below) also on kill or Ctrl-C, even under nohup.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    base = Path(tempfile.mkdtemp(prefix="gdbasins-bench-tracking-"))
    rows = []
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)", flush=True)
    with postgres_server() as database, mlflow_server(database, base / "artifacts", base / "mlflow.log") as url:
        for i in range(args.repeats):
            study = f"bench{i}"
            order = ["sqlite", "server"] if i % 2 == 0 else ["server", "sqlite"]
            result = {}
            for store in order:
                env = {"MLFLOW_TRACKING_URI": url} if store == "server" else {}
                result[store] = run_study(base / f"{store}{i}", study, **env)
            row = (result["sqlite"][0], result["server"][0], result["server"][0] / result["sqlite"][0],
                   result["sqlite"][1], result["server"][1])
            rows.append(row)
            print(f"repeat {i + 1} ({order[0]} first): SQLite {row[0]:.1f} s, server {row[1]:.1f} s, "
                  f"ratio {row[2]:.2f}; MLflow time in track jobs: SQLite {row[3]:.1f} s, server {row[4]:.1f} s",
                  flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    med = [statistics.median(c) for c in zip(*rows)]
    print("\n| store | wall time (s), median | MLflow time in the track jobs (s), median |")
    print("|---|---:|---:|")
    print(f"| SQLite (embedded, sqlite:///…/mlflow.db) | {med[0]:.1f} | {med[3]:.1f} |")
    print(f"| mlflow server on PostgreSQL (http://127.0.0.1) | {med[1]:.1f} | {med[4]:.1f} |")
    print(f"\nratio server / SQLite: median {med[2]:.2f} over {len(rows)} repeats "
          f"({', '.join(f'{r[2]:.2f}' for r in rows)})")


if __name__ == "__main__":
    main()
