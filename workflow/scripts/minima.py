"""Snakemake adapter: distinct minima up to symmetry and barriers on one dataset (gdbasins/minima.py)."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from gdbasins import files
from gdbasins.endpoints import Tolerances
from gdbasins.minima import run_minima

found, bars = run_minima(snakemake.input.dataset, snakemake.input.outcomes, snakemake.input.results,
                         snakemake.params.settings, Tolerances(**snakemake.params.tolerances))
logging.info("%d distinct minima, %d barriers", len(found), len(bars))
files.write_table(snakemake.output.minima, found)
files.write_table(snakemake.output.barriers, bars)
