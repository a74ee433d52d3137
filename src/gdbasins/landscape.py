"""A 2-D slice of the loss landscape: the plane through one seed's initial weights spanned by
where two variants ended, with every variant's path projected on it."""

from __future__ import annotations

import numpy as np

from .network import Network
from .train import full_pass

__all__ = ["plane", "project", "slice_loss"]


def plane(theta0: np.ndarray, end_a: np.ndarray, end_b: np.ndarray, rng: np.random.Generator):
    """Orthonormal directions (2, P): the first towards ``end_a``, the second towards ``end_b``
    made orthogonal to the first (a random direction if the two are parallel)."""
    d1 = end_a - theta0
    if np.linalg.norm(d1) == 0:
        d1 = rng.normal(size=theta0.shape)
    d1 = d1 / np.linalg.norm(d1)
    d2 = end_b - theta0
    d2 = d2 - (d2 @ d1) * d1
    if np.linalg.norm(d2) < 1e-9 * max(1.0, np.linalg.norm(end_b - theta0)):
        d2 = rng.normal(size=theta0.shape)
        d2 = d2 - (d2 @ d1) * d1
    return np.stack([d1, d2 / np.linalg.norm(d2)])


def project(points: np.ndarray, theta0: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Coordinates (n, 2) of parameter vectors (n, P) in the plane through theta0."""
    return (points - theta0) @ directions.T


def slice_loss(net: Network, X, y, theta0, directions, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Training loss on the grid ``theta0 + a_i d1 + b_j d2``, shape (len(b), len(a)); every grid
    point is one replica of one vectorized pass."""
    A, B = np.meshgrid(a, b)
    thetas = theta0 + A.reshape(-1, 1) * directions[0] + B.reshape(-1, 1) * directions[1]
    X = net._check_X(X)
    with np.errstate(all="ignore"):
        loss, _ = full_pass(net, thetas, net.inputs(X), net._check_y(y, X))
    return loss.reshape(A.shape)
