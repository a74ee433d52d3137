"""Where a run ended: polish its final weights to the nearest stationary point, measure the
gradient and the Hessian there, and classify the basin.

Definitions (``shared/DESIGN.md``, "Where a run ended"), all on the full training set:

* **polished endpoint**: L-BFGS (scipy, on our own loss and gradient) from the final weights to a
  point whose gradient norm is below ``Tolerances.grad``; it names the basin the run reached.
* **outcome**, from the polished endpoint and a reference optimum ``L*``:

  ``diverged``     the training loss or weights became non-finite or passed the bound;
  ``unconverged``  the raw endpoint is more than ``converged_gap`` above its polished loss: the
                   run was still travelling, so it is not credited with the basin it would
                   have reached (its basin is kept in the ``basin`` column);
  ``global``       polished loss within ``global_gap`` of ``L*``;
  ``unresolved``   the polisher stopped with gradient norm above ``grad``, or a negative
                   eigenvalue that no step along it could confirm;
  ``saddle``       a Hessian eigenvalue below ``-eig``, confirmed by escaping along it;
  ``local``        every eigenvalue above ``+eig``: a strict local minimum;
  ``plateau``      no negative eigenvalue but flat directions (``|lambda| <= eig``): a degenerate
                   stationary region, typically saturated units.

Saddles are confirmed by a step along the most negative eigenvector (both signs) and a re-polish;
``escape_loss`` records the lowest loss reached that way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize

from .network import Network
from .train import full_pass

__all__ = ["Tolerances", "TRAINING_TOLERANCES", "OUTCOMES", "polish", "hessian", "analyse", "classify"]

#: The tolerances a training job uses (counting flat and negative Hessian eigenvalues, deciding
#: whether to try an escape); the others only classify, after training.
TRAINING_TOLERANCES = ("eig",)

OUTCOMES = ("global", "local", "plateau", "saddle", "unresolved", "unconverged", "diverged")


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of the classification (absolute; losses in the units of the network's loss).

    ``global_gap``: polished loss - L* at or below which a run is ``global`` (default 1e-4).
    ``grad``: gradient norm at or below which a polished point is stationary (1e-6).
    ``eig``: Hessian eigenvalues with ``|lambda| <= eig`` count as flat (1e-6).
    ``converged_gap``: raw loss - polished loss at or below which a run had converged (1e-2;
    SGD at a constant rate hovers above its minimum by an amount that grows with the rate).
    ``escape``: loss decrease that confirms a saddle after a step off it (1e-6).
    ``arrival_band``: a run has arrived once its full-data loss stays within this of its final
    level (1e-2; see :mod:`gdbasins.classify`).

    Only ``eig`` is used while a job analyses its endpoints (:data:`TRAINING_TOLERANCES`); the
    others act in the classification, so changing them never retrains.
    """

    global_gap: float = 1e-4
    grad: float = 1e-6
    eig: float = 1e-6
    converged_gap: float = 1e-2
    escape: float = 1e-6
    arrival_band: float = 1e-2

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"The {name!r} tolerance must be a number > 0. Got {value!r} instead.")


def polish(net: Network, theta: np.ndarray, X, y, *, gtol: float = 1e-9, maxiter: int = 20000):
    """Run L-BFGS from each row of ``theta`` (R, P) on the full data.

    Returns ``(theta_polished (R, P), loss (R,), grad_norm (R,), iterations (R,))``; rows that are
    not finite stay NaN. ``gtol`` bounds the largest gradient component at the stopping point.
    """
    theta = net._check_theta(theta)
    X = net._check_X(X)
    y = net._check_y(y, X)
    X1 = net.inputs(X)
    ws = net.workspace(1, X.shape[0])

    def fun(p):
        loss, grad, _ = net.objective(p[None, :], X1, y, ws)
        return float(loss[0]), grad[0].copy()

    R = theta.shape[0]
    out = np.full_like(theta, np.nan)
    iterations = np.zeros(R, dtype=int)
    with np.errstate(all="ignore"):
        for r in range(R):
            if not np.all(np.isfinite(theta[r])):
                continue
            res = minimize(
                fun, theta[r], jac=True, method="L-BFGS-B",
                options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-16, "maxcor": 30},
            )
            out[r], iterations[r] = res.x, res.nit
        loss, _ = full_pass(net, np.nan_to_num(out), X1, y, grad_out=(grad := np.empty_like(out)))
    bad = ~np.isfinite(out).all(axis=1)
    loss[bad] = np.nan
    grad_norm = np.linalg.norm(grad, axis=1)
    grad_norm[bad] = np.nan
    return out, loss, grad_norm, iterations


def hessian(net: Network, theta: np.ndarray, X, y, *, h: float = 1e-5) -> np.ndarray:
    """Hessians of shape (R, P, P) at each row of ``theta``: central differences of the
    analytic gradient, ``H[:, j] = (g(theta + h e_j) - g(theta - h e_j)) / 2h``, symmetrized.
    All 2P perturbed copies of one replica go through one vectorized pass."""
    theta = net._check_theta(theta)
    X = net._check_X(X)
    y = net._check_y(y, X)
    X1 = net.inputs(X)
    R, P = theta.shape
    H = np.empty((R, P, P))
    steps = np.concatenate([np.eye(P), -np.eye(P)]) * h
    grad = np.empty((2 * P, P))
    for r in range(R):
        full_pass(net, theta[r] + steps, X1, y, grad_out=grad)
        Hr = (grad[:P] - grad[P:]) / (2 * h)
        H[r] = 0.5 * (Hr + Hr.T)
    return H


def analyse(net: Network, theta: np.ndarray, X, y, *, diverged=None, tol: Tolerances = Tolerances()):
    """Everything the classification needs about each replica's final weights ``theta`` (R, P).

    Returns ``(table, theta_polished)``; ``table`` maps column names to arrays of shape (R,):
    ``diverged``, ``raw_loss``, ``raw_grad_norm``, ``polished_loss``, ``grad_norm``,
    ``eig_min``, ``eig_max`` (the sharpness), ``n_negative``, ``n_flat`` (eigenvalues below
    ``-tol.eig`` and within ``+-tol.eig``), ``polish_distance``, ``polish_iterations`` and
    ``escape_loss`` (NaN unless a negative eigenvalue was found).
    """
    theta = net._check_theta(theta)
    X = net._check_X(X)
    y = net._check_y(y, X)
    R = theta.shape[0]
    finite = np.isfinite(theta).all(axis=1)
    diverged = ~finite if diverged is None else (np.asarray(diverged, dtype=bool) | ~finite)
    X1 = net.inputs(X)
    raw_grad = np.zeros_like(theta)
    with np.errstate(all="ignore"):
        raw_loss, _ = full_pass(net, np.where(finite[:, None], theta, 0.0), X1, y, grad_out=raw_grad)
    todo = ~diverged
    polished = np.full_like(theta, np.nan)
    table = {k: np.full(R, np.nan) for k in (
        "polished_loss", "grad_norm", "eig_min", "eig_max", "polish_distance", "escape_loss")}
    table.update(n_negative=np.zeros(R, dtype=int), n_flat=np.zeros(R, dtype=int),
                 polish_iterations=np.zeros(R, dtype=int))
    if todo.any():
        p, loss, gnorm, its = polish(net, theta[todo], X, y)
        polished[todo] = p
        table["polished_loss"][todo], table["grad_norm"][todo] = loss, gnorm
        table["polish_iterations"][todo] = its
        table["polish_distance"][todo] = np.linalg.norm(p - theta[todo], axis=1)
        H = hessian(net, p, X, y)
        eigvals, eigvecs = np.linalg.eigh(H)
        idx = np.flatnonzero(todo)
        table["eig_min"][idx], table["eig_max"][idx] = eigvals[:, 0], eigvals[:, -1]
        table["n_negative"][idx] = (eigvals < -tol.eig).sum(axis=1)
        table["n_flat"][idx] = (np.abs(eigvals) <= tol.eig).sum(axis=1)
        for k in np.flatnonzero(eigvals[:, 0] < -tol.eig):
            table["escape_loss"][idx[k]] = _escape(net, p[k], eigvecs[k][:, 0], X, y)
    raw_loss[diverged] = np.nan
    table.update(diverged=diverged, raw_loss=raw_loss,
                 raw_grad_norm=np.where(diverged, np.nan, np.linalg.norm(raw_grad, axis=1)))
    return table, polished


def _escape(net, point, direction, X, y, step: float = 1e-2) -> float:
    """Lowest polished loss after stepping off ``point`` by +-step along ``direction``."""
    starts = np.stack([point + step * direction, point - step * direction])
    return float(np.nanmin(polish(net, starts, X, y)[1]))


def classify(table, L_star, tol: Tolerances = Tolerances()):
    """``(outcome, basin, converged)`` per run from an :func:`analyse` table (a dict of arrays or a
    DataFrame) and the reference optimum ``L_star`` (a number or one per run).

    ``basin`` is the label of the polished endpoint; ``outcome`` is the basin for runs that had
    converged to it, ``unconverged`` for runs that had not, ``diverged`` for diverged runs.
    A negative eigenvalue that a step off the point does not confirm leaves the run
    ``unresolved`` (counted apart, never folded into another label).
    """
    diverged = np.asarray(table["diverged"], dtype=bool)
    polished = np.asarray(table["polished_loss"], dtype=float)
    L_star = np.broadcast_to(np.asarray(L_star, dtype=float), polished.shape)
    grad = np.asarray(table["grad_norm"], dtype=float)
    eig_min = np.asarray(table["eig_min"], dtype=float)
    escape = np.asarray(table["escape_loss"], dtype=float)
    with np.errstate(invalid="ignore"):
        confirmed_saddle = (eig_min < -tol.eig) & ~(escape > polished - tol.escape)
        basin = np.select(
            [diverged, polished - L_star <= tol.global_gap, ~(grad <= tol.grad),
             confirmed_saddle, eig_min < -tol.eig, eig_min > tol.eig],
            ["diverged", "global", "unresolved", "saddle", "unresolved", "local"],
            default="plateau",
        )
        converged = np.asarray(table["raw_loss"], dtype=float) - polished <= tol.converged_gap
    outcome = np.where(diverged | converged, basin, "unconverged")
    return outcome, basin, converged & ~diverged
