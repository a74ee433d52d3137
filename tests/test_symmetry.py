"""Minima up to symmetry and the barriers between them (gdbasins.symmetry), on cases with known
answers: the symmetries applied by hand must leave the function unchanged and be undone by
``canonical`` and ``align``; barriers are checked in closed form and against a brute-force grid."""

import time

import numpy as np
import pytest
from scipy.optimize import minimize

from gdbasins.network import Network
from gdbasins.symmetry import align, barriers, canonical, distinct_minima, path_barrier, straight_barrier
from gdbasins.train import train


def transform(net, theta, rng, *, flip, scale=False):
    """A random element of the symmetry group applied to one parameter vector, written out
    independently of the module: permute every hidden layer's units, flip signs (sigmoid: adding
    the old outgoing weights to the next biases) and rescale (c in [0.3, 3]) where asked and the
    next layer is trained."""
    theta = np.array(theta, dtype=float)[None]
    layers = net.layers(theta)
    for l in range(len(net.sizes) - 2):
        n = net.sizes[l + 1]
        has_next = l + 1 < len(layers)
        perm = rng.permutation(n)
        layers[l][:] = layers[l][:, :, perm]
        if has_next:
            layers[l + 1][:, :n] = layers[l + 1][:, perm]
        if flip and has_next:
            s = rng.choice([-1.0, 1.0], n)
            s[0] = -1.0  # at least one flip
            if net.activation == "sigmoid":
                layers[l + 1][:, -1] += layers[l + 1][0, :n][s < 0].sum(axis=0)
            layers[l] *= s
            layers[l + 1][:, :n] *= s[:, None]
        if scale and has_next:
            c = rng.uniform(0.3, 3.0, n)
            layers[l] *= c
            layers[l + 1][:, :n] /= c[:, None]
    return theta[0]


# (network, sign flips, rescaling): the group of each case
CASES = {
    "tanh": (Network((3, 4, 1), "tanh"), True, False),
    "tanh-l2": (Network((3, 4, 2), "tanh", l2=1e-2), True, False),
    "relu": (Network((3, 4, 1), "relu"), False, True),
    "relu-fixed-nobias": (Network((3, 5, 1), "relu", bias=False, fixed_output=True), False, False),
    "relu-fixed": (Network((3, 5, 1), "relu", fixed_output=True), False, False),
    "tanh-deep": (Network((3, 4, 3, 2), "tanh"), True, False),
    "relu-deep": (Network((3, 4, 3, 1), "relu"), False, True),
    "sigmoid": (Network((2, 3, 1), "sigmoid", "sigmoid"), True, False),
}
EXACT = {"tanh", "tanh-l2", "relu-fixed-nobias", "relu-fixed", "tanh-deep"}  # no arithmetic: bit for bit


@pytest.fixture(params=sorted(CASES))
def case(request):
    net, flip, scale = CASES[request.param]
    rng = np.random.default_rng(7)
    theta = rng.normal(size=net.n_params)
    copies = np.stack([transform(net, theta, rng, flip=flip, scale=scale) for _ in range(5)])
    X = rng.normal(size=(30, net.sizes[0]))
    return request.param, net, theta, copies, X


def test_symmetries_leave_the_function_unchanged(case):
    name, net, theta, copies, X = case
    y = np.zeros((30, net.sizes[-1])) + 0.5
    assert not np.allclose(copies, theta)
    expected = np.broadcast_to(net.forward(theta[None], X), (5, 30, net.sizes[-1]))
    np.testing.assert_allclose(net.forward(copies, X), expected, rtol=1e-12, atol=1e-12)
    # canonical and align stay on the orbit: same outputs, same loss (with the L2 penalty)
    for other in (canonical(net, copies), align(net, theta, copies), align(net, copies[0], theta[None])):
        np.testing.assert_allclose(net.forward(other, X)[0], net.forward(theta[None], X)[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(net.loss_value(other, X, y), net.loss_value(theta[None], X, y)[0], rtol=1e-12)


def test_canonical_is_invariant_and_align_recovers_the_original(case):
    name, net, theta, copies, X = case
    can = canonical(net, copies)
    np.testing.assert_allclose(can, np.broadcast_to(canonical(net, theta), can.shape), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(canonical(net, can), can, rtol=1e-10, atol=1e-10)  # a fixed point
    back = align(net, theta, copies)
    if name in EXACT:
        assert np.array_equal(back, np.broadcast_to(theta, back.shape))
    else:
        np.testing.assert_allclose(back, np.broadcast_to(theta, back.shape), rtol=1e-10, atol=1e-10)
    assert align(net, theta, copies[0]).shape == theta.shape


def test_align_uses_the_outgoing_weights():
    """Units 0 and 1 with the same incoming weights differ only in their outgoing ones: swapping
    them is told apart from the original only by the next layer."""
    net = Network((2, 3, 1), "tanh")
    theta = np.arange(1.0, net.n_params + 1)[None]
    W1, W2 = net.layers(theta)
    W1[:, :, 1] = W1[:, :, 0]
    swapped = theta.copy()
    net.layers(swapped)[1][:, [0, 1]] = W2[:, [1, 0]]
    assert not np.array_equal(swapped, theta)
    assert np.array_equal(align(net, theta[0], swapped), theta)
    assert np.array_equal(canonical(net, swapped), canonical(net, theta))


def test_relu_rescaling_has_one_canonical_form_only_without_l2():
    rng = np.random.default_rng(3)
    net = Network((2, 6, 2), "relu")
    theta = rng.normal(size=net.n_params)
    scaled = theta.copy()[None]
    W1, W2 = net.layers(scaled)
    c = np.array([0.1, 0.5, 1.0, 2.0, 7.0, 30.0])
    W1 *= c
    W2[:, :6] /= c[:, None]
    np.testing.assert_allclose(canonical(net, scaled)[0], canonical(net, theta), rtol=1e-12, atol=1e-12)
    # balanced: each unit's incoming (weights and bias) and outgoing norms agree
    V1, V2 = net.layers(canonical(net, scaled))
    np.testing.assert_allclose(np.linalg.norm(V1[0], axis=0), np.linalg.norm(V2[0, :6], axis=1), rtol=1e-12)
    # a unit with zero incoming weights and bias is left as it is (no division by zero)
    dead = theta.copy()[None]
    net.layers(dead)[0][:, :, 2] = 0.0
    out = canonical(net, dead)
    assert np.isfinite(out).all()
    X = rng.normal(size=(10, 2))
    np.testing.assert_allclose(net.forward(out, X), net.forward(dead, X), rtol=1e-12, atol=1e-12)
    # with an L2 penalty rescaling is no symmetry: the rescaled point is another point
    net_l2 = Network((2, 6, 2), "relu", l2=1e-2)
    assert not np.allclose(canonical(net_l2, scaled)[0], canonical(net_l2, theta), atol=1e-3)


def _copies(net, theta, n, rng, noise, flip):
    return np.stack([transform(net, theta, rng, flip=flip) + noise * rng.normal(size=net.n_params) for _ in range(n)])


def test_distinct_minima_groups_copies_of_two_minima():
    rng = np.random.default_rng(11)
    net = Network((2, 4, 1), "tanh")
    m1, m2 = rng.normal(size=(2, net.n_params))
    thetas = np.concatenate([_copies(net, m1, 7, rng, 1e-7, True), _copies(net, m2, 5, rng, 1e-7, True),
                             rng.normal(size=(1, net.n_params)), np.full((1, net.n_params), np.nan)])
    losses = np.concatenate([0.2 + 1e-9 * rng.normal(size=7), 0.1 + 1e-9 * rng.normal(size=5), [0.2], [0.3]])
    labels, table = distinct_minima(net, thetas, losses)
    # m2 has the lower loss: label 0; m1 label 1; the third point shares m1's loss, not its place
    assert list(labels) == [1] * 7 + [0] * 5 + [2, -1]
    assert list(table["minimum"]) == [0, 1, 2] and list(table["count"]) == [5, 7, 1]
    assert table["representative"][0] == 7 + int(np.argmin(losses[7:12]))
    assert table["loss"][0] == losses[7:12].min() and np.all(np.diff(table["loss"]) >= 0)
    # deterministic, and the same partition whatever the order of the rows
    again, table2 = distinct_minima(net, thetas, losses)
    assert np.array_equal(again, labels) and table.equals(table2)
    p = rng.permutation(len(losses))
    shuffled, _ = distinct_minima(net, thetas[p], losses[p])
    assert np.array_equal(shuffled, labels[p])
    # copies at a different loss level are another minimum; a loose loss_tol merges them again
    lifted = losses.copy()
    lifted[:3] += 1e-3
    assert len(distinct_minima(net, thetas, lifted)[1]) == 4
    assert len(distinct_minima(net, thetas, lifted, loss_tol=1e-2)[1]) == 3


def test_distinct_minima_aligns_when_sorting_is_fragile():
    """Two units with the same first incoming weight: noise decides their order in the canonical
    sort, so canonical forms of copies differ, but alignment groups them."""
    rng = np.random.default_rng(5)
    net = Network((3, 5, 1), "relu", fixed_output=True)
    m = rng.normal(size=net.n_params)
    W = net.layers(m[None])[0]
    W[0, 0, 1] = W[0, 0, 0]
    thetas = _copies(net, m, 20, rng, 1e-5, False)
    can = canonical(net, thetas)
    assert np.max(np.linalg.norm(can - can[0], axis=1)) > 0.1  # the sort broke the tie differently
    labels, table = distinct_minima(net, thetas, np.full(20, 0.5))
    assert np.all(labels == 0) and list(table["count"]) == [20]


def test_distinct_minima_at_scale():
    """3,600 endpoints of a 10-10-1 ReLU fixed-output network: 300 minima x 12 noisy permuted
    copies, ten minima per loss level, in shuffled order."""
    rng = np.random.default_rng(1)
    net = Network((10, 10, 1), "relu", fixed_output=True)
    base = rng.normal(size=(300, net.n_params))
    level = np.repeat(rng.uniform(0, 1, 30), 10)
    truth = np.repeat(np.arange(300), 12)
    thetas = np.concatenate([_copies(net, b, 12, rng, 1e-6, False) for b in base])
    losses = level[truth] + 1e-8 * rng.normal(size=truth.size)
    p = rng.permutation(truth.size)
    start = time.perf_counter()
    labels, table = distinct_minima(net, thetas[p], losses[p])
    assert time.perf_counter() - start < 30
    assert len(table) == 300 and np.all(table["count"] == 12)
    pairs = set(zip(labels, truth[p]))
    assert len(pairs) == 300  # one true minimum per label, one label per true minimum


# --- barriers ----------------------------------------------------------------------------------

LINE = Network((1, 1, 1), "identity", bias=False)  # f(x) = w2 w1 x; loss 0.5 (w1 w2 - 1)^2 on x = y = 1
ONE = np.ones((1, 1))


def test_straight_barrier_in_closed_form():
    a = np.array([1.0, 1.0])
    # to the sign-flipped copy: w1 = w2 = 1 - 2t, L = 0.5 ((1 - 2t)^2 - 1)^2, highest 0.5 at t = 1/2
    assert straight_barrier(LINE, ONE, ONE, a, -a) == pytest.approx((0.5, 0.5), abs=1e-12)
    # to the rescaled copy (2, 1/2): w1 w2 = 1 + t (1 - t) / 2, L = t^2 (1 - t)^2 / 8, highest 1/128
    assert straight_barrier(LINE, ONE, ONE, a, np.array([2.0, 0.5])) == pytest.approx((1 / 128, 0.5), abs=1e-12)
    # and between copies aligned first, nothing
    assert straight_barrier(LINE, ONE, ONE, a, align(LINE, a, -a))[0] == 0.0
    assert straight_barrier(LINE, ONE, ONE, a, align(LINE, a, np.array([2.0, 0.5])))[0] == 0.0
    # downhill all the way: no barrier, the higher endpoint reported
    assert straight_barrier(LINE, ONE, ONE, np.array([0.5, 0.5]), a) == (0.0, 0.0)


def _polish(net, X, y, theta):
    fun = lambda p: tuple(v[0] for v in net.backprop(p[None], X, y))  # noqa: E731
    return minimize(fun, theta, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000}).x


@pytest.fixture(scope="module")
def sine():
    """A 1-2-1 tanh regression of sin(3x) with L2 1e-3, trained from eight seeds and polished:
    several copies each of two minima (loss 0.0555 and 0.162)."""
    net = Network((1, 2, 1), "tanh", l2=1e-3)
    X = np.linspace(-2, 2, 21)[:, None]
    y = np.sin(3 * X)
    run = train(net, X, y, seeds=range(8), eta=0.2, batch_size=21, epochs=300)
    thetas = np.stack([_polish(net, X, y, t) for t in run.theta])
    losses = net.loss_value(thetas, X, y)
    assert np.linalg.norm(net.backprop(thetas, X, y)[1], axis=1).max() < 1e-6
    return net, X, y, thetas, losses


def test_endpoints_of_training_group_into_minima(sine):
    net, X, y, thetas, losses = sine
    labels, table = distinct_minima(net, thetas, losses)
    assert len(table) == 2 and table["count"].sum() == 8 and table["count"].min() >= 3  # 5 and 3 here
    for k in range(2):  # the members of a minimum are copies of one another
        members = thetas[labels == k]
        np.testing.assert_allclose(align(net, members[0], members), np.broadcast_to(members[0], members.shape),
                                   atol=1e-4)


def test_straight_barrier_matches_a_brute_force_grid(sine):
    net, X, y, thetas, losses = sine
    labels, table = distinct_minima(net, thetas, losses)
    a = thetas[table["representative"][0]]
    b = align(net, a, thetas[table["representative"][1]])
    height, t_max = straight_barrier(net, X, y, a, b)
    t = np.linspace(0, 1, 2001)
    grid = net.loss_value(a + t[:, None] * (b - a), X, y)
    assert height == pytest.approx(grid.max() - max(grid[0], grid[-1]), rel=1e-6)
    assert height > 1.0 and abs(t_max - t[np.argmax(grid)]) < 1e-3
    # the same minimum's copies: no barrier once aligned
    same = thetas[labels == labels[table["representative"][0]]]
    assert straight_barrier(net, X, y, a, a) == (0.0, 0.0)
    assert straight_barrier(net, X, y, same[0], align(net, same[0], same[1]))[0] < 1e-8


def test_path_barrier_lowers_a_real_barrier(sine):
    net, X, y, thetas, losses = sine
    labels, table = distinct_minima(net, thetas, losses)
    a = thetas[table["representative"][0]]
    b = align(net, a, thetas[table["representative"][1]])
    straight = straight_barrier(net, X, y, a, b)[0]
    height, c = path_barrier(net, X, y, a, b, steps=100)
    assert height < 0.1 * straight
    # the curve through c really is that low: a brute-force grid along it
    t = np.linspace(0, 1, 2001)[:, None]
    curve = net.loss_value((1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b, X, y)
    assert curve.max() - max(curve[0], curve[-1]) == pytest.approx(height, rel=1e-6, abs=1e-9)
    again, c2 = path_barrier(net, X, y, a, b, steps=100)
    assert again == height and np.array_equal(c, c2)
    # the table: one row for the second minimum, its partner a global endpoint
    out = barriers(net, X, y, thetas, losses, labels, 0, steps=100)
    assert list(out.columns[:6]) == ["minimum", "loss", "global_loss", "distance", "straight_barrier", "path_barrier"]
    assert len(out) == 1 and out["minimum"][0] == 1 and labels[out["partner"][0]] == 0
    assert out["loss"][0] == table["loss"][1] and out["global_loss"][0] == pytest.approx(table["loss"][0], abs=1e-9)
    assert out["straight_barrier"][0] == pytest.approx(straight, rel=1e-6)
    assert 0 < out["path_barrier"][0] <= out["straight_barrier"][0]
    assert out["distance"][0] == pytest.approx(np.linalg.norm(a - b), rel=1e-3)


def test_path_barrier_is_never_above_the_straight_one(sine):
    a = np.array([1.0, 1.0])
    # a rescaled copy: the curve bends towards the hyperbola w1 w2 = 1
    straight = straight_barrier(LINE, ONE, ONE, a, np.array([2.0, 0.5]))[0]
    height, c = path_barrier(LINE, ONE, ONE, a, np.array([2.0, 0.5]))
    assert height < 0.01 * straight
    # the sign-flipped copy: the midpoint is a saddle the symmetric curve cannot leave
    height, c = path_barrier(LINE, ONE, ONE, a, -a)
    assert height == straight_barrier(LINE, ONE, ONE, a, -a)[0] == 0.5
    # endpoints of training and unaligned symmetric copies of them, at rates up to far too high
    net, X, y, thetas, losses = sine
    rng = np.random.default_rng(2)
    for i, j in [(0, 1), (0, 2), (1, 3), (2, 2), (4, 5)]:
        a, b = thetas[i], transform(net, thetas[j], rng, flip=True)
        straight = straight_barrier(net, X, y, a, b)[0]
        assert straight > 0.1
        for lr in (None, 0.3, 30.0):
            assert path_barrier(net, X, y, a, b, steps=30, lr=lr)[0] <= straight
