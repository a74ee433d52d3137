"""The verdicts on the explainer's four claims: each claim tested against its alternative on the
same seeds, with an effect size and its 95% interval beside every p-value.

Each claim is a :class:`Claim`: a ``measure`` that computes, for one dataset, the comparisons
the claim rests on, and a ``decide`` that turns them into a verdict once the p-values of the
claim's ``family`` have been Holm-corrected across the datasets; its ``rule`` is the wording the
report prints, next to the code that applies it. Comparisons at best rates use the *test* half
of the seeds (:func:`gdbasins.report.halves`); where runs *ended* (the polished basin) is what a
verdict rests on, and where they are *after the budget* (converged there) is reported beside it
when it would decide otherwise. A run still travelling is not counted as failing to reach the
basin it is heading for.

Verdicts: ``supported``, ``partly supported``, ``contradicted``, ``inconclusive`` (a test ran
but could not decide), ``too few runs`` (a test could not run: the numbers say how many there
were), and overall ``depends on the problem`` when datasets decide differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats as sps

from .report import MINIMA, STUCK, _cell, best_rates, halves, matched_rate, seconds_to_arrive
from .stats import holm, median_ratio, paired_difference, spearman

__all__ = ["Settings", "Claim", "CLAIMS", "claims", "overall", "decide_more", "VERDICTS", "in_words"]

VERDICTS = ("supported", "partly supported", "contradicted", "inconclusive", "too few runs",
            "depends on the problem")
POSITIVE = ("supported", "partly supported")


@dataclass(frozen=True)
class Settings:
    """``alpha``: significance level after Holm's correction. ``margin``: the smallest effect
    that matters, fixed before the data: a claimed advantage whose 95% interval lies wholly below
    it (a share difference, or a rank correlation within +-margin) counts as absent.
    ``min_pairs``: fewer paired seeds than this and a speed test does not run."""

    alpha: float = 0.05
    margin: float = 0.1
    min_pairs: int = 6


@dataclass(frozen=True)
class Claim:
    """``rule``: the verdict's rule as the report prints it; ``plain``: the same test in plain
    words (``{alpha}`` and ``{margin}`` filled in from the settings); ``effect``: what the effect
    measures, in words; ``unit``: how one effect is written (see :func:`in_words`)."""

    statement: str
    rule: str
    family: tuple[str, ...]
    measure: Callable
    decide: Callable
    plain: str = ""
    effect: str = ""
    unit: str = "points"


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.0%}"


def _f(x, digits=2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}" if abs(x) >= 1e4 else f"{x:.{digits}f}"


def _p(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2g}"


def _diff_text(c: dict, a: str, b: str) -> str:
    return (f"{a} {_pct(c['share_a'])} vs {b} {_pct(c['share_b'])}, difference {c['diff']:+.2f} "
            f"[{c['lo']:+.2f}, {c['hi']:+.2f}], only {a} {c['a_only']}, only {b} {c['b_only']}, "
            f"McNemar p = {_p(c['p'])}") if c["n"] else f"{a} vs {b}: no paired seeds"


def decide_more(c: dict, p_holm: float, s: Settings) -> str:
    """The rule for "a's share is larger than b's" on paired seeds: **supported** when McNemar's
    p (Holm-corrected) < alpha and the difference is positive; **contradicted** when it is
    significantly negative, or when its 95% interval lies below +margin (any advantage is smaller
    than the smallest that matters); else **inconclusive**."""
    if not c["n"]:
        return "too few runs"
    if p_holm < s.alpha:
        return "supported" if c["diff"] > 0 else "contradicted"
    return "contradicted" if c["hi"] < s.margin else "inconclusive"


def _best(best, dataset, variant):
    hit = best[(best["dataset"] == dataset) & (best["variant"] == variant)]
    return None if hit.empty else float(hit["eta"].iloc[0])


def _pair(test, dataset, va, ea, vb, eb):
    a, b = _cell(test, dataset, va, ea), _cell(test, dataset, vb, eb)
    seeds = a.index.intersection(b.index)
    return a.loc[seeds], b.loc[seeds]


# --- claim 1 ----------------------------------------------------------------------------------

def _kinds(cell) -> str:
    counts = cell["basin"].value_counts()
    parts = [f"{k} {int(counts[k])}" for k in STUCK if counts.get(k, 0)]
    return ", ".join(parts) or "none"


def _main_kind(cell) -> str:
    counts = cell["basin"].value_counts()
    k = max(("plateau", "saddle", "minima"), key=lambda x: counts.get(x, 0) if x != "minima"
            else sum(counts.get(m, 0) for m in MINIMA))
    return {"plateau": "on plateaus", "saddle": "at saddles", "minima": "in local minima"}[k]


def measure1(runs, test, best, dataset, s):
    eb, es, em = (_best(best, dataset, v) for v in ("batch", "sgd", "minibatch"))
    if eb is None or es is None:
        return None
    B, S = _pair(test, dataset, "batch", eb, "sgd", es)
    part = {"eta": f"batch eta = {eb:g}, SGD eta = {es:g}", "B": B, "S": S,
            "stuck": paired_difference(B["basin"].isin(STUCK), S["basin"].isin(STUCK)),
            "local": paired_difference(B["basin"].isin(MINIMA), S["basin"].isin(MINIMA)),
            "after": paired_difference(B["outcome"].isin(STUCK), S["outcome"].isin(STUCK))}
    if em is not None:
        B2, M = _pair(test, dataset, "batch", eb, "minibatch", em)
        part["mini"] = paired_difference(B2["basin"].isin(STUCK), M["basin"].isin(STUCK))
    part.update(p_stuck=part["stuck"]["p"], p_local=part["local"]["p"], p_after=part["after"]["p"])
    return part


def decide1(part, s):
    st, lc = part["stuck"], part["local"]
    B = part["B"]
    if not st["n"]:
        verdict, note = "too few runs", "no paired seeds"
    elif part["p_local_holm"] < s.alpha and lc["diff"] > 0:
        verdict, note = "supported", "batch ends in local minima more often than SGD"
    elif part["p_stuck_holm"] < s.alpha and st["diff"] > 0:
        verdict = "partly supported"
        note = f"batch gets stuck more often than SGD, but {_main_kind(B)}, not in local minima"
    elif decide_more(st, part["p_stuck_holm"], s) == "contradicted":
        verdict = "contradicted"
        note = (f"batch is stuck in {_pct(st['share_a'])} of runs ({_main_kind(B)}), but not more than SGD"
                if st["share_a"] >= s.margin else f"batch is rarely stuck ({_pct(st['share_a'])})")
    else:
        verdict, note = "inconclusive", "no clear difference from SGD in getting stuck"
    after = decide_more(part["after"], part["p_after_holm"], s)
    if verdict in ("supported", "partly supported", "contradicted") and after != decide_more(st, part["p_stuck_holm"], s):
        note += f"; counting only runs converged there (after the budget): {after}"
    numbers = (f"stuck (local or flat minimum, plateau or saddle): {_diff_text(st, 'batch', 'SGD')}, "
               f"Holm p = {_p(part['p_stuck_holm'])}; "
               f"local minima (strict, non-smooth or flat): {_diff_text(lc, 'batch', 'SGD')}, "
               f"Holm p = {_p(part['p_local_holm'])}; "
               f"batch stuck in: {_kinds(B)}; SGD: {_kinds(part['S'])}")
    if "mini" in part:
        numbers += f"; against mini-batch: {_diff_text(part['mini'], 'batch', 'mini-batch')}"
    return {"verdict": verdict, "note": note, "numbers": numbers, "effect": "stuck share, batch - SGD",
            "estimate": st["diff"], "lo": st["lo"], "hi": st["hi"], "p_value": st["p"],
            "p_holm": part["p_stuck_holm"], "seeds": st["n"],
            "test": f"paired on the test seeds at best rates ({part['eta']}): McNemar exact, Newcombe interval"}


RULE1 = ("Batch's share of runs ending stuck (polished basin: a local minimum -- strict, certified non-smooth "
         "or flat --, a plateau or a saddle) against SGD's, on the same test seeds at each variant's best rate: "
         "**supported** if batch ends in local minima significantly more often than SGD; **partly "
         "supported** if it is stuck significantly more often, but on plateaus or at saddles; **contradicted** if "
         "it is stuck significantly less often, or the interval of the difference lies below +margin; else "
         "inconclusive. Mini-batch is compared the same way and reported.")


# --- claim 2 ----------------------------------------------------------------------------------

def measure2(runs, test, best, dataset, s):
    eb, es = _best(best, dataset, "batch"), _best(best, dataset, "sgd")
    if eb is None or es is None:
        return None
    B, S = _pair(test, dataset, "batch", eb, "sgd", es)
    part = {"eb": eb, "es": es,
            "ended": paired_difference(S["basin"] == "global", B["basin"] == "global"),
            "after": paired_difference(S["outcome"] == "global", B["outcome"] == "global")}
    d = runs[runs["dataset"] == dataset]
    n_b = int(d.loc[d["variant"] == "batch", "batch_size"].iloc[0])
    em = matched_rate(eb, n_b, sorted(d.loc[d["variant"] == "sgd", "eta"].unique()), 1)
    part["em"] = em
    if em is not None:
        B2, S2 = _pair(test, dataset, "batch", eb, "sgd", em)
        part["matched"] = paired_difference(S2["basin"] == "global", B2["basin"] == "global")
    part.update(p_ended=part["ended"]["p"], p_after=part["after"]["p"],
                p_matched=part["matched"]["p"] if em is not None else np.nan)
    return part


def decide2(part, s):
    c = part["ended"]
    verdict = decide_more(c, part["p_ended_holm"], s)
    notes = []
    after = decide_more(part["after"], part["p_after_holm"], s)
    if after != verdict:
        notes.append(f"counting only runs converged there (after the budget): {after}")
    numbers = (f"ended in the global minimum: {_diff_text(c, 'SGD', 'batch')}, Holm p = {_p(part['p_ended_holm'])}; "
               f"after the budget: {_diff_text(part['after'], 'SGD', 'batch')}")
    if part["em"] is not None:
        m = part["matched"]
        matched = decide_more(m, part["p_matched_holm"], s)
        numbers += f"; at matched noise scale (SGD eta = {part['em']:g}): {_diff_text(m, 'SGD', 'batch')}"
        notes.append(f"at matched noise scale: {matched}")
    else:
        notes.append("no SGD rate in the grid matches batch's noise scale within a factor of 2")
    return {"verdict": verdict, "note": "; ".join(notes), "numbers": numbers,
            "effect": "global share, SGD - batch", "estimate": c["diff"], "lo": c["lo"], "hi": c["hi"],
            "p_value": c["p"], "p_holm": part["p_ended_holm"], "seeds": c["n"],
            "test": (f"paired on the test seeds, each at its best rate (SGD eta = {part['es']:g}, batch eta = "
                     f"{part['eb']:g}): McNemar exact, Newcombe interval")}


RULE2 = ("SGD's share of runs ending in the global minimum (polished basin) against batch's on the same test "
         "seeds, each at its best rate: " + decide_more.__doc__.split(":", 1)[1].strip().replace("\n    ", " ")
         + " The same test at matched noise scale (SGD's rate closest to batch's eta / n) and after the budget is "
         "reported beside it.")


# --- claim 3 ----------------------------------------------------------------------------------

def _arrived(cell) -> pd.Series:
    return cell["converged"].astype(bool) & cell["arrived"].astype(bool)


def measure3(runs, test, best, dataset, s):
    eb, es, em = (_best(best, dataset, v) for v in ("batch", "sgd", "minibatch"))
    if None in (eb, es, em):
        return None
    cells = {v: _cell(test, dataset, v, e) for v, e in (("batch", eb), ("sgd", es), ("minibatch", em))}
    seeds = cells["batch"].index.intersection(cells["sgd"].index).intersection(cells["minibatch"].index)
    g = {v: c.loc[seeds, "basin"] == "global" for v, c in cells.items()}
    lower, higher = sorted(("batch", "sgd"), key=lambda v: (g[v].mean(), v))
    low = paired_difference(g["minibatch"], g[lower])
    high = paired_difference(g[higher], g["minibatch"])
    outside = [c["p"] for c in (low, high) if c["n"] and c["diff"] < 0]
    M, S = cells["minibatch"].loc[seeds], cells["sgd"].loc[seeds]
    both = _arrived(M) & _arrived(S)
    use = "seconds_to_arrive" if M["seconds_to_arrive"].notna().any() else "updates_to_arrive"
    speed = {k: median_ratio(S.loc[both, k], M.loc[both, k]) for k in ("epochs_to_arrive", "updates_to_arrive", use)}
    p_b = speed[use]["p"] if speed[use]["n"] >= s.min_pairs else np.nan
    return {"eta": f"mini-batch eta = {em:g}, batch eta = {eb:g}, SGD eta = {es:g}", "low": low, "high": high,
            "lower": lower, "higher": higher, "speed": speed, "use": use, "seeds": len(seeds),
            "p_a": min(1.0, 2 * min(outside)) if outside else 1.0, "p_b": p_b}


def decide3(part, s):
    low, high, sp = part["low"], part["high"], part["speed"][part["use"]]
    between = low["n"] > 0 and low["lo"] > -s.margin and high["lo"] > -s.margin
    outside = part["p_a_holm"] < s.alpha
    too_few = sp["n"] < s.min_pairs
    faster = not too_few and part["p_b_holm"] < s.alpha and sp["ratio"] > 1
    slower = not too_few and part["p_b_holm"] < s.alpha and sp["ratio"] < 1
    unit = "seconds for one network" if part["use"] == "seconds_to_arrive" else "updates (seconds not measured)"
    if outside or slower:
        verdict = "contradicted"
        note = "; ".join(x for x in ("its outcomes lie outside batch's and SGD's" if outside else "",
                                     "it arrives slower than SGD" if slower else "") if x)
    elif between and faster:
        verdict, note = "supported", "outcomes between batch's and SGD's, and it arrives faster than SGD"
    elif between or faster:
        verdict = "partly supported"
        note = ("outcomes between batch's and SGD's, but " + ("too few runs arrived under both to time it" if too_few
                                                             else "not measurably faster than SGD")
                if between else "faster than SGD, but its outcomes are not shown to lie between batch's and SGD's")
    elif too_few:
        verdict, note = "too few runs", f"{sp['n']} paired seeds arrived under both (fewer than {s.min_pairs})"
    else:
        verdict, note = "inconclusive", "neither part decided"
    ep = part["speed"]["epochs_to_arrive"]
    if not too_few and ep["n"] and (ep["ratio"] > 1) != (sp["ratio"] > 1):
        note += f"; in epochs the order is the other way round (SGD / mini-batch = {_f(ep['ratio'])})"
    ratios = "; ".join(f"{k.split('_')[0]} SGD / mini-batch {_f(v['ratio'])} [{_f(v['lo'])}, {_f(v['hi'])}]"
                       for k, v in part["speed"].items() if v["n"])
    numbers = (f"(a) global: mini-batch vs {part['lower']} (the lower): {_diff_text(low, 'mini-batch', part['lower'])}; "
               f"{part['higher']} vs mini-batch: {_diff_text(high, part['higher'], 'mini-batch')}; Holm p = {_p(part['p_a_holm'])}; "
               f"(b) time to arrive over {sp['n']} seeds that arrived under both: {ratios or 'none'}; "
               f"Wilcoxon p = {_p(sp['p'])}, Holm p = {_p(part['p_b_holm'])}")
    return {"verdict": verdict, "note": note, "numbers": numbers, "effect": f"time to arrive, SGD / mini-batch ({unit})",
            "estimate": sp["ratio"], "lo": sp["lo"], "hi": sp["hi"], "p_value": sp["p"], "p_holm": part["p_b_holm"],
            "seeds": sp["n"],
            "test": (f"paired on the test seeds at best rates ({part['eta']}): (a) McNemar/Newcombe against the two; "
                     f"(b) Wilcoxon signed-rank on log time ratios, in {unit}")}


RULE3 = ("On the same test seeds at each variant's best rate: (a) mini-batch's share ending in the global minimum "
         "lies between batch's and SGD's (both intervals of its distance inside, within -margin) or outside "
         "(significantly below the lower or above the higher); (b) its time to arrive against SGD's, as the median "
         "per-seed ratio SGD / mini-batch with a distribution-free interval and a Wilcoxon signed-rank test, in "
         "seconds for one network (the measured seconds per update, R = 1, times the updates to arrive; epochs and "
         "updates reported beside it). **supported** if (a) between and (b) significantly faster; **contradicted** "
         "if outside or significantly slower; **partly supported** if one of the two holds; **too few runs** when "
         "fewer than min_pairs seeds arrived under both.")


# --- claim 4 ----------------------------------------------------------------------------------

def measure4(runs, test, best, dataset, s):
    d = runs[runs["dataset"] == dataset]
    per = {}
    for variant in ("batch", "minibatch", "sgd"):
        g = d[d["variant"] == variant]
        if g.empty:
            continue
        # rates where most runs stayed finite and most converged: where a time to arrive is measured
        stable = sorted(e for e, h in g.groupby("eta") if h["diverged"].mean() < 0.5 and h["converged"].mean() >= 0.5)
        h = g[g["eta"].isin(stable) & ~g["diverged"].astype(bool)]
        if len(stable) < 2:
            per[variant] = {"stable": stable}
            continue
        # a run that had not converged, or never arrived, is still travelling at the end: ranked
        # after every arrival (a run that never left a plateau "arrives" at once at its level)
        settled = h["converged"].astype(bool) & h["arrived"].astype(bool)
        time = h["epochs_to_arrive"].where(settled, h["epochs"] + 1)
        x = np.log(h["eta"].to_numpy())
        crosstab = pd.crosstab(h["eta"], h["basin"])
        where = (float(sps.chi2_contingency(crosstab.to_numpy()).pvalue)
                 if crosstab.shape[1] > 1 else 1.0)
        conv = h[h["converged"].astype(bool)]
        per[variant] = {"stable": stable, "time": spearman(x, time), "direct": spearman(x, h["descent_share"]),
                        "where": where, "above": int((conv["eig_max"] > 2 / conv["eta"]).sum()), "conv": len(conv),
                        "never": int((~settled).sum()), "n": len(h)}
    tested = {v: t for v, t in per.items() if "time" in t}
    if not per:
        return None

    def worst(key):  # every variant must show the trend: the largest p decides (intersection-union test)
        ps = [t[key]["p"] if np.isfinite(t[key]["p"]) else 1.0 for t in tested.values()]
        return max(ps) if ps else np.nan

    return {"per": per, "tested": tested, "p_time": worst("time"), "p_direct": worst("direct")}


def decide4(part, s):
    tested = part["tested"]
    parts = []
    for v, t in part["per"].items():
        if "time" not in t:
            parts.append(f"{v}: {len(t['stable'])} settled rate(s), no trend test")
            continue
        tt, dd = t["time"], t["direct"]
        parts.append(f"{v} ({len(t['stable'])} settled rates, {t['n']} runs, {t['never']} still travelling): time to arrive "
                     f"rho = {_f(tt['rho'])} [{_f(tt['lo'])}, {_f(tt['hi'])}] p = {_p(tt['p'])}; directness rho = "
                     f"{_f(dd['rho'])} [{_f(dd['lo'])}, {_f(dd['hi'])}] p = {_p(dd['p'])}; where runs end: "
                     f"chi-square p = {_p(t['where'])}"
                     + (f"; converged in a minimum sharper than 2/eta: {t['above']} of {t['conv']}" if v == "batch" else ""))
    if not tested:
        verdict, note = "too few runs", "no variant has two learning rates where most runs stayed finite and converged"
        key = None
    else:
        time_ok, dir_ok = part["p_time_holm"] < s.alpha, part["p_direct_holm"] < s.alpha
        flat = all(abs(t[k]["lo"]) < s.margin and abs(t[k]["hi"]) < s.margin
                   for t in tested.values() for k in ("time", "direct") if np.isfinite(t[k]["rho"]))
        if time_ok and dir_ok:
            verdict, note = "supported", "time to arrive and directness both change monotonically with the rate, for every variant tested"
        elif time_ok or dir_ok:
            verdict = "partly supported"
            note = ("time to arrive changes with the rate for every variant tested, directness not shown" if time_ok
                    else "directness changes with the rate for every variant tested, time to arrive not shown")
        elif flat:
            verdict, note = "contradicted", "no trend larger than the margin in either"
        else:
            verdict, note = "inconclusive", "a trend is not shown for every variant"
        key = max(tested, key=lambda v: tested[v]["time"]["p"] if np.isfinite(tested[v]["time"]["p"]) else 1.0)
    batch = part["per"].get("batch", {})
    if batch.get("above"):
        note += (f"; {batch['above']} converged batch runs sit at minima sharper than 2/eta, where gradient descent "
                 "cannot settle (LeCun et al. 1998): they oscillate around them within the converged gap")
    t = tested[key]["time"] if key else {"rho": np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan, "n": 0}
    return {"verdict": verdict, "note": note, "numbers": "; ".join(parts),
            "effect": f"Spearman rho, log rate vs time to arrive ({key or 'n/a'}, the weakest variant)",
            "estimate": t["rho"], "lo": t["lo"], "hi": t["hi"], "p_value": part["p_time"], "p_holm": part["p_time_holm"],
            "seeds": t["n"], "test": "per variant, across its stable rates, all seeds: Spearman trend tests; chi-square on where runs end"}


RULE4 = ("Per variant, across its settled learning rates (fewer than half the runs diverged and at least half "
         "converged, so that most arrival times are measured; at least two rates), on all "
         "seeds: Spearman's rank correlation of log rate with the epochs to arrive (a run still travelling, not converged "
         "or never arrived, ranks after every arrival) and with directness (the share of epochs with a falling loss until arrival); a "
         "chi-square test of whether where runs end changes with the rate; and batch GD's runs converged in a "
         "minimum sharper than 2/eta (LeCun et al. 1998: gradient descent cannot settle there, so such runs are "
         "oscillating around it). The largest p over the variants is "
         "Holm-corrected: **supported** if both trends hold for every variant, **partly supported** if one does, "
         "**contradicted** if every interval lies within +-margin.")


PLAIN1 = ("Each seed held out for testing was trained under batch gradient descent and under SGD, each at "
          "its own best learning rate (chosen on the other seeds), from the same initial weights. Where did "
          "each run end once polished: in the global minimum, or stuck in a local or flat minimum, on a "
          "plateau or at a saddle? The claim holds on a dataset where batch ends in local minima more often "
          "than SGD on the same seeds, by more than chance explains (McNemar's exact test on the seeds where"
          " the two differ, corrected for the number of datasets by Holm's method, at {alpha}); it is "
          "contradicted where batch is stuck less often, or where even the upper end of the 95% interval of "
          "its excess is below {margin}.")
PLAIN2 = ("On the same test seeds, each variant at its best rate: how often did SGD's run end in the global "
          "minimum, and how often batch's? The claim holds where SGD's share is higher by more than chance "
          "explains (McNemar, Holm-corrected, at {alpha}); it is contradicted where SGD's share is lower, or"
          " where its advantage is below {margin} even at the upper end of the 95% interval.")
PLAIN3 = ("Two questions on the same test seeds at each variant's best rate: (a) does mini-batch reach the "
          "global minimum about as often as batch and SGD or in between, not clearly outside both; (b) does "
          "it arrive sooner than SGD in the seconds a user training one network waits (updates to arrival "
          "times the measured cost of one update), by more than chance explains (Wilcoxon signed-rank, "
          "Holm-corrected, at {alpha})? Both: supported; one: partly supported; mini-batch outside or "
          "slower: contradicted.")
PLAIN4 = ("For each variant, over the learning rates at which most runs converged: does the time to arrive, "
          "and the directness of the way there (the share of epochs in which the loss fell), change steadily"
          " with the rate (Spearman's rank correlation, Holm-corrected, at {alpha}; every variant must show "
          "it)? Whether where runs end changes with the rate is tested beside it (chi-square). Both trends: "
          "supported; one: partly supported; every correlation within +-{margin}: contradicted.")

CLAIMS = {
    1: Claim("Batch gradient descent gets stuck in local minima.", RULE1, ("p_stuck", "p_local", "p_after"),
             measure1, decide1, PLAIN1, "batch's share of runs stuck minus SGD's", "points"),
    2: Claim("Stochastic gradient descent escapes local minima and finds the global minimum more often than batch "
             "gradient descent.", RULE2, ("p_ended", "p_after", "p_matched"), measure2, decide2, PLAIN2,
             "SGD's share in the global minimum minus batch's", "points"),
    3: Claim("Mini-batch gradient descent is a happy medium between them and faster than SGD.", RULE3,
             ("p_a", "p_b"), measure3, decide3, PLAIN3, "SGD's time to arrive over mini-batch's", "ratio"),
    4: Claim("The learning rate decides how long, how many steps and how directly training reaches the minimum.",
             RULE4, ("p_time", "p_direct"), measure4, decide4, PLAIN4,
             "the rank correlation of the rate with the time to arrive (the weakest variant)", "rho"),
}


def _amounts(values, unit: str) -> str:
    """One effect, or the range of several, in the claim's unit: ``+40 to +88 points``,
    ``1.78x to 7.19x``, ``rho -0.77 to +0.83``."""
    v = np.asarray(values, dtype=float)
    v = np.sort(v[np.isfinite(v)])
    if not len(v):
        return ""
    ends = v[[0, -1]] if len(v) > 1 and v[0] != v[-1] else v[:1]
    if unit == "points":
        return " to ".join(f"{100 * x:+.0f}" for x in ends) + " points"
    if unit == "ratio":
        return " to ".join(f"{x:.2f}x" for x in ends)
    return "rho " + " to ".join(f"{x:+.2f}" for x in ends)


def _names(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def in_words(number: int, verdicts: pd.DataFrame, settings: Settings = Settings()) -> str:
    """One paragraph in plain words on claim ``number``: what was tested (the claim's ``plain``
    text) and what came out, from the rows :func:`claims` decided: the overall verdict, the
    datasets where the claim holds, holds in part (with the reason the rule gave), fails or is
    undecided, and the size of the effects there."""
    c = CLAIMS[number]
    rows = verdicts[verdicts["claim"] == number]
    tested = c.plain.format(alpha=f"alpha = {settings.alpha:g}", margin=f"{settings.margin:g}")
    over = rows[rows["dataset"] == "overall"]
    per = rows[rows["dataset"] != "overall"]
    if over.empty or per.empty:
        return f"**What was tested.** {tested} **What came out:** nothing could be tested."

    def group(label, g, why=""):
        amount = _amounts(g["estimate"], c.unit)
        inside = "; ".join(x for x in (amount, why) if x)
        return f"{label} {_names(g['dataset'])}" + (f" ({inside})" if inside else "")

    parts = []
    if (g := per[per["verdict"] == "supported"]).size:
        parts.append(group("it holds on", g))
    partly = per[per["verdict"] == "partly supported"]
    for why, g in partly.groupby(partly["note"].astype(str).str.split(";").str[0], sort=False):
        parts.append(group("it holds in part on", g, why))
    if (g := per[per["verdict"] == "contradicted"]).size:
        parts.append(group("it fails on", g))
    if (g := per[~per["verdict"].isin((*POSITIVE, "contradicted"))]).size:
        parts.append(group("it is undecided on", g))
    n = len(per)
    came = (f"**{over['verdict'].iloc[0]}** across {n} dataset{'s' * (n != 1)}: " + "; ".join(parts)
            + f". The effect is {c.effect}, on the seeds that tested it.")
    return f"**What was tested.** {tested} **What came out:** {came}"


RESTS_ON = {1: "where runs ended (polished basin)", 2: "where runs ended (polished basin)",
            3: "(a) where runs ended; (b) seconds to arrive for one network",
            4: "arrival times and directness, all seeds"}

OVERALL_RULE = ("Overall: the datasets' common verdict when those that decided agree and they are at least half; "
                "**depends on the problem** when some support and others contradict the claim (naming where each "
                "holds); else inconclusive.")


def overall(rows: list[dict]) -> dict:
    """The overall verdict of one claim from its per-dataset rows (see ``OVERALL_RULE``)."""
    by = {r["dataset"]: r["verdict"] for r in rows}
    pos = [d for d, v in by.items() if v in POSITIVE]
    neg = [d for d, v in by.items() if v == "contradicted"]
    rest = [d for d in by if d not in pos and d not in neg]
    where = "; ".join(x for x in (f"holds on {', '.join(pos)}" if pos else "", f"fails on {', '.join(neg)}" if neg else "",
                                  f"undecided on {', '.join(rest)}" if rest else "") if x)
    if pos and neg:
        verdict = "depends on the problem"
    elif not pos and not neg:
        verdict = "too few runs" if all(v == "too few runs" for v in by.values()) else "inconclusive"
    elif 2 * (len(pos) + len(neg)) < len(by):
        verdict = "inconclusive"
    elif neg:
        verdict = "contradicted"
    else:
        verdict = "supported" if all(by[d] == "supported" for d in pos) else "partly supported"
    return {"dataset": "overall", "verdict": verdict, "note": where, "numbers": where, "test": OVERALL_RULE}


def claims(runs: pd.DataFrame, cost: pd.DataFrame | None = None, settings: Settings = Settings()) -> pd.DataFrame:
    """Every claim's verdict per dataset, then overall, with the effect, its interval, the raw
    and Holm-corrected p-values and the seeds each rests on."""
    runs = runs.reset_index(drop=True)
    if "seconds_to_arrive" not in runs:
        runs = runs.assign(seconds_to_arrive=seconds_to_arrive(runs, cost))
    best = best_rates(runs)
    test = runs[halves(runs).isin(["test", "both"])]
    rows = []
    for number, claim in CLAIMS.items():
        parts = {d: claim.measure(runs, test, best, d, settings) for d in sorted(runs["dataset"].unique())}
        parts = {d: p for d, p in parts.items() if p is not None}
        if not parts:
            continue
        for key in claim.family:
            for d, adj in zip(parts, holm([parts[d][key] for d in parts])):
                parts[d][f"{key}_holm"] = adj
        mine = [dict(claim.decide(p, settings), claim=number, dataset=d) for d, p in parts.items()]
        rows += mine + [dict(overall(mine), claim=number)]
    df = pd.DataFrame(rows)
    df.insert(1, "statement", df["claim"].map({k: c.statement for k, c in CLAIMS.items()}))
    df["rests_on"] = np.where(df["dataset"] == "overall", "", df["claim"].map(RESTS_ON))
    return df
