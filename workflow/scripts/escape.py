"""Snakemake adapter: the escape experiment on one dataset (see gdbasins/escape.py)."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from gdbasins import files
from gdbasins.escape import run_escape

table = run_escape(snakemake.input.dataset, snakemake.input.outcomes, snakemake.input.results,
                   snakemake.params.grids, snakemake.params.settings)
logging.info("%d continued runs from %d starts", len(table), table["seed"].nunique())
files.write_table(snakemake.output.escape, table)
