"""Where a run ended: polish its final weights to the nearest stationary point, measure the
gradient and the Hessian there, and classify the basin.

Definitions (``shared/DESIGN.md``, "Where a run ended"), all on the full training set:

* **polished endpoint**: L-BFGS (:mod:`gdbasins.lbfgs`, every replica at once, on our own loss and
  gradient) from the final weights to a point whose gradient norm is below ``Tolerances.grad``;
  it names the basin the run reached. (scipy's L-BFGS-B, one replica at a time, was the polisher
  before; :func:`polish_scipy` keeps it as the reference of ``tests/test_lbfgs.py``.)
* **outcome**, from the polished endpoint and a reference optimum ``L*``:

  ``diverged``     the training loss or weights became non-finite or passed the bound;
  ``unconverged``  the raw endpoint is more than ``converged_gap`` above its polished loss: the
                   run was still travelling, so it is not credited with the basin it would
                   have reached (its basin is kept in the ``basin`` column);
  ``global``       polished loss within ``global_gap`` of ``L*``;
  ``saddle``       a Hessian eigenvalue below ``-eig``, confirmed by escaping along it; or a
                   degenerate stationary point (flat directions, no negative eigenvalue) from
                   which a perturbation and a re-polish reach a lower loss at no larger weights;
  ``local``        a local minimum: every eigenvalue above ``+eig`` at a stationary point (a
                   strict minimum), or, where the loss is piecewise smooth (ReLU), a point whose
                   gradient norm stays above ``grad`` (a kink) and from which no perturbation and
                   re-polish reaches a lower loss (a certified non-smooth minimum);
  ``flat``         a non-strict local minimum: stationary, flat directions (``|lambda| <= eig``),
                   no negative eigenvalue, and no perturbation and re-polish reaches a lower
                   loss (e.g. a unit switched off by L2 whose bias is free);
  ``plateau``      a saturation plateau: stationary with flat directions that come from
                   saturated units (a sigmoid or tanh unit whose derivative is below 1e-6 of its
                   peak on a sample, with a non-zero outgoing weight: along its weights the loss
                   still falls, ever more slowly, as they grow), or from which a perturbation and
                   re-polish reach a lower loss at larger weights;
  ``unresolved``   the polisher stopped with gradient norm above ``grad`` on a smooth loss, or
                   at a kink from which a perturbation found a lower loss, or a negative
                   eigenvalue that no step along it could confirm.

Saddles are confirmed by a step along the most negative eigenvector (both signs) and a re-polish;
``escape_loss`` records the lowest loss reached that way. The perturbation test
(:class:`Certification`) re-polishes ``directions`` copies of a point, each moved by
``radius`` in a random direction; ``certify_loss`` and ``certify_norm`` record the lowest loss
reached and the weight norm there. The Hessian is exact (:mod:`gdbasins.hessian`): at a ReLU kink
a finite-difference Hessian straddles the kink and reports large negative eigenvalues that are
not there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize

from .hessian import hessian
from .lbfgs import lbfgs
from .network import Network
from .train import full_pass

__all__ = ["Tolerances", "Certification", "TRAINING_TOLERANCES", "OUTCOMES", "MINIMA", "polish", "polish_scipy",
           "hessian", "analyse", "certify", "classify", "piecewise_smooth"]

#: The tolerances a training job uses (counting flat and negative Hessian eigenvalues, deciding
#: whether to try an escape, which points the perturbation test examines and when a stalled
#: point moves on); the others only classify, after training.
TRAINING_TOLERANCES = ("eig", "grad", "escape")

OUTCOMES = ("global", "local", "flat", "plateau", "saddle", "unresolved", "unconverged", "diverged")

#: The labels of a local minimum that is not the global one (strict, non-smooth or flat).
MINIMA = ("local", "flat")


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


@dataclass(frozen=True)
class Certification:
    """The perturbation test of a polished point: ``directions`` copies, each moved by ``radius``
    (Euclidean, in parameter space) in a direction drawn uniformly on the sphere, re-polished by
    L-BFGS for at most ``maxiter`` iterations. The directions come from a generator seeded by
    ``seed`` and the replica's index, so a job's result is reproducible bit for bit. At a kink
    where a copy reached a lower loss, the point moves there and is tested again, at most
    ``rounds`` tests in all."""

    radius: float = 1e-3
    directions: int = 4
    maxiter: int = 500
    rounds: int = 3
    seed: int = 0

    def __post_init__(self):
        if not (isinstance(self.radius, (int, float)) and np.isfinite(self.radius) and self.radius > 0):
            raise ValueError(f"The 'radius' of the perturbation test must be a number > 0. Got {self.radius!r} instead.")
        for name in ("directions", "maxiter", "rounds"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"The {name!r} of the perturbation test must be an integer >= 1. Got {v!r} instead.")


def piecewise_smooth(net: Network) -> bool:
    """Whether the loss has kinks (a ReLU activation), where a local minimum need not have a
    zero gradient and is certified by perturbation instead."""
    return "relu" in (net.activation, net.output)


def polish(net: Network, theta: np.ndarray, X, y, *, gtol: float = 1e-9, maxiter: int = 20000):
    """Run L-BFGS from each row of ``theta`` (R, P) on the full data, all replicas at once
    (:func:`gdbasins.lbfgs.lbfgs`, its stopping rule).

    Returns ``(theta_polished (R, P), loss (R,), grad_norm (R,), iterations (R,))``; rows that are
    not finite stay NaN. ``gtol`` bounds the largest gradient component at the stopping point.
    """
    res = lbfgs(net, theta, X, y, gtol=gtol, maxiter=maxiter)
    return res.theta, res.loss, res.grad_norm, res.iterations


#: :func:`polish` under a name that stays when ``polish`` is swapped for the reference
#: (``workflow/benchmarks/compare_polishers.py`` analyses the same endpoints with each).
polish_batched = polish


def polish_scipy(net: Network, theta: np.ndarray, X, y, *, gtol: float = 1e-9, maxiter: int = 20000):
    """:func:`polish` by scipy's L-BFGS-B, one replica at a time: the reference the batched
    polisher is tested against (``tests/test_lbfgs.py``), and the polisher of the study before it."""
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


def fd_hessian(net: Network, theta: np.ndarray, X, y, *, h: float = 1e-5) -> np.ndarray:
    """Hessians of shape (R, P, P) at each row of ``theta``: central differences of the
    analytic gradient, ``H[:, j] = (g(theta + h e_j) - g(theta - h e_j)) / 2h``, symmetrized.
    All 2P perturbed copies of one replica go through one vectorized pass. Kept as a reference
    for the tests: the analysis uses the exact :func:`gdbasins.hessian.hessian`, since a fixed
    step straddles ReLU kinks and mis-scales saturated points with large weights."""
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


def analyse(net: Network, theta: np.ndarray, X, y, *, diverged=None, tol: Tolerances = Tolerances(),
            certification: Certification = Certification(), optimum: float | None = None):
    """Everything the classification needs about each replica's final weights ``theta`` (R, P).

    Returns ``(table, theta_polished)``; ``table`` maps column names to arrays of shape (R,):
    ``diverged``, ``raw_loss``, ``raw_grad_norm``, ``polished_loss``, ``grad_norm``,
    ``polished_norm``, ``eig_min``, ``eig_max`` (the sharpness), ``n_negative``, ``n_flat``
    (eigenvalues below ``-tol.eig`` and within ``+-tol.eig``), ``polish_distance``,
    ``polish_iterations``, ``escape_loss`` (NaN unless a negative eigenvalue was found) and
    ``n_saturated`` (hidden units saturated on a sample, see the module docstring),
    ``certify_rounds`` (how often a point stalled at a kink moved on to a lower one) and
    ``certify_loss``, ``certify_norm`` (NaN unless the perturbation test ran: at points with flat
    directions and no negative eigenvalue, and, for a piecewise-smooth loss, at points whose
    gradient norm is above ``tol.grad``). A known ``optimum`` of the loss spares the test at
    points already there (within 1e-12).
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
        "polished_loss", "grad_norm", "polished_norm", "eig_min", "eig_max", "polish_distance", "escape_loss",
        "certify_loss", "certify_norm")}
    table.update(n_negative=np.zeros(R, dtype=int), n_flat=np.zeros(R, dtype=int),
                 n_saturated=np.zeros(R, dtype=int), polish_iterations=np.zeros(R, dtype=int),
                 certify_rounds=np.zeros(R, dtype=int))
    if todo.any():
        idx = np.flatnonzero(todo)
        p, loss, gnorm, its = polish(net, theta[todo], X, y)
        polished[idx] = p
        table["polish_iterations"][idx] = its
        moved = _measure(net, X, y, table, polished, idx, tol, certification, optimum)
        # At a kink L-BFGS can stall on a slope: a perturbation that reaches a lower loss moves the
        # point there, and it is measured and tested again, up to ``rounds`` times.
        for _ in range(certification.rounds - 1):
            if not moved:
                break
            again = np.array(sorted(moved))
            polished[again] = np.stack([moved[r] for r in again])
            table["certify_rounds"][again] += 1
            moved = _measure(net, X, y, table, polished, again, tol, certification, optimum)
        table["polish_distance"][idx] = np.linalg.norm(polished[idx] - theta[idx], axis=1)
    raw_loss[diverged] = np.nan
    table.update(diverged=diverged, raw_loss=raw_loss,
                 raw_grad_norm=np.where(diverged, np.nan, np.linalg.norm(raw_grad, axis=1)))
    return table, polished


def _measure(net, X, y, table, polished, idx, tol, certification, optimum) -> dict:
    """Fill ``table``'s rows ``idx`` from the points ``polished[idx]``: loss, gradient norm, norm,
    saturated units, the exact Hessian's eigenvalues, a saddle escape, and the perturbation test.
    Returns the kink points (replica -> lower point) whose test reached a loss lower by more than
    ``tol.escape``: where the polisher stalled on a slope."""
    p = polished[idx]
    with np.errstate(all="ignore"):
        grad = np.empty_like(p)
        loss, _ = full_pass(net, np.nan_to_num(p), net.inputs(net._check_X(X)), net._check_y(y, net._check_X(X)),
                            grad_out=grad)
    gnorm = np.linalg.norm(grad, axis=1)
    loss[~np.isfinite(p).all(axis=1)] = np.nan
    gnorm[~np.isfinite(p).all(axis=1)] = np.nan
    table["polished_loss"][idx], table["grad_norm"][idx] = loss, gnorm
    table["polished_norm"][idx] = np.linalg.norm(p, axis=1)
    table["n_saturated"][idx] = saturated_units(net, p, X)
    H = hessian(net, p, X, y)
    with np.errstate(invalid="ignore"):
        eigvals, eigvecs = np.linalg.eigh(np.nan_to_num(H))
    table["eig_min"][idx], table["eig_max"][idx] = eigvals[:, 0], eigvals[:, -1]
    table["n_negative"][idx] = (eigvals < -tol.eig).sum(axis=1)
    table["n_flat"][idx] = (np.abs(eigvals) <= tol.eig).sum(axis=1)
    table["escape_loss"][idx] = np.nan
    negative = np.flatnonzero(eigvals[:, 0] < -tol.eig)
    if negative.size:
        table["escape_loss"][idx[negative]] = _escape(net, p[negative], eigvecs[negative][:, :, 0], X, y)
    with np.errstate(invalid="ignore"):
        flat = (eigvals[:, 0] >= -tol.eig) & (table["n_flat"][idx] > 0) & (gnorm <= tol.grad)
        kink = piecewise_smooth(net) & ~(gnorm <= tol.grad) & np.isfinite(loss)
        if optimum is not None:
            flat &= ~(loss <= optimum + 1e-12)
            kink &= ~(loss <= optimum + 1e-12)
    table["certify_loss"][idx], table["certify_norm"][idx] = np.nan, np.nan
    tested = np.flatnonzero(flat | kink)
    if not tested.size:
        return {}
    c_loss, c_norm, c_point = certify(net, p[tested], X, y, certification, index=idx[tested], points_too=True)
    table["certify_loss"][idx[tested]], table["certify_norm"][idx[tested]] = c_loss, c_norm
    with np.errstate(invalid="ignore"):
        lower = kink[tested] & (c_loss < loss[tested] - tol.escape)
    return {int(idx[tested[k]]): c_point[k] for k in np.flatnonzero(lower)}


def certify(net: Network, points: np.ndarray, X, y, c: Certification = Certification(), *, index=None,
            points_too: bool = False):
    """The perturbation test at each row of ``points`` (n, P): ``(lowest loss, weight norm there)``
    over ``c.directions`` re-polished perturbations of radius ``c.radius``, each of shape (n,).
    ``index`` (n,) names each point's replica, which seeds its directions (default 0..n-1).
    ``points_too``: also return the lowest re-polished point of each, (n, P)."""
    points = net._check_theta(points)
    n, P = points.shape
    index = np.arange(n) if index is None else np.asarray(index)
    starts = np.empty((n, c.directions, P))
    for i, r in enumerate(index):
        d = np.random.default_rng([c.seed, int(r)]).normal(size=(c.directions, P))
        starts[i] = points[i] + c.radius * d / np.linalg.norm(d, axis=1, keepdims=True)
    moved, loss, _, _ = polish(net, starts.reshape(n * c.directions, P), X, y, maxiter=c.maxiter)
    loss = np.where(np.isfinite(loss), loss, np.inf).reshape(n, c.directions)
    best = loss.argmin(axis=1)
    lowest = moved.reshape(n, c.directions, P)[np.arange(n), best]
    norms = np.linalg.norm(lowest, axis=1)
    if points_too:
        return loss[np.arange(n), best], norms, lowest
    return loss[np.arange(n), best], norms


#: A sigmoid or tanh unit is saturated on a sample when its derivative there is below this share
#: of its peak (1/4 and 1).
SATURATED = 1e-6


def saturated_units(net: Network, theta: np.ndarray, X) -> np.ndarray:
    """Hidden units per row of ``theta`` (R, P) that are saturated on at least one sample of ``X``
    and feed the next layer through a non-zero weight (> 1e-6): growing their weights changes the
    loss ever less, the mark of a saturation plateau. Always 0 for other activations."""
    if net.activation not in ("sigmoid", "tanh") or len(net.sizes) < 3:
        return np.zeros(theta.shape[0], dtype=int)
    peak = 0.25 if net.activation == "sigmoid" else 1.0
    X1 = net.inputs(net._check_X(X))
    count = np.zeros(theta.shape[0], dtype=int)
    with np.errstate(all="ignore"):
        ws = net.workspace(theta.shape[0], X1.shape[0])
        net.objective(np.nan_to_num(theta), X1, None, ws, value=False, grad=False)
        Vs = net.layers(np.nan_to_num(theta))
        if net.fixed_output:
            Vs = [*Vs, np.broadcast_to(net.output_layer(), (theta.shape[0],) + net.output_layer().shape[1:])]
        for h, V_next, n in zip(ws.h, Vs[1:], net.sizes[1:-1]):
            df = h * (1 - h) if net.activation == "sigmoid" else 1 - h * h
            flat = df.min(axis=1) < SATURATED * peak
            feeds = np.abs(V_next[:, :n]).max(axis=2) > 1e-6
            count += (flat & feeds).sum(axis=1)
    return count


def _column(table, name, shape) -> np.ndarray:
    """A column of an analysis table, NaN where a result file written before it existed lacks it."""
    return np.asarray(table[name], dtype=float) if name in table else np.full(shape, np.nan)


def _escape(net, points, directions, X, y, step: float = 1e-2) -> np.ndarray:
    """Per row of ``points`` (n, P), the lowest polished loss after stepping off it by +-step along
    its row of ``directions`` (n, P); all 2n starts are polished together."""
    starts = np.concatenate([points + step * directions, points - step * directions])
    loss = polish(net, starts, X, y)[1].reshape(2, -1)
    return np.fmin(loss[0], loss[1])


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
    c_loss, c_norm, norm, n_sat = (_column(table, k, polished.shape)
                                   for k in ("certify_loss", "certify_norm", "polished_norm", "n_saturated"))
    grew = c_norm > norm
    saturated = n_sat > 0
    with np.errstate(invalid="ignore"):
        stationary = grad <= tol.grad
        negative = eig_min < -tol.eig
        confirmed_saddle = negative & ~(escape > polished - tol.escape)
        tested = np.isfinite(c_loss)
        lower = tested & (c_loss < polished - tol.escape)
        basin = np.select(
            [diverged, polished - L_star <= tol.global_gap,
             negative & confirmed_saddle, negative,
             tested & ~stationary & ~lower, tested & ~stationary,
             ~stationary,
             eig_min > tol.eig,
             lower & grew, saturated, lower, tested],
            ["diverged", "global", "saddle", "unresolved", "local", "unresolved", "unresolved", "local",
             "plateau", "plateau", "saddle", "flat"],
            default="plateau",
        )
        converged = np.asarray(table["raw_loss"], dtype=float) - polished <= tol.converged_gap
    outcome = np.where(diverged | converged, basin, "unconverged")
    return outcome, basin, converged & ~diverged
