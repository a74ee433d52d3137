"""The MLflow UI in a real browser: `mlflow ui` on a finished study's store, opened in headless
Chromium (Debian's package, driven by Playwright), lists every job's run with its learning rate
and, unfolded, its seed runs with their outcomes."""

import json
import sys

import pytest

from helpers import REPO
from services import ensure_debian_packages

pytestmark = pytest.mark.integration

sys.path.insert(0, str(REPO / "workflow" / "scripts"))


def test_runs_table_lists_jobs_with_their_rate_and_seed_runs_with_their_outcome(small_study, tmp_path):
    ensure_debian_packages("chromium", probe="/usr/bin/chromium")
    import mlflow_screenshots as ui

    store = json.loads((small_study / "data" / "small" / "tracking.json").read_text())
    parents, children = ui.study_runs(store["uri"], store["experiment_id"])
    assert len(parents) == 12
    newest = parents[0]
    seeds = sorted((c for c in children if c.data.tags["mlflow.parentRunId"] == newest.info.run_id),
                   key=lambda c: c.info.run_name)
    assert [s.info.run_name for s in seeds] == ["seed 0", "seed 1", "seed 2"]
    shot = tmp_path / "mlflow-experiment.png"
    with open(tmp_path / "ui.log", "w") as log, ui.mlflow_ui(store["uri"], log=log) as base, \
            ui.browser(width=1900, height=1200) as page:
        try:
            ui.open_runs_table(page, base, store["experiment_id"], newest.info.run_name, columns=("eta", "outcome"))
            for p in parents:  # every job, with its learning rate; the seed runs start folded
                assert ui.run_row(page, p.info.run_name).count() == 1, p.info.run_name
                assert ui.cell(page, p.info.run_id, "params.`eta`").inner_text() == p.data.params["eta"]
            assert page.get_by_text("seed 0", exact=True).count() == 0
            ui.expand(page, newest.info.run_name, "seed 0")
            for s in seeds:
                assert ui.run_row(page, s.info.run_name).count() == 1
                assert ui.cell(page, s.info.run_id, "tags.`outcome`").inner_text() == s.data.tags["outcome"]
        finally:
            page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
