"""MLflow: the browsable mirror of the pipeline's result files. With :mod:`gdbasins.model` (the
pyfunc model), the only module that imports mlflow (lazily, so that importing the package stays
cheap).

Layout in the tracking store, one experiment per study:

* one **parent run** per job (dataset, variant, learning rate): every config value that shaped it
  as params, the code version and the job key as tags, the dataset as an input with its digest,
  median curves, the share of each outcome, a figure of the loss curves, and the best seed's
  network as a pyfunc model (:func:`gdbasins.model.log_best`);
* one **child run** per seed (``mlflow.parentRunId``): downsampled per-epoch curves, final and
  endpoint metrics, the outcome label, basin and ``converged`` flag as tags, the weights as an
  artifact.

The workflow logs a dataset's jobs once the dataset is classified (rule ``track``), all in one
process: the import of MLflow and the opening of its store (about 1.5 s) are paid once per dataset
instead of once per job, and every run is written complete, outcome included.

Every run carries the tag ``gdbasins.job`` (a deterministic key of the job). Logging a job first
retires any earlier runs with that key (RUNNING ones are marked KILLED, then all are deleted), so a
rerun never leaves two live copies. Metrics go in batches (``log_batch``).

Every store call goes through :func:`retry_locked`: with many jobs writing to one SQLite file, a
writer can wait longer than SQLite's busy timeout and get "database is locked"; the call is then
retried after an exponentially growing, jittered pause instead of losing the run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["tracking_uri", "init_store", "check_store", "TrackingStoreError", "redact", "connect_uri", "log_job", "record_failure",
           "log_summary", "end_orphans", "code_version", "JOB_TAG", "Stopwatch", "retry_locked"]

JOB_TAG = "gdbasins.job"
#: Per-seed curves in MLflow: these metrics at about CURVE_POINTS epochs each (the job's result
#: file keeps every epoch). Each value costs tens of microseconds to a millisecond in the SQLite
#: store, and the study logs thousands of seed runs.
CURVE_POINTS = 16
CHILD_CURVES = ("loss", "test_accuracy")

log = logging.getLogger(__name__)


class Stopwatch:
    """Accumulates the seconds spent inside ``with stopwatch:`` blocks."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._t


def tracking_uri(root=None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` with ``root`` (default:
    the working directory) made absolute, so no working directory changes where runs go."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return "sqlite:///" + str(Path(root or os.getcwd()).resolve() / "mlflow.db")


def _client(uri):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Behind a server MLflow prints two "View run/experiment at" lines per finished run to stdout,
    # which is Snakemake's console: thousands of lines for a study. The UI lists the runs anyway.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if uri.startswith(("http://", "https://")):
        _bound_http_retries()
    from mlflow import MlflowClient

    return _Retrying(retry_locked(lambda: MlflowClient(tracking_uri=uri)))


# Store errors that a second try gets past (matched in the message of the error or its causes):
TRANSIENT = (
    # SQLite: a writer waited past the busy timeout
    "database is locked",
    # two jobs logging the same dataset at once both insert it (MLflow's get-or-create of the
    # dataset row is not atomic); the second try finds the row the winner wrote
    "UNIQUE constraint failed: datasets.",  # SQLite
    'unique constraint "dataset_pk"',  # PostgreSQL, behind a tracking server
)


def _transient(exc: BaseException | None) -> str | None:
    """The :data:`TRANSIENT` error that ``exc`` or an exception that caused it is, or ``None``."""
    for _ in range(10):  # the cause chain is short; bound it anyway
        if exc is None:
            return None
        for t in TRANSIENT:
            if t in str(exc):
                return t
        exc = exc.__cause__ or exc.__context__
    return None


def retry_locked(call, *, attempts: int = 8, base: float = 0.25, cap: float = 8.0, sleep=time.sleep, rng=None):
    """``call()``, retried while it fails with "database is locked" (SQLite's answer to a writer
    that waited past the busy timeout) or another :data:`TRANSIENT` error: up to ``attempts``
    calls, pausing a random time between
    half and all of ``min(cap, base * 2**k)`` seconds after the k-th failure (exponential backoff
    with jitter, so that writers that collided do not collide again). Other errors, and the last
    failure, are raised. A failed store call is rolled back, so repeating it is safe."""
    rng = rng or random.Random()
    for k in range(attempts):
        try:
            return call()
        except Exception as exc:
            error = _transient(exc)
            if k == attempts - 1 or error is None:
                raise
            pause = min(cap, base * 2**k) * rng.uniform(0.5, 1.0)
            log.warning("tracking store: %s; attempt %d of %d, retrying in %.2f s", error, k + 1, attempts, pause)
            sleep(pause)


class _Retrying:
    """An ``MlflowClient`` whose every method call goes through :func:`retry_locked`."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: retry_locked(lambda: attr(*args, **kwargs))


def init_store(uri: str, experiment: str, artifact_root=None) -> str:
    """Create the store (if new) and the experiment (if missing); returns the experiment id.

    Run once, before any job logs: parallel processes opening a brand-new SQLite store at once
    corrupt it. ``artifact_root`` (a folder) is used for a new experiment on a local store.
    """
    check_store(uri)
    client = _client(uri)
    _use_wal(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    location = None
    if artifact_root is not None and not uri.startswith(("http://", "https://")):
        location = Path(artifact_root).resolve().as_uri()
    return client.create_experiment(experiment, artifact_location=location)


def _use_wal(uri: str) -> None:
    """Switch a SQLite store to write-ahead logging (a setting kept in the file): commits no
    longer rewrite the database, and readers do not block the jobs that write."""
    if not uri.startswith("sqlite:///"):
        return
    import sqlite3

    with contextlib.closing(sqlite3.connect(uri[len("sqlite:///"):], timeout=60)) as con:
        con.execute("PRAGMA journal_mode=WAL")


class TrackingStoreError(RuntimeError):
    """The tracking store a URI names cannot be used (unreachable server, refused login, ...)."""


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, fit for error messages and logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.username + ":***" if parts.username else "***"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def connect_uri(recorded: str) -> str:
    """The URI to log to, given the one recorded on disk (``data/<study>/tracking.json``).

    A password is never written to disk: the workflow records a store's URI with its password
    hidden (:func:`redact`). Such a URI is completed from ``MLFLOW_TRACKING_URI``, which must name
    the same store; any other URI is returned as it is. Raises :class:`TrackingStoreError` when
    the password is needed and the environment does not give it."""
    if redact(recorded) != recorded or urllib.parse.urlsplit(recorded).password != "***":
        return recorded
    given = os.environ.get("MLFLOW_TRACKING_URI", "")
    if given and redact(given) == recorded:
        return given
    raise TrackingStoreError(
        f"the tracking store {recorded} needs its password, which is not written to disk: set "
        "MLFLOW_TRACKING_URI to the store's full URI in the environment of every job")


def _bound_http_retries() -> None:
    """Bound how long an HTTP client waits for a server that is down: MLflow's defaults (7 retries,
    backoff factor 2, 120 s timeout) keep a job waiting about four minutes per call; these retry
    for about 15 s, then fail with MLflow's error naming the URL. Explicit settings win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "4")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def check_store(uri: str, timeout: float = 5.0, attempts: int = 3) -> None:
    """Fail fast when the store ``uri`` names cannot be used, before anything is logged: an
    ``http(s)`` tracking server must answer ``/health`` within ``attempts`` tries of ``timeout``
    seconds each; a database URL (``postgresql://``, ``mysql://``, ...) must accept a login, so
    that wrong credentials are caught here instead of after MLflow's own retries (about 100 s).
    Any URI must be one the workflow can log to, and a SQLite file usable
    (:func:`gdbasins.preflight.check_usable`). Raises :class:`TrackingStoreError` naming the URI
    (password hidden)."""
    from .preflight import check_usable

    check_usable(uri)
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        _check_server(uri, timeout, attempts)
    elif "://" in uri and scheme.split("+")[0] in ("postgresql", "postgres", "mysql", "mssql"):
        _check_database(uri, timeout)


def _check_server(uri: str, timeout: float, attempts: int) -> None:
    import requests

    url = uri.rstrip("/") + "/health"
    for attempt in range(attempts):
        try:
            response = requests.get(url, timeout=timeout)
            if response.status_code < 500:
                return
            error = f"HTTP {response.status_code} from {url}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt + 1 < attempts:
            time.sleep(2**attempt)
    raise TrackingStoreError(
        f"MLflow tracking server {redact(uri)} is unreachable ({attempts} attempts, {timeout:g} s each; "
        f"last error: {error}); start the server or point MLFLOW_TRACKING_URI at a running one")


def _check_database(uri: str, timeout: float) -> None:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    args = {"connect_timeout": max(1, int(timeout))} if uri.startswith("postgres") else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=args, poolclass=NullPool)
        with engine.connect():
            pass
    except Exception as exc:  # a missing driver, a refused connection or login: all end the check
        detail = " ".join(line.strip() for line in str(getattr(exc, "orig", None) or exc).strip().splitlines())
        raise TrackingStoreError(
            f"cannot connect to the tracking database {redact(uri)}: {detail} (check the user, password, "
            "host, port and database name in MLFLOW_TRACKING_URI)") from None


def code_version(root=None) -> str:
    """The git commit of the working tree (``-dirty`` if a tracked file is modified), or
    ``unknown``; ``GDBASINS_CODE_VERSION`` if set, which the workflow sets once per run from the
    submitting checkout and passes to every job (a job on a node without the shared file system
    runs from Snakemake's source archive, which is no git checkout).

    ``reports/`` is left out of the check: it holds the pipeline's own committed outputs, which
    Snakemake removes before the report job rewrites them, so counting them would mark every
    rerun of a clean checkout dirty.
    """
    if os.environ.get("GDBASINS_CODE_VERSION") and root is None:
        return os.environ["GDBASINS_CODE_VERSION"]
    try:
        cwd = root or Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":(top)", ":(top,exclude)reports"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """``{"network": {"l2": 0}}`` -> ``{"network.l2": "0"}``; lists become JSON."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
    return out


def curve_epochs(n_epochs: int, points: int = CURVE_POINTS) -> np.ndarray:
    """At most about ``points`` epochs out of 0..n_epochs, dense early (log-spaced) and always
    including the first and last: the per-epoch curves MLflow shows."""
    log_part = np.geomspace(1, n_epochs + 1, points // 2) - 1
    lin_part = np.linspace(0, n_epochs, points // 2)
    return np.unique(np.round(np.concatenate([log_part, lin_part])).astype(int))


def _retire(client, experiment_id: str, job_key: str) -> int:
    """Mark earlier RUNNING runs of this job KILLED, then delete every earlier run of it."""
    from mlflow.entities import ViewType

    n, token = 0, None
    while True:
        page = client.search_runs([experiment_id], f"tags.`{JOB_TAG}` = '{job_key}'",
                                  run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        for run in page:
            if run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, "KILLED")
            client.delete_run(run.info.run_id)
            n += 1
        token = page.token
        if not token:
            return n


def end_orphans(client, experiment_id: str) -> int:
    """Mark every RUNNING run of the experiment KILLED; returns how many. Only for a moment when
    no job of the study can be logging (see :func:`log_summary`)."""
    from mlflow.entities import ViewType

    orphans, token = [], None
    while True:  # collect first: ending runs while paging would shift the pages
        page = client.search_runs([experiment_id], "attributes.status = 'RUNNING'",
                                  run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        orphans += [run.info.run_id for run in page]
        token = page.token
        if not token:
            break
    for run_id in orphans:
        client.set_terminated(run_id, "KILLED")
    if orphans:
        log.warning("marked %d runs KILLED that killed jobs had left RUNNING", len(orphans))
    return len(orphans)


@contextlib.contextmanager
def _sigterm_exits():
    """Turn SIGTERM into ``SystemExit(143)`` while a job logs, so that :func:`log_job` ends its
    runs as KILLED on the way out. The handler itself touches no store: the signal may arrive
    inside a write transaction, whose lock a store call from the handler would wait on; the
    transaction is rolled back first, then the runs are marked."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def log_job(uri: str, experiment_id: str, job_key: str, params: dict, results_path, dataset_path, *,
            outcomes=None, figure=None, code: str | None = None) -> dict:
    """Mirror one job's result file into MLflow; returns ``{"parent": id, "children": {seed: id},
    "model": id}``: the parent run logs the best seed's network as a pyfunc model
    (:func:`gdbasins.model.log_best`; the model id is ``None`` when every seed diverged).

    ``outcomes``: the job's rows of :func:`gdbasins.classify.outcomes_table` (``seed``,
    ``outcome``, ``basin``, ``converged``), put on the seed runs as tags and on the parent as the
    share of each outcome; ``figure``: an image file logged as an artifact of the parent.
    """
    from mlflow.entities import Metric, Param

    from .datasets import Dataset
    from .job import load_results
    from .model import log_best

    endpoints, histories, meta, arrays = load_results(results_path)
    ds = Dataset(dataset_path)
    labels = _outcome_tags(outcomes, arrays["seeds"])  # checked before anything in the store changes
    client = _client(uri)
    _retire(client, experiment_id, job_key)
    now = int(time.time() * 1000)
    base_tags = {JOB_TAG: job_key, "gdbasins.code_version": code or code_version(),
                 "gdbasins.dataset": params["dataset"], "gdbasins.variant": params["variant"]}
    run_ids: list[str] = []
    with _sigterm_exits():
        parent = client.create_run(experiment_id, run_name=job_key.split("/", 1)[-1], tags=base_tags)
        pid = parent.info.run_id
        run_ids.append(pid)
        try:
            _log_parent(client, pid, params, meta, endpoints, histories, ds, now, Metric, Param, labels)
            if figure is not None:
                client.log_artifact(pid, str(figure))
            seed_runs = [_seed_run(r, dict(base_tags, **{"mlflow.parentRunId": pid}, **labels[r]), endpoints,
                                   histories, arrays, meta, now, Metric) for r in range(len(arrays["seeds"]))]
            ids = _write_seed_runs(client, experiment_id, seed_runs, run_ids)
            children = {int(seed): cid for seed, cid in zip(arrays["seeds"], ids)}
            model_id = log_best(uri, pid, job_key=job_key, sizes=meta["sizes"], network=params["network"],
                                endpoints=endpoints, arrays=arrays, X_example=ds.X_train[:5])
        except BaseException as exc:
            # an error fails the runs; a signal (SIGTERM's handler raises SystemExit) or Ctrl-C kills them
            status = "KILLED" if isinstance(exc, (SystemExit, KeyboardInterrupt)) else "FAILED"
            for rid in run_ids:
                with contextlib.suppress(Exception):
                    client.set_terminated(rid, status)
            raise
        client.set_terminated(pid, "FINISHED")
    return {"parent": pid, "children": children, "model": model_id}


def record_failure(uri: str, experiment_id: str, job_key: str, params: dict, error: str,
                   code: str | None = None) -> str:
    """Record a job that failed before it had results: earlier runs of the job are retired (as in
    :func:`log_job`) and one parent run is left, FAILED, with the job's params and the error
    (first 5,000 characters) in the tag ``gdbasins.error``. Returns its run id."""
    from mlflow.entities import Param, RunTag

    client = _client(uri)
    _retire(client, experiment_id, job_key)
    tags = {JOB_TAG: job_key, "gdbasins.code_version": code or code_version(),
            "gdbasins.dataset": params["dataset"], "gdbasins.variant": params["variant"]}
    run = client.create_run(experiment_id, run_name=job_key.split("/", 1)[-1], tags=tags)
    rid = run.info.run_id
    try:
        client.log_batch(rid, params=[Param(k, v) for k, v in flatten(params).items()],
                         tags=[RunTag("gdbasins.error", error[:5000])])
    finally:
        client.set_terminated(rid, "FAILED")
    return rid


def _metrics(Metric, values: dict, now: int, step: int = 0):
    return [Metric(k, float(v), now, step) for k, v in values.items() if v is not None and np.isfinite(v)]


def _outcome_tags(outcomes, seeds) -> list[dict[str, str]]:
    """Per replica, the tags ``outcome``, ``basin`` and ``converged`` (empty without outcomes)."""
    if outcomes is None:
        return [{} for _ in seeds]
    by_seed = {int(row.seed): {"outcome": str(row.outcome), "basin": str(row.basin),
                               "converged": str(bool(row.converged)).lower()} for row in outcomes.itertuples()}
    missing = sorted(set(map(int, seeds)) - set(by_seed))
    if missing:
        raise ValueError(f"The outcomes have no row for seeds {missing} of this job.")
    return [by_seed[int(s)] for s in seeds]


def _log_parent(client, pid, params, meta, endpoints, histories, ds, now, Metric, Param, labels):
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    flat = flatten(params)
    flat.update(batch_size=str(meta["batch_size"]), updates_per_epoch=str(meta["updates_per_epoch"]),
                sizes=json.dumps(meta["sizes"]))
    finals = {
        "share_diverged": float(endpoints["diverged"].mean()),
        "median_final_loss": float(np.nanmedian(endpoints["raw_loss"])) if (~endpoints["diverged"]).any() else None,
        "median_polished_loss": float(np.nanmedian(endpoints["polished_loss"])) if (~endpoints["diverged"]).any() else None,
    }
    if labels and labels[0]:
        from .endpoints import OUTCOMES

        finals.update({f"share_{o}": float(np.mean([t["outcome"] == o for t in labels])) for o in OUTCOMES})
    epochs = curve_epochs(len(histories["loss"]) - 1)
    curves = []
    with np.errstate(all="ignore"):
        for name, h in histories.items():
            med = np.nanmedian(h[epochs], axis=1) if np.isfinite(h).any() else np.full(len(epochs), np.nan)
            curves += [Metric(f"median_{name}", float(v), now, int(e)) for e, v in zip(epochs, med) if np.isfinite(v)]
    client.log_batch(pid, metrics=_metrics(Metric, finals, now) + curves,
                     params=[Param(k, v) for k, v in flat.items()])
    with warnings.catch_warnings():  # a local path matches two equivalent source types
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_numpy(ds.X_train, targets=ds.y_train, source=str(ds.path.resolve()),
                                         name=ds.name, digest=ds.digest[:20])
    client.log_inputs(pid, datasets=[DatasetInput(dataset._to_mlflow_entity(),
                                                  tags=[InputTag("mlflow.data.context", "training")])])


@dataclass
class SeedRun:
    """Everything one seed's child run holds, ready to be written in one go."""

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list  # mlflow.entities.Metric
    artifacts: dict[str, dict]  # file name -> JSON content


def _seed_run(r, tags, endpoints, histories, arrays, meta, now, Metric) -> SeedRun:
    """Replica ``r``'s child run: downsampled curves, final and endpoint metrics, the weights."""
    seed = int(arrays["seeds"][r])
    row = endpoints.iloc[r]
    epochs = curve_epochs(len(histories["loss"]) - 1)
    metrics = []
    for name in CHILD_CURVES:
        if name in histories:
            h = histories[name]
            metrics += [Metric(name, float(h[e, r]), now, int(e)) for e in epochs if np.isfinite(h[e, r])]
    finals = {k: row[k] for k in ("raw_loss", "polished_loss", "grad_norm", "eig_min", "eig_max",
                                  "n_negative", "n_flat", "polish_distance")}
    finals["sharpness"] = row["eig_max"]
    if "polished_test_accuracy" in row:
        finals["polished_test_accuracy"] = row["polished_test_accuracy"]
    finals["diverged"] = float(row["diverged"])
    weights = {
        "sizes": meta["sizes"], "layout": "per layer: W (n_in x n_out, row-major) then b",
        "initial": arrays["theta0"][r].tolist(), "final": arrays["theta"][r].tolist(),
        "polished": arrays["polished"][r].tolist(),
    }
    return SeedRun(name=f"seed {seed}", tags=dict(tags, **{"gdbasins.seed": str(seed)}), params={"seed": str(seed)},
                   metrics=metrics + _metrics(Metric, finals, now), artifacts={"weights.json": weights})


def _write_seed_runs(client, experiment_id: str, runs: list[SeedRun], live: list[str]) -> list[str]:
    """Create one FINISHED run per :class:`SeedRun`; returns their ids in order.

    On a database MLflow opens itself (the embedded SQLite default, or a ``postgresql://`` URI)
    the runs go in as one transaction (:func:`_write_seed_runs_sql`): the job's children appear
    all at once or not at all, about 10x faster than four store calls per run. Behind a tracking
    server they go through the client, :data:`SERVER_THREADS` runs at a time (each run's calls in
    order); ``live`` holds the ids of the runs being written, so that an interruption ends them
    KILLED: on an interruption or an error the runs not started are dropped and those being
    written are finished first (a run is either complete or KILLED, never left RUNNING).
    """
    store = _sql_store(client)
    if store is not None:
        return _write_seed_runs_sql(store, experiment_id, runs)
    if SERVER_THREADS <= 1 or len(runs) <= 1:
        return [_write_seed_run_api(client, experiment_id, run, live) for run in runs]
    pool = ThreadPoolExecutor(SERVER_THREADS, thread_name_prefix="gdbasins-log")
    stop = threading.Event()

    def write(run):
        if stop.is_set():
            return None
        return _write_seed_run_api(client, experiment_id, run, live)

    futures = [pool.submit(write, run) for run in runs]
    try:
        return [f.result() for f in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: Seed runs written at once behind a tracking server (each is four or five HTTP calls that
#: mostly wait on the server): see *Performance* in the README for what it saves.
SERVER_THREADS = 8


def _write_seed_run_api(client, experiment_id: str, run: SeedRun, live: list[str]) -> str:
    from mlflow.entities import Param

    rid = client.create_run(experiment_id, run_name=run.name, tags=run.tags).info.run_id
    live.append(rid)
    client.log_batch(rid, metrics=run.metrics, params=[Param(k, v) for k, v in run.params.items()])
    for name, content in run.artifacts.items():
        client.log_dict(rid, content, name)
    client.set_terminated(rid, "FINISHED")
    live.remove(rid)  # complete: an interruption after this does not concern it
    return rid


def _sql_store(client):
    """The client's store if it is MLflow's SQLAlchemy store (a database MLflow opens itself),
    else ``None`` (a tracking server, or a store whose internals are unknown)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = getattr(getattr(getattr(client, "_client", client), "_tracking_client", None), "store", None)
    return store if isinstance(store, SqlAlchemyStore) else None


def _write_seed_runs_sql(store, experiment_id: str, runs: list[SeedRun]) -> list[str]:
    """Insert finished runs with their tags, params and metrics in one transaction of the store's
    database, writing the rows that ``create_run``, ``log_batch`` and ``set_terminated`` would
    (MLflow's own table models; ``tests/test_tracking_paths.py`` compares the two paths run by
    run). The artifacts are written first, so a committed run always has them; only the
    transaction is retried when the database is locked."""
    import uuid

    from mlflow.entities import LifecycleStage
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
    from mlflow.utils.uri import append_to_uri_path

    experiment = store.get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise TrackingStoreError(f"experiment {experiment.name!r} (id {experiment_id}) is deleted; restore it "
                                 "(mlflow experiments restore) or remove the tracking store")
    now = int(time.time() * 1000)
    prepared = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, run in enumerate(runs):
            rid = uuid.uuid4().hex
            artifact_uri = append_to_uri_path(experiment.artifact_location, rid, store.ARTIFACTS_FOLDER_NAME)
            if run.artifacts:
                folder = Path(tmp) / str(k)
                folder.mkdir()
                for name, content in run.artifacts.items():
                    (folder / name).write_text(json.dumps(content, indent=2))
                get_artifact_repository(artifact_uri).log_artifacts(str(folder))
            prepared.append((rid, artifact_uri, dict({MLFLOW_RUN_NAME: run.name}, **run.tags), run))
    retry_locked(lambda: _insert_runs(store, experiment_id, prepared, now))
    return [rid for rid, *_ in prepared]


def _insert_runs(store, experiment_id, prepared, now) -> None:
    from mlflow.entities import LifecycleStage, RunStatus, SourceType
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from mlflow.utils.mlflow_tags import MLFLOW_USER
    from sqlalchemy import insert

    runs, tags, params, metrics, latest = [], [], [], [], []
    for rid, artifact_uri, run_tags, run in prepared:
        runs.append(dict(run_uuid=rid, name=run.name, artifact_uri=artifact_uri, experiment_id=experiment_id,
                         source_type=SourceType.to_string(SourceType.UNKNOWN), source_name="",
                         entry_point_name="", user_id=run_tags.get(MLFLOW_USER, "unknown"),
                         status=RunStatus.to_string(RunStatus.FINISHED), start_time=now, end_time=now,
                         deleted_time=None, source_version="", lifecycle_stage=LifecycleStage.ACTIVE))
        tags += [dict(run_uuid=rid, key=k, value=v) for k, v in run_tags.items()]
        params += [dict(run_uuid=rid, key=k, value=v) for k, v in run.params.items()]
        last = {}
        for m in run.metrics:
            metrics.append(dict(run_uuid=rid, key=m.key, value=m.value, timestamp=m.timestamp, step=m.step,
                                is_nan=False))
            if m.key not in last or (m.step, m.timestamp, m.value) > last[m.key]:
                last[m.key] = (m.step, m.timestamp, m.value)  # the summary MLflow keeps: the largest
        latest += [dict(run_uuid=rid, key=k, step=st, timestamp=t, value=v, is_nan=False)
                   for k, (st, t, v) in last.items()]
    with _write_session(store) as session:
        for model, values in ((SqlRun, runs), (SqlTag, tags), (SqlParam, params), (SqlMetric, metrics),
                              (SqlLatestMetric, latest)):
            if values:
                session.execute(insert(model), values)


def _write_session(store):
    """A read-write session of the store (``ManagedSessionMaker`` commits on exit)."""
    try:
        return store.ManagedSessionMaker(read_only=False)
    except TypeError:  # MLflow releases without read replicas take no argument
        return store.ManagedSessionMaker()


def log_summary(uri: str, experiment_id: str, study: str, report_dir, claims_csv, code: str | None = None) -> str:
    """One summary run per study (job key ``<study>/summary``): the report folder as artifacts
    and each claim's overall verdict as a tag (``claim1.verdict`` ...). Returns its id.

    The report comes after every job of the study has logged, so a run of the study's
    experiment still RUNNING here belongs to no live job: one a killed job left behind whose job
    never ran again (its learning rate or dataset since removed from the config; a job that runs
    again retires its own). Such runs are marked KILLED (:func:`end_orphans`).
    """
    import pandas as pd

    client = _client(uri)
    key = f"{study}/summary"
    end_orphans(client, experiment_id)
    _retire(client, experiment_id, key)
    claims = pd.read_csv(claims_csv)
    overall = claims[claims["dataset"] == "overall"]
    tags = {JOB_TAG: key, "gdbasins.code_version": code or code_version(), "gdbasins.kind": "summary"}
    tags.update({f"claim{r.claim}.verdict": r.verdict for r in overall.itertuples()})
    run = client.create_run(experiment_id, run_name="summary", tags=tags)
    try:
        client.log_artifacts(run.info.run_id, str(report_dir), "report")
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
