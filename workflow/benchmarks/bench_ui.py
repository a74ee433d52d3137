"""The MLflow side of a study with tens of thousands of seed runs: logging time and the UI's.

Builds, in a temporary folder, an SQLite store the size of the default study at 200 seeds
(``--jobs`` 156 jobs x ``--seeds`` 200 seed runs: 31,200 seed runs and their parents) by
mirroring one real result file (XOR, a training job run here) under ``--jobs`` job keys with
:func:`gdbasins.tracking.log_job`, the track jobs' write path, and times that logging. Then starts
the README's light ``mlflow ui`` (one worker, job execution off) on the store, opens it in
headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) and measures, from a
fresh profile each time, median of ``--repeats``:

* **experiment page**: from ``goto`` to the first job's row in the runs table;
* **nested runs**: from clicking a job's fold to the first of its seed runs' rows (and how many
  of its seed runs the table then shows: it lists the children among the runs it has loaded).

A view that has not shown its rows after ``mlflow_screenshots.TIMEOUT_MS`` (90 s) counts as
"more than 90 s".

    python3 workflow/benchmarks/bench_ui.py                        # 156 jobs x 200 seeds (about 10 minutes)
    python3 workflow/benchmarks/bench_ui.py --jobs 30 --seeds 50   # a smaller store
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "src"))

import mlflow_screenshots as ui  # noqa: E402

from gdbasins import datasets, tracking  # noqa: E402
from gdbasins.job import run_job  # noqa: E402


def build_store(tmp: Path, jobs: int, seeds: int) -> tuple[str, str, list[str], float]:
    """``(uri, experiment id, job run names newest first, seconds of logging per job)``."""
    dataset = tmp / "xor.npz"
    datasets.write(dataset, "xor", "xor", {})
    results = tmp / "results.npz"
    job = {"study": "bench", "dataset": "xor", "variant": "batch", "eta": 1.6, "seeds": seeds, "epochs": 200,
           "minibatch_size": 2, "key": "bench/xor/batch/eta=1.6",
           "network": {"hidden": [2], "activation": "sigmoid", "output": "sigmoid", "loss": "mse", "l2": 0.0,
                       "init": "uniform", "init_scale": 1.0},
           "tolerances": {"eig": 1e-6, "grad": 1e-6, "escape": 1e-6}}
    run_job(dataset, job, results, log_every=1e9)
    uri = f"sqlite:///{tmp}/mlflow.db"
    exp = tracking.init_store(uri, "gdbasins/bench", tmp / "mlartifacts")
    params = {k: v for k, v in job.items() if k != "key"}
    names, seconds = [], []
    for j in range(jobs):
        key = f"bench/xor/batch/eta={j}"
        t = time.perf_counter()
        tracking.log_job(uri, exp, key, dict(params, eta=float(j)), results, dataset, code="bench")
        seconds.append(time.perf_counter() - t)
        names.append(key.split("/", 1)[1])
        if (j + 1) % 20 == 0:
            print(f"  logged {j + 1}/{jobs} jobs, median {statistics.median(seconds):.2f} s per job", flush=True)
    return uri, exp, names[::-1], statistics.median(seconds)


def time_ui(base: str, exp: str, newest: str) -> dict:
    """Seconds to each view's first rows; ``inf`` where it did not appear within the browser
    helpers' timeout (``mlflow_screenshots.TIMEOUT_MS``)."""
    from playwright.sync_api import TimeoutError

    out = {"experiment page": float("inf"), "nested runs": float("inf"), "seed runs shown": 0}
    with ui.browser(width=1900, height=1200) as page:
        try:
            t = time.perf_counter()
            page.goto(f"{base}/#/experiments/{exp}/runs?workflowType=machine_learning", wait_until="load")
            page.get_by_text(newest, exact=True).first.wait_for()
            out["experiment page"] = time.perf_counter() - t
            t = time.perf_counter()
            ui.run_row(page, newest).locator("button[data-component-id*='runnamecellrenderer']").first.click()
            page.get_by_text(re.compile(r"^seed [0-9]+$")).first.wait_for()
            out["nested runs"] = time.perf_counter() - t
            out["seed runs shown"] = page.get_by_text(re.compile(r"^seed [0-9]+$")).count()
        except TimeoutError:
            pass
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=156)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if not Path(ui.CHROMIUM).exists():
        sys.exit(f"needs Debian's chromium at {ui.CHROMIUM} (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="gdbasins-ui-") as tmp:
        print(f"building a store of {args.jobs} jobs x {args.seeds} seed runs ...", flush=True)
        uri, exp, names, per_job = build_store(Path(tmp), args.jobs, args.seeds)
        print(f"logging: median {per_job:.2f} s per job of {args.seeds} seed runs (SQLite, bulk path)")
        rows = []
        with open(Path(tmp) / "ui.log", "w") as log, ui.mlflow_ui(uri, log=log) as base:
            for _ in range(args.repeats):
                rows.append(time_ui(base, exp, names[0]))
                print("  " + ", ".join(f"{k} {_show(k, v)}" for k, v in rows[-1].items()), flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"{args.jobs * (args.seeds + 1):,} runs; median of {len(rows)}: "
          + ", ".join(f"{k} {_show(k, v)}" for k, v in med.items()))


def _show(key: str, v: float) -> str:
    if key == "seed runs shown":
        return f"{v:.0f}"
    return f"{v:.1f} s" if v != float("inf") else f"more than {ui.TIMEOUT_MS / 1000:.0f} s"


if __name__ == "__main__":
    main()
