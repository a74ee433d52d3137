"""Snakemake adapter: train one (dataset, variant, learning rate) job; record it in MLflow if it fails."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from gdbasins import files, tracking
from gdbasins.job import run_job

job = snakemake.params.job
out = snakemake.output
store = files.read_record(snakemake.input.store)
params = {k: v for k, v in job.items() if k != "key"}
try:
    timing = run_job(snakemake.input.dataset, job, out.results)
except Exception as exc:
    # The job fails with the error in its log, and its MLflow run is FAILED (not missing).
    logging.exception("job %s failed: %s: %s", job["key"], type(exc).__name__, exc)
    try:
        tracking.record_failure(tracking.connect_uri(store["uri"]), store["experiment_id"], job["key"], params, f"{type(exc).__name__}: {exc}")
    except Exception:
        logging.exception("could not record the failure in the tracking store %s", store["uri"])
    sys.exit(1)
files.write_record(out.timing, timing)
