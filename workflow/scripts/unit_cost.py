"""Snakemake adapter: seconds per update of one network under each variant, on every dataset."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from gdbasins import files
from gdbasins.cost import unit_cost_table

paths = dict(zip(snakemake.params.dataset_names, snakemake.input.datasets, strict=True))
table = unit_cost_table(paths, snakemake.params.spec)
logging.info("seconds per update of one network:\n%s", table.to_string(index=False))
files.write_table(snakemake.output.cost, table, float_format="%.6g")
