"""The report's tables and verdicts on synthetic result sets with known answers."""

import numpy as np
import pandas as pd
import pytest

from gdbasins import claims, files, render, report

SEEDS = 200
UPDATES = {"batch": 1, "minibatch": 7, "sgd": 100}
BATCH = {"batch": 100, "minibatch": 16, "sgd": 1}


def cell(variant, eta, *, global_=SEEDS, local=0, plateau=0, unconverged=0, epochs_to_arrive=100.0,
         spread=10, dataset="d", order=0, budget=5000):
    """Runs of one (variant, rate) cell on seeds 0..SEEDS-1. Seeds are ranked by a fixed
    permutation (the same for every cell with the same ``order``), the best-ranked ``global_``
    end in the global minimum, the next ``local`` in strict local minima, the next ``plateau`` on
    plateaus and the rest are unconverged (their basin is global: still travelling towards it).
    Converged runs arrive after ``epochs_to_arrive`` +- ``spread`` epochs."""
    seeds = np.arange(SEEDS)
    rank = (seeds * 7919 + order * 104729) % SEEDS
    basin = np.select([rank < global_, rank < global_ + local, rank < global_ + local + plateau],
                      ["global", "local", "plateau"], default="global")
    converged = rank < global_ + local + plateau + 0 * unconverged
    outcome = np.where(converged, basin, "unconverged")
    epochs = epochs_to_arrive + (seeds * 37 % (2 * spread + 1)) - spread
    arrived = converged.copy()
    return pd.DataFrame({
        "dataset": dataset, "variant": variant, "eta": eta, "batch_size": BATCH[variant], "epochs": budget,
        "updates_per_epoch": UPDATES[variant], "seed": seeds, "outcome": outcome, "basin": basin,
        "converged": converged, "diverged": False, "arrived": arrived,
        "epochs_to_arrive": np.where(arrived, epochs, np.nan),
        "updates_to_arrive": np.where(arrived, epochs * UPDATES[variant], np.nan),
        "descent_share": 0.9, "raw_loss": 0.1, "polished_loss": np.where(basin == "global", 0.1, 0.2),
        "L_star": 0.1, "L_star_source": "best polished loss", "gap": np.where(basin == "global", 0.0, 0.1),
        "grad_norm": 1e-9, "eig_min": np.where(basin == "plateau", 0.0, 1e-3), "eig_max": 2.0,
        "escape_loss": np.nan, "final_test_accuracy": 0.9})


def study(batch=None, minibatch=None, sgd=None, dataset="d"):
    """One dataset, one rate per variant; each argument the ``cell`` keywords of that variant."""
    parts = [cell(v, eta, dataset=dataset, **(kw or {})) for v, eta, kw in
             (("batch", 1.0, batch), ("minibatch", 0.3, minibatch), ("sgd", 0.03, sgd))]
    return pd.concat(parts, ignore_index=True)


COST = pd.DataFrame({"dataset": "d", "variant": ["batch", "minibatch", "sgd"], "seconds_per_update": [1e-4, 2e-5, 1e-5]})


def verdict(runs, claim, cost=COST, settings=claims.Settings()):
    v = claims.claims(runs, cost, settings)
    return v[(v["claim"] == claim) & (v["dataset"] != "overall")].iloc[0]


def test_halves_split_each_datasets_seeds_in_two():
    runs = study()
    half = report.halves(runs)
    assert set(runs.loc[half == "select", "seed"]) == set(range(100))
    assert set(runs.loc[half == "test", "seed"]) == set(range(100, 200))
    one = runs[runs["seed"] == 0]
    assert set(report.halves(one)) == {"both"}


def test_claim1_says_what_batch_is_stuck_in():
    stuck_local = verdict(study(batch={"global_": 100, "local": 100}, sgd={"global_": 180, "local": 20}), 1)
    assert stuck_local["verdict"] == "supported"
    assert stuck_local["estimate"] == pytest.approx(0.4, abs=0.1) and stuck_local["lo"] > 0
    on_plateaus = verdict(study(batch={"global_": 100, "plateau": 100}, sgd={"global_": 190, "plateau": 10}), 1)
    assert on_plateaus["verdict"] == "partly supported"
    assert "on plateaus, not in local minima" in on_plateaus["note"]
    # a flat (non-strict) minimum is a local minimum too
    flat = study(batch={"global_": 100, "local": 100}, sgd={"global_": 180, "local": 20})
    flat["basin"] = flat["basin"].replace("local", "flat")
    assert verdict(flat, 1)["verdict"] == "supported"
    never = verdict(study(batch={"global_": 200}, sgd={"global_": 200}), 1)
    assert never["verdict"] == "contradicted" and "rarely stuck" in never["note"]
    same = verdict(study(batch={"global_": 120, "plateau": 80}, sgd={"global_": 120, "plateau": 80}), 1)
    assert same["verdict"] == "contradicted" and "but not more than SGD" in same["note"]


def test_claim2_flips_with_the_data_and_reports_the_paired_interval():
    up = verdict(study(batch={"global_": 100, "local": 100}, sgd={"global_": 160, "local": 40}), 2)
    assert up["verdict"] == "supported"
    # on the 100 test seeds the shares are those of the whole cell; the interval is Newcombe's
    assert up["estimate"] == pytest.approx(0.3, abs=0.08) and up["lo"] > 0 and up["seeds"] == 100
    down = verdict(study(batch={"global_": 160, "local": 40}, sgd={"global_": 100, "local": 100}), 2)
    assert down["verdict"] == "contradicted" and down["hi"] < 0
    # seeds ranked independently under the two: many discordant pairs, a wide interval
    close = verdict(study(batch={"global_": 100, "local": 100}, sgd={"global_": 110, "local": 90, "order": 1}), 2)
    assert close["verdict"] == "inconclusive" and close["lo"] < 0 < close["hi"] and close["hi"] > 0.1
    # the same +0.05 on seeds ranked alike (few discordant pairs): the interval lies below the margin
    small = verdict(study(batch={"global_": 100, "local": 100}, sgd={"global_": 110, "local": 90}), 2)
    assert small["verdict"] == "contradicted" and small["hi"] < 0.1


def test_still_travelling_is_not_counted_as_failing():
    # SGD's unconverged runs are heading for the global minimum: where they ended, SGD is as good as batch
    runs = study(batch={"global_": 150, "local": 50}, sgd={"global_": 60, "local": 50, "unconverged": 90})
    r = verdict(runs, 2)
    assert r["estimate"] == pytest.approx(0.0, abs=0.08)
    assert "after the budget" in r["note"]  # counting only converged runs would say otherwise


def test_claim3_speed_is_seconds_for_one_network():
    # mini-batch arrives in 100 epochs x 7 updates x 2e-5 s; SGD in 60 epochs x 100 x 1e-5 s: 4.3x faster
    runs = study(minibatch={"epochs_to_arrive": 100.0}, sgd={"epochs_to_arrive": 60.0})
    fast = verdict(runs, 3)
    assert fast["verdict"] == "supported"
    assert fast["estimate"] == pytest.approx(60 * 100 * 1e-5 / (100 * 7 * 2e-5), rel=0.15)
    # the same runs with SGD's updates made 20x cheaper: mini-batch still takes fewer updates, but is slower
    cheap_sgd = COST.assign(seconds_per_update=[1e-4, 2e-5, 5e-7])
    slow = verdict(runs, 3, cost=cheap_sgd)
    assert slow["verdict"] == "contradicted" and slow["estimate"] < 1 and "slower" in slow["note"]
    # mini-batch far outside the two others' outcomes
    outside = verdict(study(batch={"global_": 200}, minibatch={"global_": 20, "local": 180}, sgd={"global_": 200}), 3)
    assert outside["verdict"] == "contradicted" and "outside" in outside["note"]


def test_claim3_says_when_too_few_runs_arrived():
    runs = study(minibatch={"global_": 3, "unconverged": 197}, sgd={"global_": 200})
    r = verdict(runs, 3)
    assert r["verdict"] in ("too few runs", "partly supported", "contradicted")
    assert "seeds that arrived under both" in r["numbers"]
    assert r["seeds"] < claims.Settings().min_pairs


def trend(slope, dataset="d"):
    """Three rates per variant; arrival epochs scale like rate ** slope (slope 0: no trend)."""
    parts = []
    for variant, base in (("batch", 1.0), ("minibatch", 0.3), ("sgd", 0.03)):
        for k, eta in enumerate(base * np.array([0.25, 1.0, 4.0])):
            parts.append(cell(variant, eta, epochs_to_arrive=float(400 * 4.0 ** (slope * (k - 1))), spread=50,
                              dataset=dataset, order=0))
    runs = pd.concat(parts, ignore_index=True)
    share = 0.5 + 0.1 * slope * (np.log(runs["eta"]) - np.log(runs.groupby("variant")["eta"].transform("median")))
    return runs.assign(descent_share=share + (runs["seed"] % 7) * 0.01)


def test_claim4_trend_test_flips_when_the_data_flip():
    assert verdict(trend(-1.0), 4)["verdict"] == "supported"
    assert verdict(trend(-1.0), 4)["estimate"] < -0.5
    flat = verdict(trend(0.0), 4)
    assert flat["verdict"] == "contradicted"
    assert abs(flat["estimate"]) < 0.1


def test_holm_across_datasets_can_undo_a_single_significant_result():
    # three datasets with the same modest advantage of SGD: each alone is significant at 0.05,
    # Holm's correction across the three is not
    def one(name):
        return study(batch={"global_": 100, "local": 100}, sgd={"global_": 143, "local": 57, "order": 1},
                     dataset=name)

    single = verdict(one("a").assign(dataset="d"), 2)
    assert single["p_value"] < 0.05 and single["verdict"] == "supported"
    v = claims.claims(pd.concat([one("a"), one("b"), one("c")]), None)
    rows = v[(v["claim"] == 2) & (v["dataset"] != "overall")]
    assert (rows["p_holm"] > 0.05).all() and (rows["verdict"] != "supported").all()
    assert rows["p_holm"].max() == pytest.approx(min(1.0, 3 * rows["p_value"].min()), rel=1e-9)


def test_datasets_that_disagree_depend_on_the_problem():
    runs = pd.concat([study(batch={"global_": 100, "local": 100}, sgd={"global_": 180, "local": 20}, dataset="a"),
                      study(batch={"global_": 180, "local": 20}, sgd={"global_": 100, "local": 100}, dataset="b"),
                      study(batch={"global_": 100, "local": 100}, sgd={"global_": 170, "local": 30}, dataset="c")])
    v = claims.claims(runs, None)
    row = v[(v["claim"] == 2) & (v["dataset"] == "overall")].iloc[0]
    assert row["verdict"] == "depends on the problem"
    assert "holds on a, c" in row["note"] and "fails on b" in row["note"]
    agree = claims.overall([{"dataset": d, "verdict": "supported"} for d in "abc"])
    assert agree["verdict"] == "supported"
    one_of_five = claims.overall([{"dataset": "a", "verdict": "supported"}]
                                 + [{"dataset": d, "verdict": "inconclusive"} for d in "bcde"])
    assert one_of_five["verdict"] == "inconclusive" and "holds on a" in one_of_five["note"]


def test_best_rate_is_chosen_on_the_selection_seeds_only():
    # rate 3.0 is perfect on the selection seeds and poor on the test seeds; rate 1.0 the reverse
    good_first = cell("batch", 3.0, global_=110, local=90, order=0)
    good_first.loc[good_first["seed"] < 100, ["outcome", "basin"]] = "global"
    good_first.loc[good_first["seed"] >= 100, ["outcome", "basin"]] = "local"
    good_later = cell("batch", 1.0)
    good_later.loc[good_later["seed"] < 100, ["outcome", "basin"]] = "local"
    runs = pd.concat([good_first, good_later, cell("sgd", 0.03), cell("minibatch", 0.3)], ignore_index=True)
    best = report.best_rates(runs).set_index("variant")
    assert best.loc["batch", "eta"] == 3.0 and best.loc["batch", "selection_global"] == 1.0


def test_a_rate_whose_runs_do_not_settle_is_not_best():
    # rate 3.0 ends more runs in the global minimum, but only 60% of its runs converged
    hover = cell("batch", 3.0, global_=120, unconverged=80)
    runs = pd.concat([hover, cell("batch", 1.0, global_=100, local=100), cell("sgd", 0.03), cell("minibatch", 0.3)],
                     ignore_index=True)
    best = report.best_rates(runs).set_index("variant")
    assert best.loc["batch", "eta"] == 1.0 and best.loc["batch", "selection_settled"]
    # when no rate settles, the highest share decides after all
    runs = pd.concat([hover, cell("batch", 1.0, global_=60, unconverged=140), cell("sgd", 0.03)], ignore_index=True)
    best = report.best_rates(runs).set_index("variant")
    assert best.loc["batch", "eta"] == 3.0 and not best.loc["batch", "selection_settled"]


def test_every_run_diverged_still_gives_a_report(tmp_path):
    runs = study().assign(dataset="blowup")
    for col in ("raw_loss", "polished_loss", "gap", "eig_max", "eig_min", "epochs_to_arrive", "updates_to_arrive",
                "final_test_accuracy", "descent_share"):
        runs[col] = np.nan
    runs["outcome"] = runs["basin"] = "diverged"
    runs["diverged"], runs["converged"], runs["arrived"] = True, False, False
    runs["L_star"], runs["L_star_source"] = np.nan, "none: every run diverged"
    good = study(dataset="fine")
    paths = []
    for name, df in (("blowup", runs), ("fine", good)):
        paths.append(tmp_path / f"{name}.csv")
        files.write_table(paths[-1], df)
    config = {"study": "t", "seeds": SEEDS, "tolerances": {}, "report_gaps": [1e-6, 1e-4]}
    written = render.build(paths, [], [], {}, config, tmp_path / "out", landscapes=False)
    text = written["readme"].read_text()
    blowup = [line for line in text.splitlines() if line.startswith("| blowup")]
    assert blowup and not any("nan" in line.lower() for line in blowup)
    assert "**3 of 6 cells had < 90% converged at their best rate**" in text
    assert "blowup/batch (eta 1: 0%)" in text
    assert "diverged 600" in text
    table = pd.read_csv(written["outcomes"])
    assert (table.loc[table["dataset"] == "blowup", "diverged"] == 1.0).all()
    assert "<table>" in written["html"].read_text()


def test_partial_results_are_named():
    assert render.missing_jobs(["s/a/batch/eta=1.0", "s/a/sgd/eta=0.1"], ["s/a/batch/eta=1.0"]) == ["s/a/sgd/eta=0.1"]
