"""Snakemake adapter: mirror every job of one classified dataset into MLflow."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from pathlib import Path

import numpy as np

from gdbasins import files, tracking
from gdbasins.job import load_results

store = files.read_record(snakemake.input.store)
outcomes = files.read_table(snakemake.input.outcomes)
code = tracking.code_version()
uri = tracking.connect_uri(store["uri"])
stopwatch = tracking.Stopwatch()
records = {}
for results in snakemake.input.results:
    job = load_results(results)[2]["job"]
    rows = outcomes[(outcomes["variant"] == job["variant"]) & np.isclose(outcomes["eta"], job["eta"], rtol=1e-9, atol=0)]
    figure = Path(snakemake.input.curves) / f"{job['variant']}_eta={job['eta']!r}.png"
    params = dict({k: v for k, v in job.items() if k != "key"}, tolerances=snakemake.params.tolerances)
    with stopwatch:
        ids = tracking.log_job(uri, store["experiment_id"], job["key"], params, results,
                               snakemake.input.dataset, outcomes=rows, figure=figure, code=code)
    records[job["key"]] = dict(ids, variant=job["variant"], eta=job["eta"])
    logging.info("%s: logged %d runs", job["key"], 1 + len(ids["children"]))
logging.info("logged %d jobs to MLflow in %.1f s", len(records), stopwatch.seconds)
files.write_record(snakemake.output.runs, {"uri": store["uri"], "jobs": records})
