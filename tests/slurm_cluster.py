"""A one-node Slurm cluster on this machine for the tests: Debian's Slurm (slurmctld, slurmd,
slurmdbd with its MariaDB, munge), installed when missing, every daemon started in its own
process group and stopped by its process id on exit.

Accounting (slurmdbd on MariaDB) is part of it because snakemake-executor-plugin-slurm asks
``sacct`` for its jobs' states whenever ``sacct`` is installed, and without slurmdbd ``sacct``
answers "Slurm accounting storage is disabled" and exits 1.

The configuration goes to /etc/slurm/, Slurm's default location, not to a folder named by
``SLURM_CONF``: inside a job, snakemake-executor-plugin-slurm-jobstep (0.6.1) removes every
``SLURM_*`` variable but the job's ids before it calls ``srun``, ``SLURM_CONF`` included, and
``srun`` then fails with "Could not establish a configuration source". An existing
/etc/slurm/slurm.conf that this module did not write is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from services import ensure_debian_packages, free_port, process_group, wait_for_port

PACKAGES = ("slurmctld", "slurmd", "slurmdbd", "slurm-client", "munge", "mariadb-server")
COMMANDS = ("slurmctld", "slurmd", "slurmdbd", "sbatch", "sacct", "sinfo", "munged", "mariadbd", "mariadb",
            "mariadb-install-db")
ETC = Path("/etc/slurm")
MARKER = "# written by gdbasins tests/slurm_cluster.py"


@dataclass
class Cluster:
    name: str          # ClusterName
    node: str          # the one node's NodeName
    partition: str     # the default partition
    cpus: int
    memory_mb: int     # the node's RealMemory
    version: str       # e.g. "slurm-wlm 22.05.8"
    logs: Path         # every daemon's log


def ensure_slurm() -> None:
    """Install Debian's Slurm, munge and MariaDB unless every command is already there."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        ensure_debian_packages(*PACKAGES)
    still = [c for c in COMMANDS if shutil.which(c) is None]
    if still:
        raise RuntimeError(f"installed {' '.join(PACKAGES)} but {', '.join(still)} are still missing")


def _as(user: str) -> dict:
    pw = pwd.getpwnam(user)
    return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])


def _owned_dir(path: Path, user: str, mode: int) -> Path:
    path.mkdir()
    shutil.chown(path, user, user)
    path.chmod(mode)
    return path


def _wait(predicate, what: str, timeout: float, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout} s")
        time.sleep(0.2)


def node_hardware() -> tuple[int, int]:
    """(CPUs, RealMemory in MB) of this machine, as ``slurmd -C`` reports them."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True, timeout=30).stdout
    fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
    return int(fields["CPUs"]), int(fields["RealMemory"])


def slurm_conf(c: Cluster, base: Path, ports: dict, munge_socket: Path) -> str:
    return f"""{MARKER}
ClusterName={c.name}
SlurmctldHost={c.node}(127.0.0.1)
SlurmUser=root
SlurmctldPort={ports['ctld']}
SlurmdPort={ports['slurmd']}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={base / 'state'}
SlurmdSpoolDir={base / 'spool'}
SlurmctldPidFile={base / 'slurmctld.pid'}
SlurmdPidFile={base / 'slurmd.pid'}
SlurmctldLogFile={c.logs / 'slurmctld.log'}
SlurmdLogFile={c.logs / 'slurmd.log'}
MailProg=/bin/true
MpiDefault=none
# no cgroups in a container: processes tracked by their parents, memory limits enforced by the
# accounting sampler (a step above its job's memory is killed, as on a cluster)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports['dbd']}
AccountingStoragePass={munge_socket}
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
ReturnToService=2
NodeName={c.node} NodeAddr=127.0.0.1 CPUs={c.cpus} RealMemory={c.memory_mb} State=UNKNOWN
PartitionName={c.partition} Nodes={c.node} Default=YES MaxTime=INFINITE State=UP
"""


def slurmdbd_conf(c: Cluster, base: Path, ports: dict, munge_socket: Path, db_password: str) -> str:
    return f"""{MARKER}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={ports['dbd']}
SlurmUser=root
LogFile={c.logs / 'slurmdbd.log'}
PidFile={base / 'slurmdbd.pid'}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports['mysql']}
StorageUser=slurm
StoragePass={db_password}
StorageLoc=slurm_acct_db
"""


@contextlib.contextmanager
def _etc_slurm(files: dict[str, str]):
    """Write ``files`` into /etc/slurm/ (never over a configuration this module did not write),
    remove them on exit."""
    for name in files:
        path = ETC / name
        if path.exists() and MARKER not in path.read_text():
            raise RuntimeError(f"{path} exists and was not written by the tests: this machine has a Slurm "
                               "configuration of its own; run the Slurm test on a machine without one")
    ETC.mkdir(parents=True, exist_ok=True)
    try:
        for name, text in files.items():
            (ETC / name).write_text(text)
            (ETC / name).chmod(0o600 if name == "slurmdbd.conf" else 0o644)  # slurmdbd demands 600
        yield
    finally:
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                (ETC / name).unlink()


def _munged(keys: Path, sock_dir: Path, logs: Path):
    key = keys / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    shutil.chown(key, "munge", "munge")
    sock = sock_dir / "munge.socket"
    cmd = ["munged", "--foreground", f"--key-file={key}", f"--socket={sock}",
           f"--pid-file={keys / 'munged.pid'}", f"--seed-file={keys / 'munged.seed'}",
           f"--log-file={keys / 'munged.log'}"]
    log = open(logs / "munged.log", "w")
    return sock, cmd, log


def _mariadb(home: Path, port: int):
    datadir = home / "data"
    _run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
          "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=120)
    sock = home / "mysql.sock"
    cmd = ["mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=mysql", f"--socket={sock}",
           f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={home / 'mariadb.pid'}",
           f"--log-error={home / 'mariadb.log'}", "--innodb-buffer-pool-size=64M"]  # mysql writes it
    return sock, cmd


def _run(cmd, timeout: float = 60) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        command = " ".join(map(str, cmd))
        raise RuntimeError(f"{command} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _sql(sock: Path, statements: str) -> None:
    _run(["mariadb", "--no-defaults", f"--socket={sock}", "-u", "root", "-e", statements])


def _node_state(c: Cluster) -> str:
    out = subprocess.run(["sinfo", "-h", "-n", c.node, "-o", "%T"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout.strip() if out.returncode == 0 else ""


@contextlib.contextmanager
def slurm_cluster(base: Path):
    """A running one-node cluster (munged, MariaDB, slurmdbd, slurmctld, slurmd) whose node is
    this machine, with its CPUs and memory; yields its ``Cluster`` once the node is idle. Its
    state and logs live under ``base``; the daemons are stopped in reverse order on exit."""
    ensure_slurm()
    if os.geteuid() != 0:
        raise RuntimeError("the Slurm test starts munged, MariaDB and Slurm's daemons and writes "
                           "/etc/slurm/: run it as root (as CI does)")
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "logs"):
        (base / sub).mkdir()
    cpus, memory = node_hardware()
    version = subprocess.run(["slurmctld", "-V"], capture_output=True, text=True, check=True).stdout.strip()
    c = Cluster(name="gdbasins", node=socket.gethostname().split(".")[0], partition="gdbasins", cpus=cpus,
                memory_mb=memory, version=version, logs=base / "logs")
    ports = {k: free_port() for k in ("ctld", "slurmd", "dbd", "mysql")}
    db_password = os.urandom(12).hex()
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    with contextlib.ExitStack() as stack:
        # the daemons that drop root (munged, mariadbd) cannot reach into pytest's private folders
        shared = Path(tempfile.mkdtemp(prefix="gdbasins-slurm-"))
        stack.callback(shutil.rmtree, shared, ignore_errors=True)
        shared.chmod(0o755)
        # munged wants its key's folder private and its socket's folder searchable by all
        keys = _owned_dir(shared / "munge", "munge", 0o700)
        sock_dir = _owned_dir(shared / "munge-socket", "munge", 0o755)
        mysql_home = _owned_dir(shared / "mysql", "mysql", 0o755)
        munge_socket, munge_cmd, munge_log = _munged(keys, sock_dir, c.logs)
        stack.callback(munge_log.close)
        mysql_socket, mysql_cmd = _mariadb(mysql_home, ports["mysql"])
        confs = {"slurm.conf": slurm_conf(c, base, ports, munge_socket),
                 "slurmdbd.conf": slurmdbd_conf(c, base, ports, munge_socket, db_password)}
        munged = stack.enter_context(process_group(munge_cmd, stdout=munge_log, stderr=subprocess.STDOUT,
                                                   **_as("munge")))
        _wait(munge_socket.exists, f"munge socket {munge_socket}", 30, [munged])
        mysqld = stack.enter_context(process_group(mysql_cmd, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
        _wait(mysql_socket.exists, f"MariaDB socket {mysql_socket}", 60, [mysqld])
        _sql(mysql_socket, f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{db_password}'; "
                           "CREATE DATABASE slurm_acct_db; "
                           "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
        stack.enter_context(_etc_slurm(confs))
        for daemon, port, extra in (("slurmdbd", ports["dbd"], []), ("slurmctld", ports["ctld"], []),
                                    ("slurmd", ports["slurmd"], ["-N", c.node])):
            log = stack.enter_context(open(c.logs / f"{daemon}.out", "w"))
            proc = stack.enter_context(process_group([daemon, "-D", *extra], stdout=log,
                                                     stderr=subprocess.STDOUT, env=env, cwd=base))
            wait_for_port(port, 60, proc)
        _wait(lambda: _node_state(c) == "idle", f"idle node {c.node} (see {c.logs})", 60)
        yield c


def sacct_jobs(name: str) -> list[dict[str, str]]:
    """Every job (allocation, not its steps) named ``name`` that slurmdbd recorded: dicts with
    JobID, State, Comment, ReqMem, Timelimit, ReqCPUS, Elapsed."""
    fields = ["JobID", "State", "Comment", "ReqMem", "Timelimit", "ReqCPUS", "Elapsed"]
    columns = ",".join(f + "%300" if f == "Comment" else f for f in fields)
    out = _run(["sacct", "-X", "--parsable2", "--noheader", "--allusers", "--starttime", "now-1days",
                "--name", name, "--format", columns])
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]
