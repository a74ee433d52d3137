"""The workflow against a shared tracking server: a real PostgreSQL server (Debian's package,
installed when missing) behind ``mlflow server``, both on 127.0.0.1 at free ports, both stopped by
the process ids this module started. Every run and artifact is checked through the server's REST
API, not through a database connection.

Three runs of the workflow: the smoke config (up to its report) with two parallel local jobs; a
trimmed smoke study (xor and moons, 3 seeds: 12 training jobs, up to the runs in MLflow) through a
real executor plugin, snakemake-executor-plugin-cluster-generic, whose submit script starts each
job in the background; and moons alone (6 training jobs, up to the report) through the same
plugin without a shared file system, each job in an empty folder of its own, inputs and outputs
through a storage plugin; and moons alone (up to the report) through snakemake-executor-plugin-slurm
on a one-node Slurm cluster started for the test (tests/slurm_cluster.py), with profiles/slurm.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml
from mlflow import MlflowClient

from gdbasins import files, tracking
from helpers import REPO, checkout, dry_run_jobs, job_records, smoke_config, snakemake
from services import ensure_debian_packages, free_port, mlflow_server, postgres_server
from slurm_cluster import sacct_jobs, slurm_cluster

pytestmark = pytest.mark.integration

CLUSTER = REPO / "tests" / "cluster"
OUTCOMES = {"global", "local", "plateau", "saddle", "unresolved", "unconverged", "diverged"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``(url, database_uri, artifacts)`` of a running MLflow server on PostgreSQL."""
    base = tmp_path_factory.mktemp("server")
    with postgres_server(log_dir=base) as database:
        with mlflow_server(database, base / "artifacts", base / "mlflow.log") as url:
            yield url, database, base / "artifacts"


# -- the server's REST API ------------------------------------------------------------------------

def api(url, endpoint, **params):
    response = requests.get(f"{url}/api/2.0/mlflow/{endpoint}", params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def search_runs(url, experiment_id):
    """Every active run of an experiment, page by page (``runs/search``)."""
    runs, token = [], None
    while True:
        body = {"experiment_ids": [experiment_id], "max_results": 200, **({"page_token": token} if token else {})}
        response = requests.post(f"{url}/api/2.0/mlflow/runs/search", json=body, timeout=30)
        response.raise_for_status()
        page = response.json()
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            return runs


def tags(run):
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def artifacts(url, run_id):
    return {f["path"]: f for f in api(url, "artifacts/list", run_id=run_id).get("files", [])}


def download(url, run, path):
    """An artifact's bytes through the server's artifact proxy."""
    root = run["info"]["artifact_uri"]
    assert root.startswith("mlflow-artifacts:/"), root  # served by the server, not a local path
    response = requests.get(f"{url}/api/2.0/mlflow-artifacts/artifacts/{root.split(':/', 1)[1].lstrip('/')}/{path}",
                            timeout=30)
    response.raise_for_status()
    return response.content


def check_store(url, work: Path, study: str, n_jobs: int, n_seeds: int) -> dict[str, list]:
    """Everything the study's jobs wrote to the server: one FINISHED parent per job with its
    figure, one FINISHED child per seed with an outcome tag and its weights, agreeing with the
    jobs' own result files, and the report's summary run if the study was reported. Returns the
    runs by kind (``parents``, ``children``, ``summary``)."""
    exp = api(url, "experiments/get-by-name", experiment_name=f"gdbasins/{study}")["experiment"]
    record = files.read_record(work / f"data/{study}/tracking.json")  # its digest checked
    assert record == {"uri": url, "experiment": f"gdbasins/{study}", "experiment_id": exp["experiment_id"]}
    runs = search_runs(url, exp["experiment_id"])
    summary = [r for r in runs if tags(r).get("gdbasins.kind") == "summary"]
    parents = [r for r in runs if "mlflow.parentRunId" not in tags(r) and r not in summary]
    children = [r for r in runs if "mlflow.parentRunId" in tags(r)]
    assert len(parents) == n_jobs and len(children) == n_jobs * n_seeds
    assert {r["info"]["status"] for r in runs} == {"FINISHED"}
    by_id = {r["info"]["run_id"]: r for r in runs}
    records = job_records(work, study)
    assert len(records) == n_jobs and {r["uri"] for r in records} == {url}
    for job in records:
        parent = by_id[job["parent"]]
        assert tags(parent)["gdbasins.job"] == job["job"]
        assert list(artifacts(url, job["parent"])) == [tracking.FIGURE_NAME]  # one name on every parent
        params = {p["key"]: p["value"] for p in parent["data"]["params"]}
        assert params["variant"] == job["variant"] and float(params["eta"]) == job["eta"]
        shares = [m["value"] for m in parent["data"]["metrics"] if m["key"].startswith("share_")]
        assert abs(sum(shares) - 1) < 1e-9
        assert len(job["children"]) == n_seeds
        for seed, cid in job["children"].items():
            child = by_id[cid]
            assert tags(child)["mlflow.parentRunId"] == job["parent"] and tags(child)["gdbasins.seed"] == seed
            assert tags(child)["outcome"] in OUTCOMES
            assert artifacts(url, cid)["weights.json"]["file_size"] > 100
    # one child's weights, downloaded through the server, are the job's final weights
    path = work / f"data/{study}/runs/moons/sgd/eta=0.1"
    [job] = [r for r in records if r["job"] == f"{study}/moons/sgd/eta=0.1"]
    weights = json.loads(download(url, by_id[job["children"]["1"]], "weights.json"))
    arrays, _ = files.load(path / "results.npz")
    np.testing.assert_array_equal(weights["final"], arrays["theta"][1])
    png = download(url, by_id[job["parent"]], tracking.FIGURE_NAME)
    assert png.startswith(b"\x89PNG")
    return {"parents": parents, "children": children, "summary": summary}


# -- part 1: the smoke config with parallel jobs against the server -------------------------------

def test_smoke_study_logs_every_run_and_artifact_to_the_server(server, tmp_path):
    """The smoke study's XOR, moons and ReLU datasets (the three kinds of network: sigmoid with
    squared error, tanh with cross-entropy, ReLU with fixed output) through every rule, two jobs
    at a time; the other datasets would add only training time, which the local tests cover."""
    url, _, stored = server
    cfg = smoke_config(seeds=3)
    cfg["datasets"] = {k: v for k, v in cfg["datasets"].items() if k in ("xor", "moons", "relu")}
    proc = snakemake(tmp_path, "--cores", "2", config=cfg, MLFLOW_TRACKING_URI=url)
    runs = check_store(url, tmp_path, "smoke", n_jobs=18, n_seeds=3)
    # the console is Snakemake's, not two lines of MLflow links per run
    assert "View run" not in proc.stdout + proc.stderr
    [summary] = runs["summary"]  # the report's run, with the report as artifacts
    assert summary["info"]["status"] == "FINISHED"
    report = api(url, "artifacts/list", run_id=summary["info"]["run_id"], path="report").get("files", [])
    assert "report/README.md" in {f["path"] for f in report}
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlartifacts").exists()
    # the server stored the artifacts under its --artifacts-destination
    assert len(list(stored.rglob("weights.json"))) >= len(runs["children"])


# -- part 2: a real executor plugin, jobs in the background ---------------------------------------

def test_cluster_generic_executor_logs_to_the_server(server, tmp_path):
    url, _, _ = server
    jobs = tmp_path / "jobs"
    cfg = smoke_config(study="cluster", seeds=3)
    cfg["datasets"] = {k: v for k, v in cfg["datasets"].items() if k in ("xor", "moons")}
    targets = [f"data/cluster/tracking/{d}.json" for d in cfg["datasets"]]  # up to the runs in MLflow
    proc = snakemake(
        tmp_path / "work", "--executor", "cluster-generic", "--jobs", "2", "--seconds-between-status-checks", "1",
        "--cluster-generic-submit-cmd", f"{CLUSTER}/submit.sh", "--cluster-generic-status-cmd", f"{CLUSTER}/status.sh",
        "--cluster-generic-cancel-cmd", f"{CLUSTER}/cancel.sh", *targets,
        config=cfg, MLFLOW_TRACKING_URI=url, GDBASINS_CLUSTER_DIR=str(jobs))
    check_store(url, tmp_path / "work", "cluster", n_jobs=12, n_seeds=3)
    # every job went through the submit script, ran as its own process, exited 0 and is gone
    submitted = proc.stderr.count("with external jobid")
    assert submitted == 2 + 1 + 12 + 2 + 2  # datasets, store, training, classify, track
    exits = sorted(jobs.glob("*.exit"))
    assert len(exits) == submitted and {p.read_text().strip() for p in exits} == {"0"}
    for p in exits:
        with pytest.raises(ProcessLookupError):
            os.kill(int(p.stem), 0)


# -- part 3: no shared file system ----------------------------------------------------------------

def test_jobs_without_a_shared_file_system_get_everything_from_storage(server, tmp_path):
    """Each job starts in an empty folder of its own, a node that shares nothing with the
    submitting machine: the package comes with Snakemake's source archive, every input and
    output goes through a storage plugin (snakemake-storage-plugin-fs), runs go to the server."""
    ensure_debian_packages("rsync", probe="rsync")  # what the fs storage plugin copies with
    url, _, _ = server
    clone, storage, nodes, jobs = (tmp_path / p for p in ("clone", "storage", "nodes", "jobs"))
    clone.mkdir()
    commit = checkout(clone)
    cfg = smoke_config(study="nofs", seeds=3)
    cfg["datasets"] = {"moons": cfg["datasets"]["moons"]}
    flags = [
        # all six training jobs at once: jobs that share a folder for their local copies of the
        # storage files delete each other's inputs (3 of 4 runs failed when all ran in the clone)
        "--executor", "cluster-generic", "--jobs", "6", "--seconds-between-status-checks", "1",
        "--cluster-generic-submit-cmd", f"{CLUSTER}/submit.sh", "--cluster-generic-status-cmd", f"{CLUSTER}/status.sh",
        "--cluster-generic-cancel-cmd", f"{CLUSTER}/cancel.sh",
        "--shared-fs-usage", "none", "--job-deploy-sources",
        "--default-storage-provider", "fs", "--default-storage-prefix", str(storage),
        # each job's local copies in a folder of its own, named from its environment on the node
        "--remote-job-local-storage-prefix", "$PWD/job-storage"]
    settings = dict(config=cfg, snakefile=None, MLFLOW_TRACKING_URI=url, GDBASINS_CLUSTER_DIR=str(jobs),
                    GDBASINS_NODE_ROOT=str(nodes))
    proc = snakemake(clone, *flags, **settings, check=False)
    failed = [log for log in sorted(jobs.glob("*.log"))
              if not log.with_suffix(".exit").exists() or log.with_suffix(".exit").read_text().strip() != "0"]
    assert proc.returncode == 0, proc.stderr[-3000:] + "".join(
        f"\n--- job log {log.name} ---\n{log.read_text()[-3000:]}" for log in failed)
    submitted = proc.stderr.count("with external jobid")
    # dataset, store, training, classify, unit cost, escape, minima, track, report
    assert submitted == 1 + 1 + 6 + 1 + 1 + 1 + 1 + 1 + 1
    assert {p.read_text().strip() for p in jobs.glob("*.exit")} == {"0"}
    # one empty folder per job, filled only by the source archive and the storage's local copies
    node_dirs = sorted(nodes.iterdir())
    assert len(node_dirs) == submitted
    for node in node_dirs:
        assert (node / "src" / "gdbasins" / "train.py").is_file()
        assert (node / "job-storage" / "fs").is_dir()  # where it kept its copies of storage files
        assert not (node / "data" / "nofs").exists() and not (node / "reports" / "nofs").exists()
    # every result is in the storage, none in the submitting checkout
    assert not (clone / "data" / "nofs").exists() and not (clone / "reports" / "nofs").exists()
    check_store(url, storage, "nofs", n_jobs=6, n_seeds=3)
    report = (storage / "reports" / "nofs" / "README.md").read_text()
    assert (storage / "reports" / "nofs" / "figures" / "landscape_moons.png").stat().st_size > 1000
    # the commit the jobs ran comes from the submitting checkout: no job had a git repository
    assert f"Code version `{commit}`" in report
    exp = api(url, "experiments/get-by-name", experiment_name="gdbasins/nofs")["experiment"]
    versions = {tags(r)["gdbasins.code_version"] for r in search_runs(url, exp["experiment_id"])}
    assert versions == {commit}
    # the package is not an input here, yet an edit reruns the jobs that load it (a params digest)
    assert "Nothing to be done" in snakemake(clone, *flags, "-n", **settings).stdout
    with (clone / "src" / "gdbasins" / "render.py").open("a") as f:
        f.write("\n# an edit\n")
    assert dry_run_jobs(snakemake(clone, *flags, "-n", **settings)) == {"report": 1, "all": 1}


# -- part 4: a real Slurm cluster --------------------------------------------------------------------

def test_slurm_executor_runs_the_study_with_the_shipped_profile(server, tmp_path):
    """The README's Slurm commands on a one-node cluster of Debian's Slurm (slurmctld, slurmd,
    slurmdbd on MariaDB, munge; tests/slurm_cluster.py): moons alone, 3 seeds, through every
    rule to the report, with profiles/slurm as shipped, from a clone's root. Every job was a
    Slurm job, ran to COMPLETED, and asked Slurm for the memory, time and CPUs its rule has in
    the profile; a job above its memory would have been killed (the node enforces it)."""
    url, _, _ = server
    clone = tmp_path / "clone"
    clone.mkdir()
    checkout(clone)
    cfg = smoke_config(study="slurm", seeds=3)
    cfg["datasets"] = {"moons": cfg["datasets"]["moons"]}
    profile = yaml.safe_load((clone / "profiles/slurm/config.yaml").read_text())
    with slurm_cluster(tmp_path / "slurm") as cluster:
        largest = max(r["mem_mb"] for r in profile["set-resources"].values())
        assert largest <= cluster.memory_mb, f"profile: {largest} MB, node: {cluster.memory_mb} MB"
        # status checks from 2 s on instead of 40 s: a job here takes seconds, not minutes
        proc = snakemake(clone, "--workflow-profile", "profiles/slurm",
                         "--slurm-init-seconds-before-status-checks", "2",
                         config=cfg, snakefile=None, check=False, timeout=900, MLFLOW_TRACKING_URI=url)
        assert proc.returncode == 0, proc.stderr[-6000:] + "".join(
            f"\n--- {log} ---\n{log.read_text()[-2000:]}" for log in sorted(cluster.logs.iterdir()))
        [run_id] = set(re.findall(r"SLURM run ID: (\S+)", proc.stderr))
        jobs = sacct_jobs(run_id)
    runs = check_store(url, clone, "slurm", n_jobs=6, n_seeds=3)
    [summary] = runs["summary"]  # the report job's run
    assert summary["info"]["status"] == "FINISHED"
    assert (clone / "reports/slurm/figures/landscape_moons.png").stat().st_size > 1000
    # dataset, store, training, classify, unit cost, escape, minima, track, report: all sbatch jobs
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", proc.stderr)
    assert len(submitted) == 1 + 1 + 6 + 1 + 1 + 1 + 1 + 1 + 1
    assert sorted(j["JobID"] for j in jobs) == sorted(submitted)
    assert {j["State"] for j in jobs} == {"COMPLETED"}
    rules = profile["set-resources"]
    for job in jobs:
        [rule] = [r for r in rules if re.fullmatch(f"rule_{r}(_wildcards_.*)?", job["Comment"])]
        wanted = rules[rule]
        assert job["ReqMem"] == f"{wanted['mem_mb']}M", (rule, job)
        hours, minutes = divmod(wanted["runtime"], 60)  # Snakemake's runtime is in minutes
        assert job["Timelimit"] == f"{hours:02d}:{minutes:02d}:00", (rule, job)
        assert job["ReqCPUS"] == str(wanted["cpus_per_task"]), (rule, job)


# -- bad input --------------------------------------------------------------------------------------

def test_unreachable_server_fails_fast_naming_the_uri(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    proc = snakemake(tmp_path, "--cores", "2", check=False, timeout=120, MLFLOW_TRACKING_URI=url)
    assert proc.returncode != 0
    assert time.monotonic() - start < 60
    assert f"MLflow tracking server {url} is unreachable" in proc.stderr  # the failed job's log, shown
    assert not list(tmp_path.glob("data/smoke/runs/**/results.npz"))  # no training started


def test_silent_server_fails_within_the_probe_bound():
    """A server that accepts connections and never answers is caught by the probe's timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(tracking.TrackingStoreError, match=f"server {url} is unreachable .*Timeout"):
            tracking.check_store(url, timeout=0.5, attempts=2)
        assert time.monotonic() - start < 5


def test_a_job_whose_server_vanished_fails_after_bounded_retries(monkeypatch):
    """Past the start-up check, a job's MLflow calls retry about 15 s (not MLflow's four minutes),
    then fail with MLflow's error naming the server's URL."""
    for var in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(var, "0")
        monkeypatch.delenv(var)  # restored (unset) after the test, whatever the client sets
    url = f"http://127.0.0.1:{free_port()}"
    client = tracking._client(url)
    start = time.monotonic()
    with pytest.raises(Exception, match=f"API request to {url}/api/2.0/mlflow/experiments/get failed"):
        client.get_experiment("1")
    assert time.monotonic() - start < 45
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "4"


def test_wrong_database_credentials_stop_the_workflow_before_training(server, tmp_path):
    _, database, _ = server
    wrong = database.replace(":gdbasins-test@", ":not-the-password@")
    start = time.monotonic()
    proc = snakemake(tmp_path, "--cores", "2", check=False, timeout=120, MLFLOW_TRACKING_URI=wrong)
    assert proc.returncode != 0 and time.monotonic() - start < 60
    assert "cannot connect to the tracking database postgresql://gdbasins:***@127.0.0.1" in proc.stderr
    assert 'password authentication failed for user "gdbasins"' in proc.stderr
    assert "not-the-password" not in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("data/smoke/runs/**/results.npz"))


def test_database_uri_with_right_credentials_passes_the_check(server):
    _, database, _ = server
    tracking.check_store(database)  # no exception
    assert tracking.redact(database) == database.replace(":gdbasins-test@", ":***@")


def test_a_database_password_stays_off_the_disk(server, tmp_path, monkeypatch):
    """With a store URI that holds a password (a direct postgresql:// URI), the study records it
    with the password hidden, and every job takes the full URI from the environment."""
    _, database, _ = server
    cfg = smoke_config(study="secret", seeds=2)
    cfg["datasets"] = {"xor": cfg["datasets"]["xor"]}
    work = tmp_path / "work"
    snakemake(work, "--cores", "2", "data/secret/tracking/xor.json", config=cfg, MLFLOW_TRACKING_URI=database)
    record = files.read_record(work / "data/secret/tracking.json")
    assert record["uri"] == tracking.redact(database) and ":***@" in record["uri"]
    leaked = [str(p.relative_to(work)) for p in work.rglob("*") if p.is_file() and b"gdbasins-test" in p.read_bytes()]
    assert leaked == []  # not in data/, logs/, nor Snakemake's own records under .snakemake/
    jobs = job_records(work, "secret")
    runs = MlflowClient(database).search_runs([record["experiment_id"]])
    assert jobs and len(runs) == len(jobs) * (1 + 2) and {r.info.status for r in runs} == {"FINISHED"}
    # a job whose environment lacks the password fails naming what to set
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(tracking.TrackingStoreError, match="set MLFLOW_TRACKING_URI to the store's full URI"):
        tracking.connect_uri(record["uri"])


def test_connect_uri_completes_only_a_matching_hidden_password(monkeypatch):
    full = "postgresql://user:s3cret@db.example:5432/mlflow"
    hidden = tracking.redact(full)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", full)
    assert tracking.connect_uri(hidden) == full
    assert tracking.connect_uri("sqlite:////tmp/x/mlflow.db") == "sqlite:////tmp/x/mlflow.db"
    assert tracking.connect_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://user:s3cret@other.example:5432/mlflow")
    with pytest.raises(tracking.TrackingStoreError, match=r"postgresql://user:\*\*\*@db.example:5432/mlflow needs"):
        tracking.connect_uri(hidden)
