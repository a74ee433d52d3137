"""Reliability of the workflow: parallel writers, interrupted and failed jobs, bad input and
reproducibility, each checked on the real Snakemake workflow.

Most tests use a trimmed grid, REL (a smoke run costs 30 jobs; this module makes about nine runs):
2 datasets x (2 batch rates, 1 mini-batch rate, 1 SGD rate) = 8 training jobs of 3 seeds each, few
epochs. It still exercises every guarantee: 8 jobs are exactly the 8 parallel jobs of the
oversubscribed runs, so 8 processes start together on one new SQLite store (a job that fails
writes its FAILED run there; the two datasets' track jobs then log every run, possibly at once);
every variant and both kinds of dataset (XOR with a known optimum, moons without) are there; each
job has a parent and three child runs; and a track job, logging four jobs in a row, lasts long
enough to be caught and killed in the middle of one. Every run is compared with one uninterrupted
reference run made one job at a time (--cores 1).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gdbasins import blas, files
from gdbasins.config import resolve, validate
from gdbasins.job import FAIL_JOB_VAR
from helpers import rewrite_entry, smoke_config, snakemake
from study_state import (fingerprint, kill_tree, reproducible_files, running_keys, start_snakemake, store_dump,
                         store_runs, rule_jobs, wait_for)

pytestmark = pytest.mark.integration


def rel_config() -> dict:
    cfg = smoke_config(study="rel", seeds=3, epochs=20, variants={"batch": [0.5, 5.0], "minibatch": [1.0], "sgd": [0.1]})
    cfg["datasets"] = {"xor": dict(cfg["datasets"]["xor"], epochs=100),
                       "moons": dict(cfg["datasets"]["moons"], params={"n_samples": 40, "noise": 0.2})}
    return cfg


REL = rel_config()
JOBS = resolve(validate(REL))["jobs"]
KEYS = sorted(j["key"] for j in JOBS)
SEEDS = [str(s) for s in range(REL["seeds"])]
ALL_DONE = re.compile(r"(\d+) of \1 steps \(100%\) done")
CHILD_METRICS = {"loss", "grad_norm", "raw_loss", "polished_loss", "eig_min", "eig_max", "sharpness", "diverged"}
PARENT_METRICS = {"share_diverged", "share_global", "median_loss"}
SUMMARY = ("rel/summary", None)  # the report's run in MLflow
OUTCOMES = [f"data/rel/outcomes/{d}.csv" for d in REL["datasets"]]
# Up to the runs in MLflow (outcome tables, then rule track), for runs that check tracking and
# jobs, not the report.
TRACKED = [f"data/rel/tracking/{d}.json" for d in REL["datasets"]]


@pytest.fixture(scope="module")
def rel_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "rel.yaml"
    path.write_text(yaml.safe_dump(REL))
    return path


class Study:
    """A finished study's working directory with what the comparisons need, read once."""

    def __init__(self, work: Path):
        self.work = work
        self.files = reproducible_files(work)
        self.store = store_dump(work)
        self.jobs_store = without_summary(self.store)  # what a run without the report stage has
        self.outcome_files = {p: h for p, h in self.files.items() if not p.startswith("reports/")}


def without_summary(dump: dict) -> dict:
    return {ident: runs for ident, runs in dump.items() if ident != SUMMARY}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, rel_file) -> Study:
    """The uninterrupted study, one job at a time: what every other run must reproduce."""
    work = tmp_path_factory.mktemp("reference")
    snakemake(work, "--cores", "1", config=rel_file)
    return Study(work)


def check_store_complete(work: Path, report: bool = True) -> None:
    """Every expected run exactly once, FINISHED, with its metrics, params and outcome tags (and
    the report's summary run, if the report stage ran); no run of any kind left RUNNING."""
    dump = store_dump(work)
    expected = {(k, s) for k in KEYS for s in [None, *SEEDS]} | ({SUMMARY} if report else set())
    assert set(dump) == expected, f"missing: {expected - set(dump)}; unexpected: {set(dump) - expected}"
    twice = {ident: len(runs) for ident, runs in dump.items() if len(runs) != 1}
    assert not twice, f"runs counted more than once: {twice}"
    for (key, seed), [run] in dump.items():
        assert run["status"] == "FINISHED", (key, seed, run["status"])
        names = {m[0] for m in run["metrics"]}
        if (key, seed) == SUMMARY:
            assert any(t.endswith(".verdict") for t in run["tags"]), run["tags"]
        elif seed is None:
            assert PARENT_METRICS <= names and run["params"]["eta"], (key, names)
            assert any(a.endswith(".png") for a in run["artifacts"]), (key, run["artifacts"])
        else:
            assert CHILD_METRICS <= names and run["tags"].get("outcome"), (key, seed, names)
            assert "weights.json" in run["artifacts"], (key, seed, run["artifacts"])
    assert not [r["tags"] for r in store_runs(work) if r["status"] == "RUNNING"]  # deleted runs too


# 1. Parallel writers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cores2(tmp_path_factory, rel_file) -> Study:
    work = tmp_path_factory.mktemp("cores2")
    proc = snakemake(work, "--cores", "2", config=rel_file)
    assert ALL_DONE.search(proc.stderr) and "Error" not in proc.stderr  # no failed job
    return Study(work)


def test_two_parallel_jobs_on_a_new_store_log_every_run_once(cores2, reference):
    check_store_complete(cores2.work)
    assert cores2.store == reference.store


@pytest.mark.parametrize("repeat", [1, 2, 3])
def test_eight_parallel_jobs_on_two_cores_on_a_new_store_log_every_run_once(tmp_path, rel_file, reference, repeat):
    """Oversubscribed: 8 jobs on 2 cores start together and write to a brand-new SQLite store
    (up to the outcome tables: the report stage is one job and adds no parallel writer)."""
    proc = snakemake(tmp_path, "--cores", "8", "--jobs", "8", *TRACKED, config=rel_file)
    assert ALL_DONE.search(proc.stderr) and "Error" not in proc.stderr  # no failed job
    check_store_complete(tmp_path, report=False)
    assert store_dump(tmp_path) == reference.jobs_store
    assert reproducible_files(tmp_path) == reference.outcome_files


# 5. Reproducibility ----------------------------------------------------------------------------


def test_same_config_gives_byte_identical_results_and_tables(cores2, reference):
    """--cores 2 against --cores 1: datasets, results, outcome tables, report tables and figures
    (the repeated runs above compare with it too, up to the outcome tables)."""
    names = set(reference.files)
    assert sum(n.endswith("results.npz") for n in names) == len(JOBS)
    assert {n for n in names if n.startswith("data/") and n.endswith(".csv")} == set(OUTCOMES)
    assert "reports/rel/tables/outcomes.csv" in names and "reports/rel/figures/global_share.png" in names
    assert "reports/rel/tables/timings.csv" not in names and "reports/rel/tables/claims.csv" not in names
    assert cores2.files == reference.files


def test_the_same_measured_unit_cost_gives_byte_identical_claims(cores2, reference, rel_file, tmp_path):
    """The one measured input, the seconds per update of one network: with the reference's,
    the other study's report (claims, speeds and all) is the reference's byte for byte."""
    import shutil
    import subprocess
    import sys

    from helpers import env

    shutil.copy(reference.work / "data/rel/unit_cost.csv", tmp_path / "unit_cost.csv")
    built = {}
    for name, study in (("reference", reference), ("cores2", cores2)):
        shutil.copy(tmp_path / "unit_cost.csv", study.work / "data/rel/unit_cost.csv")
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "gdbasins.cli", "report", "--configfile", str(rel_file),
                               "--out", str(out)], cwd=study.work, capture_output=True, text=True, env=env())
        assert proc.returncode == 0, proc.stderr
        built[name] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
                       if p.is_file() and p.name not in ("timings.csv", "README.md", "index.html")}
    assert "tables/claims.csv" in built["reference"] and "tables/speeds.csv" in built["reference"]
    assert built["cores2"] == built["reference"]
    # and the workflow's own report of the reference, built with that same measurement
    for name in ("claims.csv", "speeds.csv", "unit_cost.csv", "outcomes.csv"):
        assert built["reference"][f"tables/{name}"] == (reference.work / "reports/rel/tables" / name).read_bytes()


def test_the_report_records_its_config_and_the_versions_it_ran_with(reference):
    import mlflow, numpy, pandas, sklearn, snakemake as smk
    from gdbasins import __version__

    text = (reference.work / "reports" / "rel" / "README.md").read_text()
    for name, version in (("gdbasins", __version__), ("numpy", numpy.__version__), ("scikit-learn", sklearn.__version__),
                          ("pandas", pandas.__version__), ("mlflow", mlflow.__version__), ("snakemake", smk.__version__)):
        assert f"{name} {version}" in text, name
    # the BLAS kernels every job ran: pinned on an x86-64 CPU with AVX2 (gdbasins.blas)
    pinned = blas.pin_kernels(environ={})
    assert ", BLAS openblas " in text and (pinned is None or f"({pinned})" in text.split(", BLAS ", 1)[1])
    recorded = json.loads(text.split("Config:", 1)[1].split("```json", 1)[1].split("```", 1)[0])
    assert recorded["study"] == "rel" and recorded["variants"] == REL["variants"] and recorded["seeds"] == REL["seeds"]


# 2. Interruptions ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, rel_file):
    """The whole run (Snakemake and every job) SIGKILLed while a job's runs are being logged to
    MLflow (by its dataset's track job), then resumed as the notes document. Records what each
    step left behind."""
    work = tmp_path_factory.mktemp("crashed")
    proc = start_snakemake(work, "--cores", "2", config=rel_file)

    def a_job_caught_logging():
        logging_now = running_keys(work)  # runs created, not yet ended
        trackers = rule_jobs(proc, "rel", "track")  # dataset -> its track job
        for key in logging_now:
            job = trackers.get(key.split("/")[1])
            if job is not None:
                job.suspend()  # freeze it, then make sure it is still mid-logging
                if key in running_keys(work):
                    return key
                job.resume()
        return None

    key = wait_for(a_job_caught_logging, proc)
    if key is None:
        proc.communicate()
        pytest.fail("the study finished before any job could be caught while logging to MLflow")
    kill_tree(proc)
    marked = incomplete_outputs(work)
    state = {"key": key, "running": running_keys(work),
             "locks": list((work / ".snakemake" / "locks").glob("*")), "incomplete": marked,
             "incomplete_on_disk": [f for f in marked if (work / f).exists()]}
    state["locked"] = snakemake(work, "--cores", "2", config=rel_file, check=False)
    state["unlock"] = snakemake(work, "--unlock", config=rel_file, check=False)
    # without the default profile (it sets rerun-incomplete), the incomplete files are refused
    state["no_profile"] = snakemake(work, "--cores", "2", "--workflow-profile", "none", config=rel_file, check=False)
    state["resumed"] = snakemake(work, "--cores", "2", config=rel_file, check=False)
    return work, state


def test_a_crash_leaves_a_lock_and_incomplete_files_that_the_documented_flags_clear(crashed):
    work, s = crashed
    assert s["key"] in s["running"]  # the killed job's runs were left RUNNING
    assert s["locks"] and s["incomplete"]
    # the lock the crash left is only lifted by --unlock ...
    assert s["locked"].returncode != 0 and "cannot be locked" in s["locked"].stderr and "--unlock" in s["locked"].stderr
    assert s["unlock"].returncode == 0
    # ... the killed track job is among the jobs marked incomplete (its record is written last,
    # so it is not on disk) ...
    dataset = s["key"].split("/")[1]
    assert f"data/rel/tracking/{dataset}.json" in s["incomplete"]
    # ... and an incomplete output that is on disk is not taken as done: without
    # --rerun-incomplete (the default profile sets it) Snakemake refuses to go on, naming it
    if s["incomplete_on_disk"]:
        assert s["no_profile"].returncode != 0 and "--rerun-incomplete" in s["no_profile"].stderr
        assert all(f in s["no_profile"].stderr for f in s["incomplete_on_disk"])
    else:
        assert s["no_profile"].returncode == 0, s["no_profile"].stderr[-3000:]
    assert s["resumed"].returncode == 0, s["resumed"].stderr[-3000:]


def incomplete_outputs(work: Path) -> list[str]:
    """The output files Snakemake marked incomplete (jobs that started and never finished), from
    its records under ``.snakemake/incomplete`` (each named by its path in URL-safe base64, split
    into folders of '@'-prefixed pieces when long)."""
    root = work / ".snakemake" / "incomplete"
    return sorted(base64.urlsafe_b64decode("".join(part.lstrip("@") for part in p.relative_to(root).parts)).decode()
                  for p in root.rglob("*") if p.is_file())


def test_a_resumed_crash_equals_an_uninterrupted_run(crashed, reference):
    work, s = crashed
    check_store_complete(work)  # nothing RUNNING, not even the deleted runs of the killed job
    killed = [r for r in store_runs(work) if r["tags"].get("gdbasins.job") == s["key"] and r["stage"] == "deleted"]
    assert killed and {r["status"] for r in killed} <= {"KILLED", "FINISHED"} and "KILLED" in {r["status"] for r in killed}
    assert store_dump(work) == reference.store
    assert reproducible_files(work) == reference.files


FAIL_KEY, KILL_KEY = "rel/moons/sgd/eta=0.1", "rel/moons/batch/eta=0.5"


@pytest.fixture(scope="module")
def broken(tmp_path_factory, rel_file):
    """One job made to fail (GDBASINS_FAIL_JOB) and another SIGKILLed mid-job while Snakemake
    goes on (--keep-going); then the plain command again, without the failure."""
    work = tmp_path_factory.mktemp("broken")
    proc = start_snakemake(work, "--cores", "2", "--keep-going", *TRACKED, config=rel_file, **{FAIL_JOB_VAR: FAIL_KEY})
    log = work / "logs" / "rel" / "train" / (KILL_KEY.split("/", 1)[1] + ".log")

    def started():  # its process runs and has logged its first line (the dataset is loaded)
        job = rule_jobs(proc, "rel", "train").get(KILL_KEY.split("/", 1)[1])
        return job if job and log.exists() and "seeds," in log.read_text() else None

    job = wait_for(started, proc)
    assert job is not None, "the job to kill never started"
    job.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=900)
    fail_log = work / "logs" / "rel" / "train" / (FAIL_KEY.split("/", 1)[1] + ".log")
    state = {"returncode": proc.returncode, "stderr": err, "fail_log": fail_log.read_text(),
             "files": reproducible_files(work),
             "store": store_dump(work),
             "left": sorted(str(p.relative_to(work)) for p in (work / "data").rglob("*") if p.is_file())}
    state["resumed"] = snakemake(work, "--cores", "2", *TRACKED, config=rel_file, check=False)
    return work, state


def run_dir(key: str) -> str:
    return "data/" + key.replace("/", "/runs/", 1)


def test_a_failing_job_fails_alone_with_a_readable_message(broken, reference):
    work, s = broken
    assert s["returncode"] != 0
    log = f"logs/{FAIL_KEY.replace('rel/', 'rel/train/', 1)}.log"
    assert "Error in rule train" in s["stderr"] and log in s["stderr"]  # Snakemake reports it, with its log
    text = s["fail_log"]
    assert f"RuntimeError: {FAIL_JOB_VAR}={FAIL_KEY}: this job was made to fail on purpose" in text
    assert f"job {FAIL_KEY} failed" in text
    assert not any(p.startswith(run_dir(FAIL_KEY)) for p in s["left"])
    # every other job's results are there and unchanged; the dataset without failures is classified
    others = {p: h for p, h in reference.outcome_files.items()
              if not p.startswith((run_dir(FAIL_KEY), run_dir(KILL_KEY), "data/rel/outcomes/moons"))}
    assert {p: s["files"].get(p) for p in others} == others
    assert "data/rel/outcomes/moons.csv" not in s["files"]
    [failed] = s["store"][(FAIL_KEY, None)]
    assert failed["status"] == "FAILED" and "made to fail on purpose" in failed["tags"]["gdbasins.error"]
    assert not any(k == FAIL_KEY and seed for k, seed in s["store"])  # no seed runs: it never trained
    assert {r["status"] for ident, runs in s["store"].items() if ident[0] not in (FAIL_KEY, KILL_KEY)
            for r in runs} == {"FINISHED"}


def test_a_killed_job_leaves_nothing_that_counts(broken):
    work, s = broken
    assert f"logs/{KILL_KEY.replace('rel/', 'rel/train/', 1)}.log" in s["stderr"]  # reported as failed
    assert not any(p.startswith(run_dir(KILL_KEY)) for p in s["left"])  # no output, no temporary file
    assert not [r for r in s["store"].get((KILL_KEY, None), []) if r["status"] == "FINISHED"]  # no finished job run


def test_the_next_run_completes_a_study_with_failed_and_killed_jobs_as_if_uninterrupted(broken, reference):
    work, s = broken
    assert s["resumed"].returncode == 0, s["resumed"].stderr[-3000:]
    check_store_complete(work, report=False)
    assert store_dump(work) == reference.jobs_store
    assert reproducible_files(work) == reference.outcome_files


# 4. Bad input ----------------------------------------------------------------------------------


def changed(*path: str, value) -> dict:
    """REL with the value at ``path`` (a key per level) set to ``value``."""
    cfg = copy.deepcopy(REL)
    *parents, last = path
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


# (config, the key the message must name, what it must say)
BAD = [
    (changed("variants", "adam", value=[0.1]), "variants.adam", "unknown key ('adam' was unexpected)"),
    (changed("datasets", "moons", "generator", value="mnist"), "datasets.moons.generator", "'mnist' is not one of"),
    (changed("datasets", "moons", "network", "activation", value="softsign"), "datasets.moons.network.activation", "is not one of"),
    (changed("datasets", "xor", "network", "loss", value="hinge"), "datasets.xor.network.loss", "'hinge' is not one of"),
    (changed("variants", "sgd", value=[0.01, 0]), "variants.sgd[1]", "0 is less than or equal to the minimum of 0"),
    (changed("variants", "batch", value=["fast"]), "variants.batch[0]", "'fast' is not of type 'number'"),
    (changed("seeds", value=0), "seeds", "0 is less than the minimum of 1"),
    (changed("epochs", value=-5), "epochs", "-5 is less than the minimum of 1"),
    (changed("minibatch_size", value=1000), "minibatch_size", "must be <= the 30 training samples of dataset 'moons'"),
    (changed("variants", "minibatch", value=[]), "variants.minibatch", "[] should be non-empty"),
    (changed("learning_rate", value=0.1), "learning_rate", "unknown key ('learning_rate' was unexpected)"),
    (changed("datasets", "moons", "netwrok", value={}), "datasets.moons.netwrok", "unknown key ('netwrok' was unexpected)"),
    (changed("tolerances", value={"eig": -1e-6}), "tolerances.eig", "-1e-06 is less than or equal to the minimum of 0"),
    (changed("datasets", "../x", value={"generator": "xor"}), "datasets", "'../x' does not match"),
    (changed("variants", "sgd", value=[float("nan")]), "variants.sgd[0]", "must be a finite number. Got nan"),
    (changed("variants", "batch", value=[0.5, float("inf")]), "variants.batch[1]", "must be a finite number. Got inf"),
    (changed("tolerances", value={"grad": float("nan")}), "tolerances.grad", "must be a finite number"),
    (changed("datasets", "xor", "network", "init_scale", value=float("inf")), "datasets.xor.network.init_scale",
     "must be a finite number. Got inf"),
    (changed("epochs", value=30.0), "epochs", "30.0 is not of type 'integer' (a count: write 30"),
    (changed("seeds", value=3.0), "seeds", "3.0 is not of type 'integer'"),
    (changed("variants", "batch", value=[0.1, 0.1000000000001]), "variants.batch",
     "the rates 0.1 and 0.1000000000001 are the same to the 12 significant digits"),
    (changed("study", value="rel\n"), "study", "holds a control character"),
    (changed("variants", "sgd", value=["1e-2"]), "variants.sgd[0]", "write 1.0e-2 for the number"),
    (changed("seeds", value=10**9), "seeds", "GiB"),
    (changed("epochs", value=10**9), "epochs", "GiB"),
]


def test_bad_configs_stop_before_any_job_and_leave_a_finished_study_untouched(reference, tmp_path):
    """Each bad config, run where the reference study lives (same study name, so the same
    data/, reports/ and store would be at stake), stops with one line naming the key; no file
    of the study changes or appears."""
    before = fingerprint(reference.work)
    assert "mlflow.db" in before and any(p.startswith("data/rel/outcomes/") for p in before)
    paths = []
    for i, (cfg, _, _) in enumerate(BAD):
        paths.append(tmp_path / f"bad{i}.yaml")
        paths[-1].write_text(yaml.safe_dump(cfg))
    with ThreadPoolExecutor(2) as pool:  # two at a time: each is mostly Snakemake's start-up
        procs = list(pool.map(lambda p: snakemake(reference.work, "--cores", "2", config=p, check=False, timeout=300),
                              paths))
    problems = []
    for (_, key, says), proc in zip(BAD, procs):
        line = f"Invalid configuration: config key '{key}': "
        if proc.returncode == 0 or proc.stderr.count("Invalid configuration") != 1 or line not in proc.stderr \
                or says not in proc.stderr or "Traceback" in proc.stderr:
            problems.append(f"{key}: exit {proc.returncode}\n{proc.stderr[-1500:]}")
    assert not problems, "\n\n".join(problems)
    assert fingerprint(reference.work) == before


def test_a_config_file_with_a_key_given_twice_is_refused_naming_the_line(reference, tmp_path):
    """YAML keeps the last of two equal keys: a second ``xor:`` would silently replace the first."""
    before = fingerprint(reference.work)
    text = yaml.safe_dump(REL, sort_keys=False)
    path = tmp_path / "twice.yaml"
    path.write_text(text.replace("datasets:\n", "datasets:\n  moons: {generator: xor}\n", 1))
    first, second = [i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("  moons:")]
    proc = snakemake(reference.work, "--cores", "1", config=path, check=False, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert (f"Invalid configuration: config file '{path}', line {second}: key 'moons' appears twice in one mapping "
            f"(first on line {first})") in proc.stderr, proc.stderr[-1500:]
    assert fingerprint(reference.work) == before


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    """A study where every seed of every job diverges: teacher-student (known optimum 0) and
    moons (no known optimum, so no reference optimum at all)."""
    cfg = smoke_config(study="div", seeds=2, epochs=5, variants={"batch": [1.0e7]})
    cfg["datasets"] = {"teacher": dict(cfg["datasets"]["teacher"], learning_rates={"batch": [1.0e3]}),
                       "moons": cfg["datasets"]["moons"]}
    work = tmp_path_factory.mktemp("diverging")
    path = work.parent / "div.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake(work, "--cores", "2", config=path, check=False)
    return work, path, proc


DIV_OUTCOMES = ["data/div/outcomes/teacher.csv", "data/div/outcomes/moons.csv"]


def test_a_rate_where_every_seed_diverges_gives_diverged_outcomes_not_a_crash(diverging):
    work, _, proc = diverging
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "reports" / "div" / "README.md").exists()
    for name, source in (("teacher", "known"), ("moons", "none: every run diverged")):
        table = pd.read_csv(work / "data" / "div" / "outcomes" / f"{name}.csv")
        assert len(table) == 2 and set(table["outcome"]) == {"diverged"}
        assert set(table["L_star_source"]) == {source}
    runs = [r for r in store_runs(work) if r["tags"].get("gdbasins.seed")]
    assert len(runs) == 4 and {r["tags"]["outcome"] for r in runs} == {"diverged"}
    assert {r["status"] for r in runs} == {"FINISHED"}


def test_a_hand_edited_result_file_is_refused_naming_it(diverging):
    work, config, _ = diverging
    results = work / "data/div/runs/teacher/batch/eta=1000.0/results.npz"
    original = results.read_bytes()
    arrays, _ = files.load(results)
    rewrite_entry(results, "endpoint/raw_loss", np.zeros_like(arrays["endpoint/raw_loss"]))
    try:
        proc = snakemake(work, "--cores", "1", *DIV_OUTCOMES, config=config, check=False)
        assert proc.returncode != 0 and "Error in rule classify" in proc.stderr
        log = (work / "logs/div/classify/teacher.log").read_text()
        assert f"{results.relative_to(work)}: content does not match its recorded hash" in log
    finally:
        results.write_bytes(original)


def test_a_corrupted_dataset_is_refused_naming_it_and_regenerated_once_removed(diverging):
    work, config, _ = diverging
    dataset = work / "data/div/datasets/moons.npz"
    outcomes = (work / "data/div/outcomes/moons.csv").read_bytes()
    dataset.write_bytes(dataset.read_bytes()[:200])  # truncated, e.g. a disk that filled up
    proc = snakemake(work, "--cores", "1", *DIV_OUTCOMES, config=config, check=False)
    assert proc.returncode != 0 and "Error in rule train" in proc.stderr
    log = (work / "logs/div/train/moons/batch/eta=10000000.0.log").read_text()
    assert "data/div/datasets/moons.npz: not a readable result file" in log
    dataset.unlink()
    snakemake(work, "--cores", "1", *DIV_OUTCOMES, config=config)
    assert (work / "data/div/outcomes/moons.csv").read_bytes() == outcomes
