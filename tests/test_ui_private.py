"""The tracking UI stays private by default: the documented command binds to 127.0.0.1 only and
refuses requests addressed to other host names; a documented command that binds elsewhere comes
with allowed hosts and basic auth."""

from __future__ import annotations

import http.client
import os
import re
import shlex
import time

import psutil
import pytest

from helpers import REPO
from services import free_port, process_group, wait_for_port

# Where the commands are documented (the README's Reliability section comes from the notes).
DOCS = [REPO / "README.md", REPO / "notes" / "reliability.md"]


def documented_commands() -> list[list[str]]:
    """Every ``mlflow ui`` / ``mlflow server`` command in a fenced code block of :data:`DOCS`, as
    argument lists (continuation lines joined, comments dropped)."""
    commands = []
    for doc in DOCS:
        if not doc.exists():
            continue
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                args = shlex.split(line, comments=True)
                while args and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", args[0]):  # VAR=value mlflow ui ...
                    args = args[1:]
                if args[:2] in (["mlflow", "ui"], ["mlflow", "server"]):
                    commands.append(args)
    return commands


def option(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def private(args) -> bool:
    return option(args, "--host") == "127.0.0.1"


def test_every_documented_ui_command_is_private_or_protected():
    commands = documented_commands()
    assert any(private(c) for c in commands), "no documented MLflow UI command binds to 127.0.0.1"
    for args in commands:
        if not private(args):  # exposed: only with a login and a named host
            assert option(args, "--app-name") == "basic-auth" and option(args, "--allowed-hosts"), shlex.join(args)
            assert option(args, "--allowed-hosts") != "*", shlex.join(args)


API = "/api/2.0/mlflow/experiments/search?max_results=1"


def get(port: int, host_header: str, path: str = API) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host_header})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.integration
def test_the_documented_ui_command_listens_on_loopback_only(tmp_path):
    args = next(c for c in documented_commands() if private(c))
    port = free_port()
    args = list(args)
    args[args.index("--port") + 1] = str(port)
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    with process_group([*args, "--workers", "1"], cwd=tmp_path, env=env) as proc:
        wait_for_port(port, timeout=120, proc=proc)
        deadline = time.monotonic() + 60
        while get(port, f"127.0.0.1:{port}", "/health") != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert get(port, f"127.0.0.1:{port}") == 200
        assert get(port, "evil.example.com") in (400, 403)  # DNS rebinding: a foreign Host is refused
        group = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        listening = {c.laddr for p in group for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}
