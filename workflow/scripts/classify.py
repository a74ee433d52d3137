"""Snakemake adapter: classify every run of one dataset and tag its MLflow runs."""
import json
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, snakemake.input.src[0].rsplit("/gdbasins/", 1)[0])

from pathlib import Path

from gdbasins import files, plots, tracking
from gdbasins.classify import outcomes_table
from gdbasins.endpoints import Tolerances
from gdbasins.job import load_results

table = outcomes_table(snakemake.input.results, Tolerances(**snakemake.params.tolerances))
files.write_text(snakemake.output.outcomes, table.to_csv(index=False, float_format="%.12g"))
logging.info("L* = %s (%s); outcomes: %s", table["L_star"].iloc[0], table["L_star_source"].iloc[0],
             table["outcome"].value_counts().to_dict())
jobs = [json.load(open(p)) for p in snakemake.input.runs]
for job, results in zip(jobs, snakemake.input.results):
    _, histories, meta, arrays = load_results(results)
    j = meta["job"]
    job["figure"] = str(Path(snakemake.output.curves) / f"{j['variant']}_eta={j['eta']!r}.png")
    plots.loss_curves(histories["loss"], job["figure"], f"{j['dataset']}, {j['variant']}, eta = {j['eta']:g}",
                      arrays["diverged_at"])
stopwatch = tracking.Stopwatch()
with stopwatch:
    tracking.record_outcomes(table, jobs)
logging.info("tagged MLflow runs in %.1f s", stopwatch.seconds)
