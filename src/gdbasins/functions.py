"""Activations and losses, each looked up from one table.

Every activation is stored with its first and second derivatives written in terms of the
activation's *output* ``a = f(z)``, so backpropagation (and the exact Hessian of
:mod:`gdbasins.hessian`) never needs to keep the pre-activations ``z``.

Losses are averaged over the ``m`` samples of the batch they are evaluated on and summed over
output units; :mod:`gdbasins.network` states the conventions in full.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy.special import expit

__all__ = ["ACTIVATIONS", "LOSSES", "Activation", "Loss", "activation", "loss"]


class Activation(NamedTuple):
    """``f(z, out)`` and its derivatives ``df_from_a(a, out)`` and ``d2f_from_a(a, out)``
    expressed through ``a = f(z)``.

    All write into ``out`` (an array of the shape of their input) and return it, so the training
    loop allocates nothing per step. ``d2f_from_a`` is the second derivative ``f''(z)``, used only
    by the exact Hessian; ``None`` for an activation that does not provide it.
    """

    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    df_from_a: Callable[[np.ndarray, np.ndarray], np.ndarray]
    d2f_from_a: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def _sigmoid_df(a, out):
    np.subtract(1.0, a, out=out)
    return np.multiply(out, a, out=out)


def _sigmoid_d2f(a, out):
    # sigma'' = sigma (1 - sigma) (1 - 2 sigma)
    _sigmoid_df(a, out)
    out *= 1.0 - 2.0 * a
    return out


def _tanh_df(a, out):
    np.multiply(a, a, out=out)
    return np.subtract(1.0, out, out=out)


def _tanh_d2f(a, out):
    # tanh'' = -2 tanh (1 - tanh^2)
    _tanh_df(a, out)
    out *= -2.0 * a
    return out


def _zero_d2f(a, out):
    out.fill(0.0)
    return out


def _identity(z, out):
    np.copyto(out, z)
    return out


def _identity_df(a, out):
    out.fill(1.0)
    return out


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(lambda z, out: expit(z, out=out), _sigmoid_df, _sigmoid_d2f),
    "tanh": Activation(lambda z, out: np.tanh(z, out=out), _tanh_df, _tanh_d2f),
    # The derivative at z = 0 is taken as 0 (the subgradient scikit-learn uses); the second
    # derivative is the one away from the kink, 0.
    "relu": Activation(lambda z, out: np.maximum(z, 0.0, out=out), lambda a, out: np.greater(a, 0.0, out=out),
                       _zero_d2f),
    "identity": Activation(_identity, _identity_df, _zero_d2f),
}


class Loss(NamedTuple):
    """A loss summed over output units and averaged over the m samples of a batch.

    ``value(z, a, y)`` returns the per-replica loss from the output layer's pre-activation ``z``
    and activation ``a`` (both of shape (replicas, m, n_out)). ``delta(z, a, y, act, out, tmp)``
    writes ``dL/dz`` into ``out`` (same shape; ``tmp`` is scratch space) given the output
    activation ``act``. ``output`` names the output activation the loss requires (``None``: any).
    ``curvature(z, a, y, act, out, tmp)``, with the same arguments, writes ``d2L/dz2``: the loss
    is a sum of functions of one output pre-activation each, so its Hessian with respect to ``z``
    is diagonal and this is its diagonal (used by the exact Hessian; ``None`` when not provided).
    """

    value: Callable[..., np.ndarray]
    delta: Callable[..., np.ndarray]
    output: str | None
    curvature: Callable[..., np.ndarray] | None = None


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


def _mse_curvature(z, a, y, act: Activation, out, tmp):
    # d2/dz2 of (g(z) - y)^2 / 2m = (g'^2 + (g - y) g'') / m
    if act.f is _identity:
        out.fill(1.0 / a.shape[-2])
        return out
    act.df_from_a(a, out)
    out *= out
    act.d2f_from_a(a, tmp)
    tmp *= a - y
    out += tmp
    if a.shape[-2] > 1:
        out *= 1.0 / a.shape[-2]
    return out


def _bce_value(z, a, y):
    # -[y log sigma(z) + (1 - y) log(1 - sigma(z))] = softplus(z) - y z, stable for any z.
    # (np.logaddexp(0.0, z) - y * z).sum(axis=(-2, -1)), with one temporary fewer.
    t = np.logaddexp(0.0, z)
    t -= y * z
    return np.add.reduce(t, axis=(-2, -1)) / z.shape[-2]


def _bce_delta(z, a, y, act: Activation, out, tmp):
    np.subtract(a, y, out=out)
    if a.shape[-2] > 1:
        out *= 1.0 / a.shape[-2]
    return out


def _bce_curvature(z, a, y, act: Activation, out, tmp):
    # d2/dz2 of [softplus(z) - y z] / m = p (1 - p) / m with p = sigmoid(z) = a
    _sigmoid_df(a, out)
    if a.shape[-2] > 1:
        out *= 1.0 / a.shape[-2]
    return out


LOSSES: dict[str, Loss] = {
    "mse": Loss(_mse_value, _mse_delta, None, _mse_curvature),
    "bce": Loss(_bce_value, _bce_delta, "sigmoid", _bce_curvature),
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
