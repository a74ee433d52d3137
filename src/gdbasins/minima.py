"""Distinct minima up to symmetry and the barriers between them, for one dataset, from the
pipeline's files (the geometry is :mod:`gdbasins.symmetry`).

Every run's polished endpoint (diverged runs aside) is grouped into distinct minima: the same
minimum when the parameters agree up to the network's symmetries (permuted hidden units, sign
flips of odd units, rescaled ReLU units feeding a trained layer) and the losses agree. A minimum is
*global* when its loss is within ``global_gap`` of L*. From the non-global minima found most often,
the barrier to the nearest global endpoint is measured on the straight path and on an optimised
low-loss path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import files
from .endpoints import Tolerances
from .selection import VARIANT_ORDER
from .symmetry import barriers, distinct_minima

__all__ = ["run_minima", "MINIMA_COLUMNS", "BARRIER_COLUMNS"]

MINIMA_COLUMNS = ["dataset", "minimum", "loss", "gap", "gap_to_L_star", "global", "count", *VARIANT_ORDER, "basins"]
BARRIER_COLUMNS = ["dataset", "minimum", "loss", "global_loss", "count", "distance", "straight_barrier",
                   "path_barrier"]


def run_minima(dataset_path, outcomes_path, result_paths, settings: dict, tol: Tolerances):
    """``(minima, barriers)`` tables of one dataset. ``settings``: ``barriers`` (how many of the
    most often found non-global minima get a barrier) and ``path_steps``."""
    from .datasets import Dataset
    from .job import load_results, network_for

    outcomes = files.read_table(outcomes_path)
    L_star = float(outcomes["L_star"].iloc[0])
    basin = outcomes.set_index(["variant", "eta", "seed"])["basin"]
    thetas, losses, variants, basins = [], [], [], []
    net = None
    for path in sorted(map(str, result_paths)):
        endpoints, _, meta, arrays = load_results(path)
        job = meta["job"]
        if net is None:
            ds = Dataset(dataset_path)
            net = network_for(ds, job["network"])
        ok = ~endpoints["diverged"].to_numpy(bool) & np.isfinite(endpoints["polished_loss"].to_numpy())
        thetas.append(arrays["polished"][ok])
        losses.append(endpoints["polished_loss"].to_numpy()[ok])
        variants += [job["variant"]] * int(ok.sum())
        eta = outcomes.loc[np.isclose(outcomes["eta"], job["eta"]) & (outcomes["variant"] == job["variant"]), "eta"]
        basins += [basin.get((job["variant"], eta.iloc[0], int(s)), "?") for s in endpoints["seed"][ok]]
    name = outcomes["dataset"].iloc[0]
    if net is None or not sum(len(t) for t in thetas):
        return pd.DataFrame(columns=MINIMA_COLUMNS), pd.DataFrame(columns=BARRIER_COLUMNS)
    thetas, losses = np.concatenate(thetas), np.concatenate(losses)
    variants, basins = np.asarray(variants), np.asarray(basins)
    labels, table = distinct_minima(net, thetas, losses, loss_tol=tol.escape)
    lowest = float(table["loss"].min())
    rows = []
    for m in table.itertuples():
        mine = labels == m.minimum
        row = {"dataset": name, "minimum": int(m.minimum), "loss": float(m.loss), "gap": float(m.loss) - lowest,
               "gap_to_L_star": float(m.loss) - L_star, "global": bool(m.loss - L_star <= tol.global_gap),
               "count": int(m.count)}
        row.update({v: int((variants[mine] == v).sum()) for v in VARIANT_ORDER})
        kinds = pd.Series(basins[mine]).value_counts().sort_index()
        row["basins"] = ", ".join(f"{k} {c}" for k, c in kinds.items())
        rows.append(row)
    found = pd.DataFrame(rows, columns=MINIMA_COLUMNS)
    glob = found.loc[found["global"], "minimum"].to_numpy()
    others = found[~found["global"]].sort_values(["count", "loss"], ascending=[False, True], kind="stable")
    chosen = others["minimum"].head(int(settings["barriers"])).to_numpy()
    if not len(glob) or not len(chosen):
        return found, pd.DataFrame(columns=BARRIER_COLUMNS)
    keep = np.where(np.isin(labels, glob) | np.isin(labels, chosen), labels, -1)
    ds = Dataset(dataset_path)
    bars = barriers(net, ds.X_train, ds.y_train, thetas, losses, keep, glob, steps=int(settings["path_steps"]))
    bars.insert(0, "dataset", name)
    bars["count"] = bars["minimum"].map(found.set_index("minimum")["count"])
    return found, bars[BARRIER_COLUMNS]
