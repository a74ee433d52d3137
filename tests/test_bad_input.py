"""Bad input is refused with a ValueError naming the argument, before any training."""

import numpy as np
import pytest

from gdbasins import Network, batch_size_for, train
from gdbasins.endpoints import Tolerances

X = np.random.default_rng(0).normal(size=(10, 2))
y = (X[:, 0] > 0).astype(float)
NET = Network((2, 3, 1), "tanh", "sigmoid", "bce")


def fit(**kw):
    args = dict(seeds=[0, 1], eta=0.1, batch_size=2, epochs=2)
    args.update(kw)
    Xa, ya = args.pop("X", X), args.pop("y", y)
    return train(NET, Xa, ya, **args)


@pytest.mark.parametrize("kwargs,match", [
    (dict(activation="softsign"), r"'activation' parameter must be one of \['identity', 'relu', 'sigmoid', 'tanh'\]\. Got 'softsign'"),
    (dict(output="swish"), r"'activation' parameter must be one of .* Got 'swish'"),
    (dict(loss="hinge"), r"'loss' parameter must be one of \['bce', 'mse'\]\. Got 'hinge'"),
    (dict(loss="bce", output="identity"), r"'output' parameter must be 'sigmoid' with loss 'bce'\. Got 'identity'"),
    (dict(sizes=(2,)), r"'sizes' parameter must list at least an input and an output layer"),
    (dict(sizes=(2, 0, 1)), r"'sizes' parameter must be a positive integer\. Got 0"),
    (dict(l2=-1.0), r"'l2' parameter must be >= 0\. Got -1.0"),
])
def test_bad_network(kwargs, match):
    args = dict(sizes=(2, 3, 1))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Network(**args)


@pytest.mark.parametrize("kwargs,match", [
    (dict(eta=0.0), r"'eta' parameter must be > 0\. Got 0.0"),
    (dict(eta=-1), r"'eta' parameter must be > 0\. Got -1"),
    (dict(eta="fast"), r"'eta' parameter must be a number > 0\. Got 'fast'"),
    (dict(eta=[0.1, 0.2, 0.3]), r"'eta' parameter must be a number or have shape \(2,\)\. Got shape \(3,\)"),
    (dict(batch_size=0), r"'batch_size' parameter must be a positive integer\. Got 0"),
    (dict(batch_size=2.5), r"'batch_size' parameter must be a positive integer\. Got 2.5"),
    (dict(batch_size=11), r"'batch_size' parameter must be <= n_samples = 10\. Got 11"),
    (dict(epochs=-1), r"'epochs' parameter must be an integer >= 0\. Got -1"),
    (dict(seeds=[]), r"'seeds' parameter must list at least one seed"),
    (dict(X=X[:, :1]), r"'X' parameter must have shape \(n_samples, 2\).*Got shape \(10, 1\)"),
    (dict(y=y[:5]), r"'y' parameter must have shape \(10, 1\).*Got shape \(5, 1\)"),
    (dict(X=np.where(X > 1, np.nan, X)), r"'X' parameter must contain only finite numbers\. Got \d+ NaN"),
    (dict(y=np.where(y > 0, np.inf, y)), r"'y' parameter must contain only finite numbers"),
    (dict(y=2 * y), r"'y' parameter must lie in \[0, 1\] for loss 'bce'"),
    (dict(init="xavier"), r"'init' parameter must be one of \['uniform', 'glorot', 'he'\]\. Got 'xavier'"),
    (dict(divergence_bound=0), r"'divergence_bound' parameter must be > 0"),
])
def test_bad_training_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(**kwargs)


def test_unknown_variant():
    with pytest.raises(ValueError, match=r"'variant' parameter must be one of \['batch', 'sgd', 'minibatch'\]\. Got 'adam'"):
        batch_size_for("adam", 10)
    with pytest.raises(ValueError, match=r"'minibatch_size' parameter must be a positive integer\. Got -4"):
        batch_size_for("minibatch", 10, -4)


def test_bad_tolerance():
    with pytest.raises(ValueError, match=r"'global_gap' tolerance must be a number > 0\. Got -0.1"):
        Tolerances(global_gap=-0.1)


def test_bad_parameter_vector():
    with pytest.raises(ValueError, match=r"'theta' parameter must have shape \(replicas, 13\).*Got shape \(2, 12\)"):
        NET.backprop(np.zeros((2, 12)), X, y)
