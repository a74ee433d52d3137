"""Backpropagation against central finite differences, every activation x loss."""


import numpy as np
import pytest

from gdbasins import Network
from gdbasins.functions import ACTIVATIONS

ARCHITECTURES = [(2, 3, 1), (3, 4, 1), (2, 5, 4, 2)]
# (loss, output activation): MSE with every output activation, BCE with its sigmoid output.
LOSS_OUTPUTS = [("mse", out) for out in ACTIVATIONS] + [("bce", "sigmoid")]


def numerical_gradient(net, theta, X, y, h=1e-6):
    grad = np.empty_like(theta)
    for j in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[:, j] = h
        grad[:, j] = (net.loss_value(theta + step, X, y) - net.loss_value(theta - step, X, y)) / (2 * h)
    return grad


@pytest.mark.parametrize("sizes", ARCHITECTURES)
@pytest.mark.parametrize("hidden", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_backprop_matches_finite_differences(sizes, hidden, loss, output, l2):
    rng = np.random.default_rng(42)
    net = Network(sizes, hidden, output, loss, l2)
    R, m = 3, 7
    theta = net.init([np.random.default_rng(s) for s in range(R)], "uniform", 1.0)
    X = rng.normal(size=(m, sizes[0]))
    y = rng.random((m, sizes[-1])) if loss == "bce" else rng.normal(size=(m, sizes[-1]))
    value, grad = net.backprop(theta, X, y)
    expected = numerical_gradient(net, theta, X, y)
    rel = np.linalg.norm(grad - expected, axis=1) / np.maximum(
        np.linalg.norm(grad, axis=1) + np.linalg.norm(expected, axis=1), 1e-12)
    assert value.shape == (R,) and grad.shape == theta.shape
    assert np.all(rel < 1e-6), rel


def test_backprop_per_replica_inputs_match_shared_inputs():
    """Replica-specific batches (R, m, d) give each replica the gradient of its own batch."""
    rng = np.random.default_rng(0)
    net = Network((2, 4, 1), "tanh", "sigmoid", "bce", l2=0.01)
    theta = net.init([np.random.default_rng(s) for s in range(3)])
    X = rng.normal(size=(3, 5, 2))
    y = (rng.random((3, 5)) > 0.5).astype(float)
    value, grad = net.backprop(theta, X, y)
    for r in range(3):
        v, g = net.backprop(theta[r : r + 1], X[r], y[r])
        np.testing.assert_allclose(value[r], v[0], rtol=1e-14)
        np.testing.assert_allclose(grad[r], g[0], rtol=1e-13, atol=1e-16)


def test_backprop_is_pure():
    rng = np.random.default_rng(1)
    net = Network((3, 4, 1), "sigmoid", "identity", "mse", l2=0.1)
    theta = net.init([np.random.default_rng(0)])
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    copies = theta.copy(), X.copy(), y.copy()
    first = net.backprop(theta, X, y)
    second = net.backprop(theta, X, y)
    for a, b in zip((theta, X, y), copies):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first[1], second[1])
    assert first[1] is not second[1]


def test_flat_parameters_round_trip():
    net = Network((3, 4, 1))
    theta = np.arange(2 * net.n_params, dtype=float).reshape(2, -1)
    (W1, b1), (W2, b2) = net.unpack(theta)
    assert net.n_params == 3 * 4 + 4 + 4 * 1 + 1 == 21  # the classic explainer's 3-4-1 network
    assert W1.shape == (2, 3, 4) and b1.shape == (2, 1, 4) and W2.shape == (2, 4, 1)
    np.testing.assert_array_equal(W1[1].ravel(), theta[1, :12])
    np.testing.assert_array_equal(b2[0].ravel(), theta[0, 20:])
    W2[0] = -1.0  # views write through
    assert np.all(theta[0, 16:20] == -1.0)


def test_init_schemes_depend_only_on_the_generator():
    net = Network((2, 16, 16, 1), "relu")
    for scheme in ("uniform", "glorot", "he"):
        a = net.init([np.random.default_rng(5), np.random.default_rng(6)], scheme)
        b = net.init([np.random.default_rng(6)], scheme)
        np.testing.assert_array_equal(a[1], b[0])
    he = net.init([np.random.default_rng(0)], "he")
    assert np.all(net.unpack(he)[0][1] == 0)  # He: zero biases
    bound = np.sqrt(6 / (2 + 16))
    W1 = net.unpack(net.init([np.random.default_rng(0)], "glorot"))[0][0]
    assert np.abs(W1).max() <= bound


@pytest.mark.parametrize("bias,fixed_output", [(False, False), (True, True), (False, True)])
@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_backprop_matches_finite_differences_without_biases_or_with_a_fixed_output(bias, fixed_output, hidden):
    """The options of the Safran-Shamir student: no biases and/or output weights fixed to 1."""
    rng = np.random.default_rng(3)
    net = Network((3, 4, 1), hidden, "identity", "mse", 0.1, bias=bias, fixed_output=fixed_output)
    n_out_params = 0 if fixed_output else 4 + bias
    assert net.n_params == 3 * 4 + 4 * bias + n_out_params
    theta = net.init([np.random.default_rng(s) for s in range(3)], "uniform", 1.0)
    X, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 1))
    _, grad = net.backprop(theta, X, y)
    expected = numerical_gradient(net, theta, X, y)
    assert np.allclose(grad, expected, rtol=1e-6, atol=1e-8)


def test_a_fixed_output_network_without_biases_sums_its_hidden_units():
    """``fixed_output`` and ``bias=False`` compute sum_j f(w_j . x), checked by hand."""
    rng = np.random.default_rng(0)
    net = Network((3, 5, 1), "relu", "identity", "mse", bias=False, fixed_output=True)
    theta = rng.normal(size=(2, net.n_params))
    X = rng.normal(size=(7, 3))
    W = theta.reshape(2, 3, 5)
    expected = np.maximum(np.einsum("mi,rij->rmj", X, W), 0).sum(axis=2)
    assert np.allclose(net.forward(theta, X)[..., 0], expected)
    (W1, b1), = net.unpack(theta)
    assert b1 is None and np.shares_memory(W1, theta)


def test_network_options_are_checked():
    with pytest.raises(ValueError, match="'fixed_output'.*one output unit"):
        Network((3, 5, 2), "relu", fixed_output=True)
    with pytest.raises(ValueError, match="'fixed_output'.*hidden layer"):
        Network((3, 1), fixed_output=True)
    with pytest.raises(ValueError, match="'bias' parameter must be true or false"):
        Network((3, 2, 1), bias="no")
