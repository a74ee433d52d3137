"""Which seeds choose and which test, and each variant's best learning rate: rules fixed before
the data, shared by the report (:mod:`gdbasins.report`, :mod:`gdbasins.claims`) and the escape
experiment (:mod:`gdbasins.escape`), which starts where batch GD got stuck at its best rate.

Seeds are split in two halves: the first half of each dataset's seeds (``seed < seeds // 2``)
**selects** each variant's best learning rate, the second half **tests** the claims at it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["VARIANT_ORDER", "CONVERGED_TARGET", "halves", "best_rates"]

VARIANT_ORDER = ["batch", "minibatch", "sgd"]
#: The share of converged runs every variant's best rate should reach (the report says where not).
CONVERGED_TARGET = 0.9


def halves(runs: pd.DataFrame) -> pd.Series:
    """``"select"`` for the first half of each dataset's seeds (``seed < n // 2`` of its n seeds),
    ``"test"`` for the rest. With a single seed there is nothing to split: it does both
    (``"both"``), and the report says so."""
    n = runs.groupby("dataset")["seed"].transform("nunique")
    half = np.where(runs["seed"] < n // 2, "select", "test")
    return pd.Series(np.where(n < 2, "both", half), index=runs.index)


def _median(x) -> float:
    x = pd.Series(x, dtype=float).dropna()
    return float(x.median()) if len(x) else float("nan")


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    order = {v: i for i, v in enumerate(VARIANT_ORDER)}
    key = df["variant"].map(order)
    return df.assign(_k=key).sort_values(["dataset", "_k", "eta"], kind="stable").drop(columns="_k").reset_index(drop=True)


def best_rates(runs: pd.DataFrame) -> pd.DataFrame:
    """Each variant's best learning rate per dataset, chosen on the *selection* half of the seeds
    (:func:`halves`) by a rule fixed before the data: among the rates at which at least
    ``CONVERGED_TARGET`` of the selection runs converged (all rates, if none did), the highest
    share of runs in the global minimum after the budget (converged there: a rate whose runs are
    still travelling, or hovering wider than ``converged_gap``, is not best), ties broken by the
    fewer median epochs to arrival, then the smaller rate. Alongside: the chosen rate's shares on
    the selection seeds, whether it met the convergence target there, and, on all seeds, its
    converged share and its arrival-defined share."""
    runs = runs.reset_index(drop=True)
    half = halves(runs)
    rows = []
    for (dataset, variant), g in runs.groupby(["dataset", "variant"], sort=False):
        sel = g[half[g.index].isin(["select", "both"])]
        cand = []
        for eta, h in sel.groupby("eta"):
            arrived = h[h["converged"].astype(bool) & h["arrived"].astype(bool)]
            t = _median(arrived["epochs_to_arrive"])
            settled = h["converged"].mean() >= CONVERGED_TARGET
            cand.append((not settled, -float((h["outcome"] == "global").mean()), np.inf if np.isnan(t) else t, eta))
        unsettled, share, _, eta = min(cand)
        at = g[g["eta"] == eta]
        conv = at[at["converged"].astype(bool)]
        rows.append({"dataset": dataset, "variant": variant, "eta": eta, "batch_size": int(at["batch_size"].iloc[0]),
                     "selection_seeds": int(sel["seed"].nunique()), "selection_global": -share,
                     "selection_settled": not unsettled, "converged": float(at["converged"].mean()),
                     "arrival_defined": float(conv["arrived"].mean()) if len(conv) else np.nan})
    return _sorted(pd.DataFrame(rows))
