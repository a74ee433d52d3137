"""Argument checks for the library's entry points.

Each raises ``ValueError`` naming the argument, what was expected and what was got, in the form
"The 'eta' parameter must be > 0. Got -1 instead."
"""

from __future__ import annotations

import numbers

import numpy as np


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"The {name!r} parameter must be a positive integer. Got {value!r} instead.")
    return int(value)


def check_nonnegative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"The {name!r} parameter must be an integer >= 0. Got {value!r} instead.")
    return int(value)


def check_positive(name: str, value) -> np.ndarray:
    """A positive finite number or array of them, returned as a float array."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"The {name!r} parameter must be a number > 0. Got {value!r} instead.") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"The {name!r} parameter must be > 0. Got {value!r} instead.")
    return arr


def check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"The {name!r} parameter must contain only finite numbers. Got {bad} NaN or infinite value(s)."
        )
