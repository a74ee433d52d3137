"""The study's tables and the verdicts on the explainer's claims, computed with pandas from the
per-run outcome tables (``classify.outcomes_table``). No I/O, no plotting: :mod:`gdbasins.render`
writes what this module computes.

Statistics: shares get 95% Wilson intervals (``scipy.stats.binomtest(...).proportion_ci``);
paired comparisons of two variants on the same seeds use McNemar's exact test, a two-sided
binomial test on the discordant pairs; speeds are compared with the Wilcoxon signed-rank test on
seeds that reached the global minimum under both variants; the effect of the learning rate with
the Kruskal-Wallis test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .endpoints import OUTCOMES, Tolerances, classify

__all__ = ["wilson", "mcnemar", "outcome_table", "best_rates", "paired_table", "tolerance_table",
           "minima_levels", "claims", "ALPHA", "VARIANT_ORDER"]

ALPHA = 0.05
VARIANT_ORDER = ["batch", "minibatch", "sgd"]
STUCK = ("local", "plateau", "saddle")  # converged to a stationary point that is not the global minimum
#: Claim 1 is supported when batch GD ends in strict local minima in more than this share of runs
#: (the Wilson interval's lower bound), contradicted when the upper bound is below it.
STUCK_SHARE = 0.10
MIN_PAIRS = 6  # fewer paired seeds than this: no speed test


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials; (nan, nan) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """McNemar's exact test for paired booleans: ``(n_a_only, n_b_only, p)``, with p from a
    two-sided binomial test of the discordant pairs against 1/2 (1.0 without discordant pairs)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n_a, n_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = stats.binomtest(n_a, n_a + n_b, 0.5).pvalue if n_a + n_b else 1.0
    return n_a, n_b, float(p)


def _median(x) -> float:
    x = pd.Series(x, dtype=float).dropna()
    return float(x.median()) if len(x) else float("nan")


def outcome_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x variant x learning rate: seeds, outcome shares (global with its Wilson
    interval), converged share, median losses, speed to the global minimum, sharpness and
    held-out accuracy."""
    rows = []
    for (dataset, variant, eta), g in runs.groupby(["dataset", "variant", "eta"], sort=False):
        n = len(g)
        k = int((g["outcome"] == "global").sum())
        lo, hi = wilson(k, n)
        reached = g["epochs_to_global"].notna()
        row = {"dataset": dataset, "variant": variant, "eta": eta, "batch_size": int(g["batch_size"].iloc[0]),
               "seeds": n, "global": k / n, "global_lo": lo, "global_hi": hi}
        row.update({o: float((g["outcome"] == o).mean()) for o in OUTCOMES if o != "global"})
        row.update({
            "converged": float(g["converged"].mean()),
            "median_final_loss": _median(g["raw_loss"]),
            "median_polished_loss": _median(g["polished_loss"]),
            "median_epochs_to_global": _median(g["epochs_to_global"]),
            "median_updates_to_global": _median(g["updates_to_global"]),
            "never_reached": int((~reached).sum()),
            "median_sharpness": _median(g["eig_max"]),
            "median_test_accuracy": _median(g["final_test_accuracy"]) if "final_test_accuracy" in g else float("nan"),
        })
        rows.append(row)
    return _sorted(pd.DataFrame(rows))


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    order = {v: i for i, v in enumerate(VARIANT_ORDER)}
    key = df["variant"].map(order)
    return df.assign(_k=key).sort_values(["dataset", "_k", "eta"], kind="stable").drop(columns="_k").reset_index(drop=True)


def best_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Each variant's best learning rate per dataset: the highest share of global outcomes, ties
    broken by the fewer median updates to get there, then the smaller rate."""
    t = table.assign(_u=table["median_updates_to_global"].fillna(np.inf))
    t = t.sort_values(["dataset", "variant", "global", "_u", "eta"], ascending=[True, True, False, True, True],
                      kind="stable")
    return _sorted(t.groupby(["dataset", "variant"], sort=False).head(1).drop(columns="_u"))


def _success(runs, dataset, variant, eta) -> pd.Series:
    g = runs[(runs["dataset"] == dataset) & (runs["variant"] == variant) & (runs["eta"] == eta)]
    return g.set_index("seed")["outcome"].eq("global")


def paired_table(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """McNemar's exact test between every two variants on the same seeds: at each learning rate
    both trained, at each variant's best rate, and at matched noise scale (eta / batch size within
    a factor of 2)."""
    best = best_rates(table).set_index(["dataset", "variant"])["eta"]
    rows = []
    for dataset, t in table.groupby("dataset", sort=False):
        variants = [v for v in VARIANT_ORDER if v in set(t["variant"])]
        for a, b in itertools.combinations(variants, 2):
            ta, tb = t[t["variant"] == a], t[t["variant"] == b]
            pairs = [("same rate", e, e) for e in sorted(set(ta["eta"]) & set(tb["eta"]))]
            pairs.append(("best rate of each", best[(dataset, a)], best[(dataset, b)]))
            for ra, rb in itertools.product(ta.itertuples(), tb.itertuples()):
                if abs(np.log2((ra.eta / ra.batch_size) / (rb.eta / rb.batch_size))) <= 1:
                    pairs.append(("matched noise scale", ra.eta, rb.eta))
            for comparison, ea, eb in pairs:
                sa, sb = _success(runs, dataset, a, ea), _success(runs, dataset, b, eb)
                seeds = sa.index.intersection(sb.index)
                n_a, n_b, p = mcnemar(sa[seeds].values, sb[seeds].values)
                rows.append({"dataset": dataset, "comparison": comparison, "variant_a": a, "eta_a": ea,
                             "variant_b": b, "eta_b": eb, "seeds": len(seeds),
                             "global_a": float(sa[seeds].mean()), "global_b": float(sb[seeds].mean()),
                             "a_only": n_a, "b_only": n_b, "p_value": p})
    return pd.DataFrame(rows)


def reclassify(runs: pd.DataFrame, tol: Tolerances, gap: float) -> np.ndarray:
    """Outcomes of ``runs`` with the global tolerance set to ``gap``."""
    t = Tolerances(**{**tol.__dict__, "global_gap": gap})
    return classify(runs, runs["L_star"].to_numpy(), t)[0]


def tolerance_table(runs: pd.DataFrame, tol: Tolerances, gaps) -> pd.DataFrame:
    """Share of global outcomes per dataset x variant x rate at each gap above L*."""
    out = runs[["dataset", "variant", "eta"]].copy()
    cols = []
    for gap in gaps:
        col = f"global_at_{gap:g}"
        out[col] = reclassify(runs, tol, gap) == "global"
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


# --- the claims -------------------------------------------------------------------------------

def _verdict_share(k, n, threshold):
    lo, hi = wilson(k, n)
    if n == 0:
        return "inconclusive", lo, hi
    if lo > threshold:
        return "supported", lo, hi
    if hi < threshold:
        return "contradicted", lo, hi
    return "inconclusive", lo, hi


def _fmt(x, digits=2):
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def claim1(runs, best, dataset):
    """Batch GD gets stuck in local minima: at its best rate, the share of batch runs that end in
    a strict local minimum is above STUCK_SHARE (Wilson interval)."""
    eta = best.get((dataset, "batch"))
    if eta is None:
        return None
    g = runs[(runs["dataset"] == dataset) & (runs["variant"] == "batch") & (runs["eta"] == eta)]
    k, n = int((g["outcome"] == "local").sum()), len(g)
    verdict, lo, hi = _verdict_share(k, n, STUCK_SHARE)
    plateau = int((g["outcome"] == "plateau").sum())
    other = ", ".join(f"{o} {int((g['outcome'] == o).sum())}" for o in OUTCOMES if o != "local" and (g["outcome"] == o).any())
    return {"claim": 1, "dataset": dataset, "verdict": verdict,
            "test": f"share of batch runs (eta = {eta:g}, its best rate) in a strict local minimum vs {STUCK_SHARE:.0%}, 95% Wilson interval",
            "numbers": f"{k}/{n} local ({_fmt(k / n if n else np.nan)}; CI {_fmt(lo)}-{_fmt(hi)}); {other}",
            "stat": k / n if n else np.nan, "p_value": np.nan, "plateau": plateau}


def claim2(runs, best, dataset):
    """SGD finds the global minimum more often than batch GD: McNemar's exact test at each
    variant's best rate, same seeds."""
    eb, es = best.get((dataset, "batch")), best.get((dataset, "sgd"))
    if eb is None or es is None:
        return None
    sb, ss = _success(runs, dataset, "batch", eb), _success(runs, dataset, "sgd", es)
    seeds = sb.index.intersection(ss.index)
    n_b, n_s, p = mcnemar(sb[seeds].values, ss[seeds].values)
    diff = ss[seeds].mean() - sb[seeds].mean()
    verdict = "inconclusive" if p >= ALPHA else ("supported" if diff > 0 else "contradicted")
    return {"claim": 2, "dataset": dataset, "verdict": verdict,
            "test": f"McNemar exact, SGD (eta = {es:g}) vs batch (eta = {eb:g}), each at its best rate, {len(seeds)} paired seeds",
            "numbers": f"global: SGD {ss[seeds].mean():.2f}, batch {sb[seeds].mean():.2f}; only SGD {n_s}, only batch {n_b}; p = {p:.3g}",
            "stat": float(diff), "p_value": p}


def _speed(runs, dataset, va, ea, vb, eb, column="updates_to_global"):
    def get(v, e):
        g = runs[(runs["dataset"] == dataset) & (runs["variant"] == v) & (runs["eta"] == e)]
        return g.set_index("seed")[column]
    a, b = get(va, ea), get(vb, eb)
    both = a.index[(a.notna() & b.reindex(a.index).notna()).to_numpy()]
    if len(both) < MIN_PAIRS:
        return len(both), np.nan, np.nan, np.nan
    x, y = a[both].to_numpy(float), b[both].to_numpy(float)
    p = 1.0 if np.all(x == y) else float(stats.wilcoxon(x, y).pvalue)
    return len(both), float(np.median(x)), float(np.median(y)), p


def claim3(runs, best, dataset):
    """Mini-batch is a happy medium and faster than SGD: (a) at best rates, mini-batch reaches
    the global minimum not significantly less often than the better of batch and SGD (McNemar);
    (b) it needs fewer updates than SGD to get there (Wilcoxon on seeds that reached it under
    both). Updates stand for wall time: on this vectorized engine an update costs nearly the
    same at batch size 1 and 16 (the timing table shows the measured seconds beside it)."""
    em, es, eb = (best.get((dataset, v)) for v in ("minibatch", "sgd", "batch"))
    if em is None or es is None or eb is None:
        return None
    sm, ss, sb = (_success(runs, dataset, v, e) for v, e in (("minibatch", em), ("sgd", es), ("batch", eb)))
    rival, er, sr = ("sgd", es, ss) if ss.mean() >= sb.mean() else ("batch", eb, sb)
    seeds = sm.index.intersection(sr.index)
    n_m, n_r, p_share = mcnemar(sm[seeds].values, sr[seeds].values)
    worse = p_share < ALPHA and sm[seeds].mean() < sr[seeds].mean()
    n_pairs, med_m, med_s, p_speed = _speed(runs, dataset, "minibatch", em, "sgd", es)
    if not np.isfinite(p_speed) or p_speed >= ALPHA:
        speed = "inconclusive"
    else:
        speed = "supported" if med_m < med_s else "contradicted"
    if worse or speed == "contradicted":
        verdict = "contradicted"
    elif speed == "supported":
        verdict = "supported"
    else:
        verdict = "inconclusive"
    return {"claim": 3, "dataset": dataset, "verdict": verdict,
            "test": (f"(a) McNemar exact, mini-batch (eta = {em:g}) vs the better of batch/SGD ({rival}, eta = {er:g}); "
                     f"(b) Wilcoxon signed-rank on updates to the global minimum, mini-batch vs SGD (eta = {es:g})"),
            "numbers": (f"(a) global: mini-batch {sm[seeds].mean():.2f}, {rival} {sr[seeds].mean():.2f}, p = {p_share:.3g}; "
                        f"(b) median updates: mini-batch {_fmt(med_m, 0)}, SGD {_fmt(med_s, 0)} over {n_pairs} seeds, "
                        f"p = {_fmt(p_speed, 3)} ({speed})"),
            "stat": med_s / med_m if med_m and np.isfinite(med_m) else np.nan, "p_value": p_speed}


def claim4(runs, dataset):
    """The learning rate decides how long and how directly training gets there: per variant,
    Kruskal-Wallis across the stable learning rates (most seeds not diverged) of (a) the epochs
    to reach the global minimum and (b) the share of epochs in which the loss went down
    before reaching it (directness). Supported when both differ significantly for every variant,
    contradicted when neither does for any."""
    parts, verdicts = [], []
    d = runs[runs["dataset"] == dataset]
    for variant in VARIANT_ORDER:
        g = d[d["variant"] == variant]
        if g.empty:
            continue
        stable = [e for e, h in g.groupby("eta") if h["diverged"].mean() < 0.5]
        epochs = [h["epochs_to_global"].dropna().to_numpy() for e, h in g.groupby("eta") if e in stable]
        epochs = [x for x in epochs if len(x) >= 2]
        direct = [h["descent_share"].dropna().to_numpy() for e, h in g.groupby("eta") if e in stable]
        direct = [x for x in direct if len(x) >= 2]
        p_time = _kruskal(epochs)
        p_direct = _kruskal(direct)
        if all(np.isfinite(p) and p < ALPHA for p in (p_time, p_direct)):
            verdicts.append("supported")
        elif all(np.isfinite(p) and p >= ALPHA for p in (p_time, p_direct)):
            verdicts.append("contradicted")
        else:
            verdicts.append("inconclusive")
        parts.append(f"{variant}: epochs p = {_fmt(p_time, 3)} over {len(epochs)} rates, directness p = {_fmt(p_direct, 3)}")
    if not verdicts:
        return None
    if set(verdicts) == {"supported"}:
        verdict = "supported"
    elif "contradicted" in verdicts and "supported" not in verdicts:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return {"claim": 4, "dataset": dataset, "verdict": verdict,
            "test": "Kruskal-Wallis across stable learning rates, per variant: epochs to the global minimum; share of epochs with a falling loss",
            "numbers": "; ".join(parts), "stat": np.nan, "p_value": np.nan}


def _kruskal(groups) -> float:
    if len(groups) < 2:
        return float("nan")
    allv = np.concatenate(groups)
    if np.all(allv == allv[0]):
        return 1.0
    return float(stats.kruskal(*groups).pvalue)


CLAIMS = {
    1: "Batch gradient descent gets stuck in local minima.",
    2: "Stochastic gradient descent escapes local minima and finds the global minimum more often than batch gradient descent.",
    3: "Mini-batch gradient descent is a happy medium between them and faster than SGD.",
    4: "The learning rate decides how long, how many steps and how directly training reaches the minimum.",
}


def claims(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Every claim's verdict per dataset, then overall (the verdict of a strict majority of
    datasets, else inconclusive)."""
    best = best_rates(table).set_index(["dataset", "variant"])["eta"].to_dict()
    rows = []
    for dataset in sorted(runs["dataset"].unique()):
        for fn in (claim1, claim2, claim3):
            r = fn(runs, best, dataset)
            if r:
                rows.append(r)
        r = claim4(runs, dataset)
        if r:
            rows.append(r)
    df = pd.DataFrame(rows)
    overall = []
    for claim, g in df.groupby("claim", sort=True):
        counts = g["verdict"].value_counts()
        top, k = counts.index[0], counts.iloc[0]
        verdict = top if k * 2 > len(g) else "inconclusive"
        overall.append({"claim": claim, "dataset": "overall", "verdict": verdict,
                        "test": "majority of datasets",
                        "numbers": ", ".join(f"{v} {int(counts.get(v, 0))}" for v in ("supported", "contradicted", "inconclusive")),
                        "stat": np.nan, "p_value": np.nan})
    df = pd.concat([df, pd.DataFrame(overall)], ignore_index=True)
    df.insert(1, "statement", df["claim"].map(CLAIMS))
    return df
