"""The MLflow UI on a finished study's store: how long `mlflow ui` takes to answer, and how long
the jobs table the workflow's last line links to takes to show the jobs.

    python3 workflow/benchmarks/bench_ui_start.py STUDY_DIR [--study default] [--repeats 3]

Measures, median of ``--repeats`` (alternating the two commands within each repeat):

* **start**: from starting ``mlflow ui --backend-store-uri <the study's store> --host 127.0.0.1``
  to its first ``200`` on ``/health``, the plain command (MLflow's defaults: four workers and the
  job runner with its consumers) against the README's light one (``--workers 1``,
  ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``), and how many processes each started;
* **jobs table** (on the light command, headless Chromium, a fresh profile each time): from
  ``goto`` to the first job's row, and to "<N> matching runs" with every job of the first page
  listed (the saved view of the study's jobs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))

import mlflow_screenshots as ui  # noqa: E402
from services import free_port, process_group  # noqa: E402

from gdbasins import files  # noqa: E402

LIGHT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def start_seconds(uri: str, light: bool, timeout: float = 300.0) -> tuple[float, int]:
    """Seconds from start to the first 200 on ``/health``, and the processes it then runs."""
    import psutil

    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port",
           str(port)] + (["--workers", "1"] if light else [])
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"}
    env.update(LIGHT if light else {})
    t = time.perf_counter()
    with process_group(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        while time.perf_counter() - t < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        seconds = time.perf_counter() - t
                        time.sleep(2)  # let the workers and consumers it starts appear
                        group = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
                        return seconds, len(group)
            except OSError:
                pass
            time.sleep(0.1)
    return float("inf"), 0


def jobs_table(base: str, store: dict, first: str, n_listed: int) -> tuple[float, float]:
    """Seconds to the first job's row and to every listed job's row (and the runs count)."""
    with ui.browser(width=1700, height=1700) as page:
        t = time.perf_counter()
        ui.open_jobs(page, base, store["experiment_id"], first)
        first_row = time.perf_counter() - t
        page.locator('[role="row"][row-id]').nth(n_listed - 1).wait_for(state="attached")
        page.get_by_text("matching runs").first.wait_for()
        return first_row, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study_dir", type=Path)
    ap.add_argument("--study", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from mlflow import MlflowClient

    store = files.read_record(args.study_dir / "data" / args.study / "tracking.json")
    jobs = MlflowClient(store["uri"]).search_runs([store["experiment_id"]], "tags.`gdbasins.kind` = 'job'",
                                                 max_results=1000)
    first = max(jobs, key=lambda r: r.data.metrics.get("share_global", -1)).info.run_name
    listed = min(len(jobs), 100)
    rows = {"plain start": [], "light start": [], "first job row": [], "jobs listed": []}
    procs = {"plain": 0, "light": 0}
    for k in range(args.repeats):
        for light in (k % 2 == 0, k % 2 == 1):
            s, n = start_seconds(store["uri"], light)
            rows["light start" if light else "plain start"].append(s)
            procs["light" if light else "plain"] = n
        with open(os.devnull, "w") as log, ui.mlflow_ui(store["uri"], log=log) as base:
            a, b = jobs_table(base, store, first, listed)
        rows["first job row"].append(a)
        rows["jobs listed"].append(b)
        last = ", ".join(f"{key} {v[-1]:.1f} s" for key, v in rows.items())
        print(f"  repeat {k + 1}: {last}", flush=True)
    medians = ", ".join(f"{k} {statistics.median(v):.1f} s" for k, v in rows.items())
    print(f"{len(jobs)} jobs ({listed} on the first page); processes: plain {procs['plain']}, "
          f"light {procs['light']}; median of {args.repeats}: {medians}")


if __name__ == "__main__":
    main()
