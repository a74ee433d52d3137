"""Classify every run of a dataset against its reference optimum L*, and time its arrival.

L* is the optimum known in advance where there is one (teacher-student with the teacher's
architecture, XOR: 0), otherwise the lowest polished loss of any run of the dataset, over every
variant and learning rate.

**Arrival** (``shared/DESIGN.md``): a run has arrived at the first epoch after which its full-data
training loss stays within ``Tolerances.arrival_band`` of its *final level*, the median loss of the
last ``LEVEL_WINDOW`` share of its epochs. Gradient descent at a constant rate never settles
exactly (SGD hovers), so a band around where the run ends, not a gap to L*, is what it can reach.
A run whose last epochs still leave the band (or that diverged) never arrived. Speeds are epochs
and updates to arrival; the speed to the global minimum is the arrival time of the runs that
ended there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .endpoints import Tolerances, classify
from .job import load_results

__all__ = ["reference_optimum", "outcomes_table", "final_level", "arrival_epoch", "descent_share", "LEVEL_WINDOW"]

#: Share of a run's last epochs whose median loss is its final level.
LEVEL_WINDOW = 0.05


def reference_optimum(tables: list[pd.DataFrame], metas: list[dict]) -> tuple[float, str]:
    """``(L*, source)`` where source is ``known`` or ``best polished loss``."""
    known = {m["known_optimum"] for m in metas}
    if len(known) == 1 and None not in known:
        return float(known.pop()), "known"
    losses = pd.concat([t["polished_loss"] for t in tables])
    losses = losses[np.isfinite(losses)]
    if losses.empty:
        return float("nan"), "none: every run diverged"
    return float(losses.min()), "best polished loss"


def final_level(loss: np.ndarray) -> np.ndarray:
    """Per column of ``loss`` (epochs + 1, runs): the median of its last ``LEVEL_WINDOW`` share of
    rows (at least one row); NaN for a run with a non-finite loss there (diverged)."""
    window = max(1, int(np.ceil(LEVEL_WINDOW * loss.shape[0])))
    tail = loss[-window:]
    level = np.median(tail, axis=0)
    return np.where(np.isfinite(tail).all(axis=0), level, np.nan)


def arrival_epoch(loss: np.ndarray, band: float) -> np.ndarray:
    """First epoch (row) after which each column of ``loss`` stays within ``band`` of its
    :func:`final_level`; -1 if its last epoch is still outside the band or the run diverged."""
    level = final_level(loss)
    with np.errstate(invalid="ignore"):
        outside = ~(np.abs(loss - level) <= band)  # a NaN loss is outside
    rows = loss.shape[0]
    last_outside = rows - 1 - np.argmax(outside[::-1], axis=0)
    arrival = np.where(outside.any(axis=0), last_outside + 1, 0)
    return np.where((arrival >= rows) | ~np.isfinite(level), -1, arrival)


def descent_share(loss: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per column of ``loss`` (epochs + 1, runs): the share of epochs in which the full-data loss
    went down, up to epoch ``stop`` (the end where ``stop`` < 0): how directly a run travelled."""
    E = loss.shape[0] - 1
    out = np.full(loss.shape[1], np.nan)
    with np.errstate(invalid="ignore"):
        down = np.diff(loss, axis=0) < 0
    for r in range(loss.shape[1]):
        end = E if stop[r] < 0 else stop[r]
        finite = np.isfinite(loss[: end + 1, r]).all()
        if end > 0 and finite:
            out[r] = down[:end, r].mean()
    return out


def certificate(table, basin, tol: Tolerances) -> np.ndarray:
    """How each local or flat minimum was certified: ``hessian`` (stationary, every eigenvalue
    above ``eig``: a strict minimum), ``perturbation`` (the perturbation test found no lower loss:
    a flat minimum, or a non-smooth one at a kink), ``""`` for every other label."""
    basin = np.asarray(basin)
    tested = np.isfinite(np.asarray(table["certify_loss"], dtype=float)) if "certify_loss" in table else False
    with np.errstate(invalid="ignore"):
        strict = (np.asarray(table["grad_norm"], dtype=float) <= tol.grad) & (
            np.asarray(table["eig_min"], dtype=float) > tol.eig)
    return np.select([(basin == "local") & strict, np.isin(basin, ["local", "flat"]) & tested],
                     ["hessian", "perturbation"], default="")


def outcomes_table(result_paths, tol: Tolerances) -> pd.DataFrame:
    """One row per run (seed) of every job in ``result_paths``, all of one dataset: its job, its
    endpoint measurements, L*, the outcome, when it arrived (epochs and updates, NaN if it never
    did) and how directly it travelled until then."""
    loaded = [load_results(p) for p in result_paths]
    L_star, source = reference_optimum([e for e, *_ in loaded], [m for _, _, m, _ in loaded])
    frames = []
    for endpoints, histories, meta, _ in loaded:
        job = meta["job"]
        df = endpoints.copy()
        outcome, basin, converged = classify(df, L_star, tol)
        arrived = arrival_epoch(histories["loss"], tol.arrival_band)
        final = {k: v[-1] for k, v in histories.items()}
        head = pd.DataFrame({
            "dataset": job["dataset"], "variant": job["variant"], "eta": job["eta"],
            "batch_size": meta["batch_size"], "updates_per_epoch": meta["updates_per_epoch"],
            "epochs": job["epochs"], "seed": df["seed"],
        })
        df = pd.concat([head, df.drop(columns="seed")], axis=1)
        df["outcome"], df["basin"], df["converged"] = outcome, basin, converged
        df["certificate"] = certificate(df, basin, tol)
        df["L_star"], df["L_star_source"] = L_star, source
        df["gap"] = df["polished_loss"] - L_star
        df["final_loss"] = final["loss"]
        df["final_level"] = final_level(histories["loss"])
        for k in ("accuracy", "test_loss", "test_accuracy"):
            if k in final:
                df[f"final_{k}"] = final[k]
        df["arrived"] = arrived >= 0
        df["epochs_to_arrive"] = np.where(arrived >= 0, arrived, np.nan)
        df["updates_to_arrive"] = df["epochs_to_arrive"] * meta["updates_per_epoch"]
        df["descent_share"] = descent_share(histories["loss"], arrived)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["variant", "eta", "seed"], kind="stable").reset_index(drop=True)
