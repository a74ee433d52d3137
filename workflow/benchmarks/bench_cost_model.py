"""How a study's time grows: with seeds, samples and hidden units, and with a second core.

One "cell" of a study is three training jobs on one dataset, one per variant (batch, mini-batch
of 16, SGD), each training every seed and analysing every endpoint (polishing, Hessians, the
perturbation test) exactly as a workflow job does (``gdbasins.job.run_job``). From a base cell
(``make_moons`` with ``--samples`` samples, a 2-``hidden``-1 tanh network with a sigmoid output
and BCE, L2 1e-3, ``--epochs`` epochs) one factor at a time is changed:

* seeds 50, 200, 1,000;
* samples 100, 1,000, 10,000;
* hidden units 8, 32, 128;

and the CPU seconds of the cell's training and analysis are measured (one BLAS thread, median of
``--repeats``). The exponent of each factor is the least-squares slope of log(time) against
log(factor) over its three points. ``--cores`` also runs the smoke study from fresh clones with
``snakemake --cores 1`` and ``--cores 2`` (``bench_study.py``'s clone and measurement) and prints
the speed-up of two cores over one.

    python3 workflow/benchmarks/bench_cost_model.py                 # the table (about 15 minutes)
    python3 workflow/benchmarks/bench_cost_model.py --cores         # and the two-core speed-up
    python3 workflow/benchmarks/bench_cost_model.py --quick         # fewer epochs, one repeat
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gdbasins import datasets
from gdbasins.job import run_job

BASE = {"seeds": 50, "samples": 100, "hidden": 8}
GRID = {"seeds": (50, 200, 1000), "samples": (100, 1000, 10000), "hidden": (8, 32, 128)}
ETAS = {"batch": 2.0, "minibatch": 0.5, "sgd": 0.05}


def cell(tmp: Path, seeds: int, samples: int, hidden: int, epochs: int) -> dict:
    """CPU seconds of one cell's three jobs: training and analysis, summed over the variants."""
    path = tmp / f"moons_{samples}.npz"
    if not path.exists():
        datasets.write(path, "moons", "moons", {"n_samples": samples, "noise": 0.25, "test_fraction": 0.25})
    n_train = samples - int(round(0.25 * samples))
    out = {"train": 0.0, "analyse": 0.0}
    for variant, eta in ETAS.items():
        job = {"study": "bench", "dataset": "moons", "variant": variant, "eta": eta, "seeds": seeds,
               "epochs": epochs, "minibatch_size": 16,
               "network": {"hidden": [hidden], "activation": "tanh", "output": "sigmoid", "loss": "bce",
                           "l2": 1e-3, "init": "glorot", "init_scale": 1.0},
               "tolerances": {"eig": 1e-6, "grad": 1e-6, "escape": 1e-6},
               "certification": {"radius": 1e-3, "directions": 3, "maxiter": 200, "rounds": 3}}
        assert n_train >= 16
        c0 = time.process_time()
        t = run_job(path, copy.deepcopy(job), tmp / "result.npz", log_every=1e9)
        cpu = time.process_time() - c0
        # the job's own split of its wall time, scaled to its CPU time
        share = t["train_seconds"] / max(t["train_seconds"] + t["analyse_seconds"], 1e-12)
        out["train"] += cpu * share
        out["analyse"] += cpu * (1 - share)
    out["total"] = out["train"] + out["analyse"]
    return out


def exponent(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="one repeat, 10 epochs")
    parser.add_argument("--cores", action="store_true", help="also time the smoke study on 1 and 2 cores")
    parser.add_argument("--only-cores", action="store_true", help="only the smoke study on 1 and 2 cores")
    args = parser.parse_args(argv)
    repeats, epochs = (1, 10) if args.quick else (args.repeats, args.epochs)
    if not args.only_cores:
        table(repeats, epochs)
    if args.cores or args.only_cores:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_study import one_study

        walls = {c: statistics.median(one_study("config/smoke.yaml", str(c))["wall"] for _ in range(repeats))
                 for c in (1, 2)}
        print(f"\nSmoke study from a fresh clone, median of {repeats}: --cores 1 {walls[1]:.1f} s, "
              f"--cores 2 {walls[2]:.1f} s, speed-up {walls[1] / walls[2]:.2f}x")


def table(repeats: int, epochs: int) -> None:
    print(f"One cell: 3 jobs (batch, mini-batch 16, SGD), {epochs} epochs; CPU seconds, median of {repeats}.\n")
    print("| factor | value | training s | analysis s | total s |")
    print("|---|---:|---:|---:|---:|")
    fits = {}
    with tempfile.TemporaryDirectory(prefix="gdbasins-cost-") as tmp:
        for factor, values in GRID.items():
            totals = []
            for v in values:
                size = dict(BASE, **{factor: v})
                runs = [cell(Path(tmp), epochs=epochs, **size) for _ in range(repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                totals.append(med["total"])
                print(f"| {factor} | {v:,} | {med['train']:.2f} | {med['analyse']:.2f} | {med['total']:.2f} |",
                      flush=True)
            fits[factor] = exponent(values, totals)
    print("\nFitted exponents (time ~ factor^k, over the three points): "
          + ", ".join(f"{f} {k:.2f}" for f, k in fits.items()))


if __name__ == "__main__":
    main()
