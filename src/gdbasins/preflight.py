"""What every ``snakemake`` checks before any job, beside the config: that the tracking store can
be used, and that the store still holds what the study's records say it does.

Every file of a study is a target of the workflow (``rule all``), so Snakemake itself regenerates a
deleted dataset, result, table or record, with everything that depends on it. The store is no file
Snakemake knows; :func:`restore` takes its place:

* the store (a SQLite file) or the study's experiment is gone: it is created again and every
  dataset's tracking record is removed, so the same run re-logs every job from ``data/`` (rule
  ``track``) without retraining;
* the store record ``data/<study>/tracking.json`` is gone while results exist: it is written again
  (a missing record would otherwise make every training job rerun);
* a dataset's runs (or the report's summary run) are missing from the store or not FINISHED (a
  store restored from an older copy, runs deleted in the UI): that dataset's record (or the
  report's) is removed, and the run logs it again.

:func:`check_usable` refuses, in one line naming the store and what to do, a URI MLflow cannot use
here, a SQLite store whose folder does not exist (MLflow would create an empty store there, or
fail), and a SQLite file that is damaged or read-only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

from . import files

__all__ = ["check_usable", "check_uri", "sqlite_path", "restore", "REBUILD"]

#: The schemes of stores the workflow logs to (a ``+driver`` suffix allowed on databases).
SCHEMES = ("sqlite", "http", "https", "postgresql", "postgres", "mysql", "mssql")

#: What restores a store that was moved aside: the next run rebuilds it from ``data/``.
REBUILD = "run snakemake again: the store is rebuilt from data/ without retraining"


def _error(message: str):
    from .tracking import TrackingStoreError

    return TrackingStoreError(message)


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///<path>`` URI (relative paths from the working directory), or
    ``None`` for another scheme."""
    if not uri.lower().startswith("sqlite:"):
        return None
    if not uri.startswith("sqlite:///") or len(uri) == len("sqlite:///"):
        raise _error(f"the tracking URI {uri!r} names no SQLite file: expected sqlite:///<path of the file> "
                     "(four slashes before an absolute path), e.g. sqlite:////home/me/study/mlflow.db")
    return Path(urllib.parse.unquote(uri[len("sqlite:///"):].split("?", 1)[0])).resolve()


def check_uri(uri: str) -> None:
    """Refuse a tracking URI the workflow cannot log to, in one line naming it."""
    from .tracking import redact

    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme.split("+")[0] not in SCHEMES or "//" not in uri:
        raise _error(f"the tracking URI {redact(uri)!r} is not one the workflow can log to: expected "
                     "sqlite:///<path of the file>, http(s)://<host>:<port> of a tracking server, or "
                     "postgresql://<user>@<host>/<database>")
    if scheme in ("http", "https") and not urllib.parse.urlsplit(uri).hostname:
        raise _error(f"the tracking URI {redact(uri)!r} names no host: expected {scheme}://<host>:<port>")
    sqlite_path(uri)


def check_usable(uri: str) -> None:
    """:func:`check_uri`, then for a SQLite store: its folder exists, and an existing file is a
    readable, writable, undamaged database. Raises ``TrackingStoreError`` in one line."""
    check_uri(uri)
    path = sqlite_path(uri)
    if path is None:
        return
    if not path.parent.is_dir():
        raise _error(f"the tracking store {path}: its folder {path.parent} does not exist; create it, or correct "
                     "MLFLOW_TRACKING_URI (MLflow would otherwise fail, or start an empty store where you did not "
                     "look)")
    if not path.exists():
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if leftover.exists():
                raise _error(f"the tracking store {path} is missing but its {leftover.name} file is not: SQLite would "
                             f"apply it to a new store; move it aside (mv {leftover} {leftover}.old) and {REBUILD}")
        return
    aside = f"mkdir {path.parent / 'damaged-store'} && mv {path}* {path.parent / 'damaged-store'}/"
    if not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK) and _opens_for_writing(path)):
        raise _error(f"the tracking store {path} is read-only (it or its folder cannot be written): make both "
                     f"writable (chmod u+w {path} {path.parent}), or move the store aside ({aside}) and {REBUILD}")
    problem = _damage(path)
    if problem:
        raise _error(f"the tracking store {path} is damaged ({problem}): move it aside with its -wal and -shm "
                     f"files ({aside}) and {REBUILD}")


def _opens_for_writing(path: Path) -> bool:
    try:
        with open(path, "r+b"):
            return True
    except OSError:
        return False


def _damage(path: Path) -> str | None:
    """What SQLite finds wrong with the file at ``path`` (read only), or ``None``."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60)) as con:
            result = con.execute("PRAGMA quick_check(1)").fetchone()[0]
            if result != "ok":
                found = " ".join(result.replace("*** in database main ***", "").split())
                return f"database disk image is malformed; SQLite's check found: {found[:120]}"
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if tables and "runs" not in tables:
        return "a SQLite database, but not an MLflow store: it has no runs table"
    return None


def restore(root, uri: str, experiment: str, artifact_root, *, dry_run: bool = False) -> list[str]:
    """Make the store hold what the study ``root`` (``data/<study>``) records, or remove the
    records it no longer matches, so that the run about to start logs them again (see the module
    docstring). Returns one line per thing done (in a dry run: that it would be done)."""
    from .tracking import _client, connect_uri, init_store, redact

    root = Path(root)
    record_path, records = root / "tracking.json", sorted((root / "tracking").glob("*.json"))
    summary = root / "report_mlflow.json"
    done = []

    def remove(paths, why):
        paths = [p for p in paths if p.exists()]
        if paths:
            names = ", ".join(str(p) for p in paths)
            done.append(f"{why}: {'would remove' if dry_run else 'removed'} {names}, which this run logs again "
                        "from data/ (no job is retrained)")
            if not dry_run:
                for p in paths:
                    p.unlink()

    def rebuild(why):
        done.append(f"{why}: {'would rebuild' if dry_run else 'rebuilt'} it and the store record {record_path}")
        if not dry_run:
            experiment_id = init_store(uri, experiment, artifact_root)
            files.write_record(record_path, {"uri": redact(uri), "experiment": experiment,
                                             "experiment_id": experiment_id})

    path = sqlite_path(uri)
    if not record_path.exists():
        if not any((root / "runs").glob("*/*/*/results.npz")):
            return done  # a new study: rule init_tracking makes the store
        if path is not None and not path.exists():
            rebuild(f"the tracking store {path} and the store record are missing")
            remove([*records, summary], "the store's runs are gone")
            return done
        rebuild(f"the store record is missing (the store {redact(uri)} is there)")
        if dry_run:
            return done
    record = files.read_record(record_path)
    if record.get("uri") != redact(uri) or record.get("experiment") != experiment:
        return done  # another store or experiment: init_tracking's params changed, the rule reruns
    if path is not None and not path.exists():
        rebuild(f"the tracking store {path} is missing")
        remove([*records, summary], "the store's runs are gone")
        return done
    client = _client(connect_uri(record["uri"]))
    exp = _experiment(client, record["experiment_id"])
    if exp is None or exp.lifecycle_stage != "active" or exp.name != experiment:
        if exp is not None and exp.lifecycle_stage != "active" and not dry_run:
            client.restore_experiment(exp.experiment_id)  # deleted in the UI: its name is still taken
        rebuild(f"the tracking store {redact(uri)} has lost experiment {experiment!r}")
        remove([*records, summary], "the experiment's runs are gone")
        return done
    for path in records:
        ids = [job["parent"] for job in files.read_record(path)["jobs"].values()]
        lost = _lost(client, record["experiment_id"], ids)
        if lost:
            remove([path], f"{lost} of the {len(ids)} jobs {path} records are missing from the store or not FINISHED")
    if summary.exists() and _lost(client, record["experiment_id"], [files.read_record(summary)["run_id"]]):
        remove([summary], "the report's summary run is missing from the store or not FINISHED")
    return done


def _experiment(client, experiment_id: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_experiment(experiment_id)
    except MlflowException:
        return None


def _lost(client, experiment_id: str, run_ids: list[str]) -> int:
    """How many of ``run_ids`` are not active FINISHED runs of the experiment."""
    from mlflow.entities import ViewType

    found = set()
    for start in range(0, len(run_ids), 100):
        chunk = run_ids[start:start + 100]
        quoted = ", ".join(f"'{r}'" for r in chunk)
        runs = client.search_runs([experiment_id], f"attributes.run_id IN ({quoted})",
                                  run_view_type=ViewType.ACTIVE_ONLY, max_results=len(chunk))
        found.update(r.info.run_id for r in runs if r.info.status == "FINISHED")
    return len(set(run_ids) - found)
