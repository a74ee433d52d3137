"""The state of a study's working directory, to compare one run of the workflow with another: the
files meant to be byte-reproducible, a canonical dump of the MLflow store, a fingerprint of every
file, and the workflow started in the background (to interrupt it)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil

from helpers import REPO, env

# Files the same config must reproduce byte for byte, whatever the parallelism and interruptions.
# (timing.json, tracking/*.json and the logs hold wall times and run ids; they are not.)
REPRODUCIBLE = (
    "data/*/datasets/*.npz",
    "data/*/runs/*/*/*/results.npz",
    "data/*/outcomes/*.csv",
    "reports/*/tables/*.csv",  # a named study's report (the default study's is reports/tables/)
    "reports/*/figures/*.png",
    "reports/tables/*.csv",
    "reports/figures/*.png",
)
# ... except these: the wall times of the jobs (as in README.md and index.html), and the files
# that rest on the measured seconds per update of one network (unit_cost.csv, the workflow's one
# measured input): the speeds in seconds and the claims, whose claim 3 is decided in seconds.
# Given the same unit_cost.csv they are reproduced too (test_reliability.py,
# test_the_same_measured_unit_cost_gives_byte_identical_claims).
TIMINGS = ("timings.csv",)
MEASURED = ("unit_cost.csv", "speeds.csv", "claims.csv", "claims_by_tolerance.csv")
NOT_REPRODUCIBLE = TIMINGS + MEASURED

# Tags that name a process, a user or a code state rather than a result.
VOLATILE_TAGS = {"mlflow.parentRunId", "mlflow.user", "mlflow.source.name", "mlflow.source.type",
                 "mlflow.source.git.commit", "gdbasins.code_version"}
# The record of a job's logged model (gdbasins.model): its run id, model id and creation time
# name the logging, not the result; the rest (artifact path, flavors) is compared.
MODEL_HISTORY_TAG = "mlflow.log-model.history"
VOLATILE_MODEL_FIELDS = {"run_id", "model_uuid", "utc_time_created"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reproducible_files(work) -> dict[str, str]:
    """``{relative path: sha256}`` of every file matching :data:`REPRODUCIBLE` (less
    :data:`NOT_REPRODUCIBLE`)."""
    work = Path(work)
    return {str(p.relative_to(work)): sha256(p) for pattern in REPRODUCIBLE for p in sorted(work.glob(pattern))
            if p.name not in NOT_REPRODUCIBLE}


def fingerprint(work, skip=(".snakemake", "config.yaml")) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``work`` (data/, logs/, reports/, the
    MLflow store and its artifacts), except Snakemake's own bookkeeping, the config the tests
    write, and SQLite's ``-shm`` file: the index of the write-ahead log that any reader of the
    store updates, which holds no data (the ``-wal`` file, which does, is compared)."""
    work = Path(work)
    return {str(p.relative_to(work)): sha256(p) for p in sorted(work.rglob("*"))
            if p.is_file() and p.relative_to(work).parts[0] not in skip and not p.name.endswith(".db-shm")}


def _connect(work, timeout: float = 60) -> sqlite3.Connection | None:
    db = Path(work) / "mlflow.db"
    if not db.exists():
        return None
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout)


def store_runs(work) -> list[dict]:
    """Every run in the study's SQLite store, deleted ones too, with its tags, params, metrics
    (every logged point, without timestamps) and artifact names."""
    con = _connect(work)
    runs = {}
    with con:
        for rid, status, stage, art in con.execute("SELECT run_uuid, status, lifecycle_stage, artifact_uri FROM runs"):
            folder = Path(art.removeprefix("file://"))
            artifacts = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
            runs[rid] = {"status": status, "stage": stage, "tags": {}, "params": {}, "metrics": [], "artifacts": artifacts}
        for rid, key, value in con.execute("SELECT run_uuid, key, value FROM tags"):
            runs[rid]["tags"][key] = value
        for rid, key, value in con.execute("SELECT run_uuid, key, value FROM params"):
            runs[rid]["params"][key] = value
        for rid, key, value, step, is_nan in con.execute("SELECT run_uuid, key, value, step, is_nan FROM metrics"):
            runs[rid]["metrics"].append((key, step, value, is_nan))
    con.close()
    for run in runs.values():
        run["metrics"].sort()
    return list(runs.values())


def identity(run) -> tuple[str, str | None]:
    """(job key, seed) of a child run, (job key, None) of a job's parent run."""
    return run["tags"].get("gdbasins.job"), run["tags"].get("gdbasins.seed")


def store_dump(work) -> dict[tuple, list[dict]]:
    """The live (not deleted) runs by identity, without ids, times and volatile tags: two
    stores with equal dumps hold the same runs with the same results."""
    dump = defaultdict(list)
    for run in store_runs(work):
        if run["stage"] != "active":
            continue
        tags = {k: v for k, v in run["tags"].items() if k not in VOLATILE_TAGS}
        if MODEL_HISTORY_TAG in tags:
            tags[MODEL_HISTORY_TAG] = [{k: v for k, v in entry.items() if k not in VOLATILE_MODEL_FIELDS}
                                       for entry in json.loads(tags[MODEL_HISTORY_TAG])]
        dump[identity(run)].append(dict(run, tags=tags))
    return dict(dump)


def running_keys(work) -> set[str]:
    """Job keys that have a run in state RUNNING (deleted runs included); polled while jobs
    write, so it waits for a busy store only briefly."""
    con = _connect(work, timeout=5)
    if con is None:
        return set()
    try:
        with con:
            rows = con.execute("SELECT t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                               "WHERE r.status = 'RUNNING' AND t.key = 'gdbasins.job'").fetchall()
    except sqlite3.OperationalError:  # the store is still being created, or busy
        return set()
    finally:
        con.close()
    return {v for (v,) in rows}


def start_snakemake(workdir: Path, *args, config: Path, **env_extra) -> subprocess.Popen:
    """``snakemake`` as :func:`helpers.snakemake` runs it, but in the background, in a session of
    its own (so that a test can kill it and every job it started)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(**env_extra),
                            start_new_session=True)


def rule_jobs(proc: subprocess.Popen, study: str, rule: str) -> dict[str, psutil.Process]:
    """The running jobs of ``rule`` under ``proc``, by the name of the log file each one holds
    open, relative to ``logs/<study>/<rule>/`` and without ``.log``: ``moons/sgd/eta=0.1`` for
    a train job, ``moons`` for a track job."""
    jobs = {}
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return jobs
    for p in children:
        try:
            if not any(a.endswith(f".{rule}.py") for a in p.cmdline()):
                continue
            for f in p.open_files():
                marker = f"/logs/{study}/{rule}/"
                if marker in f.path and f.path.endswith(".log"):
                    jobs[f.path.split(marker, 1)[1].removesuffix(".log")] = p
        except psutil.Error:  # it ended meanwhile
            continue
    return jobs


def wait_for(condition, proc: subprocess.Popen, timeout: float = 600, poll: float = 0.05):
    """Poll ``condition()`` until it returns something truthy (returned) while ``proc`` runs;
    ``None`` if ``proc`` ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(poll)
    return None


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` and every process under it at once, as a crash or ``kill -9`` would."""
    procs = [psutil.Process(proc.pid)]
    try:
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)
    proc.communicate(timeout=30)
