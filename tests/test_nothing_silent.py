"""Nothing silently wrong, on a finished study: a deleted file or store comes back with a plain
rerun; a damaged store or a malformed tracking URI stops the run before any job, in one line that
says what to do (and following it works); a tampered derived file is refused naming it (and
following the advice works); ``gdbasins report`` refuses results of another config in one line.

One small study (XOR and moons, one rate per variant, 3 seeds) is finished once; each test
damages it, checks the message, repairs it as the message says, and leaves it as it found it
(checked: the reproducible files byte for byte and the store's runs)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from gdbasins import files
from helpers import rewrite_entry, smoke_config, snakemake
from study_state import fingerprint, reproducible_files, store_dump, store_runs

pytestmark = pytest.mark.integration

STUDY = "quiet"
CFG = smoke_config(study=STUDY, seeds=3, epochs=20, variants={"batch": [0.5], "minibatch": [1.0], "sgd": [0.1]})
CFG["datasets"] = {"xor": dict(CFG["datasets"]["xor"], epochs=100),
                   "moons": dict(CFG["datasets"]["moons"], params={"n_samples": 40, "noise": 0.2})}
ROOT = f"data/{STUDY}"
JOBS = 6
SUMMARY = (f"{STUDY}/summary", None)
NOTHING = "Nothing to be done"


class Finished:
    def __init__(self, work: Path, config: Path):
        self.work, self.config = work, config
        self.files = reproducible_files(work)
        self.store = jobs_only(store_dump(work))

    def run(self, *args, check=True, **env):
        return snakemake(self.work, "--cores", "2", *args, config=self.config, check=check, timeout=600, **env)

    def assert_intact(self):
        """The reproducible files byte for byte, and every job's runs once, FINISHED, as before."""
        assert reproducible_files(self.work) == self.files
        assert jobs_only(store_dump(self.work)) == self.store
        assert not [r for r in store_runs(self.work) if r["status"] == "RUNNING"]


def jobs_only(dump: dict) -> dict:
    """The job and seed runs (the summary run holds the measured claims, which vary)."""
    return {ident: runs for ident, runs in dump.items() if ident != SUMMARY}


def ran(proc, rule: str) -> int:
    """How many jobs of ``rule`` a run started."""
    return proc.stdout.count(f"rule {rule}:") + proc.stderr.count(f"rule {rule}:")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Finished:
    work = tmp_path_factory.mktemp("quiet")
    config = work.parent / "quiet.yaml"
    config.write_text(yaml.safe_dump(CFG))
    snakemake(work, "--cores", "2", config=config)
    done = Finished(work, config)
    assert len(done.store) == JOBS * 4 and len(done.files) > 20
    return done


# 1. Missing files ------------------------------------------------------------------------------


def test_deleted_files_of_every_kind_are_regenerated_by_a_plain_rerun(study):
    """A dataset, a result, a timing record, an outcomes table, a figure folder, a tracking record,
    the escape, minima and barrier tables, the unit costs and a report table: all come back with
    ``snakemake`` alone, byte for byte, and the store holds every run once again."""
    w = study.work
    gone = [f"{ROOT}/datasets/xor.npz", f"{ROOT}/runs/moons/batch/eta=0.5/results.npz",
            f"{ROOT}/runs/moons/sgd/eta=0.1/timing.json", f"{ROOT}/outcomes/moons.csv", f"{ROOT}/curves/moons",
            f"{ROOT}/tracking/moons.json", f"{ROOT}/escape/xor.csv", f"{ROOT}/minima/moons.csv",
            f"{ROOT}/barriers/xor.csv", f"{ROOT}/unit_cost.csv", f"{ROOT}/report_mlflow.json",
            f"reports/{STUDY}/tables/outcomes.csv"]
    for name in gone:
        path = w / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    proc = study.run()
    assert not [name for name in gone if not (w / name).exists()]
    # XOR's three jobs (their dataset was regenerated), and the two moons jobs whose result or timing went
    assert ran(proc, "train") == 3 + 2
    study.assert_intact()
    assert NOTHING in study.run().stdout + study.run().stderr


def test_a_deleted_store_is_rebuilt_from_data_without_retraining(study):
    w = study.work
    results = {p: p.stat().st_mtime_ns for p in w.glob(f"{ROOT}/runs/*/*/*/results.npz")}
    aside = w / "old-store"
    aside.mkdir()
    for path in w.glob("mlflow.db*"):
        path.rename(aside / path.name)
    # A write-ahead log left behind would be replayed into the new store: refused, until moved aside
    wal = w / "mlflow.db-wal"
    wal.write_bytes(b"\0" * 4096)
    proc = study.run(check=False)
    assert proc.returncode != 0 and ran(proc, "train") == 0 and "Traceback" not in proc.stderr
    [line] = [t for t in proc.stderr.splitlines() if t.startswith("Tracking store:")]
    assert "is missing but its mlflow.db-wal file is not" in line
    command = line.split("(", 1)[1].split(")")[0]
    assert command == f"mv {wal} {wal}.old"
    subprocess.run(command, shell=True, check=True)
    proc = study.run()
    assert f"Tracking store: the tracking store {w / 'mlflow.db'} is missing: rebuilt it" in proc.stderr
    assert ran(proc, "train") == 0 and ran(proc, "track") == 2
    assert {p: p.stat().st_mtime_ns for p in results} == results
    study.assert_intact()
    shutil.rmtree(aside)
    Path(f"{wal}.old").unlink()


def test_a_deleted_store_record_is_rebuilt_without_retraining(study):
    w = study.work
    (w / ROOT / "tracking.json").unlink()
    proc = study.run()
    assert "Tracking store: the store record is missing" in proc.stderr
    assert ran(proc, "train") == 0 and ran(proc, "init_tracking") == 0
    assert (w / ROOT / "tracking.json").exists()
    study.assert_intact()
    assert NOTHING in study.run().stderr + study.run().stdout


def test_runs_deleted_in_the_ui_and_a_deleted_experiment_are_logged_again(study):
    from mlflow import MlflowClient

    w = study.work
    client = MlflowClient(tracking_uri=f"sqlite:///{w / 'mlflow.db'}")
    record = files.read_record(w / ROOT / "tracking" / "moons.json")
    client.delete_run(next(iter(record["jobs"].values()))["parent"])  # what the UI's Delete does
    proc = study.run()
    assert f"1 of the 3 jobs {ROOT}/tracking/moons.json records are missing from the store" in proc.stderr
    assert ran(proc, "track") == 1 and ran(proc, "train") == 0
    study.assert_intact()
    client.delete_experiment(files.read_record(w / ROOT / "tracking.json")["experiment_id"])
    proc = study.run()
    assert f"has lost experiment 'gdbasins/{STUDY}'" in proc.stderr
    assert ran(proc, "track") == 2 and ran(proc, "train") == 0
    study.assert_intact()


# 2. Damaged stores and malformed URIs ----------------------------------------------------------


def truncate(db: Path):
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def garble(db: Path):
    db.write_bytes(b"not a database at all " * 200)


@pytest.mark.parametrize("damage,says", [(truncate, "is damaged (database disk image is malformed)"),
                                         (garble, "is damaged (file is not a database)")])
def test_a_damaged_store_stops_the_run_in_one_line_and_its_advice_rebuilds_it(study, damage, says):
    w = study.work
    db = w / "mlflow.db"
    damage(db)
    before = fingerprint(w)
    proc = study.run(check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    [line] = [t for t in proc.stderr.splitlines() if t.startswith("Tracking store:")]
    assert f"the tracking store {db} {says}: move it aside" in line, line
    assert fingerprint(w) == before
    command = line.split("(", 2)[2].split(")")[0]  # "mkdir <dir> && mv <db>* <dir>/", as the line says
    assert command.startswith("mkdir ") and " && mv " in command
    subprocess.run(command, shell=True, check=True)
    proc = study.run()
    assert ran(proc, "train") == 0
    study.assert_intact()
    shutil.rmtree(w / "damaged-store")


def test_a_read_only_store_stops_the_run_in_one_line(study):
    db = study.work / "mlflow.db"
    before = fingerprint(study.work)
    subprocess.run(["chattr", "+i", str(db)], check=True)  # read-only even to root
    try:
        proc = study.run(check=False)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"Tracking store: the tracking store {db} is read-only" in proc.stderr, proc.stderr[-1500:]
    assert fingerprint(study.work) == before
    proc = study.run()  # writable again (for root, chattr -i is what makes it so)
    assert NOTHING in proc.stdout + proc.stderr
    study.assert_intact()


@pytest.mark.parametrize("uri,says", [
    ("sqlite:/relative.db", "the tracking URI 'sqlite:/relative.db' is not one the workflow can log to"),
    ("ftp://host/x", "the tracking URI 'ftp://host/x' is not one the workflow can log to"),
    ("sqlite://", "the tracking URI 'sqlite://' names no SQLite file"),
    ("http://", "the tracking URI 'http://' names no host"),
    ("sqlite:////no/such/folder/mlflow.db",
     "the tracking store /no/such/folder/mlflow.db: its folder /no/such/folder does not exist; create it"),
])
def test_a_malformed_tracking_uri_stops_the_run_in_one_line(study, uri, says):
    before = fingerprint(study.work)
    proc = study.run("-n", check=False, MLFLOW_TRACKING_URI=uri)
    out = proc.stdout + proc.stderr  # a dry run logs to stdout
    assert proc.returncode != 0 and "Traceback" not in out
    assert f"Tracking store: {says}" in out, out[-1500:]
    assert fingerprint(study.work) == before
    assert not Path("/no/such/folder").exists()


# 4. Tampered derived files ---------------------------------------------------------------------


def edit_outcomes(path: Path):
    text = path.read_text()
    path.write_text(text.replace("global", "local", 1))


def edit_record(path: Path):
    record = json.loads(path.read_text())
    if "jobs" in record:  # a dataset's tracking record: one job's run said to be another's
        job = next(iter(record["jobs"].values()))
        job["variant"] = "sgd" if job["variant"] != "sgd" else "batch"
    else:  # a job's timing
        record["total_seconds"] *= 2
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def edit_meta(path: Path):
    _, meta = files.load(path)
    meta = dict(meta, known_optimum=1.0)
    rewrite_entry(path, "__meta__", np.array(json.dumps(meta, sort_keys=True)))


def copy_other_job(path: Path):
    shutil.copy(path.parents[1].parent / "sgd" / "eta=0.1" / "results.npz", path)


@pytest.mark.parametrize("name,tamper,says", [
    (f"{ROOT}/outcomes/xor.csv", edit_outcomes, "content does not match its recorded hash"),
    (f"{ROOT}/tracking/moons.json", edit_record, "content does not match its recorded hash"),
    (f"{ROOT}/runs/xor/sgd/eta=0.1/timing.json", edit_record, "content does not match its recorded hash"),
    (f"{ROOT}/runs/moons/batch/eta=0.5/results.npz", edit_meta, "content does not match its recorded hash"),
    (f"{ROOT}/runs/moons/batch/eta=0.5/results.npz", copy_other_job,
     f"holds the results of job '{STUDY}/moons/sgd/eta=0.1', not of '{STUDY}/moons/batch/eta=0.5'"),
])
def test_a_tampered_derived_file_is_refused_naming_it_and_its_advice_works(study, name, tamper, says):
    w = study.work
    path = w / name
    original = path.read_bytes()
    tamper(path)
    assert path.read_bytes() != original
    proc = study.run(check=False)
    logs = "".join(p.read_text() for p in (w / "logs" / STUDY).rglob("*.log"))
    assert proc.returncode != 0, "a tampered file was accepted"
    assert f"{name}: {says}" in proc.stderr + logs, (proc.stderr[-2000:], logs[-2000:])
    assert "Delete it and run snakemake again to regenerate it." in proc.stderr + logs
    path.unlink()  # as the message says
    study.run()
    study.assert_intact()


# 5. The command line ---------------------------------------------------------------------------


def cli(study, *args):
    return subprocess.run([sys.executable, "-m", "gdbasins.cli", *args], cwd=study.work, capture_output=True,
                          text=True, timeout=600)


def test_gdbasins_report_refuses_results_of_another_config_and_errors_are_one_line(study, tmp_path):
    other = copy.deepcopy(CFG)
    other["datasets"]["xor"]["epochs"] = 3000
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    proc = cli(study, "report", "--configfile", str(path), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"gdbasins report: {ROOT}/runs/xor/batch/eta=0.5/results.npz was made with "
                                  f"epochs = 100, but {path} gives 3000"), proc.stderr
    for args, says in [(["--configfile", str(tmp_path / "none.yaml")], "cannot be read"),
                       (["--configfile", str(study.config.parent / "bad.yaml")], "must be a finite number")]:
        (study.config.parent / "bad.yaml").write_text(yaml.safe_dump(dict(CFG, seeds=float("nan"))))
        proc = cli(study, "report", *args, "--out", str(tmp_path / "r"))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert not (tmp_path / "r").exists()
    proc = cli(study, "report", "--configfile", str(study.config), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
