"""A user's own data: a CSV or Parquet file read into a feature matrix and a target vector, with
every check a study needs before any job runs.

:func:`read_table` reads the file (by its suffix: ``.csv``, ``.parquet`` or ``.pq``);
:func:`table_arrays` picks the named feature columns and the target column and refuses what
training would choke on (a missing or non-numeric column, missing or infinite values, too few
rows). Each refusal is a :class:`TableError` whose ``param`` names the generator parameter at fault
(``path``, ``features`` or ``target``), so that the config check can name the config key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["TableError", "SUFFIXES", "read_table", "table_arrays", "check_labels", "file_digest", "MIN_ROWS"]

SUFFIXES = (".csv", ".parquet", ".pq")
MIN_ROWS = 4  # as for the generators' n_samples


class TableError(ValueError):
    """A data file that cannot be a dataset; ``param`` is the generator parameter at fault."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def _where(path) -> str:
    path = Path(path)
    return repr(str(path)) + ("" if path.is_absolute() else f" (in {Path.cwd()})")


def read_table(path):
    """The file at ``path`` as a pandas DataFrame (relative paths: from the working directory)."""
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise TableError("path", f"must name a {', '.join(SUFFIXES)} file. Got {str(path)!r} instead.")
    if not path.is_file():
        raise TableError("path", f"no such file: {_where(path)}.")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # pandas' parsers raise many kinds; all mean the same here
        raise TableError("path", f"cannot be read as a {path.suffix.lower()[1:]} table: {exc}") from None


def _column(frame, name: str, param: str, path) -> np.ndarray:
    """Column ``name`` as float64, refusing a missing, non-numeric or incomplete column."""
    import pandas as pd

    if name not in frame.columns:
        raise TableError(param, f"column {name!r} is not in {str(path)!r}; its columns are "
                                f"{[str(c) for c in frame.columns]}.")
    col = frame[name]
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        text = np.flatnonzero(pd.to_numeric(col, errors="coerce").isna().to_numpy() & col.notna().to_numpy())
        example = f", but holds {col.iloc[text[0]]!r} in data row {text[0] + 1}" if len(text) else ""
        raise TableError(param, f"column {name!r} of {str(path)!r} must be numeric{example} "
                                f"(column type {col.dtype}).")
    values = col.to_numpy(dtype=np.float64)
    missing = ~np.isfinite(values)
    if missing.any():
        rows = np.flatnonzero(missing)
        kind = "missing (NaN)" if np.isnan(values[rows[0]]) else "infinite"
        raise TableError(param, f"column {name!r} of {str(path)!r} has {len(rows)} missing or infinite "
                                f"values; the first, in data row {rows[0] + 1}, is {kind}.")
    return values


def table_arrays(frame, features, target: str, path="the table") -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: the ``features`` columns as an (n_rows, n_features) float64 array and the
    ``target`` column as an (n_rows,) one. Messages number the data rows from 1 (the header not
    counted)."""
    if isinstance(features, str) or not features:
        raise TableError("features", f"must be a non-empty list of column names. Got {features!r} instead.")
    if len(set(features)) != len(features):
        twice = next(f for f in features if features.count(f) > 1)
        raise TableError("features", f"names column {twice!r} twice.")
    if target in features:
        raise TableError("target", f"column {target!r} is also a feature; a target must not be an input.")
    if len(frame) < MIN_ROWS:
        raise TableError("path", f"{str(path)!r} has {len(frame)} rows; a dataset needs at least {MIN_ROWS}.")
    X = np.column_stack([_column(frame, f, "features", path) for f in features])
    return X, _column(frame, target, "target", path)


def check_labels(y: np.ndarray, target: str, path="the table") -> None:
    """Refuse a target that is not 0/1 class labels (what the cross-entropy loss needs)."""
    bad = np.flatnonzero((y != 0) & (y != 1))
    if len(bad):
        values = np.unique(y)
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise TableError("target", f"column {target!r} of {str(path)!r} must hold 0/1 class labels for "
                                   f"the loss 'bce'. Got {y[bad[0]]:g} in data row {bad[0] + 1} (its values: "
                                   f"{shown}); for a real-valued target use the loss 'mse'.")


def file_digest(path) -> str:
    """SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
