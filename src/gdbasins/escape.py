"""The escape experiment: does SGD's noise get a run out of the minimum batch GD is stuck in?

Instead of inferring escapes from where runs end, start from where batch GD got stuck and watch.
The starting points are batch GD's non-global endpoints at its best learning rate (the report's
rule, :func:`gdbasins.selection.best_rates`, on the selection seeds): polished points labelled
``local`` (strict or certified non-smooth minima), ``flat`` or ``plateau``. Each is continued for
a stated budget under every variant at every rate of its grid, batch GD included as the control
(paired: the same starts under every variant). A continued run **escaped** when its polished
endpoint is lower than its start by more than ``tolerances.escape``; it **reached the global
minimum** when its polished loss is within ``global_gap`` of L*. Both are decided in the report
from the raw numbers this module writes, so a changed tolerance reruns no training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import files
from .endpoints import MINIMA, polish
from .network import Network
from .train import batch_size_for, train

__all__ = ["START_BASINS", "starts", "continue_runs"]

#: The basins a continuation starts from: batch GD's stuck endpoints that are minima or plateaus.
START_BASINS = (*MINIMA, "plateau")

#: Salt of the shuffles of continued runs, mixed with the dataset's: other orders than training's.
CONTINUE_SALT = 0x65736370


def starts(outcomes: pd.DataFrame, best_eta: float, limit: int) -> pd.DataFrame:
    """The rows of ``outcomes`` (one dataset's run table) that a continuation starts from: batch
    runs at ``best_eta`` whose polished basin is in :data:`START_BASINS`, the first ``limit`` by
    seed."""
    rows = outcomes[(outcomes["variant"] == "batch") & np.isclose(outcomes["eta"], best_eta)
                    & outcomes["basin"].isin(START_BASINS)]
    return rows.sort_values("seed").head(limit)


def continue_runs(net: Network, X, y, theta: np.ndarray, seeds, grids: dict, *, epochs: int, minibatch_size: int,
                  salt: int = 0, maxiter: int = 2000) -> pd.DataFrame:
    """Continue every start (rows of ``theta``, one per entry of ``seeds``) under each variant at
    each rate of ``grids`` (variant -> rates) for ``epochs`` epochs, and polish where each ends.

    Returns one row per (start, variant, eta): ``seed``, ``variant``, ``eta``, ``batch_size``,
    ``diverged``, ``final_loss`` (raw, after the budget) and ``polished_loss``, ``distance``
    (how far the polished endpoint moved from the start)."""
    X = net._check_X(X)
    y = net._check_y(y, X)
    seeds = [int(s) for s in seeds]
    frames = []
    for variant in sorted(grids):
        b = batch_size_for(variant, X.shape[0], minibatch_size)
        for eta in sorted(grids[variant]):
            res = train(net, X, y, seeds=seeds, eta=float(eta), batch_size=b, epochs=epochs, theta0=theta,
                        salt=salt ^ CONTINUE_SALT)
            ok = ~res.diverged
            polished = np.full(len(seeds), np.nan)
            moved = np.full(len(seeds), np.nan)
            if ok.any():
                p, loss, _, _ = polish(net, res.theta[ok], X, y, maxiter=maxiter)
                polished[ok] = loss
                moved[ok] = np.linalg.norm(p - theta[ok], axis=1)
            frames.append(pd.DataFrame({
                "seed": seeds, "variant": variant, "eta": float(eta), "batch_size": b, "diverged": res.diverged,
                "final_loss": np.where(res.diverged, np.nan, res.history["loss"][-1]),
                "polished_loss": polished, "distance": moved,
            }))
    return pd.concat(frames, ignore_index=True)


COLUMNS = ["dataset", "seed", "start_basin", "start_loss", "start_eta", "variant", "eta", "batch_size", "epochs", "diverged",
           "final_loss", "polished_loss", "distance"]


def run_escape(dataset_path, outcomes_path, result_paths, grids: dict, settings: dict) -> pd.DataFrame:
    """The escape experiment on one dataset, from its files: ``outcomes_path`` (the classify
    rule's run table), the batch jobs' ``result_paths`` (for the polished endpoints) and the
    dataset. ``grids``: variant -> rates; ``settings``: ``epochs``, ``starts``, ``minibatch_size``.
    Returns :func:`continue_runs`' rows with the start's basin, polished loss and rate (no rows
    when batch GD was never stuck)."""
    from .datasets import Dataset
    from .job import dataset_salt, load_results, network_for
    from .selection import best_rates

    outcomes = files.read_table(outcomes_path)
    best = best_rates(outcomes)
    batch = best[best["variant"] == "batch"]
    if batch.empty:
        return pd.DataFrame(columns=COLUMNS)
    eta = float(batch["eta"].iloc[0])
    chosen = starts(outcomes, eta, int(settings["starts"]))
    if chosen.empty:
        return pd.DataFrame(columns=COLUMNS)
    for path in result_paths:
        _, _, meta, arrays = load_results(path)
        if meta["job"]["variant"] == "batch" and np.isclose(meta["job"]["eta"], eta):
            break
    else:
        raise ValueError(f"No batch result file at eta = {eta!r} among {list(map(str, result_paths))}.")
    ds = Dataset(dataset_path)
    net = network_for(ds, meta["job"]["network"])
    row = {int(s): i for i, s in enumerate(arrays["seeds"])}
    theta = arrays["polished"][[row[int(s)] for s in chosen["seed"]]]
    table = continue_runs(net, ds.X_train, ds.y_train, theta, chosen["seed"], grids, epochs=int(settings["epochs"]),
                          minibatch_size=int(settings["minibatch_size"]), salt=dataset_salt(ds.name))
    info = chosen.set_index("seed")
    table.insert(1, "start_basin", info.loc[table["seed"], "basin"].to_numpy())
    table.insert(2, "start_loss", info.loc[table["seed"], "polished_loss"].to_numpy())
    table.insert(3, "start_eta", eta)
    table.insert(7, "epochs", int(settings["epochs"]))
    table.insert(0, "dataset", ds.name)
    return table[COLUMNS]
