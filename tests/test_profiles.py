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
    rules = {"make_dataset", "init_tracking", "train", "classify", "track", "report"}
    assert set(settings["set-resources"]) == rules <= set(resources)
    for rule, wanted in settings["set-resources"].items():
        assert {"runtime", "mem_mb", "cpus_per_task"} <= set(wanted)
        for name, value in wanted.items():
            assert resources[rule][name] == str(value), (rule, name)
