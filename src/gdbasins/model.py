"""A job's best network as an MLflow pyfunc model: what ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` run.

The model is one JSON artifact (:func:`network_record`: architecture, loss and flat weight
vectors in :mod:`gdbasins.network`'s layout) and :class:`NetworkModel`, which rebuilds the
:class:`~gdbasins.network.Network` from it and returns its outputs, computed by the engine's own
forward pass. Inputs are a DataFrame with one float column per input unit (``x0``, ``x1``, ...);
outputs a DataFrame with one column per output unit (``y0``, ...): probabilities for a sigmoid
output, values for an identity output.

**Which network.** The best seed of a job is the one with the lowest polished loss among those
that did not diverge, and the model predicts with that seed's **polished** weights by default:
they are the point the ranking scores (so the model's training loss is the ``polished_loss``
recorded beside it) and the minimum the study's outcome labels describe. The record also holds
the seed's **final** weights, where gradient descent stopped (the same basin when the run had
converged, see ``converged`` on its seed run); load them with
``mlflow.pyfunc.load_model(uri, model_config={"weights": "final"})``.

Loading a model needs mlflow, numpy, pandas, scipy and the network module (no training code); the
model carries a copy of this package (``code_paths``), so it loads outside the project too.
:func:`log_best` logs one; :func:`gdbasins.tracking.log_job` calls it for every job.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from .network import Network, network_from
from .tracking import JOB_TAG

__all__ = ["NetworkModel", "log_best", "best_seed", "network_record", "network_from_record", "input_columns",
           "output_columns", "WEIGHTS", "MODEL_NAME", "register_dataset", "registered_name", "retire_models",
           "retire_registered"]

#: The name of every job's logged model.
MODEL_NAME = "network"

#: The weight vectors a record holds; the first is the default.
WEIGHTS = ("polished", "final")


def input_columns(n_in: int) -> list[str]:
    return [f"x{i}" for i in range(n_in)]


def output_columns(n_out: int) -> list[str]:
    return [f"y{j}" for j in range(n_out)]


def best_seed(endpoints, arrays: dict) -> int | None:
    """Row index of the seed with the lowest polished loss among those that did not diverge and
    whose final and polished weights are finite (``endpoints`` and ``arrays`` as
    :func:`gdbasins.job.load_results` returns them); ``None`` when there is none. Ties go to the
    first row."""
    loss = np.asarray(endpoints["polished_loss"], dtype=float)
    ok = ~np.asarray(endpoints["diverged"], dtype=bool) & np.isfinite(loss)
    for name in ("polished", "theta"):
        ok &= np.isfinite(arrays[name]).all(axis=1)
    if not ok.any():
        return None
    return int(np.flatnonzero(ok)[np.argmin(loss[ok])])


def network_record(net: Network, weights: dict[str, np.ndarray], **info) -> dict:
    """The JSON-able description of one network: ``sizes``, ``activation``, ``output``, ``loss``,
    ``l2``, the flat weight vectors ``weights`` (name -> array of shape (P,), names from
    :data:`WEIGHTS`) and any ``info`` (e.g. the seed and its losses). Floats are written with
    ``repr`` precision, so the weights read back bit for bit."""
    missing = [w for w in WEIGHTS if w not in weights]
    if missing:
        raise ValueError(f"The 'weights' parameter must hold {list(WEIGHTS)}. Got {sorted(weights)} instead.")
    vectors = {}
    for name in WEIGHTS:
        theta = np.asarray(weights[name], dtype=float)
        if theta.shape != (net.n_params,):
            raise ValueError(f"The {name!r} weights must have shape ({net.n_params},) for sizes {net.sizes}. "
                             f"Got shape {theta.shape} instead.")
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"The {name!r} weights must be finite. Got {np.count_nonzero(~np.isfinite(theta))} "
                             "NaN or infinite value(s).")
        vectors[name] = theta.tolist()
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in info.items()}
    return {**net.spec(), "layout": "per trained layer: W (n_in x n_out, row-major) then b (if bias)",
            "weights": vectors, **clean}


def network_from_record(record: dict) -> Network:
    return network_from(record["sizes"], record)


class NetworkModel(PythonModel):
    """A pyfunc model of one network: its artifact ``network`` is a :func:`network_record` file.

    ``model_config={"weights": "final"}`` at load time picks the final weights instead of the
    polished ones.
    """

    def load_context(self, context):
        with open(context.artifacts["network"]) as f:
            record = json.load(f)
        which = (context.model_config or {}).get("weights", WEIGHTS[0])
        if which not in WEIGHTS:
            raise ValueError(f"The 'weights' model config must be one of {list(WEIGHTS)}. Got {which!r} instead.")
        self.net = network_from_record(record)
        self.theta = np.asarray(record["weights"][which], dtype=float)[None, :]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Outputs of shape (m, n_out) as a DataFrame for a DataFrame of m rows of inputs (an
        array of shape (m, n_in) works too)."""
        if isinstance(model_input, pd.DataFrame):
            X, index = model_input[input_columns(self.net.sizes[0])].to_numpy(dtype=float), model_input.index
        else:
            X, index = np.asarray(model_input, dtype=float), None
        out = self.net.forward(self.theta, X)[0]
        return pd.DataFrame(out, columns=output_columns(self.net.sizes[-1]), index=index)


def _requirements() -> list[str]:
    """Pinned pip requirements of the model, given explicitly: inferring them would load the model
    in a subprocess and resolve the environment, seconds per job."""
    import mlflow
    import scipy

    return [f"{m.__name__}=={m.__version__}" for m in (mlflow, np, scipy, pd)]


@contextlib.contextmanager
def _pinned_requirements_check():
    """Let ``log_model`` check :func:`_requirements` against this environment without scanning
    every installed distribution for its module names (``packages_distributions``: 0.7-0.9 s per
    process, most of the model's logging time). The pins are this environment's own versions, so
    the check cannot find a mismatch; MLflow's module-to-package map is given just the pinned
    modules for the duration and restored after. With an MLflow that no longer has the map, the
    full scan runs as before."""
    from mlflow.utils import requirements_utils as ru

    saved = getattr(ru, "_MODULES_TO_PACKAGES", "missing"), getattr(ru, "_PACKAGES_TO_MODULES", "missing")
    if saved[0] is not None:  # already scanned in this process (or unknown internals): nothing to gain
        yield
        return
    ru._MODULES_TO_PACKAGES = {r.split("==")[0]: [r.split("==")[0]] for r in _requirements()}
    try:
        yield
    finally:
        ru._MODULES_TO_PACKAGES, ru._PACKAGES_TO_MODULES = saved


@contextlib.contextmanager
def _tracking_uri(uri: str):
    """Point the process's tracking URI, which ``log_model`` logs to, at ``uri`` for the duration.

    The environment variable does it unless ``mlflow.set_tracking_uri`` was called (its value
    shadows the variable); the function itself is avoided when it can be, since it resets MLflow's
    tracer, whose first reset imports OpenTelemetry's SDK (0.3 s per process).
    """
    import mlflow

    if mlflow.get_tracking_uri() == uri:
        yield
        return
    var = "MLFLOW_TRACKING_URI"
    old_env = os.environ.get(var)
    os.environ[var] = uri
    shadowing = None if mlflow.get_tracking_uri() == uri else mlflow.get_tracking_uri()
    if shadowing is not None:
        mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if shadowing is not None:
            mlflow.set_tracking_uri(shadowing)
        if old_env is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = old_env


def _retire(client, experiment_id: str, tag: str, value: str) -> None:
    """Delete earlier logged models of the same job: a rerun leaves one live model per job."""
    for m in client.search_logged_models([experiment_id], filter_string=f"tags.`{tag}` = '{value}'"):
        client.delete_logged_model(m.model_id)


def retire_models(client, experiment_id: str, job_key: str, run_ids=()) -> None:
    """Delete every logged model of the job ``job_key`` (a job removed from the study) and the
    registered model versions made from its runs ``run_ids``."""
    for run_id in run_ids:
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            client.delete_model_version(version.name, version.version)
    _retire(client, experiment_id, JOB_TAG, job_key)


def log_best(uri: str, run_id: str, *, job_key: str, sizes, network: dict, endpoints, arrays: dict,
             X_example: np.ndarray) -> str | None:
    """Log the best seed of a job as the pyfunc model :data:`MODEL_NAME` of run ``run_id``.

    The best seed has the lowest polished loss among the seeds that did not diverge
    (:func:`best_seed`). ``sizes`` are the layer sizes, ``network`` the job's network config
    (``activation``, ``output``, ``loss``, ``l2``), ``endpoints`` and ``arrays`` what
    :func:`gdbasins.job.load_results` returns, ``X_example`` a few input rows (the input
    example). The model is tagged with the job key (``gdbasins.job``) and the seed, and carries
    the run's params; earlier models of the job are deleted first. Returns the model id, or
    ``None`` when every seed diverged (no model is logged).
    """
    import mlflow
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    r = best_seed(endpoints, arrays)
    if r is None:
        return None
    net = network_from(sizes, network)
    row = endpoints.iloc[r]
    info = {"seed": int(arrays["seeds"][r]), "polished_loss": float(row["polished_loss"]),
            "raw_loss": float(row["raw_loss"])}
    record = network_record(net, {"polished": arrays["polished"][r], "final": arrays["theta"][r]}, **info)
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", c) for c in input_columns(net.sizes[0])]),
        outputs=Schema([ColSpec("double", c) for c in output_columns(net.sizes[-1])]))
    example = pd.DataFrame(np.asarray(X_example, dtype=float), columns=input_columns(net.sizes[0]))
    package = Path(__file__).resolve().parent  # the model carries the package's code
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    _retire(client, run.info.experiment_id, JOB_TAG, job_key)
    # Created here rather than by log_model, which would also resolve the context tags of the
    # process (git, notebook: about a second per job); linked to the run as its output below.
    logged = client.create_logged_model(run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                        params=run.data.params,
                                        tags={JOB_TAG: job_key, "gdbasins.seed": str(info["seed"])})
    with tempfile.TemporaryDirectory() as tmp, _tracking_uri(uri), _pinned_requirements_check():
        path = Path(tmp) / "network.json"
        path.write_text(json.dumps(record))
        model_info = mlflow.pyfunc.log_model(
            name=MODEL_NAME, model_id=logged.model_id, python_model=str(package / "pyfunc_model.py"),
            artifacts={"network": str(path)}, signature=signature, input_example=example,
            pip_requirements=_requirements(), code_paths=[str(package)], model_config={"weights": WEIGHTS[0]},
            metadata=info)
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    client.set_tag(run_id, HISTORY_TAG, json.dumps([_history_entry(run_id, model_info)]))
    return logged.model_id


#: The run tag in which MLflow records the models logged inside a run. MLflow 3.17's runs table
#: shows a run's registered model versions in its *Models* column from it, while it shows logged
#: models there only from the experiment's first page of them (100, newest first): without it, many
#: jobs of a study with more models than that showed an empty cell.
HISTORY_TAG = "mlflow.log-model.history"


def _history_entry(run_id: str, model_info) -> dict:
    """What MLflow records for a model logged inside a run (``Model.get_tags_dict``): written here
    because the model is logged to the run from outside it (``log_model`` with a model id). Each
    artifact's ``uri`` (the temporary file it was copied from) is left out: the record is the
    same for the same job."""
    flavors = {name: ({k: v for k, v in conf.items() if k != "config"} if isinstance(conf, dict) else conf)
               for name, conf in model_info.flavors.items()}
    for conf in flavors.values():  # each artifact's source: a temporary copy, gone after logging
        if isinstance(conf, dict) and isinstance(conf.get("artifacts"), dict):
            conf["artifacts"] = {name: {k: v for k, v in a.items() if k != "uri"} if isinstance(a, dict) else a
                                 for name, a in conf["artifacts"].items()}
    return {"run_id": run_id, "artifact_path": MODEL_NAME, "model_uuid": model_info.model_uuid,
            "utc_time_created": model_info.utc_time_created, "flavors": flavors}


def registered_name(study: str, dataset: str) -> str:
    """The Model Registry's name for a dataset's networks: ``gdbasins-<study>-<dataset>``."""
    return f"gdbasins-{study}-{dataset}"


#: Aliases of a dataset's registered model: the lowest polished loss of all its jobs, and of each
#: variant's jobs (``best_batch``, ...).
BEST_ALIAS = "best"


def register_dataset(uri: str, study: str, dataset: str, jobs: list[dict]) -> dict:
    """Register the best network of every job of one dataset: one registered model per dataset
    (:func:`registered_name`), one version per job that has a model, in the order of ``jobs``
    (each ``{"key", "variant", "eta", "parent", "model", "best": {"seed", "polished_loss"}}``, as
    :func:`gdbasins.tracking.log_job` returns them), the alias ``best`` on the version with the
    lowest polished loss and ``best_<variant>`` on each variant's. The dataset's registered model
    is made anew each time, so its versions are always the study's current jobs (and a user's own
    aliases on it do not survive a rerun). Returns ``{"name", "versions": {key: version}, "aliases"}``."""
    from mlflow.exceptions import MlflowException

    from .tracking import _client

    client = _client(uri)
    name = registered_name(study, dataset)
    try:
        client.delete_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    description = (f"The best network (lowest polished loss of its seeds) of every training job on "
                   f"**{dataset}** in the study `{study}`: one version per job (tags `gdbasins.job`, "
                   f"`variant`, `eta`, `seed`, `polished_loss`). Alias `{BEST_ALIAS}`: the lowest "
                   f"polished loss over all jobs; `{BEST_ALIAS}_<variant>`: over one variant's jobs.")
    client.create_registered_model(name, tags={"gdbasins.study": study, "gdbasins.dataset": dataset},
                                   description=description)
    versions, best = {}, {}
    for job in jobs:
        if job.get("model") is None:
            continue
        loss, seed = job["best"]["polished_loss"], job["best"]["seed"]
        tags = {JOB_TAG: job["key"], "variant": job["variant"], "eta": str(job["eta"]), "seed": str(seed),
                "polished_loss": repr(loss)}
        # a SQL registry looks the logged model up in the process's tracking store, not the client's
        with _tracking_uri(uri):
            version = client.create_model_version(
                name, source=f"models:/{job['model']}", run_id=job["parent"], model_id=job["model"],
                tags=tags, description=(f"{job['variant']} at learning rate {job['eta']:g}: seed {seed}, "
                                        f"polished loss {loss:.6g}."))
        versions[job["key"]] = version.version
        for alias in (BEST_ALIAS, f"{BEST_ALIAS}_{job['variant']}"):
            if alias not in best or loss < best[alias][0]:
                best[alias] = (loss, version.version)
    for alias, (_, version) in best.items():
        client.set_registered_model_alias(name, alias, version)
    return {"name": name, "versions": versions, "aliases": {a: v for a, (_, v) in best.items()}}


def retire_registered(client, study: str, datasets) -> list[str]:
    """Delete the registered models of ``study`` whose dataset is not in ``datasets`` (a dataset
    removed from the config is never registered again); returns their names."""
    keep = {registered_name(study, d) for d in datasets}
    gone, token = [], None
    while True:
        page = client.search_registered_models(f"tags.`gdbasins.study` = '{study}'", max_results=100,
                                               page_token=token)
        gone += [m.name for m in page if m.name not in keep]
        token = page.token
        if not token:
            break
    for name in gone:
        client.delete_registered_model(name)
    return gone
