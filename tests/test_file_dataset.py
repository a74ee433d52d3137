"""The ``file`` generator: a user's CSV or Parquet file as a dataset. Each refusal names its config
key before any job runs; a CSV runs through the whole workflow, and a changed file reruns it."""

from __future__ import annotations

import copy
import hashlib
import os
import time

import numpy as np
import pandas as pd
import pytest

from gdbasins import datasets, files
from gdbasins.config import ConfigError, resolve, validate
from helpers import dry_run_jobs, job_records, smoke_config, snakemake

NETWORK = {"hidden": [4], "activation": "tanh", "output": "sigmoid", "loss": "bce", "l2": 0.001}
PARAMS = {"path": "points.csv", "features": ["x1", "x2"], "target": "label"}


def points(n: int = 60, seed: int = 1) -> pd.DataFrame:
    """Two noisy half moons, the first feature on another scale and offset, a 0/1 label."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    k = np.arange(n) % 2
    x1 = np.where(k, 1 - np.cos(t), np.cos(t)) + 0.2 * rng.normal(size=n)
    x2 = np.where(k, 0.5 - np.sin(t), np.sin(t)) + 0.2 * rng.normal(size=n)
    return pd.DataFrame({"x1": 10 * x1 + 3, "x2": x2, "label": k})


def file_config(params=None, network=None, **top) -> dict:
    cfg = smoke_config(study="mine", seeds=4, **top)
    cfg["datasets"] = {"mine": {"generator": "file", "params": dict(PARAMS, **(params or {})),
                                "network": dict(network or NETWORK)}}
    return cfg


@pytest.fixture
def table(tmp_path, monkeypatch):
    """``points.csv`` in a working directory of its own (relative paths resolve from there)."""
    monkeypatch.chdir(tmp_path)
    frame = points()
    frame.to_csv("points.csv", index=False)
    return frame


def test_a_csv_is_split_by_the_seed_and_standardised_on_its_training_rows(table, tmp_path):
    datasets.write("a.npz", "mine", "file", PARAMS, seed=3)
    datasets.write("b.npz", "mine", "file", PARAMS, seed=3)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    ds = datasets.read("a.npz")
    assert (ds.n_train, len(ds.X_test)) == (45, 15)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1, atol=1e-12)
    info = ds.meta["info"]
    assert info["source_sha256"] == hashlib.sha256((tmp_path / "points.csv").read_bytes()).hexdigest()
    assert (info["rows"], info["features"], info["target"]) == (60, ["x1", "x2"], "label")
    # every row lands in train or test once, scaled with the training rows' means and scales
    X = table[["x1", "x2"]].to_numpy()
    restored = np.vstack([ds.X_train, ds.X_test]) * info["std"] + info["mean"]
    assert sorted(map(tuple, restored.round(9))) == sorted(map(tuple, X.round(9)))
    assert info["std"][0] > 5 * info["std"][1]  # x1 was on another scale
    assert set(np.concatenate([ds.y_train, ds.y_test])) == {0.0, 1.0}
    # another seed, another split; standardize false keeps the file's numbers
    other = datasets.generate("file", PARAMS, seed=4)[0]
    assert not np.array_equal(other["y_train"], ds.y_train)
    raw, raw_info = datasets.generate("file", dict(PARAMS, standardize=False, test_fraction=0.0), seed=3)
    assert "X_test" not in raw and "mean" not in raw_info
    assert sorted(map(tuple, raw["X_train"])) == sorted(map(tuple, X))


def test_parquet_gives_the_same_arrays_as_csv(table):
    table.to_parquet("points.parquet")
    from_csv, _ = datasets.generate("file", PARAMS, seed=0)
    from_parquet, _ = datasets.generate("file", dict(PARAMS, path="points.parquet"), seed=0)
    assert files.content_hash(from_csv) == files.content_hash(from_parquet)


def test_a_valid_file_config_expands_into_jobs_with_its_params_in_full(table):
    resolved = resolve(validate(file_config()))
    spec = resolved["datasets"]["mine"]
    assert spec["params"] == dict(PARAMS, standardize=True, test_fraction=0.25)
    assert len(resolved["jobs"]) == 6 and spec["minibatch_size"] == 8


def edited(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = frame[column].astype(object if isinstance(value, str) else float)
    frame.loc[row, column] = value
    return frame


# (params, network, a change to the table or None, text the message must hold: the key first)
KEY = "'datasets.mine.params."
REFUSED = [
    ({"path": "missing.csv"}, None, None, "path': no such file: 'missing.csv' (in "),
    ({"path": "points.txt"}, None, None, "path': must name a .csv, .parquet, .pq file"),
    ({"features": ["x1", "x3"]}, None, None,
     "features': column 'x3' is not in 'points.csv'; its columns are ['x1', 'x2', 'label']"),
    ({"target": "y"}, None, None, "target': column 'y' is not in 'points.csv'"),
    ({}, None, lambda f: edited(f, "x2", 2, "abc"),
     "features': column 'x2' of 'points.csv' must be numeric, but holds 'abc' in data row 3"),
    ({}, None, lambda f: edited(f, "label", 0, "yes"),
     "target': column 'label' of 'points.csv' must be numeric, but holds 'yes' in data row 1"),
    ({}, None, lambda f: edited(f, "x1", 4, np.nan),
     "features': column 'x1' of 'points.csv' has 1 missing or infinite values; the first, "
     "in data row 5, is missing (NaN)"),
    ({}, None, lambda f: edited(f, "x1", 5, "n/a"), "features': column 'x1' of 'points.csv' has 1 missing"),
    ({}, None, lambda f: edited(f, "label", 9, np.nan),
     "target': column 'label' of 'points.csv' has 1 missing or infinite values"),
    ({}, None, lambda f: edited(f, "x2", 6, np.inf),
     "features': column 'x2' of 'points.csv' has 1 missing or infinite values; the first, in data row 7, "
     "is infinite"),
    ({}, None, lambda f: edited(f, "label", 3, 0.5),
     "target': column 'label' of 'points.csv' must hold 0/1 class labels for the loss 'bce'. Got 0.5 in "
     "data row 4"),
    ({"target": "x1", "features": ["x2"]}, None, None,
     "target': column 'x1' of 'points.csv' must hold 0/1 class labels"),
    ({"features": ["x1", "label"]}, None, None, "target': column 'label' is also a feature"),
    ({"features": ["x1", "x1"]}, None, None, "features': ['x1', 'x1'] has non-unique elements"),
    ({"features": []}, None, None, "features': [] should be non-empty"),
    ({}, None, lambda f: f.assign(x2=1.0),
     "features': column 'x2' is constant on the training rows and cannot be standardised"),
    ({}, None, lambda f: f.head(3), "path': 'points.csv' has 3 rows; a dataset needs at least 4"),
    ({"sep": ";"}, None, None, "sep': unknown key"),
    ({"test_fraction": 1.0}, None, None, "test_fraction': 1.0 is greater than or equal to the maximum of 1"),
]


@pytest.mark.parametrize("params,network,change,message", REFUSED, ids=[m[:50] for *_, m in REFUSED])
def test_a_bad_file_or_column_is_refused_naming_the_key(table, params, network, change, message):
    if change is not None:
        change(table).to_csv("points.csv", index=False)
    with pytest.raises(ConfigError) as info:
        resolve(validate(file_config(params, network)))
    assert str(info.value).startswith(f"config key {KEY}{message}"), str(info.value)


def test_missing_params_are_named():
    cfg = file_config()
    del cfg["datasets"]["mine"]["params"]["target"]
    with pytest.raises(ConfigError, match="'datasets.mine.params': 'target' is a required property"):
        resolve(validate(cfg))


def test_a_real_valued_target_trains_with_mse(table):
    mse = {"hidden": [3], "activation": "tanh", "output": "identity", "loss": "mse"}
    resolved = resolve(validate(file_config({"target": "x1", "features": ["x2"]}, mse)))
    assert resolved["datasets"]["mine"]["network"]["loss"] == "mse"


@pytest.mark.integration
def test_a_users_csv_runs_end_to_end_and_a_changed_file_reruns_it(tmp_path):
    """The smoke study's grid on a CSV inside the working directory, to the report; then a
    touched file reruns nothing, a changed one its dataset and everything after it, and a
    missing one stops the workflow before any job."""
    work = tmp_path / "work"
    (work / "mydata").mkdir(parents=True)
    points().to_csv(work / "mydata/points.csv", index=False)
    cfg = file_config({"path": "mydata/points.csv"})
    snakemake(work, "--cores", "2", config=cfg)
    report = (work / "reports/mine/README.md").read_text()
    assert "mine" in report and (work / "reports/mine/figures/landscape_mine.png").stat().st_size > 1000
    ds = datasets.read(work / "data/mine/datasets/mine.npz")
    digest = hashlib.sha256((work / "mydata/points.csv").read_bytes()).hexdigest()
    assert ds.meta["info"]["source_sha256"] == digest and ds.meta["params"]["path"] == "mydata/points.csv"
    assert len(job_records(work, "mine")) == 6
    assert "Nothing to be done" in snakemake(work, "-n", config=cfg).stdout
    later = time.time() + 60
    os.utime(work / "mydata/points.csv", (later, later))  # touched, not changed: nothing reruns
    assert "Nothing to be done" in snakemake(work, "-n", config=cfg).stdout
    changed = points()
    changed.loc[0, "x2"] += 0.5
    changed.to_csv(work / "mydata/points.csv", index=False)
    planned = dry_run_jobs(snakemake(work, "-n", config=cfg))
    assert planned["make_dataset"] == 1 and planned["train"] == 6 and planned["report"] == 1
    missing = copy.deepcopy(cfg)
    missing["datasets"]["mine"]["params"]["path"] = "mydata/gone.csv"
    proc = snakemake(work, "-n", config=missing, check=False)
    assert proc.returncode != 0
    assert (f"Invalid configuration: config key 'datasets.mine.params.path': no such file: 'mydata/gone.csv' "
            f"(in {work})") in proc.stdout + proc.stderr
