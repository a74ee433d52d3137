"""One training job of the study: a dataset, a variant and a learning rate, all seeds at once.

:func:`run_job` trains, analyses every seed's endpoint, and writes the job's result file; it does
no tracking (``tracking.py`` mirrors the result into MLflow). :func:`load_results` reads a result
file back as pandas tables.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from pathlib import Path

import numpy as np

from . import __version__, files
from .datasets import Dataset
from .endpoints import Certification, Tolerances, analyse
from .network import Network, network_from
from .train import accuracy, batch_size_for, train

__all__ = ["network_for", "run_job", "load_results", "dataset_salt", "ENDPOINT_COLUMNS", "FAIL_JOB_VAR"]

log = logging.getLogger(__name__)

# Test-only hook: a job whose key equals this environment variable raises before training, so the
# tests can check what one failing job does to a study (tests/test_reliability.py).
FAIL_JOB_VAR = "GDBASINS_FAIL_JOB"

ENDPOINT_COLUMNS = ("diverged", "raw_loss", "raw_grad_norm", "polished_loss", "grad_norm", "polished_norm", "eig_min",
                    "eig_max", "n_negative", "n_flat", "polish_distance", "polish_iterations", "escape_loss",
                    "n_saturated", "certify_loss", "certify_norm", "certify_rounds")


def dataset_salt(name: str) -> int:
    """A stable integer key of a dataset name, mixed into every seed: init depends on dataset,
    architecture and seed only."""
    return zlib.crc32(name.encode())


def network_for(ds: Dataset, spec: dict) -> Network:
    """The network a job's ``network`` config describes, sized for the dataset."""
    n_out = 1 if ds.y_train.ndim == 1 else ds.y_train.shape[1]
    return network_from((ds.X_train.shape[1], *spec["hidden"], n_out), spec)


def run_job(dataset_path, job: dict, out_path, *, log_every: float = 10.0) -> dict:
    """Train every seed of one (dataset, variant, learning rate) job and write its results.

    ``job`` holds ``dataset``, ``variant``, ``eta``, ``seeds`` (a count: seeds 0..seeds-1),
    ``epochs``, ``minibatch_size``, ``network`` (``hidden``, ``activation``, ``output``, ``loss``,
    ``l2``, ``init``, ``init_scale``) and ``tolerances`` (the :class:`Tolerances` fields training uses,
    ``endpoints.TRAINING_TOLERANCES``; the rest keep their defaults here and act in the classification)
    and, optionally, ``certification`` (the :class:`~gdbasins.endpoints.Certification` fields).
    Returns timings in seconds (wall time is kept out of the result file, which is reproducible
    bit for bit).
    """
    t_start = time.perf_counter()
    if job.get("key") and os.environ.get(FAIL_JOB_VAR) == job["key"]:
        raise RuntimeError(f"{FAIL_JOB_VAR}={job['key']}: this job was made to fail on purpose (a test hook)")
    ds = Dataset(dataset_path)
    net = network_for(ds, job["network"])
    tol = Tolerances(**job["tolerances"])
    batch_size = batch_size_for(job["variant"], ds.n_train, job["minibatch_size"])
    seeds = np.arange(job["seeds"])
    epochs = job["epochs"]
    log.info("%s/%s eta=%g: %d seeds, %d epochs, batch size %d, network %s", job["dataset"], job["variant"],
             job["eta"], len(seeds), epochs, batch_size, "-".join(map(str, net.sizes)))
    last = [time.perf_counter()]

    def progress(epoch, total):
        now = time.perf_counter()
        if now - last[0] >= log_every or epoch == total:
            last[0] = now
            spent = now - t_train
            log.info("epoch %d/%d, %.1f s elapsed, about %.1f s left", epoch, total, spent,
                     spent / epoch * (total - epoch))

    t_train = time.perf_counter()
    res = train(net, ds.X_train, ds.y_train, seeds=seeds, eta=job["eta"], batch_size=batch_size, epochs=epochs,
                init=job["network"]["init"], init_scale=job["network"]["init_scale"],
                salt=dataset_salt(job["dataset"]), X_test=ds.X_test, y_test=ds.y_test, progress=progress)
    t_analyse = time.perf_counter()
    log.info("trained in %.1f s; %d of %d diverged; polishing endpoints", t_analyse - t_train,
             res.diverged.sum(), len(seeds))
    table, polished = analyse(net, res.theta, ds.X_train, ds.y_train, diverged=res.diverged, tol=tol,
                              certification=Certification(**job.get("certification", {})),
                              optimum=ds.known_optimum(net))
    arrays = {f"history/{k}": v for k, v in res.history.items()}
    arrays.update({f"endpoint/{k}": np.asarray(table[k]) for k in ENDPOINT_COLUMNS})
    arrays.update(seeds=seeds, theta0=res.theta0, theta=res.theta, polished=polished, diverged_at=res.diverged_at)
    if ds.X_test is not None:
        with np.errstate(all="ignore"):
            out = net.forward(np.nan_to_num(polished), ds.X_test)
        acc = accuracy(out, net._check_y(ds.y_test, ds.X_test))
        arrays["endpoint/polished_test_accuracy"] = np.where(table["diverged"], np.nan, acc)
    meta = {
        "job": job,
        "dataset_sha256": ds.digest,
        "sizes": list(net.sizes),
        "batch_size": batch_size,
        "updates_per_epoch": res.updates_per_epoch,
        "known_optimum": ds.known_optimum(net),
        "package_version": __version__,
    }
    files.save(out_path, arrays, meta)
    t_end = time.perf_counter()
    log.info("analysed in %.1f s; wrote %s", t_end - t_analyse, out_path)
    return {"train_seconds": t_analyse - t_train, "analyse_seconds": t_end - t_analyse,
            "total_seconds": t_end - t_start, "seconds_per_epoch": float(np.nanmax(res.seconds) / max(epochs, 1))}


def load_results(path):
    """``(endpoints, histories, meta)`` of a result file: ``endpoints`` a DataFrame with one row
    per seed; ``histories`` a dict name -> array (epochs + 1, seeds)."""
    import pandas as pd

    arrays, meta = files.load(path)
    _check_belongs(path, meta)
    endpoints = pd.DataFrame({"seed": arrays["seeds"], "diverged_at": arrays["diverged_at"]})
    for k, v in arrays.items():
        if k.startswith("endpoint/"):
            endpoints[k.split("/", 1)[1]] = v
    histories = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("history/")}
    return endpoints, histories, meta, arrays


def _check_belongs(path, meta: dict) -> None:
    """A result file in the workflow's layout (``<study>/runs/<dataset>/<variant>/eta=<eta>/``)
    must be that job's: one job's file copied over another's is refused, naming both keys."""
    parts = Path(path).parts
    if len(parts) < 6 or parts[-5] != "runs":
        return
    expected = "/".join((parts[-6], *parts[-4:-1]))
    got = (meta.get("job") or {}).get("key")
    if got != expected:
        raise files.IntegrityError(f"{path}: holds the results of job {got!r}, not of {expected!r}, whose folder "
                                   f"it is in. {files.REGENERATE}")
