"""Command line.

``gdbasins demo`` trains XOR under the three variants and prints where the runs ended.
``gdbasins report`` rebuilds a study's report from the result files in the working directory,
refusing (or with ``--allow-partial``, naming on its first line) jobs whose results are missing:
the way to a report after ``snakemake --keep-going`` left some jobs failed."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
from collections import Counter

import numpy as np


def demo(seeds: int = 32, epochs: int = 2000) -> None:
    from . import Network, batch_size_for, train
    from .endpoints import OUTCOMES, analyse, classify

    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    net = Network((2, 2, 1), "sigmoid", "sigmoid", "mse")
    print(f"XOR, 2-2-1 sigmoid network, MSE, {seeds} seeds, {epochs} epochs, L* = 0\n")
    print(f"{'variant':<10} {'eta':>5}  " + " ".join(f"{o:>11}" for o in OUTCOMES))
    for variant, batch in (("batch", None), ("minibatch", 2), ("sgd", None)):
        for eta in (0.5, 5.0, 50.0):
            bs = batch_size_for(variant, len(X), batch or 2)
            res = train(net, X, y, seeds=range(seeds), eta=eta, batch_size=bs, epochs=epochs, init="uniform")
            table, _ = analyse(net, res.theta, X, y, diverged=res.diverged)
            counts = Counter(classify(table, 0.0)[0])
            print(f"{variant:<10} {eta:>5g}  " + " ".join(f"{counts.get(o, 0):>11}" for o in OUTCOMES))


def report(config_path: str, allow_partial: bool, out: str | None) -> int:
    import tempfile
    from pathlib import Path

    from . import files, render
    from .classify import outcomes_table
    from .config import eta_label, load_config, resolve, validate
    from .endpoints import Tolerances

    config = validate(load_config(config_path))
    resolved = resolve(config)
    root = Path("data") / config["study"]
    present, missing, by_dataset = [], [], {}
    for job in resolved["jobs"]:
        run = root / "runs" / job["dataset"] / job["variant"] / f"eta={eta_label(job['eta'])}"
        if (run / "results.npz").exists():
            _check_made_by(run / "results.npz", job, config_path)
            present.append(job["key"])
            by_dataset.setdefault(job["dataset"], []).append(run)
        else:
            missing.append(job["key"])
    if missing and not allow_partial:
        print(f"gdbasins report: {len(missing)} job(s) have no results: {', '.join(missing)}. "
              "Run the pipeline to completion, or pass --allow-partial.", file=sys.stderr)
        return 2
    if not by_dataset:
        print("gdbasins report: no results at all under " + str(root), file=sys.stderr)
        return 2
    out_dir = Path(out or ("reports" if config["study"] == "default" else f"reports/{config['study']}"))
    tol = Tolerances(**resolved["tolerances"])
    with tempfile.TemporaryDirectory() as tmp:
        outcome_paths = []
        for dataset, runs in sorted(by_dataset.items()):
            path = Path(tmp) / f"{dataset}.csv"
            files.write_table(path, outcomes_table([r / "results.npz" for r in runs], tol))
            outcome_paths.append(path)
        runs = [r for rs in by_dataset.values() for r in rs]
        cost = root / "unit_cost.csv"
        render.build(outcome_paths, [r / "results.npz" for r in runs],
                     [r / "timing.json" for r in runs if (r / "timing.json").exists()],
                     {d: root / "datasets" / f"{d}.npz" for d in by_dataset}, config, out_dir, absent=missing,
                     cost_path=cost if cost.exists() else None)
    print(f"wrote {out_dir / 'README.md'}" + (f" (partial: {len(missing)} job(s) absent)" if missing else ""))
    return 0


def _check_made_by(path, job: dict, config_path) -> None:
    """Refuse a result file made under other settings than the config's job (e.g. 30 epochs
    where the config says 3,000): the report would label them as the config's."""
    import json

    from .files import load

    made = load(path)[1]["job"]
    want = json.loads(json.dumps(job))  # as the file holds it: JSON's types
    differ = sorted(k for k in set(made) | set(want) if made.get(k) != want.get(k))
    if differ:
        k = differ[0]
        raise ValueError(f"{path} was made with {k} = {made.get(k)!r}, but {config_path} gives {want.get(k)!r}"
                         + (f" (and {len(differ) - 1} more setting(s) differ)" if len(differ) > 1 else "")
                         + "; pass the config the study ran with, or run snakemake with this one first")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="gdbasins", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train XOR under batch, mini-batch and stochastic GD")
    d.add_argument("--seeds", type=int, default=32)
    d.add_argument("--epochs", type=int, default=2000)
    r = sub.add_parser("report", help="rebuild a study's report from its result files")
    r.add_argument("--configfile", default="config/config.yaml")
    r.add_argument("--allow-partial", action="store_true", help="build it even if some jobs have no results")
    r.add_argument("--out", help="output folder (default: the study's reports folder)")
    args = parser.parse_args(argv)
    from .files import IntegrityError

    try:
        if args.command == "demo":
            demo(args.seeds, args.epochs)
        elif args.command == "report":
            sys.exit(report(args.configfile, args.allow_partial, args.out))
    except (ValueError, IntegrityError, OSError) as exc:  # a ConfigError is a ValueError
        text = str(exc) if not isinstance(exc, OSError) or not exc.filename else f"{exc.filename}: {exc.strerror}"
        print(f"gdbasins {args.command}: {' '.join(text.split())}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
