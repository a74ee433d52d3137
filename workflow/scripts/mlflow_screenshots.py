"""Screenshots of a study's MLflow UI in headless Chromium: the runs table and one run's charts.

    python3 workflow/scripts/mlflow_screenshots.py STUDY_DIR [--study default] [--out reports] [--job KEY]

``STUDY_DIR`` is the working directory of a finished run of the workflow (where
``data/<study>/tracking.json`` records the tracking store and the experiment). For the embedded
SQLite store the script starts ``mlflow ui`` on it (127.0.0.1, a free port) and stops it at the
end; for a tracking server (an ``http(s)://`` URI) it opens that server's UI. It writes

* ``<out>/mlflow-experiment.png``: the experiment's runs table, one parent run per job, with the
  columns learning rate (param ``eta``), ``outcome`` (tag of the seed runs), ``share_global`` and
  ``polished_loss``, and the newest job expanded to show its seed runs;
* ``<out>/mlflow-run-charts.png``: the metric charts of one job's parent run (``--job``, e.g.
  ``default/moons/sgd/eta=0.016``; by default the newest job).

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and PyPI's ``playwright`` (its own browser
download is not used). The same functions drive the browser test (``tests/test_mlflow_ui.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # services: ports and process groups, shared with the tests
sys.path.insert(0, str(REPO / "src"))

from services import free_port, process_group, wait_for_port  # noqa: E402

from gdbasins import files, tracking  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The MLflow 3 UI opens an assistant side panel on first load; a fresh profile says it was closed.
CLOSED_ASSISTANT = """
window.localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
window.localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
"""
TIMEOUT_MS = 90_000
COLUMNS = ("eta", "outcome", "share_global", "polished_loss")


@contextlib.contextmanager
def mlflow_ui(backend_uri: str, *, log=None):
    """``mlflow ui`` on ``backend_uri`` at 127.0.0.1 on a free port, in its own process group
    (stopped on exit); yields the base URL."""
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", backend_uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    out = log if log is not None else subprocess.DEVNULL
    with process_group(cmd, env=env, stdout=out, stderr=out) as proc:
        wait_for_port(port, timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def browser(width: int = 1600, height: int = 1000):
    """A page of headless Debian Chromium with a fresh profile (closed; its folder removed on exit)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height})
        try:
            context.add_init_script(CLOSED_ASSISTANT)
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            context.close()


def open_runs_table(page, base_url: str, experiment_id: str, first_run: str, columns=COLUMNS, hide=()):
    """Open the experiment's runs table, wait until the run ``first_run`` is listed, and toggle
    through the Columns menu: show ``columns`` (param, metric or tag names), hide ``hide`` (shown
    by default, e.g. ``Source``). The table keeps its default order, newest first: sorted by any
    other key it no longer nests seed runs under their job. The UI polls for ever: wait for
    ``load`` and for text, never for network idle."""
    page.goto(f"{base_url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning", wait_until="load")
    page.get_by_text(first_run, exact=True).first.wait_for()
    page.get_by_role("button", name="Columns", exact=True).click()
    menu = page.get_by_role("dialog")
    for name in (*columns, *hide):
        menu.get_by_text(name, exact=True).first.click()
    page.keyboard.press("Escape")
    menu.wait_for(state="hidden")
    for name in columns:
        page.get_by_role("columnheader", name=name).first.wait_for()


def run_row(page, run_name: str):
    """The runs table's row (its pinned part: selection, name, date) of the run ``run_name``."""
    return page.get_by_role("row").filter(has=page.get_by_text(run_name, exact=True))


def cell(page, run_id: str, column: str):
    """The cell of a run in a column (``params.`eta```, ``tags.`outcome```, ...). The table draws
    pinned and scrolling columns as two rows; both carry the run id as ``row-id``."""
    return page.locator(f'[role="row"][row-id="{run_id}"] [col-id="{column}"]').first


def expand(page, parent_name: str, first_child: str):
    """Unfold a parent run's nested runs (they start collapsed) and wait for ``first_child``."""
    run_row(page, parent_name).locator("button[data-component-id*='runnamecellrenderer']").first.click()
    page.get_by_text(first_child, exact=True).first.wait_for()


def open_run_charts(page, base_url: str, experiment_id: str, run_id: str, metric: str):
    """Open one run's metric charts and wait until the chart of ``metric`` is drawn."""
    page.goto(f"{base_url}/#/experiments/{experiment_id}/runs/{run_id}/model-metrics?workflowType=machine_learning",
              wait_until="load")
    page.get_by_text(metric, exact=True).first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()


def settle(page, seconds: float = 2.0):
    """Let charts and lazy cells finish drawing before a screenshot (there is no event for it)."""
    page.wait_for_timeout(seconds * 1000)


def study_runs(uri: str, experiment_id: str):
    """``(parents, children)`` of an experiment's jobs, newest first (the runs table's order); the
    study's ``summary`` run (tag ``gdbasins.kind``) is neither."""
    from mlflow import MlflowClient

    runs = MlflowClient(uri).search_runs([experiment_id], max_results=50_000, order_by=["attributes.start_time DESC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags and "gdbasins.kind" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def screenshots(study_dir: Path, study: str, out: Path, job: str | None = None) -> list[Path]:
    """Write the two screenshots of a finished study (see the module docstring)."""
    store = files.read_record(study_dir / "data" / study / "tracking.json")
    uri, exp = tracking.connect_uri(store["uri"]), store["experiment_id"]
    parents, children = study_runs(uri, exp)
    if not parents:
        raise SystemExit(f"no runs in experiment {store['experiment']!r} of {uri}")
    chosen = next((p for p in parents if p.data.tags.get("gdbasins.job") == job), None) if job else parents[0]
    if chosen is None:
        raise SystemExit(f"no run of job {job!r}; jobs look like {parents[0].data.tags.get('gdbasins.job')!r}")
    first = parents[0]
    seeds = sorted((c for c in children if c.data.tags["mlflow.parentRunId"] == first.info.run_id),
                   key=lambda c: int(c.data.tags.get("gdbasins.seed", 0)))
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "mlflow-experiment.png", out / "mlflow-run-charts.png"]
    server = contextlib.nullcontext(uri) if uri.startswith(("http://", "https://")) else mlflow_ui(uri)
    with server as base, browser(height=1400) as page:
        open_runs_table(page, base, exp, first.info.run_name, hide=("Source", "Dataset"))
        if seeds:
            expand(page, first.info.run_name, seeds[0].info.run_name)
        settle(page)
        page.screenshot(path=str(paths[0]))
        open_run_charts(page, base, exp, chosen.info.run_id, "median_loss")
        settle(page, 4)
        page.screenshot(path=str(paths[1]))
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study_dir", type=Path, help="the workflow's working directory after a run")
    ap.add_argument("--study", default="default", help="the config's study name (default: default)")
    ap.add_argument("--out", type=Path, default=Path("reports"), help="folder for the PNGs (default: reports)")
    ap.add_argument("--job", help="job key of the run whose charts to show (default: the newest)")
    args = ap.parse_args(argv)
    for path in screenshots(args.study_dir, args.study, args.out, args.job):
        print(path)


if __name__ == "__main__":
    main()
