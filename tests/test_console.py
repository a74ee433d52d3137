"""What the console says at the start and the end of a run, and the links it gives: the study's
estimated time from its config, where the report is, and the UI command and address."""

import json
import urllib.parse

import yaml

from gdbasins import browse, cost, files
from gdbasins.config import resolve, validate
from helpers import REPO, SMOKE


def resolved(path=SMOKE, **changes):
    config = validate(yaml.safe_load(path.read_text()))
    config.update(changes)
    return resolve(config)


def test_the_estimate_grows_with_the_work_and_shrinks_with_the_cores():
    smoke = cost.study_seconds(resolved(), 2)
    assert smoke["jobs"] == 36 + 5 * 6 + 3 and smoke["runs"] == 36 * 4
    more_seeds = cost.study_seconds(resolved(seeds=40), 2)
    more_epochs = cost.study_seconds(resolved(epochs=300), 2)
    assert more_seeds["cpu"]["train"] > smoke["cpu"]["train"]
    assert more_seeds["cpu"]["track"] > smoke["cpu"]["track"]
    assert more_epochs["cpu"]["train"] > smoke["cpu"]["train"]
    one, eight = (cost.study_seconds(resolved(), cores)["wall"] for cores in (1, 8))
    assert one > smoke["wall"] > eight
    default = cost.study_seconds(resolved(REPO / "config" / "config.yaml"), 2)
    # the committed default study's training jobs used 3,419 CPU-seconds (its benchmark files)
    assert 0.7 < default["cpu"]["train"] / 3419 < 1.3
    line = cost.estimate_line(resolved(), 2, "smoke")
    assert line.startswith("gdbasins: study 'smoke': 36 training jobs, 144 seed runs, 69 jobs in all; "
                           "from nothing about")
    assert " on 2 cores (" in line and " of CPU; measured on an idle 2-core machine" in line
    cluster = cost.estimate_line(resolved(), None, "smoke")  # a cluster executor's run: no --cores
    assert " core" not in cluster.split("in all;")[1] and cluster.endswith("a busy one is slower)")


def test_the_last_line_names_what_exists(tmp_path):
    report, record = tmp_path / "README.md", tmp_path / "tracking.json"
    assert browse.done_line(report, record) is None
    files.write_record(record, {"uri": "sqlite:////w/mlflow.db", "experiment_id": "7"})
    line = browse.done_line(report, record)
    assert "report" not in line
    assert ("`MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:////w/mlflow.db "
            "--host 127.0.0.1 --port 5000 --workers 1`") in line
    report.write_text("# r\n")
    line = browse.done_line(report, record)
    assert line.startswith(f"gdbasins: done; the report is {report}")
    url = line.rsplit(" ", 1)[1]
    parts = urllib.parse.urlsplit(url)
    assert parts.netloc == "127.0.0.1:5000" and parts.fragment.startswith("/experiments/7/runs?")
    query = urllib.parse.parse_qs(parts.fragment.split("?", 1)[1])
    assert query == {"workflowType": ["machine_learning"], "viewStateShareKey": ["gdbasins-jobs"]}
    files.write_record(record, {"uri": "http://tracking:5000/", "experiment_id": "7"})
    assert browse.done_line(report, record).endswith(
        "the runs are at http://tracking:5000/#/experiments/7/runs?workflowType=machine_learning"
        "&viewStateShareKey=gdbasins-jobs")


def test_saved_views_are_the_uis_envelopes_of_the_jobs_filter():
    tags = browse.saved_views(1_700_000_000_000)
    assert sorted(tags) == sorted(browse.VIEW_TAG + v for v in browse.VIEWS)
    for key, value in tags.items():
        envelope = json.loads(value)
        assert set(envelope) == {"name", "createdAt", "updatedAt", "state"}
        state = json.loads(envelope["state"])
        assert state["searchFilter"] == "tags.`gdbasins.kind` = 'job'"
        group = browse.VIEWS[key[len(browse.VIEW_TAG):]][1]
        assert (state["groupBy"] or {}).get("groupByKeys", [{}])[0].get("groupByData") == group
