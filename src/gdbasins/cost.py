"""What one update costs one network: seconds per update of each variant, measured side by side.

Claim 3 says mini-batch is *faster* than SGD. On the replica axis every variant is cheaper per
network than a user training one model would see, and unevenly so, so speed in seconds is
measured for **one network** (R = 1, one BLAS thread, set by the caller before NumPy loads) doing
only what training does: the updates of an epoch, with its shuffle and gather, and no monitoring
pass. Variants take turns within each repeat, so a machine that slows down slows all of them; the
figure kept is the median over repeats. Wall times vary between runs: they are the one input of
the report that is not reproduced bit for bit.
"""

from __future__ import annotations

import time

import numpy as np

from .checks import check_positive, check_positive_int
from .network import Network
from .train import INIT_STREAM, SHUFFLE_STREAM, _stochastic_epoch, full_pass, replica_rngs

__all__ = ["seconds_per_update", "job_memory", "memory_limit", "MEMORY_VAR", "study_seconds", "estimate_line"]

#: Environment variable that sets the memory (MB) one job may use, instead of this machine's
#: physical memory: e.g. a cluster node's, when the workflow is submitted from a smaller machine.
MEMORY_VAR = "GDBASINS_MEMORY_MB"

#: L-BFGS pairs kept per replica while polishing (:func:`gdbasins.lbfgs.lbfgs`'s ``memory``).
_LBFGS_MEMORY = 30


def job_memory(net: Network, n_train: int, n_test: int, *, seeds: int, epochs: int,
               directions: int) -> dict[str, int]:
    """Estimated peak bytes of one training job's largest arrays, by part (float64 throughout):

    * ``history``: ``(epochs + 1) x seeds`` per-epoch metric (at most 7), kept in memory and
      copied once when the result file is written;
    * ``training``: the weights (initial, current, final, gradient: 4 x seeds x P) and one
      epoch's shuffled copy of the data for every replica (``seeds x n x (inputs + outputs + 1)``);
    * ``hessians``: the exact Hessians and their eigenvectors at every polished point,
      ``3 x seeds x P^2`` (the Hessian, its finite copy, the eigenvectors);
    * ``polishing``: L-BFGS's pairs for the perturbation test's ``directions`` copies of every
      replica, ``2 x 30 x seeds x directions x P``.

    The full-data passes work in cache-sized chunks and add a few MB whatever the study."""
    P, d, k = net.n_params, net.sizes[0], net.sizes[-1]
    metrics = 7 if n_test else 5
    return {
        "history": 2 * 8 * (epochs + 1) * seeds * metrics,
        "training": 8 * seeds * (4 * P + n_train * (d + k + 1)),
        "hessians": 3 * 8 * seeds * P * P,
        "polishing": 2 * 8 * _LBFGS_MEMORY * seeds * directions * P,
    }


def memory_limit() -> tuple[int, str]:
    """``(bytes, where it comes from)``: :data:`MEMORY_VAR` when set, else this machine's
    physical memory."""
    import os

    if os.environ.get(MEMORY_VAR):
        try:
            mb = float(os.environ[MEMORY_VAR])
        except ValueError:
            raise ValueError(f"{MEMORY_VAR} must be a number of MB. Got {os.environ[MEMORY_VAR]!r} instead.") from None
        return int(mb * 2**20), f"{MEMORY_VAR}={os.environ[MEMORY_VAR]}"
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"


def seconds_per_update(net: Network, X, y, batch_sizes: dict[str, int], etas: dict[str, float], *,
                       repeats: int = 5, min_seconds: float = 0.05, salt: int = 0) -> dict[str, float]:
    """Median seconds per update of one network (R = 1) for each variant in ``batch_sizes``
    (variant -> batch size), at learning rate ``etas[variant]``.

    Each repeat times every variant in turn over whole epochs, as many as take about
    ``min_seconds`` (found by a first, untimed calibration epoch).
    """
    check_positive_int("repeats", repeats)
    check_positive("min_seconds", min_seconds)
    X = net._check_X(X)
    y = net._check_y(y, X)
    n = X.shape[0]
    X1 = net.inputs(X)
    for variant, b in batch_sizes.items():
        if not 1 <= int(b) <= n:
            raise ValueError(f"The batch size of {variant!r} must be in [1, {n}]. Got {b!r} instead.")
    state = {v: _State(net, X1, y, int(b), float(etas[v]), salt) for v, b in batch_sizes.items()}
    for s in state.values():
        s.epochs = max(1, int(np.ceil(min_seconds / max(s.run(1), 1e-9))))
    samples = {v: [] for v in state}
    for _ in range(repeats):
        for v, s in state.items():
            samples[v].append(s.run(s.epochs) / (s.epochs * s.updates_per_epoch))
    return {v: float(np.median(t)) for v, t in samples.items()}


class _State:
    """One network training at one batch size; :meth:`run` times ``k`` epochs of updates."""

    def __init__(self, net, X1, y, batch_size, eta, salt):
        self.net, self.X1, self.y, self.batch_size = net, X1, y, batch_size
        self.n = X1.shape[0]
        self.updates_per_epoch = -(-self.n // batch_size)
        self.theta = net.init(replica_rngs([0], INIT_STREAM, salt), "glorot", 1.0)
        self.eta_col = np.full((1, 1), eta)
        self.shuffles = replica_rngs([0], SHUFFLE_STREAM, salt)
        self.grad = np.empty_like(self.theta)
        self.workspaces = {}
        self.epochs = 1

    def run(self, epochs: int) -> float:
        start = time.perf_counter()
        with np.errstate(all="ignore"):
            for _ in range(epochs):
                if self.batch_size == self.n:
                    full_pass(self.net, self.theta, self.X1, self.y, grad_out=self.grad, workspaces=self.workspaces)
                    self.theta -= np.multiply(self.grad, self.eta_col, out=self.grad)
                else:
                    _stochastic_epoch(self.net, self.theta, self.X1, self.y, self.eta_col, self.batch_size,
                                      self.shuffles)
        return time.perf_counter() - start


def unit_cost_table(dataset_paths: dict, spec: dict, *, repeats: int = 5):
    """A table (dataset, variant, batch_size, updates_per_epoch, seconds_per_update,
    seconds_per_epoch) for ``spec``: dataset -> ``{"network": <job network>, "variants":
    {variant: {"batch_size", "eta"}}}`` and ``dataset_paths``: dataset -> its file."""
    import pandas as pd

    from .datasets import Dataset
    from .job import dataset_salt, network_for

    rows = []
    for name in sorted(spec):
        ds = Dataset(dataset_paths[name])
        net = network_for(ds, spec[name]["network"])
        variants = spec[name]["variants"]
        seconds = seconds_per_update(net, ds.X_train, ds.y_train, {v: s["batch_size"] for v, s in variants.items()},
                                     {v: s["eta"] for v, s in variants.items()}, repeats=repeats,
                                     salt=dataset_salt(name))
        for v in sorted(variants):
            upe = -(-ds.n_train // variants[v]["batch_size"])
            rows.append({"dataset": name, "variant": v, "batch_size": variants[v]["batch_size"],
                         "updates_per_epoch": upe, "seconds_per_update": seconds[v],
                         "seconds_per_epoch": seconds[v] * upe})
    return pd.DataFrame(rows)


#: CPU seconds of one job of each rule, a model fitted to the per-job CPU times Snakemake's
#: benchmark files recorded for the committed default study (156 training jobs; 3,419 of the
#: 4,250 job CPU-seconds were training) and checked on smoke runs (36 training jobs, about 120
#: job CPU-seconds), on this project's 2-core machine (AMD EPYC). A training job: process start,
#: then per replica-step overhead, per replica-sample-parameter arithmetic (both in training) and
#: per replica-parameter analysis (polishing, Hessians, perturbation tests); its total over the
#: default study came within 4% of the measured one, single datasets within a factor of 0.6-1.6.
TRAIN = {"start": 0.6, "replica_step": 3.83e-7, "replica_sample_param": 3.99e-10, "replica_param": 1.53e-3}
#: The other rules, per job: a fixed part (process start, imports) and a part per training job,
#: per run (seed) or per escape-continuation step, from the same measurements.
RULES = {"make_dataset": 0.7, "init_tracking": 5.0, "unit_cost": (3.3, 0.2), "classify": (2.2, 0.15, 0.0046),
         "track": (3.5, 0.3, 0.002), "minima": (2.0, 0.0012), "report": (10.0, 0.0075),
         "escape": (2.0, 1.3e-8)}
#: Snakemake's own start (the DAG, the config checks) and its bookkeeping per job, in wall seconds,
#: and how much longer a job takes in wall time than in CPU time on an idle machine.
SNAKEMAKE_START, SNAKEMAKE_PER_JOB, WALL_PER_CPU = 10.0, 0.3, 1.1


def study_seconds(resolved: dict, cores: int) -> dict:
    """Estimated cost of running a whole study from nothing (:func:`gdbasins.config.resolve`'s
    ``resolved`` config) on ``cores`` cores of a machine like this project's, idle: ``{"cpu":
    {rule: CPU seconds}, "jobs": job count, "wall": seconds}``. The wall time assumes the jobs keep
    every core busy; the escape experiment is counted as if every seed of batch GD got stuck (at
    most ``escape_experiment.starts``), so that part is an upper bound. A machine shared with
    other work takes longer, and a cluster runs many jobs at once."""
    from .datasets import generate
    from .network import network_from

    cpu = dict.fromkeys(("make_dataset", "init_tracking", "train", "unit_cost", "classify", "track", "escape",
                         "minima", "report"), 0.0)
    cpu["init_tracking"], cpu["unit_cost"] = RULES["init_tracking"], RULES["unit_cost"][0]
    escape = resolved.get("escape_experiment", {"starts": 0, "epochs": 0})
    jobs = resolved["jobs"]
    runs_total = 0
    for name, ds in resolved["datasets"].items():
        arrays, _ = generate(ds["generator"], ds["params"], ds["seed"])
        n = len(arrays["X_train"])
        n_out = 1 if arrays["y_train"].ndim == 1 else arrays["y_train"].shape[1]
        sizes = (arrays["X_train"].shape[1], *ds["network"]["hidden"], n_out)
        P = network_from(sizes, ds["network"]).n_params
        mine = [j for j in jobs if j["dataset"] == name]
        runs = sum(j["seeds"] for j in mine)
        runs_total += runs
        for j in mine:
            steps = j["epochs"] * -(-n // j["batch_size"])
            cpu["train"] += (TRAIN["start"] + TRAIN["replica_step"] * steps * j["seeds"]
                             + TRAIN["replica_sample_param"] * j["epochs"] * n * j["seeds"] * P
                             + TRAIN["replica_param"] * j["seeds"] * P)
        starts = min(escape["starts"], ds["seeds"]) if any(j["variant"] == "batch" for j in mine) else 0
        a, b, c = RULES["classify"]
        cpu["classify"] += a + b * len(mine) + c * runs
        a, b, c = RULES["track"]
        cpu["track"] += a + b * len(mine) + c * runs
        steps = starts * len(mine) * escape["epochs"] * n * P  # continuations x epochs x work of one
        cpu["escape"] += RULES["escape"][0] + RULES["escape"][1] * steps
        cpu["minima"] += RULES["minima"][0] + RULES["minima"][1] * runs
        cpu["make_dataset"] += RULES["make_dataset"]
        cpu["unit_cost"] += RULES["unit_cost"][1]
    cpu["report"] = RULES["report"][0] + RULES["report"][1] * runs_total
    # per dataset: make, classify, track, escape, minima; once: init_tracking, unit_cost, report
    n_jobs = len(jobs) + 5 * len(resolved["datasets"]) + 3
    wall = SNAKEMAKE_START + SNAKEMAKE_PER_JOB * n_jobs + WALL_PER_CPU * sum(cpu.values()) / max(1, cores)
    return {"cpu": cpu, "jobs": n_jobs, "wall": wall, "runs": runs_total}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_line(resolved: dict, cores: int | None, study: str) -> str:
    """One line for the console at the start of a run: the study's size and estimated time.
    ``cores`` is ``None`` for a cluster executor's run (no core count): the CPU time alone."""
    e = study_seconds(resolved, cores or 1)
    cpu = f"{_duration(sum(e['cpu'].values()))} of CPU"
    measured = "measured on an idle 2-core machine, a busy one is slower"
    if cores is None:
        time = f"about {cpu} ({measured})"
    else:
        time = f"about {_duration(e['wall'])} on {cores} core{'s' * (cores != 1)} ({cpu}; {measured})"
    return (f"gdbasins: study {study!r}: {len(resolved['jobs'])} training jobs, {e['runs']} seed runs, "
            f"{e['jobs']} jobs in all; from nothing {time}")
