"""The report's statistics and verdicts on synthetic result sets with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from gdbasins import render, report


def test_wilson_interval_by_hand():
    # 8 of 10: p = 0.8, z = 1.959964; centre (p + z^2/2n) / (1 + z^2/n), half-width
    # z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n), worked out: (0.4902, 0.9433).
    lo, hi = report.wilson(8, 10)
    z = 1.959963984540054
    d = 1 + z * z / 10
    centre, half = (0.8 + z * z / 20) / d, z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / d
    assert (lo, hi) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    assert report.wilson(0, 50)[0] == 0.0 and report.wilson(50, 50)[1] == 1.0
    assert all(math.isnan(v) for v in report.wilson(0, 0))


def test_mcnemar_exact_by_hand():
    a = np.array([1] * 7 + [0] * 1 + [1] * 5 + [0] * 3, dtype=bool)  # 7 only-a, 1 only-b, 5 both, 3 neither
    b = np.array([0] * 7 + [1] * 1 + [1] * 5 + [0] * 3, dtype=bool)
    n_a, n_b, p = report.mcnemar(a, b)
    # two-sided binomial test of 1 success in 8 at 1/2: 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256
    assert (n_a, n_b) == (7, 1) and p == pytest.approx(18 / 256, rel=1e-12)
    assert report.mcnemar(np.ones(5, bool), np.ones(5, bool)) == (0, 0, 1.0)


def synthetic(batch_local=40, batch_global=10, sgd_global=45, seeds=50, dataset="d"):
    """Runs of one dataset: batch, mini-batch and SGD at one rate each, on the same seeds."""
    rows = []
    rng = np.random.default_rng(0)
    for variant, eta, bs, n_global, n_local in (("batch", 1.0, 100, batch_global, batch_local),
                                                 ("minibatch", 0.3, 16, sgd_global, seeds - sgd_global),
                                                 ("sgd", 0.03, 1, sgd_global, seeds - sgd_global)):
        for seed in range(seeds):
            outcome = "global" if seed < n_global else ("local" if seed < n_global + n_local else "unconverged")
            updates_per_epoch = 100 // bs
            epochs = {"batch": 900, "minibatch": 60, "sgd": 30}[variant] + int(rng.integers(0, 5))
            reached = outcome == "global"
            rows.append({
                "dataset": dataset, "variant": variant, "eta": eta, "batch_size": bs, "seed": seed,
                "outcome": outcome, "basin": outcome, "converged": outcome != "unconverged", "diverged": False,
                "raw_loss": 0.1, "polished_loss": 0.1 if reached else 0.2, "L_star": 0.1,
                "L_star_source": "best polished loss", "gap": 0.0 if reached else 0.1, "grad_norm": 1e-9,
                "eig_min": 1e-3, "eig_max": 2.0, "escape_loss": np.nan, "final_test_accuracy": 0.9,
                "epochs_to_global": epochs if reached else np.nan,
                "updates_to_global": epochs * updates_per_epoch if reached else np.nan,
                "descent_share": 0.9,
            })
    return pd.DataFrame(rows)


def verdict(runs, claim):
    v = report.claims(runs, report.outcome_table(runs))
    return v[(v["claim"] == claim) & (v["dataset"] != "overall")]["verdict"].iloc[0]


def test_claim1_flips_with_the_data():
    assert verdict(synthetic(batch_local=40, batch_global=10), 1) == "supported"
    assert verdict(synthetic(batch_local=0, batch_global=50), 1) == "contradicted"
    assert verdict(synthetic(batch_local=6, batch_global=44), 1) == "inconclusive"  # 12%, CI spans 10%


def test_claim2_flips_with_the_data():
    assert verdict(synthetic(batch_global=10, batch_local=40, sgd_global=45), 2) == "supported"
    assert verdict(synthetic(batch_global=45, batch_local=5, sgd_global=10), 2) == "contradicted"
    assert verdict(synthetic(batch_global=20, batch_local=30, sgd_global=22), 2) == "inconclusive"


def test_claim3_speed_uses_updates():
    runs = synthetic(batch_global=45, batch_local=5, sgd_global=45)
    # mini-batch: ~60 epochs x 6 updates = 360 < SGD: ~30 epochs x 100 updates = 3000
    assert verdict(runs, 3) == "supported"
    slow = runs.copy()
    m = slow["variant"] == "minibatch"
    slow.loc[m, "updates_to_global"] = slow.loc[m, "updates_to_global"] * 100
    assert verdict(slow, 3) == "contradicted"


def test_best_rate_is_the_highest_global_share():
    runs = pd.concat([synthetic(batch_global=10, batch_local=40),
                      synthetic(batch_global=30, batch_local=20).assign(eta=lambda d: d["eta"] * 3)])
    best = report.best_rates(report.outcome_table(runs)).set_index("variant")["eta"]
    assert best["batch"] == 3.0


def test_every_run_diverged_still_gives_a_report(tmp_path):
    runs = synthetic(dataset="blowup")
    for col in ("raw_loss", "polished_loss", "gap", "eig_max", "eig_min", "epochs_to_global", "updates_to_global",
                "final_test_accuracy", "descent_share"):
        runs[col] = np.nan
    runs["outcome"] = runs["basin"] = "diverged"
    runs["diverged"], runs["converged"] = True, False
    runs["L_star"], runs["L_star_source"] = np.nan, "none: every run diverged"
    good = synthetic(dataset="fine")
    paths = []
    for name, df in (("blowup", runs), ("fine", good)):
        paths.append(tmp_path / f"{name}.csv")
        df.to_csv(paths[-1], index=False)
    config = {"study": "t", "seeds": 50, "tolerances": {}, "report_gaps": [1e-6, 1e-4]}
    written = render.build(paths, [], [], {}, config, tmp_path / "out", landscapes=False)
    text = written["readme"].read_text()
    blowup = [line for line in text.splitlines() if line.startswith("| blowup")]
    assert blowup and not any("nan" in line.lower() for line in blowup)
    assert "blowup**: global minimum at each variant's best rate: batch 0%" in text
    assert "diverged 150" in text
    table = pd.read_csv(written["outcomes"])
    assert (table.loc[table["dataset"] == "blowup", "diverged"] == 1.0).all()
    assert "<table>" in written["html"].read_text()


def test_partial_results_are_named():
    assert render.missing_jobs(["s/a/batch/eta=1.0", "s/a/sgd/eta=0.1"], ["s/a/batch/eta=1.0"]) == ["s/a/sgd/eta=0.1"]
