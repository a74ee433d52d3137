"""Wall time of a whole study from a fresh clone, and where its time goes.

Clones the repository's committed HEAD into a temporary folder, runs the README's main command's
workflow step there (``snakemake --cores all``, optionally with ``--configfile``), and repeats
from a new clone each time. Prints per repeat: the wall time, the CPU seconds of every process
the workflow ran (user + system), and the seconds spent inside the jobs, split into training,
polishing/Hessians and MLflow (store creation, the track jobs that log every job's runs, the
report's summary run), then the medians.

The MLflow share is given two ways: MLflow seconds over the CPU seconds of the whole study (the
share of the machine's work), and over wall time x cores (how much of the wall time it occupied
the cores it ran on). Run it with nothing else on the machine.

    python3 workflow/benchmarks/bench_study.py                                # default study, 3 repeats
    python3 workflow/benchmarks/bench_study.py --configfile config/smoke.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def logged_seconds(paths, pattern: str) -> float:
    total = 0.0
    for path in paths:
        match = re.search(pattern, Path(path).read_text())
        if match:
            total += float(match.group(1))
    return total


def one_study(configfile: str | None, cores: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="gdbasins-bench-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        cmd = [sys.executable, "-m", "snakemake", "--cores", cores]
        if configfile:
            cmd += ["--configfile", configfile]
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        cpu0, t0 = children_cpu(), time.perf_counter()
        proc = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
        if proc.returncode != 0:
            raise SystemExit(f"snakemake failed:\n{proc.stderr[-3000:]}")
        timings = [json.loads(p.read_text()) for p in clone.glob("data/*/runs/**/timing.json")]
        logs = clone / "logs"
        mlflow = {
            "store": logged_seconds(logs.glob("*/init_tracking*.log"), r"ready in ([0-9.]+) s"),
            "jobs": logged_seconds(logs.glob("*/track/*.log"), r"jobs to MLflow in ([0-9.]+) s"),
            "summary": logged_seconds(logs.glob("*/report*.log"), r"logged in ([0-9.]+) s"),
        }
        return {"wall": wall, "cpu": cpu, "jobs": len(timings),
                "train": sum(t["train_seconds"] for t in timings),
                "analyse": sum(t["analyse_seconds"] for t in timings),
                "mlflow": sum(mlflow.values()), **{f"mlflow_{k}": v for k, v in mlflow.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default=None, help="a config other than config/config.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", default="all")
    args = parser.parse_args(argv)
    cores = os.cpu_count() if args.cores == "all" else int(args.cores)
    rows = []
    for k in range(args.repeats):
        r = one_study(args.configfile, args.cores)
        r["mlflow_share_cpu"] = r["mlflow"] / r["cpu"]
        r["mlflow_share_wall"] = r["mlflow"] / (r["wall"] * cores)
        rows.append(r)
        print(f"repeat {k + 1}: " + ", ".join(f"{key} {value:.3g}" for key, value in r.items()), flush=True)
    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    print(f"median of {len(rows)} ({cores} cores, {args.configfile or 'config/config.yaml'}):")
    print(f"  wall {med['wall']:.1f} s ({med['wall'] / 60:.2f} min), CPU {med['cpu']:.0f} s, {med['jobs']:.0f} training jobs")
    print(f"  inside the jobs: training {med['train']:.1f} s, polishing/Hessians {med['analyse']:.1f} s, "
          f"MLflow {med['mlflow']:.1f} s (store {med['mlflow_store']:.1f}, jobs {med['mlflow_jobs']:.1f}, "
          f"summary {med['mlflow_summary']:.1f})")
    print(f"  MLflow share: {med['mlflow_share_cpu']:.1%} of the CPU time, "
          f"{med['mlflow_share_wall']:.1%} of wall time x {cores} cores")


if __name__ == "__main__":
    main()
