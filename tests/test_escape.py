"""The escape experiment: continuations from a built strict local minimum report what actually
happens to them, and the report's table counts it right."""

import numpy as np
import pandas as pd
import pytest

from gdbasins import Network
from gdbasins.endpoints import Tolerances, analyse, classify, polish
from gdbasins.escape import CONTINUE_SALT, continue_runs
from gdbasins.report import escape_table
from gdbasins.train import train

# A 1-2-1 tanh fit of sin(3x) with a little L2: its polished endpoints fall into two strict
# minima (tests/test_symmetry.py shows the same problem).
NET = Network((1, 2, 1), "tanh", "identity", "mse", 1e-3)
X = np.linspace(-2, 2, 21)[:, None]
Y = np.sin(3 * X[:, 0])


@pytest.fixture(scope="module")
def minima():
    res = train(NET, X, Y, seeds=range(8), eta=0.2, batch_size=21, epochs=300)
    table, polished = analyse(NET, res.theta, X, Y)
    _, basin, _ = classify(table, float(np.nanmin(table["polished_loss"])))
    return table, polished, basin


def test_the_problem_has_a_strict_local_minimum(minima):
    table, _, basin = minima
    assert "local" in set(basin) and "global" in set(basin)
    assert np.all(table["eig_min"][basin == "local"] > 1e-6)


def test_continuations_report_the_escapes_that_happen(minima):
    table, polished, basin = minima
    stuck = np.flatnonzero(basin == "local")[:3]
    start = polished[stuck]
    grids = {"batch": [0.05], "sgd": [0.02, 0.3]}
    out = continue_runs(NET, X, Y, start, stuck, grids, epochs=200, minibatch_size=4, salt=7)
    assert len(out) == 3 * len(stuck)
    for (variant, eta), g in out.groupby(["variant", "eta"]):
        b = 21 if variant == "batch" else 1
        # independently: train from the same start with the same shuffles, polish, compare
        res = train(NET, X, Y, seeds=stuck, eta=eta, batch_size=b, epochs=200, theta0=start, salt=7 ^ CONTINUE_SALT)
        _, loss, _, _ = polish(NET, res.theta, X, Y, maxiter=2000)
        np.testing.assert_array_equal(g["polished_loss"].to_numpy(), np.where(res.diverged, np.nan, loss))
    control = out[out["variant"] == "batch"]
    # batch GD at a small rate started at a strict minimum stays there: no escape
    np.testing.assert_allclose(control["polished_loss"], table["polished_loss"][stuck], rtol=0, atol=1e-9)


def test_the_escape_table_counts_escapes_against_the_control():
    rows = []
    for seed in range(10):
        for variant, eta, end in (("batch", 0.1, 0.5), ("sgd", 0.01, 0.5 if seed < 7 else 0.1),
                                  ("sgd", 0.1, 0.0 if seed < 6 else 0.5)):
            rows.append({"dataset": "d", "seed": seed, "start_basin": "local", "start_loss": 0.5, "start_eta": 0.1,
                         "variant": variant, "eta": eta, "batch_size": 1, "epochs": 10, "diverged": False,
                         "final_loss": end, "polished_loss": end, "distance": 1.0})
    t = escape_table(pd.DataFrame(rows), {"d": 0.0}, Tolerances()).set_index(["variant", "eta"])
    assert t.loc[("batch", 0.1), "escaped"] == 0 and t.loc[("batch", 0.1), "vs_control"] == 0
    assert t.loc[("sgd", 0.01), "escaped"] == pytest.approx(0.3) and t.loc[("sgd", 0.01), "reached_global"] == 0
    assert t.loc[("sgd", 0.1), "escaped"] == pytest.approx(0.6) and t.loc[("sgd", 0.1), "reached_global"] == pytest.approx(0.6)
    assert t.loc[("sgd", 0.1), "vs_control"] == pytest.approx(0.6) and t.loc[("sgd", 0.1), "p_value"] == pytest.approx(2 / 2**6)
