"""The perturbation test and the labels it decides: certified non-smooth ReLU minima, flat
minima, saturation plateaus and degenerate saddles, each on a point whose answer is known."""

import numpy as np
import pytest

from gdbasins import Network
from gdbasins.endpoints import Certification, Tolerances, analyse, certify, classify, saturated_units

# One ReLU unit, fixed output weight 1, no bias: f(x) = relu(w x). Samples x = +1 and x = -1.
RELU = Network((1, 1, 1), "relu", "identity", "mse", bias=False, fixed_output=True)
X = np.array([[1.0], [-1.0]])
# L(w) = 1/4 [(relu(w) + 1)^2 + (relu(-w) + 1)^2]: a kink at w = 0 with slopes -1/2 and +1/2 on
# its two sides, a non-smooth local minimum of loss 1/2 where the gradient never vanishes.
KINK_MIN = np.array([-1.0, -1.0])
# L(w) = 1/4 [(relu(w) + 1)^2 + (relu(-w) - 1)^2]: the same kink, but the loss falls to 1/4 at
# w = -1 on its left: not a minimum.
KINK_NOT = np.array([-1.0, 1.0])


def test_the_losses_are_the_ones_written_by_hand():
    for w in (-0.7, -1e-3, 1e-3, 0.4):
        assert RELU.loss_value([[w]], X, KINK_MIN)[0] == pytest.approx(0.25 * ((max(w, 0) + 1) ** 2 + (max(-w, 0) + 1) ** 2))
        assert RELU.loss_value([[w]], X, KINK_NOT)[0] == pytest.approx(0.25 * ((max(w, 0) + 1) ** 2 + (max(-w, 0) - 1) ** 2))


def table_at(point, y, c_loss, c_norm):
    loss, grad = RELU.backprop([[point]], X, y)
    return {"diverged": np.array([False]), "polished_loss": loss, "raw_loss": loss,
            "grad_norm": np.abs(grad[:, 0]), "polished_norm": np.array([abs(point)]), "eig_min": np.array([0.5]),
            "escape_loss": np.array([np.nan]), "certify_loss": c_loss, "certify_norm": c_norm,
            "n_saturated": np.array([0])}


def test_a_non_smooth_local_minimum_is_certified_and_a_kink_that_is_not_is_refused():
    tol = Tolerances()
    for y, certified in ((KINK_MIN, True), (KINK_NOT, False)):
        point = 1e-9  # where a polisher stalls: on the kink's active side, gradient norm 1/2
        c_loss, c_norm = certify(RELU, np.array([[point]]), X, y, Certification(radius=1e-3, directions=4))
        table = table_at(point, y, c_loss, c_norm)
        assert table["grad_norm"][0] == pytest.approx(0.5)
        outcome, basin, _ = classify(table, 0.0, tol)
        if certified:
            assert c_loss[0] >= 0.5 - 1e-9 and basin[0] == "local"
        else:
            assert c_loss[0] == pytest.approx(0.25, abs=1e-9) and basin[0] == "unresolved"


def test_analyse_certifies_the_kink_minimum_from_a_nearby_start():
    table, polished = analyse(RELU, np.array([[0.3], [-0.4]]), X, KINK_MIN)
    _, basin, _ = classify(table, 0.0)
    assert np.all(np.abs(polished[:, 0]) < 1e-6) and np.allclose(table["polished_loss"], 0.5)
    assert list(basin) == ["local", "local"]


def test_a_free_parameter_makes_a_flat_minimum_not_a_plateau():
    """A linear model whose second input is always 0: its weight is a flat direction, the loss
    is the same along it, nothing is saturated: a flat (non-strict) minimum."""
    rng = np.random.default_rng(0)
    net = Network((2, 1), output="identity", loss="mse")
    X2 = np.column_stack([rng.normal(size=30), np.zeros(30)])
    y = 2 * X2[:, 0] + 0.3 * rng.normal(size=30)
    table, _ = analyse(net, np.array([[0.0, 5.0, 0.0]]), X2, y)
    assert table["n_flat"][0] == 1 and table["n_saturated"][0] == 0 and np.isfinite(table["certify_loss"][0])
    assert list(classify(table, 0.0)[1]) == ["flat"]


def test_saturated_units_are_counted_on_the_samples_they_saturate():
    net = Network((1, 2, 1), "sigmoid", "identity", "mse")
    Xs = np.array([[0.0], [1.0]])
    theta = np.zeros((1, net.n_params))
    (W1, b1), (W2, b2) = net.unpack(theta)
    W1[0, 0, 0], b1[0, 0, 0] = 40.0, 0.0  # unit 0: z = 40 on sample 2 (derivative ~ 4e-18)
    W1[0, 0, 1], b1[0, 0, 1] = 1.0, 0.0  # unit 1: never saturated
    W2[0, :, 0] = [1.0, 1.0]
    assert saturated_units(net, theta, Xs)[0] == 1
    W2[0, 0, 0] = 0.0  # feeding nothing: not a plateau's unit
    assert saturated_units(net, theta, Xs)[0] == 0


@pytest.mark.parametrize("grew,expected", [(True, "plateau"), (False, "saddle")])
def test_a_lower_point_found_from_a_flat_stationary_point(grew, expected):
    """Flat directions, no negative eigenvalue, and a perturbation reaching a lower loss: at
    larger weights the loss still falls as they grow (plateau); else a degenerate saddle."""
    table = {"diverged": np.array([False]), "polished_loss": np.array([0.3]), "raw_loss": np.array([0.3]),
             "grad_norm": np.array([0.0]), "eig_min": np.array([0.0]), "escape_loss": np.array([np.nan]),
             "polished_norm": np.array([10.0]), "certify_loss": np.array([0.2]),
             "certify_norm": np.array([12.0 if grew else 9.0]), "n_saturated": np.array([0])}
    assert list(classify(table, 0.0)[1]) == [expected]


def test_bad_certification_settings_are_refused():
    with pytest.raises(ValueError, match="'radius' of the perturbation test must be a number > 0"):
        Certification(radius=0.0)
    with pytest.raises(ValueError, match="'directions' of the perturbation test must be an integer >= 1"):
        Certification(directions=0)


def test_each_minimum_says_how_it_was_certified():
    from gdbasins.classify import certificate

    table = {"grad_norm": np.array([0.0, 0.5, 0.0, 0.0]), "eig_min": np.array([0.1, 0.5, 0.0, 0.1]),
             "certify_loss": np.array([np.nan, 0.5, 0.3, np.nan])}
    basin = np.array(["local", "local", "flat", "global"])
    assert list(certificate(table, basin, Tolerances())) == ["hessian", "perturbation", "perturbation", ""]
