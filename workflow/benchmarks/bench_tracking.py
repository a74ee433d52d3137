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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
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
