"""The study's tables, computed with pandas from the per-run outcome tables
(``classify.outcomes_table``); the verdicts on the claims are in :mod:`gdbasins.claims`. No I/O,
no plotting: :mod:`gdbasins.render` writes what this module computes.

Two readings of where a run is (``shared/DESIGN.md``):

* where it **ended**: its polished basin (column ``basin``), whether or not it had arrived;
* where it **is after the budget**: its ``outcome``, the basin only for runs that had converged
  to it (``unconverged`` for runs still travelling).

Seeds are split in two halves by a rule fixed before the data: the first half of the seeds
(``seed < seeds // 2``) **selects** each variant's best learning rate, the second half **tests**
the claims at those rates, so no comparison at best rates is tested on the seeds that chose them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .endpoints import MINIMA, OUTCOMES, Tolerances, classify
from .selection import CONVERGED_TARGET, VARIANT_ORDER, _median, _sorted, best_rates, halves
from .stats import mcnemar, paired_difference, wilson

__all__ = ["wilson", "mcnemar", "halves", "outcome_table", "best_rates", "paired_table", "tolerance_table",
           "minima_levels", "seconds_to_arrive", "escape_table", "spurious_table", "VARIANT_ORDER", "STUCK", "MINIMA",
           "CONVERGED_TARGET"]

#: Where a run is stuck: a point that is not the global minimum and that the polisher (with the
#: perturbation test) could name: a local minimum (strict, non-smooth or flat), a plateau, a saddle.
STUCK = (*MINIMA, "plateau", "saddle")


def seconds_to_arrive(runs: pd.DataFrame, cost: pd.DataFrame | None) -> pd.Series:
    """Updates to arrival times the measured seconds per update of one network of the run's
    dataset and variant (``cost``: ``cost.unit_cost_table``); NaN where either is missing."""
    if cost is None or cost.empty:
        return pd.Series(np.nan, index=runs.index)
    spu = cost.set_index(["dataset", "variant"])["seconds_per_update"]
    keys = pd.MultiIndex.from_frame(runs[["dataset", "variant"]])
    return runs["updates_to_arrive"] * spu.reindex(keys).to_numpy()


def outcome_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x variant x learning rate: seeds; where runs are after the budget (outcome
    shares, ``global`` with its Wilson interval); where they ended (``ended_global``, the share
    whose polished basin is global, and ``ended_stuck``); the converged share and, among converged
    runs, the share whose arrival is defined; median epochs and updates to arrival (converged runs)
    and to the global minimum (runs that arrived in it); sharpness; held-out accuracy; and batch GD's check of the 2/eta bound."""
    rows = []
    for (dataset, variant, eta), g in runs.groupby(["dataset", "variant", "eta"], sort=False):
        n = len(g)
        k = int((g["outcome"] == "global").sum())
        lo, hi = wilson(k, n)
        conv = g[g["converged"].astype(bool)]
        timed = conv[conv["arrived"].astype(bool)]
        at_global = timed[timed["outcome"] == "global"]
        row = {"dataset": dataset, "variant": variant, "eta": eta, "batch_size": int(g["batch_size"].iloc[0]),
               "epochs": int(g["epochs"].iloc[0]) if "epochs" in g else np.nan,
               "seeds": n, "global": k / n, "global_lo": lo, "global_hi": hi}
        row.update({o: float((g["outcome"] == o).mean()) for o in OUTCOMES if o != "global"})
        row.update({
            "ended_global": float((g["basin"] == "global").mean()),
            "ended_stuck": float(g["basin"].isin(STUCK).mean()),
            "converged": float(g["converged"].mean()),
            "arrival_defined": len(timed) / len(conv) if len(conv) else float("nan"),
            "median_final_loss": _median(g["raw_loss"]),
            "median_polished_loss": _median(g["polished_loss"]),
            "median_epochs_to_arrive": _median(timed["epochs_to_arrive"]),
            "median_updates_to_arrive": _median(timed["updates_to_arrive"]),
            "median_epochs_to_global": _median(at_global["epochs_to_arrive"]),
            "median_descent_share": _median(g["descent_share"]),
            "median_sharpness": _median(g["eig_max"]),
            "above_2_over_eta": int((conv["eig_max"] > 2 / eta).sum()),
            "median_test_accuracy": _median(g["final_test_accuracy"]) if "final_test_accuracy" in g else float("nan"),
        })
        rows.append(row)
    return _sorted(pd.DataFrame(rows))


def _cell(runs, dataset, variant, eta, seeds=None) -> pd.DataFrame:
    g = runs[(runs["dataset"] == dataset) & (runs["variant"] == variant) & (runs["eta"] == eta)].set_index("seed")
    return g if seeds is None else g.loc[g.index.intersection(seeds)]


def matched_rate(eta_a: float, bs_a: int, rates_b, bs_b: int):
    """The rate of ``rates_b`` (at batch size ``bs_b``) whose noise scale eta / batch size is
    closest to ``eta_a / bs_a``, if within a factor of 2; else None."""
    if not len(rates_b):
        return None
    dist = [abs(np.log2((e / bs_b) / (eta_a / bs_a))) for e in rates_b]
    i = int(np.argmin(dist))
    return float(rates_b[i]) if dist[i] <= 1 else None


def paired_table(runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Every two variants on the same seeds, on ending in the global minimum (polished basin)
    and on being in it after the budget: at each learning rate both trained and at matched noise
    scale (eta / batch size within a factor of 2), on all seeds; at each variant's best rate, on
    the test seeds only. Each row: the two shares, their paired difference (a - b) with
    Newcombe's 95% interval, the discordant counts and McNemar's exact p."""
    best_eta = best.set_index(["dataset", "variant"])["eta"]
    runs = runs.reset_index(drop=True)
    rows = []
    for dataset, d in runs.groupby("dataset", sort=False):
        test = d.loc[halves(d).isin(["test", "both"]), "seed"].unique()
        variants = [v for v in VARIANT_ORDER if v in set(d["variant"])]
        bs = d.groupby("variant")["batch_size"].first()
        for a, b in itertools.combinations(variants, 2):
            ra, rb = sorted(d.loc[d["variant"] == a, "eta"].unique()), sorted(d.loc[d["variant"] == b, "eta"].unique())
            pairs = [("same rate", e, e, None) for e in sorted(set(ra) & set(rb))]
            pairs += [("matched noise scale", e, m, None) for e in ra
                      if (m := matched_rate(e, bs[a], rb, bs[b])) is not None]
            pairs.append(("best rate of each (test seeds)", best_eta[(dataset, a)], best_eta[(dataset, b)], test))
            for comparison, ea, eb, seeds in pairs:
                ca, cb = _cell(runs, dataset, a, ea, seeds), _cell(runs, dataset, b, eb, seeds)
                common = ca.index.intersection(cb.index)
                ended = paired_difference(ca.loc[common, "basin"] == "global", cb.loc[common, "basin"] == "global")
                after = paired_difference(ca.loc[common, "outcome"] == "global", cb.loc[common, "outcome"] == "global")
                rows.append({"dataset": dataset, "comparison": comparison, "variant_a": a, "eta_a": ea,
                             "variant_b": b, "eta_b": eb, "seeds": len(common),
                             "ended_global_a": ended["share_a"], "ended_global_b": ended["share_b"],
                             "diff": ended["diff"], "diff_lo": ended["lo"], "diff_hi": ended["hi"],
                             "a_only": ended["a_only"], "b_only": ended["b_only"], "p_value": ended["p"],
                             "global_after_budget_a": after["share_a"], "global_after_budget_b": after["share_b"],
                             "p_value_after_budget": after["p"]})
    return pd.DataFrame(rows)


def reclassify(runs: pd.DataFrame, tol: Tolerances, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """``(outcome, basin)`` of ``runs`` with the global tolerance set to ``gap``."""
    t = Tolerances(**{**tol.__dict__, "global_gap": gap})
    outcome, basin, _ = classify(runs, runs["L_star"].to_numpy(), t)
    return outcome, basin


def tolerance_table(runs: pd.DataFrame, tol: Tolerances, gaps) -> pd.DataFrame:
    """Share of runs ending in the global minimum (polished basin) per dataset x variant x rate
    at each gap above L*."""
    out = runs[["dataset", "variant", "eta"]].copy()
    cols = []
    for gap in gaps:
        col = f"global_at_{gap:g}"
        out[col] = reclassify(runs, tol, gap)[1] == "global"
        cols.append(col)
    return _sorted(out.groupby(["dataset", "variant", "eta"], sort=False)[cols].mean().reset_index())


def minima_levels(runs: pd.DataFrame, resolution: float = 1e-4) -> pd.DataFrame:
    """Distinct polished loss levels per dataset (runs whose polished losses differ by less than
    ``resolution`` share a level), with how many runs of each variant ended there."""
    rows = []
    for dataset, g in runs.groupby("dataset", sort=True):
        g = g[np.isfinite(g["polished_loss"])].sort_values("polished_loss", kind="stable")
        if g.empty:
            continue
        level = np.concatenate([[0], np.cumsum(np.diff(g["polished_loss"].to_numpy()) > resolution)])
        g = g.assign(level=level)
        for lvl, h in g.groupby("level"):
            row = {"dataset": dataset, "level": int(lvl), "polished_loss": float(h["polished_loss"].min()),
                   "gap": float(h["gap"].min()), "runs": len(h),
                   "basins": ", ".join(f"{b} {c}" for b, c in h["basin"].value_counts().sort_index().items()),
                   "median_test_accuracy": _median(h["final_test_accuracy"]) if "final_test_accuracy" in h else np.nan}
            row.update({v: int((h["variant"] == v).sum()) for v in VARIANT_ORDER})
            rows.append(row)
    return pd.DataFrame(rows)


def escape_table(escape: pd.DataFrame, L_star: dict, tol: Tolerances) -> pd.DataFrame:
    """The escape experiment (:mod:`gdbasins.escape`) per dataset x variant x rate: the starts;
    the share whose continuation **escaped** (polished loss below the start's by more than
    ``tol.escape``) and the share that **reached the global minimum** (within ``global_gap`` of
    ``L_star[dataset]``), each with its Wilson interval; the share diverged; and, paired on the
    same starts against the control (batch GD continued at the rate it got stuck at), the
    difference in the escaped share with Newcombe's interval and McNemar's exact p."""
    if escape.empty:
        return pd.DataFrame(columns=["dataset", "variant", "eta", "starts", "escaped", "escaped_lo", "escaped_hi",
                                     "reached_global", "global_lo", "global_hi", "diverged", "vs_control",
                                     "vs_control_lo", "vs_control_hi", "p_value"])
    df = escape.copy()
    star = df["dataset"].map(L_star).astype(float)
    with np.errstate(invalid="ignore"):
        df["escaped"] = (~df["diverged"].astype(bool)) & (df["polished_loss"] < df["start_loss"] - tol.escape)
        df["reached_global"] = (~df["diverged"].astype(bool)) & (df["polished_loss"] - star <= tol.global_gap)
    rows = []
    for (dataset, variant, eta), g in df.groupby(["dataset", "variant", "eta"], sort=False):
        d = df[df["dataset"] == dataset]
        control = d[(d["variant"] == "batch") & np.isclose(d["eta"], d["start_eta"])].set_index("seed")
        g = g.set_index("seed")
        n = len(g)
        row = {"dataset": dataset, "variant": variant, "eta": eta, "start_eta": float(g["start_eta"].iloc[0]),
               "epochs": int(g["epochs"].iloc[0]), "starts": n}
        for col, lab in (("escaped", "escaped"), ("reached_global", "global")):
            k = int(g[col].sum())
            lo, hi = wilson(k, n)
            row.update({col: k / n if n else np.nan, f"{lab}_lo": lo, f"{lab}_hi": hi})
        row["diverged"] = float(g["diverged"].mean())
        seeds = g.index.intersection(control.index)
        c = paired_difference(g.loc[seeds, "escaped"], control.loc[seeds, "escaped"])
        row.update(vs_control=c["diff"], vs_control_lo=c["lo"], vs_control_hi=c["hi"], p_value=c["p"])
        rows.append(row)
    return _sorted(pd.DataFrame(rows))


def spurious_table(runs: pd.DataFrame, best: pd.DataFrame, tol: Tolerances) -> pd.DataFrame:
    """Per dataset x variant at its best rate, on the test seeds: the share of runs that ended in
    a non-global local minimum (polished basin in :data:`MINIMA`: strict, certified non-smooth or
    flat) with its 95% Wilson interval, beside the shares in the global minimum, on plateaus, at
    saddles and unresolved -- the spurious minima the explainer's claims are about. ``non_smooth``
    is the share of local minima certified by perturbation at a kink (gradient norm above
    ``tol.grad``)."""
    runs = runs.reset_index(drop=True)
    test = runs[halves(runs).isin(["test", "both"])]
    rows = []
    for r in best.itertuples():
        g = test[(test["dataset"] == r.dataset) & (test["variant"] == r.variant) & (test["eta"] == r.eta)]
        n = len(g)
        k = int(g["basin"].isin(MINIMA).sum())
        lo, hi = wilson(k, n)
        rows.append({"dataset": r.dataset, "variant": r.variant, "eta": r.eta, "seeds": n,
                     "local_minimum": k / n if n else np.nan, "local_lo": lo, "local_hi": hi,
                     "non_smooth": float((g["basin"].eq("local") & (g["grad_norm"] > tol.grad)).sum() / k) if k else np.nan,
                     **{b: float((g["basin"] == b).mean()) if n else np.nan
                        for b in ("global", "local", "flat", "plateau", "saddle", "unresolved", "diverged")}})
    return _sorted(pd.DataFrame(rows))
