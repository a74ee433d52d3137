"""Outcome labels and analysis time with the batched polisher against scipy's, on real jobs.

For each ``DATASET:VARIANT:RATE_INDEX[:SEEDS]`` (the rate index counts the variant's learning
rates in the config, from 0), trains the job as the workflow does (the config's epochs, network
and seeds, or SEEDS of them), then analyses the same final weights twice: with
:func:`gdbasins.endpoints.polish` (batched L-BFGS, :mod:`gdbasins.lbfgs`) and with
:func:`gdbasins.endpoints.polish_scipy` (scipy's L-BFGS-B per replica, the polisher before it),
everything else equal (Hessians, escapes, the perturbation test). Both are classified with the
dataset's known optimum, or else the lowest polished loss either found. Prints per job the
analysis seconds each way, the outcome counts and the seeds whose label differs.

    python3 workflow/benchmarks/compare_polishers.py teacher:batch:3 relu10:batch:2:100
    python3 workflow/benchmarks/compare_polishers.py --configfile config/smoke.yaml moons:sgd:0
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from gdbasins import config as C
from gdbasins import datasets, endpoints
from gdbasins.datasets import Dataset
from gdbasins.job import dataset_salt, network_for
from gdbasins.train import train

REPO = Path(__file__).resolve().parents[2]


def compare(cfg: dict, pick: str, tmp: Path) -> dict:
    name, variant, index, *seeds = pick.split(":")
    job = [j for j in cfg["jobs"] if j["dataset"] == name and j["variant"] == variant][int(index)]
    spec = cfg["datasets"][name]
    path = tmp / f"{name}.npz"
    if not path.exists():
        datasets.write(path, name, spec["generator"], spec.get("params", {}), spec.get("seed", 0))
    ds = Dataset(path)
    net = network_for(ds, job["network"])
    n_seeds = int(seeds[0]) if seeds else job["seeds"]
    res = train(net, ds.X_train, ds.y_train, seeds=np.arange(n_seeds), eta=job["eta"], batch_size=job["batch_size"],
                epochs=job["epochs"], init=job["network"]["init"], init_scale=job["network"]["init_scale"],
                salt=dataset_salt(name))
    certification = endpoints.Certification(**job["certification"])
    tables, seconds = {}, {}
    batched = endpoints.polish
    try:
        for which, polisher in (("batched", batched), ("scipy", endpoints.polish_scipy)):
            endpoints.polish = polisher  # analyse, certify and the escapes all polish through it
            t = time.process_time()
            tables[which], _ = endpoints.analyse(net, res.theta, ds.X_train, ds.y_train, diverged=res.diverged,
                                                 certification=certification, optimum=ds.known_optimum(net))
            seconds[which] = time.process_time() - t
    finally:
        endpoints.polish = batched
    optimum = ds.known_optimum(net)
    if optimum is None:
        optimum = min(np.nanmin(t["polished_loss"]) for t in tables.values())
    labels = {w: endpoints.classify(t, optimum)[0] for w, t in tables.items()}
    differ = np.flatnonzero(labels["batched"] != labels["scipy"])
    counts = {w: dict(zip(*np.unique(v, return_counts=True))) for w, v in labels.items()}
    return {"job": f"{name}/{variant}/eta={job['eta']!r}", "seeds": n_seeds, "seconds": seconds, "counts": counts,
            "differ": [(int(k), labels["scipy"][k], labels["batched"][k]) for k in differ]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jobs", nargs="+", metavar="DATASET:VARIANT:RATE_INDEX[:SEEDS]")
    ap.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    args = ap.parse_args(argv)
    cfg = C.resolve(C.validate(yaml.safe_load(Path(args.configfile).read_text())))
    total = {"batched": 0.0, "scipy": 0.0}
    n = n_differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pick in args.jobs:
            r = compare(cfg, pick, Path(tmp))
            for w in total:
                total[w] += r["seconds"][w]
            n, n_differ = n + r["seeds"], n_differ + len(r["differ"])
            print(f"{r['job']} ({r['seeds']} seeds): analysis CPU s batched {r['seconds']['batched']:.1f}, "
                  f"scipy {r['seconds']['scipy']:.1f}; labels differ for {len(r['differ'])}", flush=True)
            for w in ("scipy", "batched"):
                print(f"    {w:8s}" + ", ".join(f"{k} {v}" for k, v in sorted(r["counts"][w].items())))
            for seed, a, b in r["differ"]:
                print(f"    seed {seed}: scipy {a} -> batched {b}")
    print(f"\nall: {n_differ} of {n} seeds labelled differently; analysis CPU s batched {total['batched']:.1f}, "
          f"scipy {total['scipy']:.1f} ({total['scipy'] / max(total['batched'], 1e-9):.1f}x)")


if __name__ == "__main__":
    main()
