"""The statistics behind every verdict, each against a value worked out by hand or by brute force."""

import math

import numpy as np
import pytest

from gdbasins import stats

Z = 1.959963984540054


def wilson_by_hand(k, n):
    p = k / n
    d = 1 + Z * Z / n
    centre, half = (p + Z * Z / (2 * n)) / d, Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / d
    return centre - half, centre + half


def test_wilson_interval_by_hand():
    lo, hi = stats.wilson(8, 10)
    assert (lo, hi) == pytest.approx(wilson_by_hand(8, 10), abs=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    assert stats.wilson(0, 50)[0] == 0.0 and stats.wilson(50, 50)[1] == 1.0
    assert all(math.isnan(v) for v in stats.wilson(0, 0))


def test_mcnemar_exact_by_hand():
    a = np.array([1] * 7 + [0] * 1 + [1] * 5 + [0] * 3, dtype=bool)  # 7 only-a, 1 only-b, 5 both, 3 neither
    b = np.array([0] * 7 + [1] * 1 + [1] * 5 + [0] * 3, dtype=bool)
    n_a, n_b, p = stats.mcnemar(a, b)
    # two-sided binomial test of 1 success in 8 at 1/2: 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256
    assert (n_a, n_b) == (7, 1) and p == pytest.approx(18 / 256, rel=1e-12)
    assert stats.mcnemar(np.ones(5, bool), np.ones(5, bool)) == (0, 0, 1.0)


def pairs(both, a_only, b_only, neither):
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=bool)
    return a, b


def test_paired_difference_interval_by_hand():
    # 100 seeds: 30 both, 12 only a, 4 only b, 54 neither. p1 = 0.42, p2 = 0.34, D = 0.08.
    # Wilson: p1 in (0.32798, 0.51794), p2 in (0.25462, 0.43722). phi with Newcombe's continuity
    # correction: (30 * 54 - 12 * 4 - 100/2) / sqrt(42 * 58 * 34 * 66) = 1522 / 2338.0 = 0.65098.
    # lower = D - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2) = 0.08 - 0.07920 = 0.00080
    # upper = D + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2) = 0.08 + 0.07743 = 0.15743
    c = stats.paired_difference(*pairs(30, 12, 4, 54))
    assert c["diff"] == pytest.approx(0.08)
    assert (round(c["lo"], 4), round(c["hi"], 4)) == (0.0008, 0.1574)
    (l1, u1), (l2, u2) = wilson_by_hand(42, 100), wilson_by_hand(34, 100)
    phi = (30 * 54 - 12 * 4 - 50) / math.sqrt(42 * 58 * 34 * 66)
    lower = 0.08 - math.sqrt((0.42 - l1) ** 2 - 2 * phi * (0.42 - l1) * (u2 - 0.34) + (u2 - 0.34) ** 2)
    assert c["lo"] == pytest.approx(lower, abs=1e-12)
    assert c["p"] == stats.mcnemar(*pairs(30, 12, 4, 54))[2]
    # swapping the two negates the difference and mirrors the interval
    s = stats.paired_difference(*reversed(pairs(30, 12, 4, 54)))
    assert (s["diff"], s["lo"], s["hi"]) == pytest.approx((-0.08, -c["hi"], -c["lo"]))


def test_paired_difference_of_a_few_identical_pairs_is_not_certain():
    c = stats.paired_difference(*pairs(1, 0, 0, 1))  # two seeds, same outcome under both
    assert c["diff"] == 0 and c["lo"] < -0.3 and c["hi"] > 0.3
    assert np.isnan(stats.paired_difference([], [])["diff"])


def test_holm_worked_example():
    # sorted: 0.005 * 4 = 0.02; 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> 0.06 (monotone)
    got = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # a test that could not run is no member of the family
    got = stats.holm([0.01, np.nan, 0.04])
    assert got[0] == pytest.approx(0.02) and np.isnan(got[1]) and got[2] == pytest.approx(0.04)
    assert stats.holm([0.6, 0.9]).tolist() == [1.0, 1.0]


def test_median_ratio_interval_from_order_statistics():
    # ten ratios 1..10 (x = k, y = 1): median ratio sqrt(5 * 6); P(Binomial(10, 1/2) <= 1) =
    # 11/1024 <= 0.025 < P(<= 2) = 56/1024, so the interval runs from the 2nd to the 9th smallest
    x = np.arange(1, 11, dtype=float)
    r = stats.median_ratio(x, np.ones(10))
    assert r["ratio"] == pytest.approx(math.sqrt(30))
    assert (r["lo"], r["hi"]) == pytest.approx((2.0, 9.0))
    assert r["p"] < 0.01  # every ratio > 1
    # brute force: the interval's coverage of the true median under any continuous law is >= 95%
    n = 10
    cover = sum(math.comb(n, j) for j in range(2, n - 1)) / 2**n
    assert cover >= 0.95
    # five pairs: even the widest interval, smallest to largest, covers only 1 - 2/32 < 95%
    assert np.isnan(stats.median_ratio(x[:5], np.ones(5))["lo"])
    assert not np.isnan(stats.median_ratio(x[:6], np.ones(6))["lo"])  # 1 - 2/64 >= 95%


def test_spearman_against_a_brute_force_rank_correlation():
    rng = np.random.default_rng(3)
    x = np.repeat(np.log([0.01, 0.1, 1.0]), 20)
    y = -x + rng.normal(0, 1.0, len(x))
    got = stats.spearman(x, y)

    def ranks(v):  # average ranks of ties, by brute force
        return np.array([np.sum(v < a) + (np.sum(v == a) + 1) / 2 for a in v])

    rx, ry = ranks(x), ranks(y)
    rho = np.corrcoef(rx, ry)[0, 1]
    assert got["rho"] == pytest.approx(rho, abs=1e-12)
    assert got["lo"] < rho < got["hi"] and got["hi"] < 0 and got["p"] < 1e-3
    assert np.isnan(stats.spearman(x, np.ones_like(x))["rho"])  # constant: no trend to test
