"""Snakemake adapter: classify every run of one dataset; draw each job's loss curves."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from pathlib import Path

from gdbasins import files, plots
from gdbasins.classify import outcomes_table
from gdbasins.endpoints import Tolerances
from gdbasins.job import load_results

table = outcomes_table(snakemake.input.results, Tolerances(**snakemake.params.tolerances))
files.write_table(snakemake.output.outcomes, table)
logging.info("L* = %s (%s); outcomes: %s", table["L_star"].iloc[0], table["L_star_source"].iloc[0],
             table["outcome"].value_counts().to_dict())
Path(snakemake.output.curves).mkdir(parents=True, exist_ok=True)
for results in snakemake.input.results:
    _, histories, meta, arrays = load_results(results)
    j = meta["job"]
    plots.loss_curves(histories["loss"], Path(snakemake.output.curves) / f"{j['variant']}_eta={j['eta']!r}.png",
                      f"{j['dataset']}, {j['variant']}, eta = {j['eta']:g}", arrays["diverged_at"])
