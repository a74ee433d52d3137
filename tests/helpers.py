"""Running the workflow from tests: Snakemake in a temporary working directory, with the
repository's Snakefile and configs, and the tracking store inside that directory."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "smoke.yaml"


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    e.update(OPENBLAS_NUM_THREADS="1", MLFLOW_DISABLE_TELEMETRY="true", PYTHONPATH=str(REPO / "src"))
    e.update(extra)
    return e


def snakemake(workdir: Path, *args, config: Path | dict = SMOKE, check=True, timeout=900,
              snakefile: Path | None = REPO / "Snakefile", **env_extra):
    """Run ``snakemake`` on the repository's workflow (or ``snakefile``'s) in ``workdir``, from
    ``workdir``; ``config`` is a file or a dict (written to ``workdir/config.yaml``).

    ``snakefile=None``: ``workdir`` is a checkout (see ``checkout``), run as its README says,
    without ``-s`` or ``--directory``. Remote jobs then start in the folder the executor gives
    them; with ``--directory`` Snakemake would send every job into ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(config, dict):
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        config = path
    where = [] if snakefile is None else ["-s", str(snakefile), "--directory", str(workdir)]
    cmd = [sys.executable, "-m", "snakemake", *where, "--configfile", str(config), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(**env_extra), cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def checkout(dest: Path) -> str:
    """A user's clone of this checkout at ``dest``: its tracked files as they are on disk,
    committed to a new repository. Returns the commit."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    git = ["git", "-c", "user.name=gdbasins-tests", "-c", "user.email=tests@gdbasins.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "checkout"]):
        subprocess.run(git + args, cwd=dest, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=dest, capture_output=True, text=True,
                          check=True).stdout.strip()


def job_records(work: Path, study: str | None = None):
    """Every job's MLflow record of a finished study (written by the ``track`` rule,
    ``data/<study>/tracking/<dataset>.json``), sorted by job key: dicts with ``job`` (the key),
    ``uri``, ``variant``, ``eta``, ``parent``, ``children`` (seed -> run id), ``model`` and
    ``dir`` (the job's result folder)."""
    records = []
    for path in sorted(Path(work).glob(f"data/{study or '*'}/tracking/*.json")):
        data = json.loads(path.read_text())
        for key, rec in data["jobs"].items():
            study_name, dataset, variant, eta = key.split("/")
            records.append(dict(rec, job=key, uri=data["uri"], dir=Path(work) / "data" / study_name / "runs" /
                                dataset / variant / eta))
    return sorted(records, key=lambda r: r["job"])


def smoke_config(**overrides) -> dict:
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg.update(overrides)
    return cfg


def dry_run_jobs(proc) -> dict[str, int]:
    """Job counts per rule from a dry run's "Job stats" table."""
    counts, table = {}, False
    for line in proc.stdout.splitlines():
        if line.startswith("Job stats:"):
            table = True
            continue
        parts = line.split()
        if table and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
        elif table and parts and parts[0] == "total":
            break
    return counts


def rewrite_entry(path: Path, name: str, array) -> None:
    """Replace one array inside an .npz and keep everything else, the recorded hash too: a hand edit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(Path(path).read_bytes())) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == name + ".npy":
                npy = io.BytesIO()
                np.lib.format.write_array(npy, array)
                data = npy.getvalue()
            zout.writestr(item, data)
    Path(path).write_bytes(buf.getvalue())
