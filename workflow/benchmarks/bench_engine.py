"""Throughput of the training engine against scikit-learn's MLPClassifier, side by side.

Workload: a 2-8-1 network (tanh hidden, sigmoid output, binary cross-entropy), 1,000 samples of
``make_moons``, plain gradient descent with a constant rate at batch sizes 1, 32 and 1,000. Our
engine trains R replicas at once; scikit-learn (solver 'sgd', momentum 0, alpha 0) fits one seed
at a time. Both are timed in CPU seconds of this process, one BLAS thread, alternating within each
repeat; the table shows the median over repeats of replica-sample-updates per CPU-second.

    python3 workflow/benchmarks/bench_engine.py            # full table (a few minutes)
    python3 workflow/benchmarks/bench_engine.py --quick    # one repeat, fewer epochs
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from gdbasins import Network, train

N = 1000
BATCH_SIZES = (1, 32, 1000)
REPLICAS = (1, 32, 128, 512)
#: Epochs per batch size, so that each measurement takes a comparable amount of work.
EPOCHS = {1: 2, 32: 20, 1000: 200}
#: batch size: (smallest R the target applies to, least ratio to scikit-learn).
TARGETS = {1: (512, 500.0), 32: (128, 35.0), 1000: (32, 6.0)}
#: batch size: least ratio to scikit-learn of a single network (R = 1), where the replica axis
#: does not help.
SINGLE_NETWORK_TARGETS = {1000: 3.0}


def ours(X, y, R, batch_size, epochs):
    net = Network((2, 8, 1), "tanh", "sigmoid", "bce")
    t0 = time.process_time()
    train(net, X, y, seeds=range(R), eta=0.1, batch_size=batch_size, epochs=epochs)
    return R * N * epochs / (time.process_time() - t0)


def sklearn(X, y, batch_size, epochs, n_seeds=2):
    t0 = time.process_time()
    for seed in range(n_seeds):
        MLPClassifier(
            (8,), activation="tanh", solver="sgd", momentum=0.0, learning_rate="constant",
            learning_rate_init=0.1, alpha=0.0, batch_size=batch_size, max_iter=epochs, tol=0.0,
            n_iter_no_change=10**9, shuffle=True, random_state=seed,
        ).fit(X, y)
    return n_seeds * N * epochs / (time.process_time() - t0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat, a tenth of the epochs")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_moons(N, noise=0.2, random_state=0)
    print(f"| batch size | R | ours (replica-sample-updates/s) | scikit-learn (samples/s) | ratio |")
    print("|---:|---:|---:|---:|---:|")
    failures = []
    for bs in BATCH_SIZES:
        epochs = max(1, EPOCHS[bs] // (10 if args.quick else 1))
        for R in REPLICAS:
            ours_t, sk_t, ratios = [], [], []
            for _ in range(repeats):  # alternate, so both see the same machine load
                o = ours(X, y, R, bs, epochs)
                s = sklearn(X, y, bs, epochs)
                ours_t.append(o), sk_t.append(s), ratios.append(o / s)
            ratio = statistics.median(ratios)
            print(f"| {bs} | {R} | {statistics.median(ours_t):,.0f} | {statistics.median(sk_t):,.0f} | {ratio:,.1f}x |", flush=True)
            min_R, target = TARGETS[bs]
            if R >= min_R and ratio < target:
                failures.append(f"batch size {bs}, R = {R}: {ratio:.1f}x < {target}x")
            single = SINGLE_NETWORK_TARGETS.get(bs)
            if R == 1 and single is not None and ratio < single:
                failures.append(f"batch size {bs}, a single network (R = 1): {ratio:.1f}x < {single}x")
    print("\ntargets: " + ("all met" if not failures else "; ".join(failures)))


if __name__ == "__main__":
    main()
