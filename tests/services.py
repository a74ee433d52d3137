"""System services for integration tests: Debian packages installed on demand, free ports, and
processes started in their own process group and always stopped.

The tests that need a database server or a browser install them here when they are missing and
the tests run as root (as CI and this project's machines do); otherwise they fail with the command
to run. They never skip: a skipped server test would hide a broken feature.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

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
def process_group(cmd, **kwargs):
    """Start ``cmd`` in a new process group; on exit stop the whole group (TERM, then KILL)."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
