"""Activations and losses, each looked up from one table.

Every activation is stored with its derivative written in terms of the activation's *output*
``a = f(z)``, so backpropagation never needs to keep the pre-activations ``z``.

Losses are averaged over the ``m`` samples of the batch they are evaluated on and summed over
output units; :mod:`gdbasins.network` states the conventions in full.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy.special import expit

__all__ = ["ACTIVATIONS", "LOSSES", "Activation", "Loss", "activation", "loss"]


class Activation(NamedTuple):
    """``f(z, out)`` and its derivative ``df_from_a(a, out)`` expressed through ``a = f(z)``.

    Both write into ``out`` (an array of the shape of their input) and return it, so the training
    loop allocates nothing per step.
    """

    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    df_from_a: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _sigmoid_df(a, out):
    np.subtract(1.0, a, out=out)
    return np.multiply(out, a, out=out)


def _tanh_df(a, out):
    np.multiply(a, a, out=out)
    return np.subtract(1.0, out, out=out)


def _identity(z, out):
    np.copyto(out, z)
    return out


def _identity_df(a, out):
    out.fill(1.0)
    return out


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(lambda z, out: expit(z, out=out), _sigmoid_df),
    "tanh": Activation(lambda z, out: np.tanh(z, out=out), _tanh_df),
    # The derivative at z = 0 is taken as 0 (the subgradient scikit-learn uses).
    "relu": Activation(lambda z, out: np.maximum(z, 0.0, out=out), lambda a, out: np.greater(a, 0.0, out=out)),
    "identity": Activation(_identity, _identity_df),
}


class Loss(NamedTuple):
    """A loss summed over output units and averaged over the m samples of a batch.

    ``value(z, a, y)`` returns the per-replica loss from the output layer's pre-activation ``z``
    and activation ``a`` (both of shape (replicas, m, n_out)). ``delta(z, a, y, act, out, tmp)``
    writes ``dL/dz`` into ``out`` (same shape; ``tmp`` is scratch space) given the output
    activation ``act``. ``output`` names the output activation the loss requires (``None``: any).
    """

    value: Callable[..., np.ndarray]
    delta: Callable[..., np.ndarray]
    output: str | None


def _mse_value(z, a, y):
    r = a - y
    return 0.5 * np.einsum("...ij,...ij->...", r, r) / a.shape[-2]


def _mse_delta(z, a, y, act: Activation, out, tmp):
    np.subtract(a, y, out=out)
    if act.f is not _identity:
        out *= act.df_from_a(a, tmp)
    if a.shape[-2] > 1:
        out *= 1.0 / a.shape[-2]
    return out


def _bce_value(z, a, y):
    # -[y log sigma(z) + (1 - y) log(1 - sigma(z))] = softplus(z) - y z, stable for any z.
    return (np.logaddexp(0.0, z) - y * z).sum(axis=(-2, -1)) / z.shape[-2]


def _bce_delta(z, a, y, act: Activation, out, tmp):
    np.subtract(a, y, out=out)
    if a.shape[-2] > 1:
        out *= 1.0 / a.shape[-2]
    return out


LOSSES: dict[str, Loss] = {
    "mse": Loss(_mse_value, _mse_delta, None),
    "bce": Loss(_bce_value, _bce_delta, "sigmoid"),
}


def _lookup(table: dict, kind: str, name: str):
    if name not in table:
        raise ValueError(
            f"The {kind!r} parameter must be one of {sorted(table)}. Got {name!r} instead."
        )
    return table[name]


def activation(name: str) -> Activation:
    """Return the activation called ``name``; unknown names list the known ones."""
    return _lookup(ACTIVATIONS, "activation", name)


def loss(name: str) -> Loss:
    """Return the loss called ``name``; unknown names list the known ones."""
    return _lookup(LOSSES, "loss", name)
