"""Snakemake profiles: the local default is picked up with the root Snakefile, and the Slurm
profile gives every rule its runtime, memory and CPUs (dry runs: no scheduler needed)."""

import re

import pytest
import yaml

from helpers import REPO, snakemake

pytestmark = pytest.mark.integration


def job_resources(stdout: str) -> dict[str, dict[str, str]]:
    """Rule name -> its first job's ``resources:`` line of a dry run, as a dict."""
    found, rule = {}, None
    for line in stdout.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):", line):
            rule = m.group(1)
        elif (m := re.match(r"\s+resources: (.*)", line)) and rule and rule not in found:
            found[rule] = dict(item.split("=", 1) for item in m.group(1).split(", "))
    return found


def test_default_profile_is_picked_up_from_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # found beside the Snakefile, not in the working directory
    proc = snakemake(tmp_path, "-n")
    assert f"workflow specific profile {REPO / 'profiles' / 'default'}" in proc.stderr
    settings = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert settings["rerun-incomplete"] and settings["show-failed-logs"] and "executor" not in settings


def test_slurm_profile_sets_runtime_memory_and_cpus_per_rule(tmp_path):
    profile = REPO / "profiles" / "slurm"
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    assert settings["executor"] == "slurm"
    proc = snakemake(tmp_path, "-n", "--workflow-profile", str(profile))
    assert f"workflow specific profile {profile}" in proc.stderr
    resources = job_resources(proc.stdout)
    rules = {"make_dataset", "init_tracking", "train", "classify", "unit_cost", "escape", "minima", "track", "report"}
    assert set(settings["set-resources"]) == rules <= set(resources)
    for rule, wanted in settings["set-resources"].items():
        assert {"runtime", "mem_mb", "cpus_per_task"} <= set(wanted)
        for name, value in wanted.items():
            assert resources[rule][name] == str(value), (rule, name)


def test_rule_resources_reads_every_rules_benchmark_files(small_study):
    """workflow/benchmarks/rule_resources.py, which the Slurm profile's numbers come from: one row
    per rule with its job count, and requests at least the floors and above what was measured."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rule_resources", REPO / "workflow/benchmarks/rule_resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    usage = module.rule_usage(small_study / "logs" / "small" / "benchmarks")
    # two datasets, 6 training jobs each, up to the track rule (the fixture stops there)
    assert usage["jobs"].to_dict() == {"make_dataset": 2, "init_tracking": 1, "train": 12, "classify": 2, "track": 2}
    assert (usage["median_s"] <= usage["max_s"]).all() and (usage["max_s"] > 0).all()
    assert (usage["runtime_min"] >= 10).all() and (usage["runtime_min"] * 60 >= 3 * usage["max_s"]).all()
    assert (usage["mem_mb"] >= 1000).all() and (usage["mem_mb"] >= 2 * usage["max_rss_mb"]).all()
