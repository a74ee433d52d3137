"""How a study looks in the MLflow UI: the experiment's kind and description, saved views of its
jobs, and each job's description. Strings and tags only; :mod:`gdbasins.tracking` writes them.

MLflow 3.17's UI opens an experiment in its GenAI mode unless the page's URL says
``workflowType=machine_learning`` (or the browser remembers the "Model training" toggle); the
experiment tag ``mlflow.experimentKind`` is what other MLflow 3 releases read for the same choice.
The runs table lists 100 runs a page, newest first, and seed runs count: the saved views here show
the study's job runs only (tag ``gdbasins.kind = 'job'``), which fit on one page up to 100 jobs.
A saved view is one experiment tag, ``mlflow.sharedViewState.<id>``, holding the UI's own JSON
envelope; :func:`view_url` is the link that opens one (the UI's "Views" menu lists them too).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from .files import IntegrityError, read_record

__all__ = ["KIND_TAG", "EXPERIMENT_KIND", "JOBS_FILTER", "VIEWS", "view_url", "saved_views",
           "experiment_tags", "job_description", "ui_command", "done_line"]

#: Tag that says what a run is: ``job`` (a parent run) or ``summary`` (the report's run).
KIND_TAG = "gdbasins.kind"
#: ``mlflow.experimentKind``: a model-training experiment, not a GenAI one.
EXPERIMENT_KIND = "custom_model_development"
#: The runs-table filter that lists every job and nothing else.
JOBS_FILTER = f"tags.`{KIND_TAG}` = 'job'"
VIEW_TAG = "mlflow.sharedViewState."
NOTE_TAG = "mlflow.note.content"

#: Columns of every saved view, in order: the job's variant and rate, where its seeds are after the
#: budget, its median polished loss, its model.
COLUMNS = ("params.`variant`", "params.`eta`", "metrics.`share_global`", "metrics.`share_local`",
           "metrics.`share_flat`", "metrics.`share_plateau`", "metrics.`share_unconverged`",
           "metrics.`share_diverged`", "metrics.`median_polished_loss`", "attributes.`Models`")

#: Saved view id -> (name, param to group the jobs by or None). The first is the default link.
VIEWS = {
    "gdbasins-jobs": ("Jobs, by share in the global minimum", None),
    "gdbasins-jobs-by-variant": ("Jobs grouped by variant", "variant"),
    "gdbasins-jobs-by-dataset": ("Jobs grouped by dataset", "dataset"),
}


def _view_state(group_by: str | None) -> dict:
    """The runs table's state as the UI saves it (MLflow 3.17: search facets and UI state in one
    JSON object): the jobs only, highest share in the global minimum first, :data:`COLUMNS`."""
    return {
        "searchFilter": JOBS_FILTER, "orderByKey": "metrics.`share_global`", "orderByAsc": False,
        "startTime": "ALL", "lifecycleFilter": "Active", "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": list(COLUMNS), "columnOrder": list(COLUMNS), "columnWidths": {},
        "runsHiddenMode": "FIRST_10_RUNS", "viewMaximized": False, "runListHidden": False,
        "isAccordionReordered": False, "useGroupedValuesInCharts": True, "hideEmptyCharts": True,
        "groupBy": None if group_by is None else {
            "aggregateFunction": "average", "groupByKeys": [{"mode": "param", "groupByData": group_by}]},
        "groupsExpanded": {},
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }


def saved_views(created_ms: int) -> dict[str, str]:
    """Experiment tags (key -> value) of the :data:`VIEWS`, each the UI's saved-view envelope
    (``name``, ``createdAt``, ``updatedAt``, ``state`` as plain JSON, which the UI reads as it
    reads its own compressed form)."""
    return {VIEW_TAG + view_id: json.dumps({"name": name, "createdAt": created_ms, "updatedAt": created_ms,
                                            "state": json.dumps(_view_state(group_by))})
            for view_id, (name, group_by) in VIEWS.items()}


def view_url(experiment_id: str, view: str = "gdbasins-jobs", base: str = "") -> str:
    """The link that opens the runs table of an experiment in the model-training view with the
    saved view ``view`` applied; ``base`` is the UI's address (``http://127.0.0.1:5000``), empty for
    a link inside the UI."""
    query = urllib.parse.urlencode({"workflowType": "machine_learning", "viewStateShareKey": view})
    return f"{base}/#/experiments/{experiment_id}/runs?{query}" if base else \
        f"#/experiments/{experiment_id}/runs?{query}"


def _experiment_note(study: str, experiment_id: str, summary: dict | None) -> str:
    """The experiment's description: links first (the UI shows its first lines folded)."""
    links = [f"[{name}]({view_url(experiment_id, v)})" for v, (name, _) in VIEWS.items()]
    if summary:
        links.append(f"[the report](#/experiments/{experiment_id}/runs/{summary['run_id']}/artifacts)")
    lines = [f"**Study `{study}`**: " + " · ".join(links), "",
             "Where batch, mini-batch and stochastic gradient descent end up. One run per training "
             f"job (`<dataset>/<variant>/eta=<rate>`, tag `{KIND_TAG}` = `job`) with its parameters, "
             "the share of its seeds in each outcome (`share_global`, `share_local`, ...), its loss "
             "curves (`loss_curves.png`) and its best network as a model; its seed runs are nested "
             "under it (⊞, in the unfiltered table)."]
    if summary:
        n = len(summary["datasets"])
        names = ", ".join(summary["datasets"])
        lines += ["", f"{summary['jobs']} jobs on {n} dataset{'s' * (n != 1)} ({names}). The report is "
                      "the run `summary` (artifact `report.html`); each dataset's best networks are the "
                      f"registered model `gdbasins-{study}-<dataset>` (alias `best`: the lowest polished "
                      "loss)."]
    return "\n".join(lines)


def experiment_tags(study: str, experiment_id: str, created_ms: int,
                    summary: dict | None = None) -> dict[str, str]:
    """Every experiment tag the UI reads: the kind, the description (with links to the saved
    views; with ``summary`` = ``{"run_id", "jobs", "datasets"}``, the study's size and its report)
    and the saved views."""
    return {"mlflow.experimentKind": EXPERIMENT_KIND,
            NOTE_TAG: _experiment_note(study, experiment_id, summary), **saved_views(created_ms)}


VARIANT_WORDS = {"batch": "batch gradient descent", "minibatch": "mini-batch gradient descent",
                 "sgd": "stochastic gradient descent"}


def job_description(params: dict, batch_size: int, shares: dict[str, float], best: dict | None) -> str:
    """A job's description (Markdown, the run's note): what was trained, where its seeds ended
    (``shares``: outcome -> share, empty before classification), its best network (``best``:
    ``{"seed", "polished_loss"}``, None when every seed diverged)."""
    what = (f"**{params['dataset']}**, {VARIANT_WORDS.get(params['variant'], params['variant'])} "
            f"(batch size {batch_size}) at learning rate {params['eta']:g}: {params['seeds']} seeds, "
            f"{params['epochs']} epochs each, all from the same initial weights as under every other "
            "variant and rate.")
    lines = [what]
    if shares:
        ended = ", ".join(f"{o} {s:.0%}" for o, s in sorted(shares.items(), key=lambda x: -x[1]) if s > 0)
        lines.append(f"Where the seeds are after the budget: {ended} (metrics `share_<outcome>`; "
                     "each seed's outcome is the tag `outcome` of its nested run).")
    if best is not None:
        lines.append(f"Best network (lowest polished loss): seed {best['seed']}, polished loss "
                     f"{best['polished_loss']:.4g}, logged as the model `network`.")
    else:
        lines.append("Every seed diverged: no model.")
    lines.append("Loss curves of every seed: artifact `loss_curves.png`.")
    return "\n\n".join(lines)


def ui_command(uri: str, port: int = 5000) -> str | None:
    """The command that serves the study's store in the MLflow UI, light (one worker, no job
    runner: about 4 s to start instead of 10-25 s); ``None`` for a tracking server, which serves
    its own UI."""
    if uri.startswith(("http://", "https://")):
        return None
    return (f"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri {uri} "
            f"--host 127.0.0.1 --port {port} --workers 1")


def done_line(report, store_record, port: int = 5000) -> str | None:
    """One line for the console at the end of a run: where the report is (``report``: the path of
    its README) and how to browse the runs (``store_record``: the study's tracking record, with the
    store's ``uri`` and ``experiment_id``); what does not exist (a run that stopped before the
    report or the store) is left out, and ``None`` when neither does."""
    parts = [f"the report is {report} (and index.html beside it)"] if Path(report).exists() else []
    try:
        store = read_record(store_record) if Path(store_record).exists() else None
    except IntegrityError:  # the next run's checks say so; the last line names what it can
        store = None
    if store is not None:
        command = ui_command(store["uri"], port)
        if command is None:
            base = store["uri"].rstrip("/")
            parts.append(f"the runs are at {view_url(store['experiment_id'], base=base)}")
        else:
            parts.append(f"browse the runs with `{command}` and open "
                         f"{view_url(store['experiment_id'], base=f'http://127.0.0.1:{port}')}")
    return "gdbasins: done; " + "; ".join(parts) if parts else None
