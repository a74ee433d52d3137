"""The whole workflow on the smoke config: files, the MLflow store, and what reruns."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from gdbasins import files
from gdbasins.claims import VERDICTS
from helpers import REPO, checkout, dry_run_jobs, job_records, smoke_config, snakemake

TABLES = ["outcomes", "best_rates", "paired", "tolerance", "minima_levels", "claims", "claims_by_tolerance",
          "speeds", "unit_cost", "timings", "spurious", "escape", "distinct_minima", "barriers"]

pytestmark = pytest.mark.integration

N_JOBS, N_SEEDS, DATASETS = 36, 4, ["xor", "moons", "circles", "spirals", "teacher", "relu"]


@pytest.fixture(scope="module")
def study(smoke_study):
    return smoke_study


def runs_of(work):
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gdbasins/smoke")
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    parents = [r for r in runs if r.data.tags.get("gdbasins.kind") == "job"]
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
    # the report as one page, its figures inside it: what MLflow's artifact viewer can show
    assert "report.html" in [a.path for a in client.list_artifacts(summary.info.run_id)]
    page = (study / "data" / "smoke" / "report" / "report.html").read_text()
    figures = text.count("](figures/")
    assert figures >= 10 and page.count('<img src="data:image/png;base64,') == figures


def test_report_explains_each_claim_in_plain_words_and_reads_without_special_fonts(study):
    reports = study / "reports" / "smoke"
    text = (reports / "README.md").read_text()
    claims = pd.read_csv(reports / "tables" / "claims.csv")
    for claim, section in zip(range(1, 5), text.split("### Claim ")[1:], strict=True):
        paragraph = section.split("\n\n")[1]
        overall = claims[(claims["claim"] == claim) & (claims["dataset"] == "overall")]["verdict"].iloc[0]
        assert paragraph.startswith("**What was tested.**")
        assert f"**What came out:** **{overall}**" in paragraph
        for dataset in claims.loc[(claims["claim"] == claim) & (claims["dataset"] != "overall"), "dataset"]:
            assert dataset in paragraph  # every dataset is placed: holds, fails or undecided
    assert "![Outcome shares against the learning rate](figures/outcome_shares.png)" in text
    page = (reports / "index.html").read_text()
    assert "L\\*" in text and "L\\*" not in page and "L&#42;" in page  # Markdown's escape, not shown as such
    for mark in ("✅", "❌", "❔", "◐", "↔", "∅", "&lt;br&gt;"):  # emoji need a font; a <br> shown as text
        assert mark not in page, mark
    assert "class='v v-" in page and page.count("<div class='scroll'><table>") == page.count("<table>") > 5


def test_the_snakemake_report_opens_on_the_study_shows_its_report_and_tables_and_captions_each_figure(
        study, tmp_path):
    import zipfile

    proc = snakemake(study, "--report", str(tmp_path / "report.zip"))
    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
        index = z.read("report/report.html").decode()
        pages = {n.rsplit("/", 1)[1]: z.read(n).decode() for n in names
                 if "/data/raw/" in n and n.endswith(".html")}
    # the landing page
    assert "Where does gradient descent end up? Study" in index and "Where to look" in index
    # the study's report, and every table, as pages the report shows inline (it shows CSV and Markdown only
    # as downloads)
    assert "What was tested." in pages.pop("report.html"), proc.stderr[-2000:]
    assert sorted(pages) == sorted(f"{name}.html" for name in TABLES)
    assert all("<table>" in page or "(empty)" in page for page in pages.values())
    figures = sorted(p.stem for p in (REPO / "workflow" / "report" / "figures").glob("*.rst"))
    captions = [" ".join((REPO / "workflow" / "report" / "figures" / f"{f}.rst").read_text().split())
                for f in figures]
    assert len(set(captions)) == len(figures) == 8  # a caption of its own for every figure
    for caption in captions:
        assert caption[:40] in index


def test_the_console_gives_the_time_at_the_start_and_where_the_results_are_at_the_end(study):
    console = (study / "console.txt").read_text()
    assert "Shell command" not in console  # every rule runs a script: Snakemake printed "None" per job
    lines = [line for line in console.splitlines() if line.startswith("gdbasins: ")]
    assert len(lines) == 2, lines
    first, last = lines
    total = int(re.search(r"^total\s+(\d+)$", console, re.M)[1])  # Snakemake's job stats, rule all included
    assert f"{N_JOBS} training jobs, {N_JOBS * N_SEEDS} seed runs, {total - 1} jobs in all" in first
    amount, unit = re.search(r"from nothing about ([\d.]+) (s|min|h) on 2 cores", first).groups()
    estimate = float(amount) * {"s": 1, "min": 60, "h": 3600}[unit]
    seconds = float((study / "seconds.txt").read_text())
    assert seconds / 3 < estimate < 3 * seconds, (estimate, seconds)
    assert "the report is reports/smoke/README.md" in last
    command = re.search(r"browse the runs with `([^`]+)`", last)[1]
    assert command == (f"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri "
                       f"sqlite:///{study / 'mlflow.db'} --host 127.0.0.1 --port 5000 --workers 1")
    experiment = json.loads((study / "data/smoke/tracking.json").read_text())["experiment_id"]
    assert last.endswith(f" open http://127.0.0.1:5000/#/experiments/{experiment}/runs?"
                         "workflowType=machine_learning&viewStateShareKey=gdbasins-jobs")


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
    # the same figure name on every job, so that the UI's Compare view shows them side by side
    assert [a.path for a in client.list_artifacts(p.info.run_id)] == ["loss_curves.png"]
    note = p.data.tags["mlflow.note.content"]  # the run's description in the UI
    assert note.startswith("**moons**, stochastic gradient descent (batch size 1) at learning rate 0.1: "
                           "4 seeds")
    record = json.loads((study / "data/smoke/tracking/moons.json").read_text())
    best = record["jobs"][p.data.tags["gdbasins.job"]]
    # the record MLflow keeps of a model logged inside a run, from which the UI's runs table shows the
    # run's registered version
    [history] = json.loads(p.data.tags["mlflow.log-model.history"])
    assert history["run_id"] == p.info.run_id and history["model_uuid"] == best["model"]
    # the same for the same job: no temporary path of the logging in it (tests/study_state.py)
    assert list(history["flavors"]["python_function"]["artifacts"]["network"]) == ["path"]
    assert f"seed {best['best']['seed']}, polished loss {best['best']['polished_loss']:.4g}" in note
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


def test_the_experiment_describes_itself_and_saves_views_of_its_jobs(study):
    from gdbasins import browse

    client, parents, _ = runs_of(study)
    exp = client.get_experiment_by_name("gdbasins/smoke")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    note = exp.tags["mlflow.note.content"]
    assert note.startswith("**Study `smoke`**: [Jobs, by share in the global minimum](#/experiments/")
    assert f"{N_JOBS} jobs on 6 datasets" in note and "gdbasins-smoke-<dataset>" in note
    views = {k: json.loads(v) for k, v in exp.tags.items() if k.startswith("mlflow.sharedViewState.")}
    assert sorted(views) == sorted(f"mlflow.sharedViewState.{v}" for v in browse.VIEWS)
    for view in views.values():
        state = json.loads(view["state"])
        jobs = client.search_runs([exp.experiment_id], state["searchFilter"], max_results=1000)
        assert len(jobs) == N_JOBS and {r.info.run_id for r in jobs} == {r.info.run_id for r in parents}
        assert state["orderByKey"] == "metrics.`share_global`" and state["orderByAsc"] is False
    assert {r.data.tags["gdbasins.kind"] for r in parents} == {"job"} and all(
        r.data.tags["mlflow.note.content"] for r in parents)


def test_each_datasets_best_networks_are_registered_with_the_best_aliased(study):
    client, parents, _ = runs_of(study)
    models = {m.name: m for m in client.search_registered_models("tags.`gdbasins.study` = 'smoke'")}
    assert sorted(models) == [f"gdbasins-smoke-{d}" for d in sorted(DATASETS)]
    for dataset in DATASETS:
        record = json.loads((study / f"data/smoke/tracking/{dataset}.json").read_text())
        name = f"gdbasins-smoke-{dataset}"
        versions = client.search_model_versions(f"name = '{name}'")
        with_model = {k: r for k, r in record["jobs"].items() if r["model"]}
        assert sorted(v.tags["gdbasins.job"] for v in versions) == sorted(with_model)
        for v in versions:
            assert v.run_id == with_model[v.tags["gdbasins.job"]]["parent"]
            assert v.source == f"models:/{with_model[v.tags['gdbasins.job']]['model']}"
        lowest = min(with_model, key=lambda k: with_model[k]["best"]["polished_loss"])
        best = client.get_model_version_by_alias(name, "best")
        assert best.tags["gdbasins.job"] == lowest
        assert str(best.version) == str(record["registry"]["versions"][lowest])
        for variant in {r["variant"] for r in with_model.values()}:
            mine = {k: r for k, r in with_model.items() if r["variant"] == variant}
            chosen = client.get_model_version_by_alias(name, f"best_{variant}").tags["gdbasins.job"]
            assert chosen == min(mine, key=lambda k: mine[k]["best"]["polished_loss"])


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


def test_a_removed_rate_or_dataset_leaves_no_live_run_or_model_behind(tmp_path):
    """Replace a learning rate of one dataset and drop another dataset: the next run of the study
    retires the runs, logged models and registered model versions of every job no longer in it, as
    a rerun job retires its own."""
    from mlflow.entities import ViewType

    from gdbasins.config import resolve, validate

    cfg = smoke_config(study="removed", seeds=2)
    cfg["datasets"] = {n: cfg["datasets"][n] for n in ("xor", "moons")}
    snakemake(tmp_path, "--cores", "2", config=cfg)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gdbasins/removed").experiment_id
    [old] = client.search_runs([exp], "attributes.run_name = 'moons/sgd/eta=0.1'")
    cfg["datasets"] = {"moons": dict(cfg["datasets"]["moons"], learning_rates={"sgd": [0.01, 0.2]})}
    snakemake(tmp_path, "--cores", "2", config=cfg)

    jobs = {j["key"] for j in resolve(validate(cfg))["jobs"]}
    assert "removed/moons/sgd/eta=0.2" in jobs and not any("/xor/" in j or "sgd/eta=0.1" in j for j in jobs)
    live = client.search_runs([exp], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000)
    assert {r.data.tags["gdbasins.job"] for r in live} == jobs | {"removed/summary"}
    assert len(live) == len(jobs) * (1 + 2) + 1  # each job and its two seed runs, and the summary
    assert client.get_run(old.info.run_id).info.lifecycle_stage == "deleted"
    assert {m.tags["gdbasins.job"] for m in client.search_logged_models([exp])} == jobs
    assert [m.name for m in client.search_registered_models()] == ["gdbasins-removed-moons"]
    versions = client.search_model_versions("name = 'gdbasins-removed-moons'")
    assert {v.tags["gdbasins.job"] for v in versions} == jobs
