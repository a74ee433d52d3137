"""Snakemake adapter: generate one dataset file."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
sys.path.insert(0, os.path.join(snakemake.scriptdir, "..", "..", "src"))  # this checkout's package

from gdbasins import datasets

spec = snakemake.params.spec
digest = datasets.write(snakemake.output.dataset, snakemake.wildcards.dataset, spec["generator"],
                        spec["params"], spec["seed"])
logging.info("wrote %s (sha256 %s)", snakemake.output.dataset, digest)
