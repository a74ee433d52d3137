"""L-BFGS on the replica axis: every replica's polish advances in the same NumPy calls.

The study polishes each run's final weights to the stationary point it sits near
(:mod:`gdbasins.endpoints`). One scipy ``minimize`` per replica spends most of its time in Python
overhead on these small networks (a few hundred parameters, a few hundred samples); here all
replicas still moving share each full-data pass, and the two-loop recursion and line search are
vectorised over them. The method is the textbook one (Nocedal & Wright, *Numerical
Optimization*, algorithm 7.4) with a backtracking line search:

* **direction**: the two-loop recursion over the last ``memory`` pairs ``(s, y)``, scaled by
  ``s.y / y.y`` of the newest pair; a pair is kept only when ``s.y > 1e-10 * y.y`` (curvature),
  and a replica whose direction is not a descent direction restarts from ``-g`` with an empty
  memory. The first step of a replica (or after a restart) has length ``min(1, 1 / |g|)``;
* **line search**: the step ``t = 1`` is accepted when ``L(x + t d) <= L(x) + 1e-4 t g.d``
  (Armijo) and the loss is finite; else ``t`` is cut by quadratic interpolation (clipped to
  ``[0.1, 0.5]`` of the last ``t``), at most 40 times; where ``t = 1`` was accepted but the
  loss still falls steeply along ``d`` (``g_new.d < 0.9 g.d``, Wolfe's curvature condition
  unmet), ``t`` doubles while the loss keeps falling, at most 20 times. In a valley bent by
  ReLU kinks this extrapolation is what carries a polish through the kinks to the minimum
  scipy's Moré-Thuente search finds;
* **stopping rule**, per replica: ``converged`` when the largest gradient component is at most
  ``gtol`` (scipy L-BFGS-B's ``pgtol``, the same default here as the study's scipy calls);
  ``ftol`` when an accepted step lowered the loss by at most ``ftol * max(|L|, |L_new|, 1)``
  (scipy's ``ftol``); ``linesearch`` when no step length in 40 cuts lowered it (the point is
  stationary to the loss's rounding, or at a kink); ``maxiter`` after that many steps.

A replica's arithmetic reads its own row only, so replicas polished together get the same bits
as each alone. The stationary points match scipy's ``L-BFGS-B`` from the same starts within the
tolerances of ``tests/test_lbfgs.py``; they are not the same bits (scipy's line search differs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network
from .train import full_pass

__all__ = ["LbfgsResult", "lbfgs"]

#: Armijo's sufficient-decrease constant, Wolfe's curvature constant, the curvature threshold for
#: keeping a pair, the largest numbers of step cuts and of step doublings per line search.
ARMIJO, WOLFE, CURVATURE, MAX_CUTS, MAX_DOUBLINGS = 1e-4, 0.9, 1e-10, 40, 20


@dataclass
class LbfgsResult:
    """Per replica: the point ``theta`` (R, P), its ``loss`` and Euclidean ``grad_norm``,
    ``iterations`` (accepted steps) and ``status`` (``converged``, ``ftol``, ``linesearch``,
    ``maxiter``, or ``nonfinite`` for a start that was not finite, whose row stays NaN)."""

    theta: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    iterations: np.ndarray
    status: np.ndarray


def lbfgs(net: Network, theta, X, y, *, gtol: float = 1e-9, ftol: float = 1e-16, maxiter: int = 20000,
          memory: int = 30) -> LbfgsResult:
    """Minimise ``net``'s full-data loss on ``(X, y)`` from each row of ``theta`` (R, P) by L-BFGS
    (see the module docstring for the method and its stopping rule)."""
    theta = net._check_theta(theta)
    X = net._check_X(X)
    y = net._check_y(y, X)
    X1 = net.inputs(X)
    R, P = theta.shape
    out = np.full((R, P), np.nan)
    out_loss = np.full(R, np.nan)
    out_grad = np.full((R, P), np.nan)
    iterations = np.zeros(R, dtype=int)
    status = np.full(R, "nonfinite", dtype="<U10")
    workspaces = {}

    def evaluate(points):
        g = np.empty_like(points)
        f, _ = full_pass(net, points, X1, y, grad_out=g, workspaces=workspaces)
        return f, g

    with np.errstate(all="ignore"):
        rows = np.flatnonzero(np.isfinite(theta).all(axis=1))
        x = theta[rows].copy()
        f, g = evaluate(x)
        n = rows.size
        S, Yd = np.zeros((n, memory, P)), np.zeros((n, memory, P))
        rho = np.zeros((n, memory))  # 0 marks an empty slot or a pair that failed the curvature test
        gamma = np.full(n, np.nan)  # s.y / y.y of the newest kept pair; NaN: no pair yet
        it = np.zeros(n, dtype=int)
        k = 0  # slot of the next pair, shared by the working set (every replica writes one per step)
        while rows.size:
            done = np.full(rows.size, "", dtype="<U10")
            done[~np.isfinite(f)] = "linesearch"
            done[np.abs(g).max(axis=1) <= gtol] = "converged"
            done[(done == "") & (it >= maxiter)] = "maxiter"
            finished = done != ""
            if finished.any():
                r = rows[finished]
                out[r], out_loss[r], out_grad[r] = x[finished], f[finished], g[finished]
                iterations[r], status[r] = it[finished], done[finished]
                keep = ~finished
                rows, x, f, g, S, Yd, rho, gamma, it = (a[keep] for a in (rows, x, f, g, S, Yd, rho, gamma, it))
                if not rows.size:
                    break
            d = _direction(g, S, Yd, rho, gamma, k, memory)
            slope = np.einsum("rp,rp->r", g, d)
            restart = ~(slope < 0)
            if restart.any():
                rho[restart], gamma[restart] = 0.0, np.nan
                d[restart] = -g[restart]
                slope[restart] = -np.einsum("rp,rp->r", g[restart], g[restart])
            t = np.where(np.isnan(gamma), np.minimum(1.0, 1.0 / np.sqrt(-slope)), 1.0)
            x_new, f_new, g_new = np.empty_like(x), np.empty_like(f), np.empty_like(g)
            searching = np.arange(rows.size)
            failed = np.zeros(rows.size, dtype=bool)
            cut = np.zeros(rows.size, dtype=bool)
            for _ in range(MAX_CUTS + 1):
                ts = t[searching]
                trial = x[searching] + ts[:, None] * d[searching]
                ft, gt = evaluate(trial)
                ok = np.isfinite(ft) & (ft <= f[searching] + ARMIJO * ts * slope[searching])
                acc = searching[ok]
                x_new[acc], f_new[acc], g_new[acc] = trial[ok], ft[ok], gt[ok]
                searching = searching[~ok]
                if not searching.size:
                    break
                cut[searching] = True
                ft, ts, sl = ft[~ok], ts[~ok], slope[searching]
                # Minimiser of the quadratic through L(x), its slope and L(x + t d), kept in [0.1 t, 0.5 t].
                q = -sl * ts**2 / (2 * (ft - f[searching] - sl * ts))
                t[searching] = np.clip(np.where(np.isfinite(q), q, 0.1 * ts), 0.1 * ts, 0.5 * ts)
            else:
                failed[searching] = True
            # Where the first step was accepted and the loss still falls steeply along d (the
            # curvature condition of Wolfe fails), doubling steps go on while the loss falls.
            grow = ~failed & ~cut & (np.einsum("rp,rp->r", g_new, d) < WOLFE * slope)
            for _ in range(MAX_DOUBLINGS):
                gi = np.flatnonzero(grow)
                if not gi.size:
                    break
                t[gi] *= 2.0
                trial = x[gi] + t[gi, None] * d[gi]
                ft, gt = evaluate(trial)
                better = np.isfinite(ft) & (ft < f_new[gi]) & (ft <= f[gi] + ARMIJO * t[gi] * slope[gi])
                acc = gi[better]
                x_new[acc], f_new[acc], g_new[acc] = trial[better], ft[better], gt[better]
                grow[gi[~better]] = False
                grow[acc] = np.einsum("rp,rp->r", gt[better], d[acc]) < WOLFE * slope[acc]
            # A failed search with a memory restarts from -g (the pairs may describe the other
            # side of a kink); only a failed search from -g ends the replica's polish.
            retry = failed & ~np.isnan(gamma)
            rho[retry], gamma[retry] = 0.0, np.nan
            failed &= ~retry
            x_new[retry], f_new[retry], g_new[retry] = x[retry], f[retry], g[retry]
            if failed.any():  # stays where it is: stationary to the loss's rounding, or at a kink
                r = rows[failed]
                out[r], out_loss[r], out_grad[r] = x[failed], f[failed], g[failed]
                iterations[r], status[r] = it[failed], "linesearch"
                keep = ~failed
                rows, x, f, g, S, Yd, rho, gamma, it, x_new, f_new, g_new, retry = (
                    a[keep] for a in (rows, x, f, g, S, Yd, rho, gamma, it, x_new, f_new, g_new, retry))
                if not rows.size:
                    break
            steepest = np.isnan(gamma) & ~retry  # this step started from -g
            s, yv = x_new - x, g_new - g
            sy, yy = np.einsum("rp,rp->r", s, yv), np.einsum("rp,rp->r", yv, yv)
            kept = (sy > CURVATURE * yy) & ~retry
            slot = k % memory
            S[:, slot], Yd[:, slot] = s, yv
            rho[:, slot] = np.where(kept, 1.0 / np.where(kept, sy, 1.0), 0.0)
            gamma = np.where(kept, sy / np.where(kept, yy, 1.0), gamma)
            k += 1
            small = f - f_new <= ftol * np.maximum(np.maximum(np.abs(f), np.abs(f_new)), 1.0)
            small &= ~retry
            # As after a failed search, a stall with a memory restarts from -g first.
            again = small & ~steepest
            rho[again], gamma[again] = 0.0, np.nan
            small &= steepest
            x, f, g = x_new, f_new, g_new
            it += 1 - retry
            if small.any():
                r = rows[small]
                out[r], out_loss[r], out_grad[r] = x[small], f[small], g[small]
                iterations[r], status[r] = it[small], "ftol"
                keep = ~small
                rows, x, f, g, S, Yd, rho, gamma, it = (a[keep] for a in (rows, x, f, g, S, Yd, rho, gamma, it))
    return LbfgsResult(out, out_loss, np.linalg.norm(out_grad, axis=1), iterations, status)


def _direction(g, S, Yd, rho, gamma, k, memory):
    """``-H g`` by the two-loop recursion, newest pair first; slots with ``rho = 0`` are skipped
    (their terms vanish). Replicas without a kept pair get ``-g``."""
    q = g.copy()
    order = [(k - 1 - j) % memory for j in range(min(k, memory))]
    alpha = np.zeros((g.shape[0], memory))
    for j in order:
        alpha[:, j] = rho[:, j] * np.einsum("rp,rp->r", S[:, j], q)
        q -= alpha[:, j, None] * Yd[:, j]
    q *= np.where(np.isnan(gamma), 1.0, gamma)[:, None]
    for j in reversed(order):
        beta = rho[:, j] * np.einsum("rp,rp->r", Yd[:, j], q)
        q += (alpha[:, j] - beta)[:, None] * S[:, j]
    return -q
