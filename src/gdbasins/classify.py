"""Classify every run of a dataset against its reference optimum L*.

L* is the optimum known in advance where there is one (teacher-student with the teacher's
architecture, XOR: 0), otherwise the lowest polished loss of any run of the dataset, over every
variant and learning rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .endpoints import Tolerances, classify
from .job import load_results

__all__ = ["reference_optimum", "outcomes_table", "first_epoch_within", "descent_share"]


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


def first_epoch_within(loss: np.ndarray, target: float) -> np.ndarray:
    """First epoch (row) at which each column of ``loss`` is <= target; -1 if never."""
    with np.errstate(invalid="ignore"):
        hit = loss <= target
    return np.where(hit.any(axis=0), hit.argmax(axis=0), -1)


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


def outcomes_table(result_paths, tol: Tolerances) -> pd.DataFrame:
    """One row per run (seed) of every job in ``result_paths``, all of one dataset: its job, its
    endpoint measurements, L*, the outcome, and when it first came within ``global_gap`` of L*."""
    loaded = [load_results(p) for p in result_paths]
    L_star, source = reference_optimum([e for e, *_ in loaded], [m for _, _, m, _ in loaded])
    frames = []
    for endpoints, histories, meta, _ in loaded:
        job = meta["job"]
        df = endpoints.copy()
        outcome, basin, converged = classify(df, L_star, tol)
        epochs_to = first_epoch_within(histories["loss"], L_star + tol.global_gap)
        final = {k: v[-1] for k, v in histories.items()}
        head = pd.DataFrame({
            "dataset": job["dataset"], "variant": job["variant"], "eta": job["eta"],
            "batch_size": meta["batch_size"], "updates_per_epoch": meta["updates_per_epoch"],
            "epochs": job["epochs"], "seed": df["seed"],
        })
        df = pd.concat([head, df.drop(columns="seed")], axis=1)
        df["outcome"], df["basin"], df["converged"] = outcome, basin, converged
        df["L_star"], df["L_star_source"] = L_star, source
        df["gap"] = df["polished_loss"] - L_star
        df["final_loss"] = final["loss"]
        for k in ("accuracy", "test_loss", "test_accuracy"):
            if k in final:
                df[f"final_{k}"] = final[k]
        df["epochs_to_global"] = np.where(epochs_to >= 0, epochs_to, np.nan)
        df["descent_share"] = descent_share(histories["loss"], epochs_to)
        df["updates_to_global"] = df["epochs_to_global"] * meta["updates_per_epoch"]
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["variant", "eta", "seed"], kind="stable").reset_index(drop=True)
