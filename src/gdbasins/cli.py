"""Command line: ``gdbasins demo`` trains XOR under the three variants and prints where the runs
ended."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="gdbasins", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train XOR under batch, mini-batch and stochastic GD")
    d.add_argument("--seeds", type=int, default=32)
    d.add_argument("--epochs", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.seeds, args.epochs)


if __name__ == "__main__":
    main()
