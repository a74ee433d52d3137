"""The whole workflow on the smoke config: files, the MLflow store, and what reruns."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from gdbasins import files
from gdbasins.claims import VERDICTS
from helpers import checkout, dry_run_jobs, job_records, smoke_config, snakemake

pytestmark = pytest.mark.integration

N_JOBS, N_SEEDS, DATASETS = 36, 4, ["xor", "moons", "circles", "spirals", "teacher", "relu"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("smoke")
    snakemake(work, "--cores", "2")
    return work


def runs_of(work):
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gdbasins/smoke")
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags and "gdbasins.kind" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def test_report_is_built_and_recorded(study):
    reports = study / "reports" / "smoke"
    text = (reports / "README.md").read_text()
    assert text.startswith("# Where does gradient descent end up? Study `smoke`")
    claims = pd.read_csv(reports / "tables" / "claims.csv")
    assert set(claims["claim"]) == {1, 2, 3, 4}
    assert set(claims["verdict"]) <= set(VERDICTS)
    decided = claims[claims["dataset"] != "overall"]
    assert decided[["estimate", "lo", "hi"]].notna().all(axis=1).sum() > 0  # effects with intervals
    assert (pd.read_csv(reports / "tables" / "unit_cost.csv")["seconds_per_update"] > 0).all()
    outcomes = pd.read_csv(reports / "tables" / "outcomes.csv")
    assert len(outcomes) == N_JOBS and (outcomes["seeds"] == N_SEEDS).all()
    for name in ("global_share", "loss_curves_best_rates", "landscape_circles", "escape_share", "distinct_minima",
                 "barriers"):
        assert (reports / "figures" / f"{name}.png").stat().st_size > 1000
    for section in ("## Where local minima are real", "### The escape experiment", "### Distinct minima up to symmetry",
                    "### Barriers between minima"):
        assert section in text
    # every run of every job is grouped into a distinct minimum, and the spurious table covers every best rate
    found = pd.read_csv(reports / "tables" / "distinct_minima.csv")
    finite = outcomes.groupby("dataset")["seeds"].sum() - outcomes.groupby("dataset").apply(
        lambda g: (g["diverged"] * g["seeds"]).sum())
    assert found.groupby("dataset")["count"].sum().to_dict() == {d: int(round(n)) for d, n in finite.items()}
    assert len(pd.read_csv(reports / "tables" / "spurious.csv")) == len(pd.read_csv(reports / "tables" / "best_rates.csv"))
    escape = pd.read_csv(reports / "tables" / "escape.csv")
    assert set(escape["dataset"]) <= set(DATASETS) and (escape["starts"] > 0).all()
    client = MlflowClient(tracking_uri=f"sqlite:///{study / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gdbasins/smoke")
    [summary] = client.search_runs([exp.experiment_id], "tags.`gdbasins.kind` = 'summary'")
    assert summary.info.status == "FINISHED" and "claim2.verdict" in summary.data.tags
    assert "report/README.md" in [a.path for a in client.list_artifacts(summary.info.run_id, "report")]


def test_every_job_and_dataset_file_exists(study):
    root = study / "data" / "smoke"
    for name in DATASETS:
        assert files.load(root / "datasets" / f"{name}.npz")[1]["name"] == name
        table = files.read_table(root / "outcomes" / f"{name}.csv")
        assert len(table) == 6 * N_SEEDS
        assert set(table["outcome"]) <= {"global", "local", "plateau", "saddle", "unresolved", "unconverged", "diverged"}
    results = sorted(root.glob("runs/*/*/eta=*/results.npz"))
    assert len(results) == N_JOBS
    arrays, meta = files.load(results[0])
    assert arrays["history/loss"].shape == (meta["job"]["epochs"] + 1, N_SEEDS)  # the full history
    log = (study / "logs" / "smoke" / "train" / "moons" / "sgd" / "eta=0.1.log").read_text()
    assert "epoch 30/30" in log
    track = (study / "logs" / "smoke" / "track" / "moons.log").read_text()
    assert "smoke/moons/sgd/eta=0.1: logged 5 runs" in track
    assert (study / "logs" / "smoke" / "benchmarks" / "train" / "moons" / "sgd" / "eta=0.1.tsv").exists()


def test_store_holds_one_parent_per_job_and_one_child_per_seed(study):
    client, parents, children = runs_of(study)
    assert len(parents) == N_JOBS and len(children) == N_JOBS * N_SEEDS
    assert {r.info.status for r in parents + children} == {"FINISHED"}
    parent_ids = {r.info.run_id for r in parents}
    per_parent = pd.Series([r.data.tags["mlflow.parentRunId"] for r in children]).value_counts()
    assert set(per_parent.index) == parent_ids and set(per_parent) == {N_SEEDS}
    keys = [r.data.tags["gdbasins.job"] for r in parents]
    assert len(set(keys)) == N_JOBS
    # the recorded run ids of every job agree with the store
    records = job_records(study)
    assert [r["job"] for r in records] == sorted(keys)
    assert {r["parent"] for r in records} == parent_ids
    assert {cid for r in records for cid in r["children"].values()} == {r.info.run_id for r in children}


def test_runs_carry_params_metrics_tags_inputs_and_artifacts(study):
    client, parents, children = runs_of(study)
    p = next(r for r in parents if r.data.tags["gdbasins.job"] == "smoke/moons/sgd/eta=0.1")
    assert p.data.params["eta"] == "0.1" and p.data.params["variant"] == "sgd"
    assert p.data.params["network.activation"] == "tanh" and p.data.params["batch_size"] == "1"
    assert p.data.params["tolerances.global_gap"] == "0.0001" and p.data.params["seeds"] == "4"
    assert p.data.tags["gdbasins.code_version"]
    assert abs(sum(v for k, v in p.data.metrics.items() if k.startswith("share_")) - 1) < 1e-9
    [inp] = p.inputs.dataset_inputs
    digest = files.load(study / "data/smoke/datasets/moons.npz")[1]["sha256"]
    assert inp.dataset.name == "moons" and digest.startswith(inp.dataset.digest)
    assert [a.path for a in client.list_artifacts(p.info.run_id)] == ["sgd_eta=0.1.png"]
    kids = [c for c in children if c.data.tags["mlflow.parentRunId"] == p.info.run_id]
    c = kids[0]
    assert c.data.tags["outcome"] in {"global", "local", "plateau", "saddle", "unresolved", "unconverged", "diverged"}
    assert {"polished_loss", "eig_min", "sharpness", "loss", "test_accuracy"} <= set(c.data.metrics)
    history = client.get_metric_history(c.info.run_id, "loss")
    assert len(history) > 10 and history[-1].step == 30
    weights = json.loads(open(client.download_artifacts(c.info.run_id, "weights.json")).read())
    seed = int(c.data.tags["gdbasins.seed"])
    arrays, _ = files.load(study / "data/smoke/runs/moons/sgd/eta=0.1/results.npz")
    np.testing.assert_array_equal(weights["final"], arrays["theta"][seed])


def test_second_run_does_nothing_and_a_changed_rate_reruns_only_its_jobs(study):
    again = snakemake(study, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    cfg = smoke_config()
    cfg["variants"]["sgd"] = [0.01, 0.2]  # 0.1 -> 0.2, every dataset but teacher (own grid)
    proc = snakemake(study, "-n", config=cfg)
    assert dry_run_jobs(proc) == {"train": 4, "classify": 4, "escape": 4, "minima": 4, "track": 4, "report": 1,
                                  "all": 1}
    outputs = [line for line in proc.stdout.splitlines() if line.lstrip().startswith("output:")]
    assert any("eta=0.2/" in line for line in outputs) and not any("eta=0.01/" in line for line in outputs)


@pytest.mark.parametrize("key,value", [
    ("tolerances", {"global_gap": 1e-3}),
    ("tolerances", {"converged_gap": 2e-2, "arrival_band": 5e-3}),
])
def test_a_classification_tolerance_reruns_classification_not_training(study, key, value):
    proc = snakemake(study, "-n", config=smoke_config(**{key: value}))
    assert dry_run_jobs(proc) == {"classify": 6, "escape": 6, "minima": 6, "track": 6, "report": 1, "all": 1}


@pytest.mark.parametrize("key,value", [("tolerances", {"grad": 1e-5}), ("tolerances", {"escape": 1e-5}),
                                       ("certification", {"radius": 1e-2})])
def test_what_the_endpoint_analysis_uses_reruns_training(study, key, value):
    """``grad`` decides which points the perturbation test examines inside a training job, and
    ``escape`` when a point stalled at a kink moves on."""
    proc = snakemake(study, "-n", config=smoke_config(**{key: value}))
    assert dry_run_jobs(proc)["train"] == N_JOBS


def test_report_settings_rerun_only_the_report(study):
    proc = snakemake(study, "-n", config=smoke_config(report_gaps=[1e-5], claims={"margin": 0.2, "alpha": 0.01}))
    assert dry_run_jobs(proc) == {"report": 1, "all": 1}


def test_report_refuses_missing_results_unless_partial_is_allowed(study, tmp_path):
    import subprocess
    import sys

    from helpers import SMOKE, env

    results = study / "data/smoke/runs/moons/sgd/eta=0.1/results.npz"
    hidden = tmp_path / "hidden.npz"
    results.rename(hidden)
    try:
        cmd = [sys.executable, "-m", "gdbasins.cli", "report", "--configfile", str(SMOKE), "--out", str(tmp_path / "r")]
        refused = subprocess.run(cmd, cwd=study, capture_output=True, text=True, env=env())
        assert refused.returncode == 2 and "smoke/moons/sgd/eta=0.1" in refused.stderr
        assert not (tmp_path / "r").exists()
        partial = subprocess.run(cmd + ["--allow-partial"], cwd=study, capture_output=True, text=True, env=env())
        assert partial.returncode == 0, partial.stderr
        first = (tmp_path / "r" / "README.md").read_text().splitlines()[0]
        assert first == "**Partial report: 1 job(s) absent: smoke/moons/sgd/eta=0.1.**"
    finally:
        hidden.rename(results)


def test_an_edit_reruns_exactly_the_jobs_that_load_the_module(tmp_path):
    """Each rule's params hold a digest of its script and of the package modules the script
    loads (gdbasins/sources.py): editing a module reruns the jobs that load it and nothing else,
    touching one reruns nothing, and a new tracking store re-logs the runs without retraining."""
    clone = tmp_path / "clone"
    clone.mkdir()
    checkout(clone)
    cfg = smoke_config(study="edits", seeds=2)
    cfg["datasets"] = {name: cfg["datasets"][name] for name in ("xor", "moons")}
    snakemake(clone, "--cores", "2", config=cfg, snakefile=None)

    def planned(**env_extra):
        return dry_run_jobs(snakemake(clone, "-n", config=cfg, snakefile=None, **env_extra))

    package = clone / "src" / "gdbasins"
    os.utime(package / "network.py")  # touched, not changed
    assert planned() == {}
    other_store = f"sqlite:///{tmp_path / 'other.db'}"
    assert planned(MLFLOW_TRACKING_URI=other_store) == {"init_tracking": 1, "track": 2, "report": 1, "all": 1}

    def edit(module):
        with (package / module).open("a") as f:
            f.write("\n# an edit\n")

    edit("render.py")  # loaded by the report only
    assert planned() == {"report": 1, "all": 1}
    edit("plots.py")  # the loss-curve figures of classify, and the report's figures
    # escape and minima read the outcome tables that classify rewrites
    assert planned() == {"classify": 2, "escape": 2, "minima": 2, "track": 2, "report": 1, "all": 1}
    edit("hessian.py")  # the endpoint analysis: training and what reads its results, not the datasets
    # (Snakemake does not check the params of a job downstream of one it reruns: the store's
    # rule must not rerun for an engine edit, or the training jobs' new code would go unseen)
    plan = planned()
    assert plan["train"] == 2 * 6 and "make_dataset" not in plan and "init_tracking" not in plan
    assert plan["escape"] == plan["minima"] == plan["classify"] == 2
    edit("network.py")  # the engine: everything
    plan = planned()
    assert plan["train"] == 2 * 6 and plan["make_dataset"] == 2
