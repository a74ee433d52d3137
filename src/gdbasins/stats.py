"""The statistics the verdicts rest on, each small enough to check by hand (``tests/test_stats.py``).

* shares: 95% Wilson score intervals;
* two variants on the same seeds (paired booleans): McNemar's exact test (a two-sided binomial
  test of the discordant pairs) and Newcombe's (1998, method 10) interval for the paired
  difference in shares;
* paired times: the Wilcoxon signed-rank test on log ratios, and the distribution-free interval of
  their median (order statistics of a Binomial(n, 1/2));
* a trend: Spearman's rank correlation with a Fisher-z interval (Bonett & Wright's variance);
* several datasets of one claim: Holm's step-down correction.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["wilson", "mcnemar", "paired_difference", "holm", "median_ratio", "spearman", "Z95"]

Z95 = float(stats.norm.ppf(0.975))


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials; (nan, nan) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar(a, b) -> tuple[int, int, float]:
    """McNemar's exact test for paired booleans: ``(n_a_only, n_b_only, p)``, with p from a
    two-sided binomial test of the discordant pairs against 1/2 (1.0 without discordant pairs)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n_a, n_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = stats.binomtest(n_a, n_a + n_b, 0.5).pvalue if n_a + n_b else 1.0
    return n_a, n_b, float(p)


def paired_difference(a, b) -> dict:
    """Share of ``a`` minus share of ``b`` on the same units (paired booleans), with Newcombe's
    hybrid score interval (method 10: the two Wilson intervals combined with the correlation phi of
    the pairs, phi continuity-corrected when positive) and McNemar's exact p. Returns ``n, share_a, share_b, diff, lo, hi, a_only, b_only,
    p``; NaNs for n = 0."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n = len(a)
    both, a_only, b_only = int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b))
    neither = n - both - a_only - b_only
    out = {"n": n, "a_only": a_only, "b_only": b_only}
    if n == 0:
        return dict(out, share_a=np.nan, share_b=np.nan, diff=np.nan, lo=np.nan, hi=np.nan, p=np.nan)
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    l1, u1 = wilson(both + a_only, n)
    l2, u2 = wilson(both + b_only, n)
    margins = (both + a_only) * (neither + b_only) * (both + b_only) * (neither + a_only)
    # Newcombe's continuity correction of phi for positively correlated pairs: without it, a few
    # perfectly concordant pairs give an interval of zero width
    cross = both * neither - a_only * b_only
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / np.sqrt(margins) if margins > 0 else 0.0
    d = p1 - p2
    lower = np.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = np.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return dict(out, share_a=p1, share_b=p2, diff=d, lo=max(d - lower, -1.0), hi=min(d + upper, 1.0),
                p=mcnemar(a, b)[2])


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order; NaNs (tests that could not run)
    stay NaN and do not count towards the family."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def median_ratio(x, y) -> dict:
    """Paired positive times ``x``, ``y``: the median of ``x / y`` with its 95% distribution-free
    interval (order statistics k and n - k + 1 of the log ratios, k the largest with
    P(Binomial(n, 1/2) < k) <= 0.025; NaN for n < 6, where none reaches 95%), and the Wilcoxon signed-rank p of the log ratios."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "ratio": np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan}
    r = np.sort(np.log(x) - np.log(y))
    k = int(stats.binom.ppf(0.025, n, 0.5))  # 0 below n = 6: no order statistics give 95%
    p = 1.0 if np.all(r == 0) else float(stats.wilcoxon(r).pvalue)
    lo, hi = (float(np.exp(r[k - 1])), float(np.exp(r[n - k]))) if k >= 1 else (np.nan, np.nan)
    return {"n": n, "ratio": float(np.exp(np.median(r))), "lo": lo, "hi": hi, "p": p}


def spearman(x, y) -> dict:
    """Spearman's rank correlation of ``x`` and ``y`` with its p-value and a 95% interval
    (Fisher z, variance (1 + rho^2 / 2) / (n - 3)); NaNs when either is constant or n < 4."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 4 or np.all(x == x[0]) or np.all(y == y[0]):
        return {"n": n, "rho": np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan}
    res = stats.spearmanr(x, y)
    rho = float(res.statistic)
    z, se = np.arctanh(np.clip(rho, -0.999999, 0.999999)), np.sqrt((1 + rho * rho / 2) / (n - 3))
    return {"n": n, "rho": rho, "lo": float(np.tanh(z - Z95 * se)), "hi": float(np.tanh(z + Z95 * se)),
            "p": float(res.pvalue)}
