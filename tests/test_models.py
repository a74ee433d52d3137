"""Each job's best network as an MLflow pyfunc model: chosen right, loadable, predicting exactly
what the engine computes, and served over HTTP by ``mlflow models serve``."""

import json
import os
import sys

import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from gdbasins import files
from gdbasins.model import best_seed, input_columns, network_from_record, network_record
from gdbasins.network import Network
from helpers import job_records
from services import free_port, process_group, wait_for_port


def test_best_seed_is_the_lowest_polished_loss_among_seeds_that_did_not_diverge():
    endpoints = pd.DataFrame({"polished_loss": [0.3, 0.01, 0.2, np.nan, 0.2, 0.1],
                              "diverged": [False, True, False, False, False, False]})
    weights = np.ones((6, 3))
    weights[5, 1] = np.inf  # a finite loss, but weights that cannot be served
    arrays = {"polished": weights, "theta": np.ones((6, 3))}
    assert best_seed(endpoints, arrays) == 2  # 0.01 diverged; NaN never wins; ties go to the first
    assert best_seed(endpoints, dict(arrays, polished=np.ones((6, 3)))) == 5
    assert best_seed(endpoints.assign(diverged=True), arrays) is None


def test_record_round_trips_the_weights_and_refuses_bad_ones():
    net = Network((2, 3, 1), "tanh", "sigmoid", "bce", 0.01)
    theta = np.random.default_rng(0).normal(size=(2, net.n_params))
    record = json.loads(json.dumps(network_record(net, {"polished": theta[0], "final": theta[1]}, seed=4)))
    assert network_from_record(record) == net and record["seed"] == 4
    np.testing.assert_array_equal(record["weights"]["polished"], theta[0])  # bit for bit through JSON
    with pytest.raises(ValueError, match="'final' weights must be finite. Got 13 NaN"):
        network_record(net, {"polished": theta[0], "final": np.full(net.n_params, np.nan)})
    with pytest.raises(ValueError, match=r"'polished' weights must have shape \(13,\)"):
        network_record(net, {"polished": theta[0, :5], "final": theta[1]})
    with pytest.raises(ValueError, match="must hold"):
        network_record(net, {"polished": theta[0]})


def jobs_of(work):
    """``(record, arrays, meta)`` of every job of a finished study: its MLflow record and results."""
    for record in job_records(work):
        arrays, meta = files.load(record["dir"] / "results.npz")
        yield record, arrays, meta


def row_of(arrays, seed) -> int:
    """The replica index of a seed in a result file."""
    return int(np.flatnonzero(arrays["seeds"] == int(seed))[0])


def engine(meta, theta, X):
    spec = meta["job"]["network"]
    net = Network(tuple(meta["sizes"]), spec["activation"], spec["output"], spec["loss"], spec["l2"])
    return net.forward(theta[None, :], X)[0]


def inputs(work, meta):
    ds, _ = files.load(work / "data" / "small" / "datasets" / f"{meta['job']['dataset']}.npz")
    X = np.concatenate([ds["X_train"], ds.get("X_test", ds["X_train"][:0])])
    return pd.DataFrame(X, columns=input_columns(X.shape[1]))


@pytest.mark.integration
def test_every_parent_run_logs_its_best_seed_as_a_model(small_study):
    records = list(jobs_of(small_study))
    assert len(records) == 12
    for record, arrays, meta in records:
        client = MlflowClient(record["uri"])
        model = client.get_logged_model(record["model"])
        endpoints = pd.DataFrame({"polished_loss": arrays["endpoint/polished_loss"],
                                  "diverged": arrays["endpoint/diverged"]})
        r = best_seed(endpoints, arrays)
        assert r is not None and endpoints["polished_loss"][r] == endpoints["polished_loss"][~endpoints["diverged"]].min()
        assert model.source_run_id == record["parent"] and str(model.status) == "READY"
        assert model.tags["gdbasins.job"] == record["job"] and model.tags["gdbasins.seed"] == str(arrays["seeds"][r])
        assert model.params["eta"] == str(meta["job"]["eta"])
        outputs = client.get_run(record["parent"]).outputs.model_outputs
        assert [o.model_id for o in outputs] == [record["model"]]


@pytest.mark.integration
def test_loaded_models_predict_exactly_what_the_engine_computes(small_study):
    import mlflow

    for record, arrays, meta in jobs_of(small_study):
        mlflow.set_tracking_uri(record["uri"])
        uri = f"models:/{record['model']}"
        model = mlflow.pyfunc.load_model(uri)
        r = row_of(arrays, model.metadata.metadata["seed"])
        X = inputs(small_study, meta)
        assert [c.name for c in model.metadata.get_input_schema().inputs] == list(X.columns)
        assert model.metadata.saved_input_example_info is not None
        predicted = model.predict(X)
        assert list(predicted.columns) == ["y0"] and len(predicted) == len(X)
        np.testing.assert_array_equal(predicted.to_numpy(), engine(meta, arrays["polished"][r], X.to_numpy()))
        final = mlflow.pyfunc.load_model(uri, model_config={"weights": "final"}).predict(X)
        np.testing.assert_array_equal(final.to_numpy(), engine(meta, arrays["theta"][r], X.to_numpy()))


@pytest.mark.integration
def test_served_model_answers_invocations(small_study, tmp_path):
    record, arrays, meta = next(r for r in jobs_of(small_study) if r[2]["job"]["dataset"] == "teacher")
    X = inputs(small_study, meta).iloc[:7]
    port = free_port()
    bin_dir = os.path.dirname(sys.executable)  # `mlflow models serve` execs uvicorn from the environment
    env = dict(os.environ, MLFLOW_TRACKING_URI=record["uri"], PATH=bin_dir + os.pathsep + os.environ["PATH"])
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{record['model']}",
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with open(tmp_path / "serve.log", "w") as log, process_group(cmd, env=env, stdout=log, stderr=log) as proc:
        wait_for_port(port, timeout=180, proc=proc)
        payload = {"dataframe_split": {"columns": list(X.columns), "data": X.to_numpy().tolist()}}
        reply = requests.post(f"http://127.0.0.1:{port}/invocations", json=payload, timeout=60)
    assert reply.status_code == 200, (tmp_path / "serve.log").read_text()[-3000:]
    served = np.array([row["y0"] for row in reply.json()["predictions"]])
    r = row_of(arrays, MlflowClient(record["uri"]).get_logged_model(record["model"]).tags["gdbasins.seed"])
    np.testing.assert_allclose(served, engine(meta, arrays["polished"][r], X.to_numpy())[:, 0], rtol=0, atol=1e-12)
    assert proc.poll() is not None  # the server is stopped with its process group


@pytest.mark.integration
def test_logging_a_job_again_leaves_one_live_model(small_study, tmp_path):
    from gdbasins import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = tracking.init_store(uri, "again", tmp_path / "mlartifacts")
    results = next(small_study.glob("data/small/runs/teacher/sgd/eta=*/results.npz"))
    _, meta = files.load(results)
    job = meta["job"]
    params = {k: v for k, v in job.items() if k != "key"}
    dataset = small_study / "data" / "small" / "datasets" / "teacher.npz"
    ids = [tracking.log_job(uri, experiment, job["key"], params, results, dataset, code="test") for _ in range(2)]
    live = MlflowClient(uri).search_logged_models([experiment])
    assert [m.model_id for m in live] == [ids[1]["model"]] and ids[0]["model"] != ids[1]["model"]
