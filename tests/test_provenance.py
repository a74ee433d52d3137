"""What a report records about the run that made it."""

import mlflow
import numpy
import pandas
import sklearn
import snakemake

from gdbasins import __version__
from gdbasins.provenance import provenance


def test_provenance_holds_the_config_and_the_versions_it_ran_with():
    record = provenance({"study": "x", "seeds": 3})
    assert record["config"] == {"study": "x", "seeds": 3}
    v = record["versions"]
    assert v["gdbasins"] == __version__
    assert v["numpy"] == numpy.__version__ and v["scikit-learn"] == sklearn.__version__
    assert v["pandas"] == pandas.__version__ and v["mlflow"] == mlflow.__version__
    assert v["snakemake"] == snakemake.__version__ and v["python"].count(".") == 2
