"""System services for integration tests: Debian packages installed on demand, free ports, and
processes started in their own process group and always stopped.

The tests that need a database server or a browser install them here when they are missing and
the tests run as root (as CI and this project's machines do); otherwise they fail with the command
to run. They never skip: a skipped server test would hide a broken feature.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

_apt_updated = False


def ensure_debian_packages(*packages: str, probe: str | None = None) -> None:
    """Install ``packages`` with apt-get unless ``probe`` (a command or path) already exists."""
    global _apt_updated
    if probe and (shutil.which(probe) or os.path.exists(probe)):
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"this test needs the Debian packages {' '.join(packages)}: "
                           f"run 'sudo apt-get install {' '.join(packages)}' first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
        _apt_updated = True
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True, env=env,
                   capture_output=True, timeout=1200)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def process_group(cmd, stop_signal=signal.SIGTERM, **kwargs):
    """Start ``cmd`` in a new process group; on exit stop the whole group (``stop_signal``, then KILL)."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, stop_signal)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def postgres_bindir() -> Path:
    """The ``bin`` folder of Debian's PostgreSQL server (the newest installed), installing the
    package ``postgresql`` first if no server is installed."""

    def newest():
        found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
        return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent if found else None

    if newest() is None:
        ensure_debian_packages("postgresql")
    bindir = newest()
    if bindir is None:
        raise RuntimeError("installed the Debian package postgresql but found no /usr/lib/postgresql/*/bin/postgres")
    return bindir


@contextlib.contextmanager
def postgres_server(user: str = "gdbasins", password: str = "gdbasins-test", database: str = "mlflow",
                    log_dir: Path | None = None):
    """A throw-away PostgreSQL cluster listening on 127.0.0.1 at a free port, with password
    (SCRAM) authentication for ``user`` and an empty ``database``; yields its SQLAlchemy URI.

    As root, the cluster runs as the ``postgres`` system user (``initdb`` refuses root), in a
    temporary folder owned by it. On exit the server is stopped (fast shutdown, by its process
    group) and its folder removed; its log is copied to ``log_dir`` if given.
    """
    bindir = postgres_bindir()
    as_user = {}
    base = Path(tempfile.mkdtemp(prefix="gdbasins-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    try:
        (base / "pwfile").write_text(password + "\n")
        if as_user:
            os.chown(base / "pwfile", as_user["user"], as_user["group"])
        subprocess.run([bindir / "initdb", "-D", base / "data", "-U", user, "--pwfile", base / "pwfile",
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-instructions"],
                       check=True, capture_output=True, timeout=120, cwd=base, **as_user)
        port = free_port()
        cmd = [bindir / "postgres", "-D", base / "data", "-p", str(port), "-c", "listen_addresses=127.0.0.1",
               "-c", f"unix_socket_directories={base}"]
        env = dict(os.environ, PGPASSWORD=password)
        with open(base / "postgres.log", "w") as log, \
                process_group(cmd, stop_signal=signal.SIGINT, stdout=log, stderr=subprocess.STDOUT, cwd=base,
                              **as_user) as proc:
            wait_for_port(port, 60, proc)
            ready = [bindir / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "30"]
            subprocess.run(ready, check=True, timeout=60)
            subprocess.run([bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
                           check=True, capture_output=True, timeout=60, env=env)
            yield f"postgresql://{user}:{password}@127.0.0.1:{port}/{database}"
        if log_dir is not None:
            shutil.copy(base / "postgres.log", Path(log_dir) / "postgres.log")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def http_ok(url: str, timeout: float = 5.0) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    return False


@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, log_path: Path, timeout: float = 120.0):
    """``mlflow server`` on 127.0.0.1 at a free port, one worker, serving the artifacts it stores
    under ``artifacts``; yields its URL once ``/health`` answers. Starting it initializes (or
    upgrades) the backend store's schema, once, before any client connects. Stopped by its process
    group on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri,
           "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log, \
            process_group(cmd, env=env, stdout=log, stderr=subprocess.STDOUT) as proc:
        wait_for_port(port, timeout, proc)
        deadline = time.monotonic() + timeout
        while not http_ok(url + "/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server on {url} did not become healthy; see {log_path}")
            time.sleep(0.2)
        yield url
