"""Full-batch gradient descent matches scikit-learn's MLPRegressor from identical weights.

They agree because both use the same loss convention: half the mean squared error,
L = 1/(2n) * sum_i (a_i - y_i)^2, whose gradient scikit-learn computes as (a - y) / n, and the same
plain update w <- w - eta * grad (solver 'sgd', momentum 0, alpha 0, one batch of all samples,
no shuffling).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from gdbasins import Network, train


@pytest.mark.parametrize("activation", ["tanh", "relu", "logistic"])
def test_batch_gd_matches_mlpregressor(activation):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]
    ours_act = {"logistic": "sigmoid"}.get(activation, activation)
    net = Network((3, 5, 1), ours_act, "identity", "mse")
    theta0 = net.init([np.random.default_rng(11)], "glorot")
    eta, epochs = 0.05, 25

    mlp = MLPRegressor(hidden_layer_sizes=(5,), activation=activation, solver="sgd", momentum=0.0, alpha=0.0,
                       learning_rate="constant", learning_rate_init=eta, batch_size=len(X),
                       shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.partial_fit(X, y)  # allocates its parameters and optimizer
    (W1, b1), (W2, b2) = net.unpack(theta0)
    mlp.coefs_ = [W1[0].copy(), W2[0].copy()]
    mlp.intercepts_ = [b1[0, 0].copy(), b2[0, 0].copy()]
    for _ in range(epochs):
        mlp.partial_fit(X, y)

    result = train(net, X, y, seeds=[0], eta=eta, batch_size=len(X), epochs=epochs, theta0=theta0)
    (W1, b1), (W2, b2) = net.unpack(result.theta)
    assert np.abs(W1[0] - theta0[0, :15].reshape(3, 5)).max() > 1e-3  # it did move
    np.testing.assert_allclose(W1[0], mlp.coefs_[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(W2[0], mlp.coefs_[1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(b1[0, 0], mlp.intercepts_[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(b2[0, 0], mlp.intercepts_[1], rtol=0, atol=1e-10)
    # The loss history agrees with scikit-learn's (which records the loss before each update).
    np.testing.assert_allclose(result.history["loss"][:-1], np.array(mlp.loss_curve_[1:])[:, None], rtol=1e-10)
