"""The exact Hessian (forward-over-reverse) against finite differences where the loss is smooth, a
closed form for the Safran-Shamir ReLU student, and a high-precision reference at a saturated
sigmoid point where finite differences with a fixed step fail."""

from decimal import Decimal, localcontext

import numpy as np
import pytest

import gdbasins.hessian
from gdbasins import Network
from gdbasins.functions import ACTIVATIONS, LOSSES
from gdbasins.hessian import hessian

ARCHITECTURES = [(2, 3, 1), (3, 4, 1), (2, 4, 3, 2)]
# (loss, output activation): MSE with every smooth output activation, BCE with its sigmoid output.
SMOOTH_LOSS_OUTPUTS = [("mse", "sigmoid"), ("mse", "tanh"), ("mse", "identity"), ("bce", "sigmoid")]
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_y = np.array([0.0, 1.0, 1.0, 0.0])


def fd_hessian(net, theta, X, y, h=1e-5):
    """Central differences of the analytic gradient with a fixed step, symmetrised: the Hessian
    ``gdbasins.endpoints`` computed before the exact one."""
    R, P = theta.shape
    H = np.empty((R, P, P))
    for j in range(P):
        step = np.zeros_like(theta)
        step[:, j] = h
        H[:, :, j] = (net.backprop(theta + step, X, y)[1] - net.backprop(theta - step, X, y)[1]) / (2 * h)
    return 0.5 * (H + H.transpose(0, 2, 1))


def relative_error(H, expected):
    """Per replica, ||H - expected|| / ||expected|| (Frobenius)."""
    return np.linalg.norm(H - expected, axis=(1, 2)) / np.linalg.norm(expected, axis=(1, 2))


def problem(net, R=3, m=7, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    theta = net.init([np.random.default_rng(seed + s) for s in range(R)], "uniform", scale)
    X = rng.normal(size=(m, net.sizes[0]))
    y = rng.random((m, net.sizes[-1])) if net.loss == "bce" else rng.normal(size=(m, net.sizes[-1]))
    return theta, X, y


# --- the second derivatives in gdbasins.functions -------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_second_derivative_of_each_activation(name):
    """``d2f_from_a(f(z))`` is the derivative of ``df_from_a(f(z))`` in z (away from ReLU's kink)."""
    act = ACTIVATIONS[name]
    z = np.linspace(-4, 4, 41)
    z = z[np.abs(z) > 0.05]

    def df(z):
        return act.df_from_a(act.f(z, np.empty_like(z)), np.empty_like(z))

    h = 1e-5
    expected = (df(z + h) - df(z - h)) / (2 * h)
    got = act.d2f_from_a(act.f(z, np.empty_like(z)), np.empty_like(z))
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    if name in ("sigmoid", "tanh"):
        assert np.abs(got).max() > 0.05  # not trivially zero


@pytest.mark.parametrize("loss,output", [("mse", out) for out in sorted(ACTIVATIONS)] + [("bce", "sigmoid")])
def test_loss_curvature_is_the_derivative_of_delta(loss, output):
    lossfn, act = LOSSES[loss], ACTIVATIONS[output]
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 5, 3)) * 2
    z[np.abs(z) < 0.05] = 0.5
    y = rng.random((2, 5, 3))

    def delta(z):
        a = act.f(z, np.empty_like(z))
        return lossfn.delta(z, a, y, act, np.empty_like(z), np.empty_like(z))

    h = 1e-6
    expected = (delta(z + h) - delta(z - h)) / (2 * h)
    a = act.f(z, np.empty_like(z))
    got = lossfn.curvature(z, a, y, act, np.empty_like(z), np.empty_like(z))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


# --- smooth networks: against finite differences of the gradient ----------------------------------


@pytest.mark.parametrize("sizes", ARCHITECTURES)
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("loss,output", SMOOTH_LOSS_OUTPUTS)
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_hessian_matches_finite_differences(sizes, hidden, loss, output, l2):
    net = Network(sizes, hidden, output, loss, l2)
    theta, X, y = problem(net)
    H = hessian(net, theta, X, y)
    assert H.shape == (3, net.n_params, net.n_params)
    np.testing.assert_array_equal(H, H.transpose(0, 2, 1))
    rel = relative_error(H, fd_hessian(net, theta, X, y))
    assert np.all(rel < 1e-6), rel


@pytest.mark.parametrize("bias,fixed_output", [(False, False), (True, True), (False, True)])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("loss,output", [("mse", "identity"), ("mse", "tanh"), ("bce", "sigmoid")])
def test_hessian_matches_finite_differences_without_biases_or_with_a_fixed_output(bias, fixed_output, hidden,
                                                                                  loss, output):
    net = Network((3, 4, 1), hidden, output, loss, 0.1, bias=bias, fixed_output=fixed_output)
    theta, X, y = problem(net, seed=3, m=9)
    rel = relative_error(hessian(net, theta, X, y), fd_hessian(net, theta, X, y))
    assert np.all(rel < 1e-6), rel


@pytest.mark.parametrize("sizes,bias,fixed_output", [
    ((3, 2), True, False), ((3, 2), False, False),
    ((2, 3, 3, 3, 2), True, False), ((2, 3, 3, 3, 2), False, False),
    ((2, 3, 2, 4, 1), True, False), ((2, 3, 2, 4, 1), False, True), ((2, 3, 2, 4, 1), True, True)])
def test_hessian_without_or_with_several_hidden_layers(sizes, bias, fixed_output):
    net = Network(sizes, "tanh", "sigmoid", "mse", 0.05, bias=bias, fixed_output=fixed_output)
    theta, X, y = problem(net, seed=5, m=6)
    rel = relative_error(hessian(net, theta, X, y), fd_hessian(net, theta, X, y))
    assert np.all(rel < 1e-6), rel


def test_hessian_of_a_linear_least_squares_problem_is_its_normal_matrix():
    """One linear unit with MSE and L2: H = X1^T X1 / m + l2 on the weights, nothing else."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(11, 3)), rng.normal(size=11)
    net = Network((3, 1), output="identity", loss="mse", l2=0.2)
    theta = rng.normal(size=(2, net.n_params))
    X1 = np.hstack([X, np.ones((11, 1))])
    expected = X1.T @ X1 / 11 + np.diag([0.2, 0.2, 0.2, 0.0])
    np.testing.assert_allclose(hessian(net, theta, X, y), np.stack([expected] * 2), rtol=1e-13, atol=1e-15)


# --- ReLU ----------------------------------------------------------------------------------------


def student_hessian(W, X):
    """The Safran-Shamir student's Hessian away from kinks, J^T J / m with J[i, (a, j)] =
    1[w_j . x_i > 0] x_i[a] (W of shape (n_in, n_hidden), row-major), built without the package."""
    m, n_in = X.shape
    on = (X @ W > 0).astype(float)
    J = (X[:, :, None] * on[:, None, :]).reshape(m, -1)
    return J.T @ J / m


@pytest.mark.parametrize("k,n", [(2, 3), (5, 4), (10, 10)])
def test_safran_shamir_student_matches_its_closed_form(k, n):
    rng = np.random.default_rng(k * n)
    net = Network((k, n, 1), "relu", "identity", "mse", bias=False, fixed_output=True)
    X = rng.normal(size=(40, k))
    y = np.maximum(X, 0).sum(axis=1)  # the teacher: one unit per input
    theta = rng.normal(size=(3, net.n_params))
    H = hessian(net, theta, X, y)
    for r in range(3):
        np.testing.assert_allclose(H[r], student_hessian(theta[r].reshape(k, n), X), rtol=1e-12, atol=1e-14)


def preactivations(net, theta, X):
    """Every layer's pre-activations (R, m, n_l), computed here from :meth:`Network.unpack`."""
    a, out = X, []
    layers = net.unpack(theta)
    for l, (W, b) in enumerate(layers):
        z = a @ W + (0 if b is None else b)
        out.append(z)
        a = np.maximum(z, 0) if l < len(layers) - 1 else z
    return out


@pytest.mark.parametrize("sizes", [(3, 5, 1), (3, 5, 4, 2)])
@pytest.mark.parametrize("output", ["identity", "relu"])
def test_relu_network_with_a_trained_output_matches_finite_differences_away_from_kinks(sizes, output):
    """Samples whose pre-activations (all layers, all replicas) are within 0.05 of a kink are
    dropped; a step of 1e-6 then moves no pre-activation across one."""
    net = Network(sizes, "relu", output, "mse", 0.1)
    theta, X, y = problem(net, R=2, m=300, seed=11)
    if output == "relu":
        y = np.abs(y)
    far = np.ones(len(X), dtype=bool)
    for z in preactivations(net, theta, X):
        far &= np.abs(z).min(axis=(0, 2)) > 0.05
    assert far.sum() >= 30
    X, y = X[far], y[far]
    H = hessian(net, theta, X, y)
    rel = relative_error(H, fd_hessian(net, theta, X, y, h=1e-6))
    assert np.all(rel < 1e-6), rel
    if output == "relu":  # some samples have the output unit off: its rows drop out
        assert (preactivations(net, theta, X)[-1] < 0).any()


def test_at_a_relu_kink_the_exact_hessian_is_the_closed_form_and_finite_differences_are_not():
    """A sample exactly on a hidden unit's boundary (z = 0, exactly, in floating point): the fixed
    step straddles the kink and the finite-difference Hessian gets a large negative eigenvalue,
    which the student's Hessian J^T J / m (positive semi-definite) does not have. The exact one is
    that closed form with the convention f'(0) = 0."""
    rng = np.random.default_rng(2)
    k, n, m = 3, 4, 20
    net = Network((k, n, 1), "relu", "identity", "mse", bias=False, fixed_output=True)
    X = rng.normal(size=(m, k))
    W = rng.normal(size=(k, n))
    W[:, 0] = [0.5, -0.25, 1.0]
    X[0] = [1.0, 2.0, 0.0]  # x_0 . w_0 = 0.5 - 0.5 + 0 = 0 exactly
    y = np.maximum(X, 0).sum(axis=1) + 1.0
    theta = W.reshape(1, -1)
    assert (X @ W)[0, 0] == 0.0
    H = hessian(net, theta, X, y)[0]
    np.testing.assert_allclose(H, student_hessian(W, X), rtol=1e-12, atol=1e-14)
    assert np.linalg.eigvalsh(H)[0] >= -1e-10
    assert np.linalg.eigvalsh(fd_hessian(net, theta, X, y)[0])[0] < -1.0


# --- saturated sigmoids with weights of norm ~1e6 --------------------------------------------------


def decimal_hessian(theta, X, y, n_hidden, digits=80, h="1e-25"):
    """The Hessian of a one-hidden-layer sigmoid/sigmoid/MSE network (with biases), by second
    differences of its loss computed in ``digits``-digit decimal arithmetic: a reference that
    shares no code with the package and whose errors (about h^2 times fourth derivatives, and
    10^-digits / h^2) are far below float64's."""
    n_in = X.shape[1]

    def loss(t):
        W1, b1 = t[: n_in * n_hidden], t[n_in * n_hidden : (n_in + 1) * n_hidden]
        W2, b2 = t[(n_in + 1) * n_hidden : -1], t[-1]
        total = Decimal(0)
        for x, target in zip(X, y):
            x = [Decimal(float(v)) for v in x]
            hid = [1 / (1 + (-(sum(x[i] * W1[i * n_hidden + j] for i in range(n_in)) + b1[j])).exp())
                   for j in range(n_hidden)]
            out = 1 / (1 + (-(sum(hj * wj for hj, wj in zip(hid, W2)) + b2)).exp())
            total += (out - Decimal(float(target))) ** 2
        return total / (2 * len(X))

    with localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = digits, 10**8, -(10**8)
        t0, h = [Decimal(float(v)) for v in theta], Decimal(h)
        P = len(t0)
        H = np.empty((P, P))

        def shifted(i, di, j, dj):
            t = list(t0)
            t[i] += di
            t[j] += dj
            return loss(t)

        for i in range(P):
            for j in range(i, P):
                pp, pm = shifted(i, h, j, h), shifted(i, h, j, -h)
                mp, mm = shifted(i, -h, j, h), shifted(i, -h, j, -h)
                H[i, j] = H[j, i] = float((pp - pm - mp + mm) / (4 * h * h))
    return H


def xor_point(kind):
    """Parameters of a 2-2-1 sigmoid network (W1 row-major, b1, W2, b2) with weights ~1e6.

    ``plateau``: two copies of one hidden unit, ``sigmoid(1e6 (x1 - x2) + 0.3)``, with output
    weights +1e6 and -1e6 that cancel: the output is 1/2 everywhere (loss 1/8). The hidden unit is
    active on (0, 0) and (1, 1), where the output weights make the curvature ~1e9, and a step of
    1e-5 in a hidden weight moves the output pre-activation by ~2.4.
    ``solved``: OR and AND units saturated to exactly 0 or 1, and an output at pre-activations
    +-20 and -60: every second derivative is tiny (f'(z) = 0 exactly in the hidden layer).
    """
    c = 1e6
    if kind == "plateau":
        W1, b1, W2, b2 = [c, c, -c, -c], [0.3, 0.3], [c, -c], 0.0
    else:
        W1, b1, W2, b2 = [c, c, c, c], [-0.5 * c, -1.5 * c], [40.0, -80.0], -20.0
    return np.array([W1 + b1 + W2 + [b2]])


@pytest.mark.parametrize("kind", ["plateau", "solved"])
def test_saturated_sigmoid_xor_matches_a_high_precision_reference(kind):
    net = Network((2, 2, 1), "sigmoid", "sigmoid", "mse")
    theta = xor_point(kind)
    assert np.linalg.norm(theta) > 1e6
    H = hessian(net, theta, XOR_X, XOR_y)
    assert np.all(np.isfinite(H))
    expected = decimal_hessian(theta[0], XOR_X, XOR_y, 2)[None]
    # At the solved point the output's f'(20) = a (1 - a) has a relative error of ~3e-8 from
    # rounding a = sigmoid(20) = 1 - 2e-9 to float64, in the gradient as in the Hessian.
    rel = relative_error(H, expected)
    assert rel[0] < (1e-8 if kind == "plateau" else 1e-6), rel
    eig, eig_expected = np.linalg.eigvalsh(H[0]), np.linalg.eigvalsh(expected[0])
    np.testing.assert_allclose(eig, eig_expected, atol=1e-12 * np.abs(eig_expected).max())
    if kind == "plateau":
        np.testing.assert_allclose(net.loss_value(theta, XOR_X, XOR_y), 1 / 8)
        assert np.abs(H).max() > 1e8
        assert relative_error(fd_hessian(net, theta, XOR_X, XOR_y), expected)[0] > 0.5  # the old Hessian
    else:
        assert np.abs(H).max() < 1e-6 and eig[0] > -1e-8


# --- replicas ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [dict(activation="tanh", output="sigmoid", loss="bce", l2=0.01),
                                  dict(activation="relu", output="identity", loss="mse", bias=False,
                                       fixed_output=True)])
def test_replicas_are_independent_bit_for_bit(spec, monkeypatch):
    net = Network((3, 6, 1), **spec)
    theta, X, y = problem(net, R=5, m=50, seed=7)
    theta[2, 4] = np.nan
    whole = hessian(net, theta, X, y)
    monkeypatch.setattr(gdbasins.hessian, "CHUNK_ELEMENTS", 2**12)  # several chunks of directions a layer
    H = hessian(net, theta, X, y)
    np.testing.assert_allclose(H, whole, rtol=1e-13, atol=1e-15)
    assert np.all(np.isnan(H[2]))
    for r in (0, 1, 3, 4):
        np.testing.assert_array_equal(H[r], hessian(net, theta[r : r + 1], X, y)[0])
        assert np.all(np.isfinite(H[r]))
    # One batch per replica: each replica's Hessian is that of its own batch.
    rng = np.random.default_rng(1)
    Xr, yr = rng.normal(size=(5, 30, 3)), rng.random((5, 30, 1))
    Hr = hessian(net, theta, Xr, yr)
    for r in (0, 4):
        np.testing.assert_array_equal(Hr[r], hessian(net, theta[r : r + 1], Xr[r], yr[r])[0])


def test_inputs_are_not_modified():
    net = Network((2, 4, 1), "sigmoid", "identity", "mse", 0.1)
    theta, X, y = problem(net)
    copies = theta.copy(), X.copy(), y.copy()
    hessian(net, theta, X, y)
    for a, b in zip((theta, X, y), copies):
        np.testing.assert_array_equal(a, b)
