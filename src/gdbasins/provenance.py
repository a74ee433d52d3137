"""What a study ran with, for its report to record: the config and the versions of this package,
Python and the libraries the results depend on."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from . import __version__

__all__ = ["DEPENDENCIES", "versions", "provenance"]

DEPENDENCIES = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "mlflow", "snakemake")


def versions() -> dict[str, str]:
    """``{"python": ..., "gdbasins": ..., "numpy": ..., ...}``; ``"not installed"`` for a missing one."""
    out = {"python": platform.python_version(), "gdbasins": __version__}
    for name in DEPENDENCIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(config: dict) -> dict:
    """``{"config": config, "versions": versions()}``: what a report records about its run."""
    return {"config": config, "versions": versions()}
