"""Snakemake adapter: create the MLflow store and experiment once."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from gdbasins import files, tracking

uri, experiment = snakemake.params.uri, snakemake.params.experiment  # uri: the password hidden
stopwatch = tracking.Stopwatch()
try:
    with stopwatch:
        experiment_id = tracking.init_store(tracking.connect_uri(uri), experiment, snakemake.params.artifacts)
except tracking.TrackingStoreError as exc:  # one clear line, not a traceback through MLflow
    logging.error("%s", exc)
    sys.exit(1)
logging.info("tracking store %s, experiment %r (id %s) ready in %.1f s", tracking.redact(uri), experiment,
             experiment_id, stopwatch.seconds)
files.write_record(snakemake.output.store, {"uri": uri, "experiment": experiment, "experiment_id": experiment_id})
