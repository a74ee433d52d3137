"""The MLflow UI in a real browser, as a person sees it: `mlflow ui` (the README's light command)
on the smoke study's store, opened in headless Chromium (Debian's package, driven by Playwright).

* the link the workflow prints at its end opens the model-training runs table on the study's
  jobs, every one of them on the first screen, no "Load more", the best first; the experiment's
  description (what a click on the experiment shows, in its GenAI view too) links to it;
* the Compare view shows a dataset's jobs' loss curves side by side; each dataset's networks are a
  registered model with the alias ``best``, and the jobs table shows each job's model;
* the summary run's report opens in the artifact viewer with every figure drawn.

The screenshots stay in pytest's temporary folder (printed with ``-s``)."""

import json
import re
import sys

import pytest
from mlflow import MlflowClient

from helpers import REPO
from services import ensure_debian_packages

pytestmark = pytest.mark.integration

sys.path.insert(0, str(REPO / "workflow" / "scripts"))

N_JOBS = 36


@pytest.fixture(scope="module")
def ui(smoke_study, tmp_path_factory):
    """``(module, base URL, store record, page, screenshot folder)``: the UI on the smoke study's
    store, one browser page tall enough for the 36 jobs' rows (1,700 px, a portrait monitor)."""
    ensure_debian_packages("chromium", probe="/usr/bin/chromium")
    import mlflow_screenshots as shots

    store = json.loads((smoke_study / "data" / "smoke" / "tracking.json").read_text())
    folder = tmp_path_factory.mktemp("mlflow-ui-screenshots")
    print(f"\nscreenshots of the MLflow UI: {folder}")
    with open(folder / "ui.log", "w") as log, shots.mlflow_ui(store["uri"], log=log) as base, \
            shots.browser(width=1700, height=1700) as page:
        yield shots, base, store, page, folder


def jobs_of(store):
    client = MlflowClient(store["uri"])
    runs = client.search_runs([store["experiment_id"]], "tags.`gdbasins.kind` = 'job'", max_results=1000)
    return client, sorted(runs, key=lambda r: -r.data.metrics["share_global"])


def test_the_printed_link_opens_the_jobs_table_with_every_job_on_the_first_screen(ui, smoke_study):
    shots, base, store, page, folder = ui
    client, jobs = jobs_of(store)
    assert len(jobs) == N_JOBS
    link = re.search(r"open (http://\S+)$", (smoke_study / "console.txt").read_text(), re.M)[1]
    try:
        shots.open_jobs(page, base, store["experiment_id"], jobs[0].info.run_name, link=link)
        shots.settle(page)
        assert "workflowType=machine_learning" in page.url  # the model-training view, not the GenAI one
        names = [j.info.run_name for j in jobs]
        assert shots.on_screen(page, names) == names
        assert shots.load_more(page).count() == 0
        assert page.get_by_text(f"{N_JOBS} matching runs").count() == 1
        assert page.get_by_text("seed 0", exact=True).count() == 0  # the jobs, not their seed runs
        # highest share in the global minimum first, as the view's sort says
        shown = [float(shots.cell(page, j.info.run_id, "metrics.`share_global`").inner_text()) for j in jobs]
        assert shown == sorted(shown, reverse=True) and shown[0] == jobs[0].data.metrics["share_global"]
        top = page.locator('[role="row"][row-id]').first.get_attribute("row-id")
        assert client.get_run(top).data.metrics["share_global"] == shown[0]
        for j in jobs:  # every job shows its model: its version of the dataset's registered model
            shown = shots.cell(page, j.info.run_id, "attributes.`Models`").inner_text().split()
            assert shown[0] == f"gdbasins-smoke-{j.data.tags['gdbasins.dataset']}" and shown[1].startswith("v")
    finally:
        page.screenshot(path=str(folder / "jobs.png"))


def test_a_click_on_the_experiment_shows_its_description_with_the_way_to_the_jobs(ui):
    shots, base, store, page, folder = ui
    exp = store["experiment_id"]
    page.goto(f"{base}/#/experiments/{exp}", wait_until="load")  # what the experiments list links to
    try:
        link = page.locator(f"a[href^='#/experiments/{exp}/runs?workflowType=machine_learning']").first
        link.wait_for(state="attached")
        assert "Jobs, by share in the global minimum" in link.inner_text()
        page.goto(f"{base}/{link.get_attribute('href')}", wait_until="load")
        _, jobs = jobs_of(store)
        page.get_by_text(jobs[0].info.run_name, exact=True).first.wait_for()
        assert page.get_by_text(f"{N_JOBS} matching runs").count() == 1
    finally:
        page.screenshot(path=str(folder / "experiment-click.png"))


def test_compare_shows_the_jobs_loss_curves_side_by_side(ui):
    shots, base, store, page, folder = ui
    _, jobs = jobs_of(store)
    moons = [j.info.run_id for j in jobs if j.data.tags["gdbasins.dataset"] == "moons"]
    assert len(moons) == 6
    try:
        widths = shots.open_compare(page, base, store["experiment_id"], moons)
        assert len(widths) == 6 and min(widths) > 100  # six figures, each loaded
        assert page.get_by_text("No common artifacts").count() == 0
        # the parallel-coordinates plot starts on where the runs ended, not on divergence
        assert re.search(r"Metrics:\s*share_global", page.inner_text("body"))
    finally:
        page.screenshot(path=str(folder / "compare.png"))


def test_each_datasets_registered_model_lists_its_jobs_with_the_best_aliased(ui):
    shots, base, store, page, folder = ui
    client = MlflowClient(store["uri"])
    best = client.get_model_version_by_alias("gdbasins-smoke-moons", "best")
    try:
        page.goto(f"{base}/#/models?workflowType=machine_learning", wait_until="load")
        for dataset in ("xor", "moons", "circles", "spirals", "teacher", "relu"):
            page.get_by_text(f"gdbasins-smoke-{dataset}", exact=True).first.wait_for()
        shots.open_registered_model(page, base, "gdbasins-smoke-moons")
        text = page.inner_text("body")
        assert all(f"Version {v}" in text for v in range(1, 7))
        row = page.get_by_role("row").filter(has=page.get_by_text(f"Version {best.version}", exact=True))
        aliases = [line.replace("\xa0", " ") for line in row.first.inner_text().splitlines()]
        assert "@ best" in aliases  # on the version of the lowest polished loss, and on no other
        versions = page.get_by_role("row").filter(has_text=re.compile(r"Version \d"))
        others = versions.filter(has_not=page.get_by_text(f"Version {best.version}", exact=True))
        assert others.count() == 5 and not any("@\xa0best\n" in t + "\n" for t in others.all_inner_texts())
    finally:
        page.screenshot(path=str(folder / "registered-model.png"))


def test_the_summary_runs_report_opens_in_the_artifact_viewer_with_its_figures(ui, smoke_study):
    shots, base, store, page, folder = ui
    client = MlflowClient(store["uri"])
    [summary] = client.search_runs([store["experiment_id"]], "tags.`gdbasins.kind` = 'summary'")
    figures = (smoke_study / "reports" / "smoke" / "README.md").read_text().count("](figures/")
    try:
        frame = shots.open_report(page, base, store["experiment_id"], summary.info.run_id)
        assert frame.locator("h1").first.inner_text() == "Where does gradient descent end up? Study smoke"
        images = frame.locator("img")
        images.nth(figures - 1).wait_for(state="attached")
        widths = images.evaluate_all("all => all.map(i => i.naturalWidth)")
        assert len(widths) == figures and min(widths) > 100  # every figure found and drawn
        assert frame.get_by_text("What was tested.").count() == 4
    finally:
        page.screenshot(path=str(folder / "report.png"))
