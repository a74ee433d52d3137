"""Snakemake adapter: build the study's report and record it in MLflow."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from pathlib import Path

from gdbasins import files, render, tracking

out_dir = Path(snakemake.output.readme).parent
code = tracking.code_version()
# the inputs' own paths: without a shared file system they are local copies from the storage
datasets = dict(zip(snakemake.params.dataset_names, snakemake.input.datasets, strict=True))
written = render.build(snakemake.input.outcomes, snakemake.input.results, snakemake.input.timings,
                       datasets, snakemake.params.config, out_dir, code_version=code,
                       cost_path=snakemake.input.cost, escape_paths=snakemake.input.escape,
                       minima_paths=snakemake.input.minima, barrier_paths=snakemake.input.barriers)
logging.info("wrote the report to %s", out_dir)
store = files.read_record(snakemake.input.store)
stopwatch = tracking.Stopwatch()
with stopwatch:
    run_id = tracking.log_summary(tracking.connect_uri(store["uri"]), store["experiment_id"], snakemake.params.config["study"], out_dir,
                                  written["claims"], code)
logging.info("summary run %s logged in %.1f s", run_id, stopwatch.seconds)
files.write_record(snakemake.output.summary, {"uri": store["uri"], "run_id": run_id})
