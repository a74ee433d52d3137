"""The classification of where runs ended, on cases with known answers."""

import numpy as np

from gdbasins import Network, train
from gdbasins.endpoints import Tolerances, analyse, classify, hessian

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_y = np.array([0.0, 1.0, 1.0, 0.0])


def test_convex_problem_always_ends_global():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=50)
    net = Network((3, 1), output="identity", loss="mse")  # one linear unit: a convex loss
    res = train(net, X, y, seeds=range(10), eta=0.1, batch_size=50, epochs=300)
    table, polished = analyse(net, res.theta, X, y, diverged=res.diverged)
    # The least-squares optimum, solved independently, is the reference.
    X1 = np.hstack([X, np.ones((50, 1))])
    w = np.linalg.lstsq(X1, y, rcond=None)[0]
    L_star = 0.5 * np.mean((X1 @ w - y) ** 2)
    outcome, basin, converged = classify(table, L_star)
    assert list(outcome) == ["global"] * 10
    np.testing.assert_allclose(polished, np.tile(w, (10, 1)), atol=1e-6)
    assert np.all(table["eig_min"] > 0)  # strictly convex


def test_point_built_as_a_saddle_is_a_saddle():
    """All-zero weights of a tanh network with the output bias at mean(y) are stationary (every
    hidden unit is 0 and gets no error signal), but the W1-W2 cross terms of the Hessian give a
    negative eigenvalue when the targets correlate with the inputs."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] + 0.5
    net = Network((2, 2, 1), "tanh", "identity", "mse")
    theta = np.zeros((1, net.n_params))
    net.unpack(theta)[1][1][0] = y.mean()
    assert np.linalg.norm(net.backprop(theta, X, y)[1]) < 1e-14
    table, _ = analyse(net, theta, X, y)
    outcome, basin, _ = classify(table, 0.0)
    assert table["eig_min"][0] < -0.1 and table["n_negative"][0] >= 1
    assert table["escape_loss"][0] < table["polished_loss"][0] - 0.1  # stepping off descends
    assert outcome[0] == "saddle"


def test_far_too_large_rate_is_diverged():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    y = X.sum(axis=1)
    net = Network((2, 3, 1), "tanh", "identity", "mse")
    res = train(net, X, y, seeds=range(4), eta=1e4, batch_size=30, epochs=50)
    table, _ = analyse(net, res.theta, X, y, diverged=res.diverged)
    outcome, _, converged = classify(table, 0.0)
    assert list(outcome) == ["diverged"] * 4 and not converged.any()
    assert np.all(np.isnan(table["polished_loss"]))


def test_run_stopped_early_on_a_plateau_is_not_global():
    net = Network((2, 2, 1), "sigmoid", "sigmoid", "mse")
    res = train(net, XOR_X, XOR_y, seeds=range(8), eta=0.5, batch_size=4, epochs=50, init="uniform")
    table, _ = analyse(net, res.theta, XOR_X, XOR_y)
    outcome, basin, converged = classify(table, 0.0)
    assert np.all(res.history["loss"][-1] > 0.1)  # still on the plateau around 1/8
    assert "global" not in set(outcome)
    assert set(outcome) == {"unconverged"} and not converged.any()


def test_long_xor_runs_separate_global_from_flat_plateaus():
    """Sigmoid XOR with MSE: runs either solve it or stall at loss 1/16 in a flat region whose
    Hessian has zero eigenvalues -- a plateau, not a strict local minimum."""
    net = Network((2, 2, 1), "sigmoid", "sigmoid", "mse")
    res = train(net, XOR_X, XOR_y, seeds=range(20), eta=5.0, batch_size=4, epochs=5000, init="uniform")
    table, _ = analyse(net, res.theta, XOR_X, XOR_y)
    outcome, basin, _ = classify(table, 0.0)
    assert {"global", "plateau"} <= set(outcome) <= {"global", "plateau", "unconverged"}
    stalled = basin == "plateau"
    np.testing.assert_allclose(table["polished_loss"][stalled], 1 / 16, atol=1e-3)
    assert np.all(table["n_flat"][stalled] > 0)


def test_tolerance_decides_global():
    table = {"diverged": np.array([False, False]), "polished_loss": np.array([0.100, 0.1005]),
             "raw_loss": np.array([0.100, 0.1005]), "grad_norm": np.array([0.0, 0.0]),
             "eig_min": np.array([0.1, 0.1]), "escape_loss": np.array([np.nan, np.nan])}
    assert list(classify(table, 0.1, Tolerances(global_gap=1e-4))[0]) == ["global", "local"]
    assert list(classify(table, 0.1, Tolerances(global_gap=1e-3))[0]) == ["global", "global"]


def test_hessian_of_a_quadratic_is_exact():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 2))
    y = rng.normal(size=20)
    net = Network((2, 1), output="identity", loss="mse", l2=0.2)
    H = hessian(net, np.zeros((1, 3)), X, y)[0]
    X1 = np.hstack([X, np.ones((20, 1))])
    expected = X1.T @ X1 / 20 + np.diag([0.2, 0.2, 0.0])
    np.testing.assert_allclose(H, expected, atol=1e-8)
