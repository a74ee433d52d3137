"""The one training loop: variants, replica independence, reproducibility, divergence."""

import numpy as np
import pytest

from gdbasins import Network, batch_size_for, train


def moons(n=60, seed=0):
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.2, random_state=seed)


NET = Network((2, 6, 1), "tanh", "sigmoid", "bce")


def test_variants_are_batch_sizes():
    assert batch_size_for("batch", 200) == 200
    assert batch_size_for("sgd", 200) == 1
    assert batch_size_for("minibatch", 200, 16) == 16


@pytest.mark.parametrize("chunk_elements", [None, 2**9])  # default chunks; replicas one by one
@pytest.mark.parametrize("net", [NET, Network((2, 5, 4, 1), "relu", "identity", "mse", l2=1e-3)])
@pytest.mark.parametrize("batch_size", [1, 7, 60])  # SGD, mini-batch with a partial last batch, batch
def test_replicas_are_independent(batch_size, net, chunk_elements, monkeypatch):
    """One-hidden-layer networks take the engine's specialised paths, deeper ones the generic."""
    import importlib

    if chunk_elements:  # the module, not the function gdbasins.train
        monkeypatch.setattr(importlib.import_module("gdbasins.train"), "CHUNK_ELEMENTS", chunk_elements)
    X, y = moons()
    seeds, etas = [3, 1, 4, 15], np.array([0.05, 0.2, 0.5, 1.0])
    together = train(net, X, y, seeds=seeds, eta=etas, batch_size=batch_size, epochs=6)
    for r, (seed, eta) in enumerate(zip(seeds, etas)):
        alone = train(net, X, y, seeds=[seed], eta=eta, batch_size=batch_size, epochs=6)
        # bit-identical: every replica does the same arithmetic whatever the others do
        np.testing.assert_array_equal(together.theta[r], alone.theta[0])
        for k in together.history:
            np.testing.assert_array_equal(together.history[k][:, r], alone.history[k][:, 0])


def test_same_seeds_give_bit_identical_histories():
    X, y = moons()
    a = train(NET, X, y, seeds=range(5), eta=0.3, batch_size=8, epochs=5, X_test=X[:10], y_test=y[:10])
    b = train(NET, X, y, seeds=range(5), eta=0.3, batch_size=8, epochs=5, X_test=X[:10], y_test=y[:10])
    assert a.history.keys() == b.history.keys()
    for k in a.history:
        assert a.history[k].tobytes() == b.history[k].tobytes(), k
    assert a.theta.tobytes() == b.theta.tobytes()


def test_initial_weights_are_paired_across_variants_and_rates():
    X, y = moons()
    a = train(NET, X, y, seeds=[7, 8], eta=0.1, batch_size=1, epochs=1)
    b = train(NET, X, y, seeds=[8], eta=2.0, batch_size=60, epochs=1)
    np.testing.assert_array_equal(a.theta0[1], b.theta0[0])
    c = train(NET, X, y, seeds=[8], eta=2.0, batch_size=60, epochs=1, salt=1)
    assert not np.array_equal(c.theta0[0], b.theta0[0])  # another dataset key, another init


def test_sgd_shuffles_every_epoch_per_replica():
    """Different shuffle streams per seed: the same initial weights with another seed's shuffles
    end elsewhere, and SGD differs from full batch."""
    X, y = moons()
    theta0 = np.repeat(NET.init([np.random.default_rng(0)]), 2, axis=0)
    res = train(NET, X, y, seeds=[1, 2], eta=0.1, batch_size=1, epochs=2, theta0=theta0)
    assert not np.allclose(res.theta[0], res.theta[1])


def test_history_columns_and_metrics():
    X, y = moons()
    res = train(NET, X, y, seeds=[0, 1], eta=0.5, batch_size=60, epochs=30, X_test=X[:20], y_test=y[:20])
    assert set(res.history) == {"loss", "grad_norm", "weight_norm", "distance", "accuracy",
                                "test_loss", "test_accuracy"}
    for v in res.history.values():
        assert v.shape == (31, 2) and np.all(np.isfinite(v))
    assert np.all(res.history["distance"][0] == 0)
    assert np.all(res.history["loss"][-1] < res.history["loss"][0])  # full-batch GD descends
    np.testing.assert_allclose(res.history["loss"][-1], NET.loss_value(res.theta, X, y))
    np.testing.assert_allclose(res.history["grad_norm"][-1], np.linalg.norm(NET.backprop(res.theta, X, y)[1], axis=1))
    assert res.updates_per_epoch == 1 and res.seconds.shape == (31,)


def test_diverging_replica_stops_while_others_continue():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)) * 3
    y = X @ np.array([1.0, -2.0])
    net = Network((2, 4, 1), "relu", "identity", "mse")
    with np.errstate(all="raise"):  # no floating-point warnings escape
        res = train(net, X, y, seeds=[0, 1], eta=[1e-3, 50.0], batch_size=1, epochs=20)
    assert list(res.diverged) == [False, True]
    assert res.diverged_at[1] >= 1
    assert np.all(np.isfinite(res.history["loss"][:, 0]))
    assert np.all(np.isnan(res.history["loss"][res.diverged_at[1] + 1 :, 1]))
    assert res.history["loss"][-1, 0] < res.history["loss"][0, 0]


@pytest.mark.parametrize("batch_size", [1, 7, 60])  # SGD, mini-batch with a partial last batch, batch
@pytest.mark.parametrize("net", [
    Network((2, 6, 1), "tanh", "sigmoid", "bce", l2=1e-3),
    Network((2, 5, 1), "sigmoid", "tanh", "mse"),
    Network((2, 4, 1), "relu", "identity", "mse", l2=1e-3, bias=False, fixed_output=True),
    Network((2, 4, 1), "relu", "identity", "mse", bias=False),
])
def test_one_hidden_layer_paths_are_bit_identical_to_the_generic_one(batch_size, net, monkeypatch):
    """The engine's specialised paths for one hidden layer (full pass, mini-batch and SGD steps)
    do the generic backprop's arithmetic: every result is the same to the bit."""
    import importlib

    X, y = moons()
    kwargs = dict(seeds=range(5), eta=np.array([0.05, 0.1, 0.2, 0.5, 80.0]), batch_size=batch_size, epochs=4,
                  X_test=X[:9], y_test=y[:9])  # the last rate diverges for some networks
    fast = train(net, X, y, **kwargs)
    monkeypatch.setattr(importlib.import_module("gdbasins.train"), "_has_one_hidden_path", lambda net: False)
    generic = train(net, X, y, **kwargs)
    np.testing.assert_array_equal(fast.theta, generic.theta)
    np.testing.assert_array_equal(fast.diverged_at, generic.diverged_at)
    assert fast.history.keys() == generic.history.keys()
    for k in fast.history:
        np.testing.assert_array_equal(fast.history[k], generic.history[k], err_msg=k)
