"""The tracking store under stress and interruption, without Snakemake: retries on "database is
locked", the sweep of runs a killed job left RUNNING, SIGTERM while logging, a failed job's run,
and the test hook that makes a job fail."""

import contextlib
import os
import signal
import sqlite3
import time

import pytest
import sqlalchemy.exc
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from gdbasins import datasets, tracking
from gdbasins.job import FAIL_JOB_VAR, run_job

KEY = "unit/xor/sgd/eta=0.5"


def locked_error() -> MlflowException:
    """What MLflow's SQLite store raises when a writer waited past the busy timeout: an
    MlflowException raised from SQLAlchemy's OperationalError, itself from sqlite3's."""
    cause = sqlalchemy.exc.OperationalError("UPDATE runs ...", {}, sqlite3.OperationalError("database is locked"))
    try:
        try:
            raise cause
        except sqlalchemy.exc.OperationalError as e:
            raise MlflowException(message=e, error_code=TEMPORARILY_UNAVAILABLE) from e
    except MlflowException as exc:
        return exc


def store_error(sql_error: Exception) -> MlflowException:
    """What MLflow's SQLite store raises for a failed statement: an MlflowException raised from
    SQLAlchemy's error, itself raised from sqlite3's."""
    wrapper = (sqlalchemy.exc.IntegrityError if isinstance(sql_error, sqlite3.IntegrityError)
               else sqlalchemy.exc.OperationalError)
    try:
        try:
            raise wrapper("INSERT ...", {}, sql_error)
        except sqlalchemy.exc.SQLAlchemyError as e:
            raise MlflowException(message=e, error_code=TEMPORARILY_UNAVAILABLE) from e
    except MlflowException as exc:
        return exc


class Flaky:
    """A call that fails ``n`` times with ``error`` and then returns ``"done"``."""

    def __init__(self, n, error):
        self.n, self.error, self.calls = n, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.n:
            raise self.error
        return "done"


def test_locked_store_calls_are_retried_with_growing_jittered_pauses():
    pauses = []
    call = Flaky(5, locked_error())
    assert tracking.retry_locked(call, attempts=8, base=0.25, cap=2.0, sleep=pauses.append) == "done"
    assert call.calls == 6 and len(pauses) == 5
    bounds = [min(2.0, 0.25 * 2**k) for k in range(5)]  # 0.25, 0.5, 1, 2, 2 (capped)
    assert all(b / 2 <= p <= b for p, b in zip(pauses, bounds)), (pauses, bounds)
    assert pauses[3] > pauses[0]  # grows
    again = []
    tracking.retry_locked(Flaky(5, locked_error()), base=0.25, cap=2.0, sleep=again.append)
    assert again != pauses  # jittered: two colliding writers do not wait the same


def test_other_errors_are_not_retried_and_retries_give_up():
    pauses = []
    call = Flaky(1, MlflowException("Run 'x' not found"))
    with pytest.raises(MlflowException, match="not found"):
        tracking.retry_locked(call, sleep=pauses.append)
    assert call.calls == 1 and pauses == []
    call = Flaky(10, locked_error())
    with pytest.raises(MlflowException, match="database is locked"):
        tracking.retry_locked(call, attempts=3, sleep=pauses.append)
    assert call.calls == 3 and len(pauses) == 2


def test_two_jobs_registering_one_dataset_at_once_is_retried_other_integrity_errors_not():
    # seen with 8 parallel jobs: both jobs of a dataset found it missing and both inserted it
    race = store_error(sqlite3.IntegrityError(
        "UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest"))
    call = Flaky(1, race)
    assert tracking.retry_locked(call, sleep=lambda s: None) == "done" and call.calls == 2
    other = Flaky(1, store_error(sqlite3.IntegrityError("UNIQUE constraint failed: params.key")))
    with pytest.raises(MlflowException, match="params.key"):
        tracking.retry_locked(other, sleep=lambda s: None)
    assert other.calls == 1


def test_client_methods_go_through_the_retry(monkeypatch):
    class Fake:
        name = "not callable"

        def __init__(self):
            self.create = Flaky(2, locked_error())

        def create_run(self, experiment_id, run_name=None):
            return (self.create(), experiment_id, run_name)

    monkeypatch.setattr(tracking.time, "sleep", lambda s: None)
    client = tracking._Retrying(Fake())
    assert client.create_run("1", run_name="r") == ("done", "1", "r")
    assert client.name == "not callable"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained job (XOR, 2 seeds, 5 epochs), its files, and an empty store to copy."""
    root = tmp_path_factory.mktemp("trained")
    data, results = root / "xor.npz", root / "results.npz"
    datasets.write(data, "xor", "xor", {})
    spec = {"key": KEY, "study": "unit", "dataset": "xor", "variant": "sgd", "eta": 0.5, "seeds": 2, "epochs": 5,
            "minibatch_size": 2, "batch_size": 1, "tolerances": {},
            "network": {"hidden": [2], "activation": "sigmoid", "output": "sigmoid", "loss": "mse", "l2": 0.0,
                        "init": "uniform", "init_scale": 1.0}}
    run_job(data, spec, results)
    exp = tracking.init_store(f"sqlite:///{root / 'empty.db'}", "gdbasins/unit", root / "artifacts")
    params = {k: v for k, v in spec.items() if k != "key"}
    return dict(exp=exp, params=params, results=results, data=data, spec=spec, empty=root / "empty.db")


@pytest.fixture
def job(trained, tmp_path):
    """``trained`` with a store of its own (a copy of the empty one)."""
    # SQLite's backup API copies what a plain file copy can miss (the store writes ahead to a log)
    with sqlite3.connect(trained["empty"]) as src, sqlite3.connect(tmp_path / "mlflow.db") as dst:
        src.backup(dst)
    return dict(trained, uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def all_runs(uri, exp):
    return MlflowClient(uri).search_runs([exp], run_view_type=ViewType.ALL, max_results=1000)


def test_runs_a_killed_job_left_running_are_killed_and_retired_by_its_next_run(job):
    client = MlflowClient(job["uri"])
    orphan = client.create_run(job["exp"], tags={tracking.JOB_TAG: KEY}).info.run_id  # SIGKILLed mid-logging
    other = client.create_run(job["exp"], tags={tracking.JOB_TAG: "unit/xor/sgd/eta=0.1"}).info.run_id
    ids = tracking.log_job(job["uri"], job["exp"], KEY, job["params"], job["results"], job["data"], code="test")
    runs = {r.info.run_id: r for r in all_runs(job["uri"], job["exp"])}
    assert runs[orphan].info.status == "KILLED" and runs[orphan].info.lifecycle_stage == "deleted"
    assert runs[other].info.status == "RUNNING"  # another job's run is not this job's to sweep
    live = [r for r in runs.values() if r.info.lifecycle_stage == "active" and r.data.tags[tracking.JOB_TAG] == KEY]
    assert sorted(r.info.run_id for r in live) == sorted([ids["parent"], *ids["children"].values()])
    assert {r.info.status for r in live} == {"FINISHED"}


def test_sigterm_while_logging_through_a_server_ends_the_runs_killed(job, monkeypatch):
    # Behind a tracking server the seed runs are written through the client (here one at a time;
    # several at once in the next test).
    monkeypatch.setattr(tracking, "_sql_store", lambda client: None)
    monkeypatch.setattr(tracking, "SERVER_THREADS", 1)
    original = tracking._write_seed_run_api

    def write_then_sigterm(client, experiment_id, run, live):
        rid = original(client, experiment_id, run, live)
        if run.params["seed"] == "0":  # seed 0 is finished; seed 1 is next
            client.create_run(experiment_id, run_name="seed 1", tags=dict(run.tags, **{"gdbasins.seed": "1"}))
            live.append(client.search_runs([experiment_id], "tags.`gdbasins.seed` = '1'")[0].info.run_id)
            os.kill(os.getpid(), signal.SIGTERM)
        return rid

    monkeypatch.setattr(tracking, "_write_seed_run_api", write_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        tracking.log_job(job["uri"], job["exp"], KEY, job["params"], job["results"], job["data"], code="test")
    assert info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is removed again
    statuses = {r.data.tags.get("gdbasins.seed", "parent"): r.info.status for r in all_runs(job["uri"], job["exp"])}
    # seed 0 had finished; the parent and seed 1 were interrupted: KILLED, not FAILED, not RUNNING
    assert statuses == {"parent": "KILLED", "0": "FINISHED", "1": "KILLED"}


def test_sigterm_while_several_seed_runs_are_written_at_once_leaves_none_running(job, monkeypatch, tmp_path):
    """With the seed runs written by several threads, SIGTERM (it reaches the main thread) ends
    the parent KILLED; every seed run that exists is either complete (FINISHED, with its metrics
    and weights) or KILLED, and those not started are never created."""
    monkeypatch.setattr(tracking, "_sql_store", lambda client: None)
    monkeypatch.setattr(tracking, "SERVER_THREADS", 2)
    results = tmp_path / "results8.npz"
    run_job(job["data"], dict(job["spec"], seeds=8), results)
    original = tracking._write_seed_run_api

    def write_then_sigterm(client, experiment_id, run, live):
        rid = original(client, experiment_id, run, live)
        if run.params["seed"] == "0":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)  # the main thread handles the signal meanwhile
        return rid

    monkeypatch.setattr(tracking, "_write_seed_run_api", write_then_sigterm)
    with pytest.raises(SystemExit):
        tracking.log_job(job["uri"], job["exp"], KEY, dict(job["params"], seeds=8), results, job["data"], code="test")
    runs = all_runs(job["uri"], job["exp"])
    client = MlflowClient(job["uri"])
    seeds = [r for r in runs if "gdbasins.seed" in r.data.tags]
    assert [r.info.status for r in runs if "gdbasins.seed" not in r.data.tags] == ["KILLED"]
    assert 1 <= len(seeds) < 8  # interrupted: the later seeds were never created
    for r in seeds:
        assert r.info.status in ("FINISHED", "KILLED")
        if r.info.status == "FINISHED":
            assert "polished_loss" in r.data.metrics
            assert [a.path for a in client.list_artifacts(r.info.run_id)] == ["weights.json"]


class _SigtermAfterFirstInsert:
    """A session that receives SIGTERM once its first bulk insert (the runs rows) is done."""

    def __init__(self, session):
        self.session, self.calls = session, 0

    def execute(self, *args, **kwargs):
        out = self.session.execute(*args, **kwargs)
        self.calls += 1
        if self.calls == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_sigterm_during_the_bulk_insert_leaves_no_seed_run(job, monkeypatch):
    # On a SQL store a job's seed runs go in as one transaction: interrupted half-way, none stay.
    original = tracking._write_session

    @contextlib.contextmanager
    def interrupted(store):
        with original(store) as session:
            yield _SigtermAfterFirstInsert(session)

    monkeypatch.setattr(tracking, "_write_session", interrupted)
    with pytest.raises(SystemExit):
        tracking.log_job(job["uri"], job["exp"], KEY, job["params"], job["results"], job["data"], code="test")
    runs = all_runs(job["uri"], job["exp"])
    assert [(r.data.tags.get("gdbasins.seed", "parent"), r.info.status) for r in runs] == [("parent", "KILLED")]
    with sqlite3.connect(job["uri"][len("sqlite:///"):]) as con:  # nothing half-written under the API either
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
        assert con.execute("SELECT COUNT(*) FROM metrics WHERE run_uuid != ?", (runs[0].info.run_id,)).fetchone() == (0,)


@pytest.mark.parametrize("server", [False, True], ids=["sql-store", "tracking-server"])
def test_an_error_while_logging_fails_the_runs(job, monkeypatch, server):
    def broken(*args, **kwargs):
        raise ValueError("metric broke")

    if server:
        monkeypatch.setattr(tracking, "_sql_store", lambda client: None)
        monkeypatch.setattr(tracking, "_write_seed_run_api", broken)
    else:
        monkeypatch.setattr(tracking, "_insert_runs", broken)
    with pytest.raises(ValueError, match="metric broke"):
        tracking.log_job(job["uri"], job["exp"], KEY, job["params"], job["results"], job["data"], code="test")
    assert {r.info.status for r in all_runs(job["uri"], job["exp"])} == {"FAILED"}


def test_a_failed_job_leaves_one_failed_run_with_its_error(job):
    first = tracking.log_job(job["uri"], job["exp"], KEY, job["params"], job["results"], job["data"], code="test")
    rid = tracking.record_failure(job["uri"], job["exp"], KEY, job["params"], "RuntimeError: boom", code="test")
    live = [r for r in all_runs(job["uri"], job["exp"]) if r.info.lifecycle_stage == "active"]
    assert [r.info.run_id for r in live] == [rid]  # the earlier FINISHED runs no longer claim the job
    run = live[0]
    assert run.info.status == "FAILED" and run.data.tags["gdbasins.error"] == "RuntimeError: boom"
    assert run.data.tags[tracking.JOB_TAG] == KEY and run.data.params["eta"] == "0.5"
    assert first["parent"] != rid


def test_fail_job_hook_raises_before_training_for_that_job_only(job, monkeypatch, tmp_path):
    monkeypatch.setenv(FAIL_JOB_VAR, KEY)
    out = tmp_path / "again.npz"
    with pytest.raises(RuntimeError, match=f"{FAIL_JOB_VAR}={KEY}: this job was made to fail on purpose"):
        run_job(job["data"], job["spec"], out)
    assert not out.exists()
    run_job(job["data"], dict(job["spec"], key="unit/xor/sgd/eta=0.1"), out)  # other keys train
    assert out.exists()


def test_the_report_ends_runs_left_running_by_jobs_that_never_ran_again(job, tmp_path):
    # A track job killed mid-logging left a parent and a seed run RUNNING; then the user removed
    # that learning rate from the config, so no job of that key ever retires them.
    client = MlflowClient(job["uri"])
    gone = "unit/xor/sgd/eta=9.0"
    orphans = [client.create_run(job["exp"], tags={tracking.JOB_TAG: gone}).info.run_id for _ in range(2)]
    ids = tracking.log_job(job["uri"], job["exp"], KEY, job["params"], job["results"], job["data"], code="test")
    report = tmp_path / "report"
    report.mkdir()
    (report / "README.md").write_text("# report\n")
    claims = tmp_path / "claims.csv"
    claims.write_text("claim,dataset,verdict\n1,overall,inconclusive\n")
    summary = tracking.log_summary(job["uri"], job["exp"], "unit", report, claims, code="test")
    runs = {r.info.run_id: r for r in all_runs(job["uri"], job["exp"])}
    assert {runs[o].info.status for o in orphans} == {"KILLED"}
    assert {runs[o].info.lifecycle_stage for o in orphans} == {"active"}  # kept, for the record
    finished = [ids["parent"], *ids["children"].values(), summary]
    assert {runs[r].info.status for r in finished} == {"FINISHED"}
    assert not [r for r in runs.values() if r.info.status == "RUNNING"]


def test_the_report_retires_the_runs_and_models_of_jobs_no_longer_in_the_study(job, tmp_path):
    # The user replaced a learning rate, then dropped the dataset: no job of the old keys ever
    # runs again to retire its own runs, so the report does, for the jobs the study has no more.
    from gdbasins import model

    gone = "unit/xor/sgd/eta=9.0"
    ids = {k: tracking.log_job(job["uri"], job["exp"], k, job["params"], job["results"], job["data"],
                               code="test") for k in (KEY, gone)}
    jobs = [dict(v, key=k, variant="sgd", eta=0.5) for k, v in ids.items()]
    model.register_dataset(job["uri"], "unit", "xor", jobs)
    report = tmp_path / "report"
    report.mkdir()
    (report / "README.md").write_text("# report\n")
    claims = tmp_path / "claims.csv"
    claims.write_text("claim,dataset,verdict\n1,overall,inconclusive\n")
    summary = tracking.log_summary(job["uri"], job["exp"], "unit", report, claims, code="test", jobs=[KEY],
                                   datasets=["xor"])
    client = MlflowClient(job["uri"])
    stage = {r.info.run_id: r.info.lifecycle_stage for r in all_runs(job["uri"], job["exp"])}
    assert {stage[r] for r in [ids[gone]["parent"], *ids[gone]["children"].values()]} == {"deleted"}
    assert {stage[r] for r in [ids[KEY]["parent"], *ids[KEY]["children"].values(), summary]} == {"active"}
    assert [m.model_id for m in client.search_logged_models([job["exp"]])] == [ids[KEY]["model"]]
    versions = client.search_model_versions("name = 'gdbasins-unit-xor'")
    assert [v.tags[tracking.JOB_TAG] for v in versions] == [KEY]
    tracking.log_summary(job["uri"], job["exp"], "unit", report, claims, code="test", jobs=[], datasets=[])
    assert not client.search_registered_models() and not client.search_logged_models([job["exp"]])
    assert {r.info.lifecycle_stage for r in all_runs(job["uri"], job["exp"])
            if r.data.tags.get("gdbasins.kind") != "summary"} == {"deleted"}
