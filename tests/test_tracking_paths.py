"""The two ways a job's seed runs reach MLflow give the same runs.

On a SQL store (the embedded SQLite default) :mod:`gdbasins.tracking` inserts a job's seed runs in
one transaction through MLflow's table models; behind a tracking server it calls the client run by
run. Everything a user or the report reads back through MLflow's API must be the same either way:
names, statuses, tags, params, summary and history of every metric, the weights artifact, the
outcome tags, and search filters.
"""

import json

import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from gdbasins import datasets, tracking
from gdbasins.job import run_job

KEY = "paths/moons/minibatch/eta=0.5"


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One small job (moons, 3 seeds, with a test split) logged through each path into a store
    of its own, with its outcomes."""
    root = tmp_path_factory.mktemp("paths")
    data, results = root / "moons.npz", root / "results.npz"
    datasets.write(data, "moons", "moons", {"n_samples": 40, "noise": 0.2, "test_fraction": 0.25})
    spec = {"key": KEY, "study": "paths", "dataset": "moons", "variant": "minibatch", "eta": 0.5, "seeds": 3,
            "epochs": 40, "minibatch_size": 8, "tolerances": {},
            "network": {"hidden": [3], "activation": "tanh", "output": "sigmoid", "loss": "bce", "l2": 0.001,
                        "init": "glorot", "init_scale": 1.0}}
    run_job(data, spec, results)
    params = {k: v for k, v in spec.items() if k != "key"}
    out = {}
    for path in ("sql", "api"):
        uri = f"sqlite:///{root / path}.db"
        exp = tracking.init_store(uri, "gdbasins/paths", root / f"{path}-artifacts")
        with pytest.MonkeyPatch.context() as mp:
            if path == "api":
                mp.setattr(tracking, "_sql_store", lambda client: None)
            else:  # the bulk path must really be the one taken
                mp.setattr(tracking, "_write_seed_run_api", _must_not_be_called)
            ids = tracking.log_job(uri, exp, KEY, params, results, data, outcomes=OUTCOMES, code="test")
        out[path] = dict(uri=uri, exp=exp, ids=ids)
    return dict(out, results=results, data=data)


OUTCOMES = __import__("pandas").DataFrame({"seed": [2, 0, 1], "outcome": ["global", "local", "global"],
                                           "basin": ["global", "local", "global"], "converged": [True, True, False]})


def _must_not_be_called(*args):
    raise AssertionError("a SQL store's seed runs went through the client one by one")


def _seed_runs(store):
    client = MlflowClient(store["uri"])
    return client, {seed: client.get_run(rid) for seed, rid in store["ids"]["children"].items()}


def test_both_paths_give_the_same_seed_runs(logged):
    (sql_client, sql), (api_client, api) = _seed_runs(logged["sql"]), _seed_runs(logged["api"])
    assert sorted(sql) == sorted(api) == [0, 1, 2]
    for seed in sql:
        a, b = sql[seed], api[seed]
        assert a.info.run_name == b.info.run_name == f"seed {seed}"
        assert a.info.status == b.info.status == "FINISHED"
        assert a.info.lifecycle_stage == b.info.lifecycle_stage == "active"
        assert a.info.user_id == b.info.user_id
        assert a.info.start_time <= a.info.end_time
        assert a.info.artifact_uri.endswith(f"/{a.info.run_id}/artifacts")
        assert a.data.tags["mlflow.parentRunId"] == logged["sql"]["ids"]["parent"]
        assert b.data.tags["mlflow.parentRunId"] == logged["api"]["ids"]["parent"]

        def tags(run):
            return {k: v for k, v in run.data.tags.items() if k != "mlflow.parentRunId"}

        assert tags(a) == tags(b)
        row = OUTCOMES.set_index("seed").loc[seed]
        assert tags(a)["outcome"] == row["outcome"] and tags(a)["converged"] == str(row["converged"]).lower()
        assert tags(a)["gdbasins.seed"] == str(seed)
        assert a.data.params == b.data.params == {"seed": str(seed)}
        assert a.data.metrics == b.data.metrics and "polished_loss" in a.data.metrics
        for key in a.data.metrics:
            history = [(m.step, m.value) for m in sql_client.get_metric_history(a.info.run_id, key)]
            assert history == [(m.step, m.value) for m in api_client.get_metric_history(b.info.run_id, key)]
        assert [f.path for f in sql_client.list_artifacts(a.info.run_id)] == ["weights.json"]
        assert [f.path for f in api_client.list_artifacts(b.info.run_id)] == ["weights.json"]
        weights = [json.loads(open(download_artifacts(run_id=r.info.run_id, artifact_path="weights.json",
                                                      tracking_uri=s["uri"])).read())
                   for r, s in ((a, logged["sql"]), (b, logged["api"]))]
        assert weights[0] == weights[1] and len(weights[0]["polished"]) == len(weights[0]["initial"])


def test_curves_keep_their_history_and_the_summary_is_the_last_step(logged):
    client, runs = _seed_runs(logged["sql"])
    run = runs[1]
    loss = client.get_metric_history(run.info.run_id, "loss")
    steps = [m.step for m in loss]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 40 and len(steps) > 5
    assert run.data.metrics["loss"] == loss[-1].value


def test_the_parent_holds_the_share_of_each_outcome(logged):
    for store in (logged["sql"], logged["api"]):
        metrics = MlflowClient(store["uri"]).get_run(store["ids"]["parent"]).data.metrics
        assert metrics["share_global"] == pytest.approx(2 / 3) and metrics["share_local"] == pytest.approx(1 / 3)
        assert metrics["share_saddle"] == 0 and metrics["share_diverged"] == 0


def test_outcomes_missing_a_seed_are_refused_before_the_store_changes(logged):
    store = logged["sql"]
    def live():
        return sorted((r.info.run_id, r.info.status) for r in MlflowClient(store["uri"]).search_runs([store["exp"]]))

    before = live()
    with pytest.raises(ValueError, match=r"no row for seeds \[2\]"):
        tracking.log_job(store["uri"], store["exp"], KEY, {"dataset": "moons", "variant": "minibatch"},
                         logged["results"], logged["data"], outcomes=OUTCOMES[OUTCOMES["seed"] != 2], code="test")
    assert live() == before and len(before) == 4  # the job's runs are still there, untouched


def test_searches_find_the_same_runs_on_both_paths(logged):
    def found(store, query):
        runs = MlflowClient(store["uri"]).search_runs([store["exp"]], query)
        return sorted(r.data.tags.get("gdbasins.seed", "parent") for r in runs)

    for query in ("tags.outcome = 'global'", "metrics.polished_loss < 10", "params.seed = '2'",
                  f"tags.`{tracking.JOB_TAG}` = '{KEY}' and attributes.status = 'FINISHED'"):
        assert found(logged["sql"], query) == found(logged["api"], query) != []


def test_code_version_is_dirty_for_code_but_not_for_regenerated_reports(tmp_path):
    """The report records the commit it was made from; rewriting ``reports/`` (which the
    pipeline itself does) must not mark a clean checkout ``-dirty``, editing code must."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "src").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "src" / "m.py").write_text("x = 1\n")
    (tmp_path / "reports" / "README.md").write_text("old\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.strip()
    src = tmp_path / "src"  # the package calls it from inside its own directory
    assert tracking.code_version(src) == sha
    (tmp_path / "reports" / "README.md").unlink()  # what Snakemake does before the report job
    (tmp_path / "data.csv").write_text("untracked\n")
    assert tracking.code_version(src) == sha
    (tmp_path / "src" / "m.py").write_text("x = 2\n")
    assert tracking.code_version(src) == sha + "-dirty"
    assert tracking.code_version(tmp_path / "missing") == "unknown"
