"""Minima up to the symmetries of a network, and the loss barriers between them.

**Symmetries.** Renaming the units of a hidden layer changes the parameters but not the function:
unit j's incoming weights and bias (column j of its layer, :meth:`Network.layers`) move together
with its outgoing weights (row j of the next layer). Each hidden layer's activation adds more:

* ``tanh``, ``identity`` (odd): negating a unit's incoming weights and bias together with its
  outgoing weights;
* ``sigmoid``: the same sign flip, because ``sigmoid(-z) = 1 - sigmoid(z)``, with the unit's old
  outgoing weights added to the next layer's biases (only when that layer has biases);
* ``relu``, ``identity`` (positively homogeneous): scaling a unit's incoming weights and bias by
  ``c > 0`` and its outgoing weights by ``1/c``. The L2 penalty is not invariant under it, so it
  counts only when ``l2 = 0``.

Sign flips and rescalings need a trained next layer: the last hidden layer of a
``fixed_output`` network has only its permutations. A ``linear`` (identity) hidden layer has in
fact every invertible linear map as a symmetry; only the subgroup above is removed here.

**Coordinates.** Distances are measured in a chart where these operations are plain
permutations and sign flips of unit vectors ``(incoming column, outgoing row)``: every
rescalable unit is *balanced* (incoming and outgoing norms made equal, the point of least norm
on its rescaling orbit, found by exact coordinate steps that converge in one sweep for one
hidden layer), and a sigmoid layer's next biases are *centred*, ``b + sum_j w_j / 2`` (the bias
in ``sigmoid(z) = 1/2 + tanh(z/2)/2``, which a sign flip leaves unchanged). Balancing moves a
unit with zero incoming or outgoing weights nowhere.

* :func:`canonical`: one representative per orbit: balanced, each unit's sign set by its first
  significant incoming weight, units sorted lexicographically, layer by layer.
* :func:`align`: the copy of ``theta`` closest to a reference: an optimal matching of units
  (``scipy.optimize.linear_sum_assignment`` with the sign choice in the cost), exact for one
  hidden layer, and layer by layer followed by sweeps of re-matching each layer given its
  neighbours for deeper networks ("weight matching", Ainsworth et al. 2023, Git Re-Basin).
* :func:`distinct_minima`: endpoints grouped into minima up to symmetry.

**Barriers** (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast Ensembling of
DNNs"; Draxler et al. 2018, "Essentially No Barriers in Neural Network Energy Landscape"): the
highest training loss on a path between two minima minus the higher of their losses, on the
straight segment (:func:`straight_barrier`) and on a quadratic Bezier curve whose control point
is optimised (:func:`path_barrier`); :func:`barriers` measures both from every local minimum to
the nearest copy of the global one.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .network import Network
from .train import full_pass

__all__ = ["canonical", "align", "distinct_minima", "straight_barrier", "path_barrier", "barriers"]

ODD = ("tanh", "identity")
HOMOGENEOUS = ("relu", "identity")

#: Decimals kept in the sort key of :func:`canonical` (values in the chart are of order 1).
SORT_DECIMALS = 6
#: Balancing stops when no unit needs a rescaling by more than this in log.
BALANCE_TOL = 1e-12
BALANCE_SWEEPS = 1000
#: Sweeps of re-matching each layer given its neighbours in :func:`align` (two or more hidden layers).
MATCH_SWEEPS = 20
#: Zoom levels of the search for the highest point of a path (each narrows the bracket about 30x).
ZOOMS = 6


class _Layer(NamedTuple):
    """The symmetries of one hidden layer: ``n`` units, a trained next layer (``nxt``), sign flips,
    rescalings, and centred next biases (sigmoid flips)."""

    n: int
    nxt: bool
    flip: bool
    scale: bool
    centre: bool


def _hidden(net: Network) -> list[_Layer]:
    H = len(net.sizes) - 2
    act = net.activation
    out = []
    for l in range(H):
        nxt = l < H - 1 or not net.fixed_output
        flip = nxt and (act in ODD or (act == "sigmoid" and net.bias))
        scale = nxt and act in HOMOGENEOUS and net.l2 == 0
        out.append(_Layer(net.sizes[l + 1], nxt, flip, scale, flip and act == "sigmoid"))
    return out


def _rows(net: Network, theta) -> tuple[np.ndarray, bool]:
    theta = np.asarray(theta, dtype=float)
    single = theta.ndim == 1
    return net._check_theta(theta[None] if single else theta), single


# --- the chart ---------------------------------------------------------------------------------


def _chart(net: Network, theta: np.ndarray):
    """Copies of the trained layers in the chart (centred, balanced) and each hidden layer's log
    rescaling ``g`` (R, n): the original layers are the chart's with column j divided and row j
    of the next layer multiplied by ``exp(g_j)``."""
    Vs = [V.copy() for V in net.layers(np.ascontiguousarray(theta))]
    hidden = _hidden(net)
    for l, h in enumerate(hidden):
        if h.centre:
            Vs[l + 1][:, -1, :] += 0.5 * Vs[l + 1][:, : h.n, :].sum(axis=1)
    logc = [np.zeros((theta.shape[0], h.n)) for h in hidden]
    scaled = [l for l, h in enumerate(hidden) if h.scale]
    for _ in range(BALANCE_SWEEPS if scaled else 0):
        moved = False
        for l in scaled:
            n = hidden[l].n
            a = np.sqrt(np.einsum("rkj,rkj->rj", Vs[l], Vs[l]))
            b = np.sqrt(np.einsum("rjk,rjk->rj", Vs[l + 1][:, :n], Vs[l + 1][:, :n]))
            ok = (a > 0) & (b > 0) & np.isfinite(a * b)
            g = np.where(ok, 0.5 * (np.log(np.where(ok, b, 1.0)) - np.log(np.where(ok, a, 1.0))), 0.0)
            if np.max(np.abs(g), initial=0.0) <= BALANCE_TOL:
                continue
            moved = True
            c = np.exp(g)
            Vs[l] *= c[:, None, :]
            Vs[l + 1][:, :n] /= c[:, :, None]
            logc[l] += g
        if not moved:
            break
    return Vs, logc


def _unchart(net: Network, Vs: list[np.ndarray], logc=None) -> np.ndarray:
    """Flat parameters (R, P) from chart layers (modified in place): rescaled by ``exp(-g)`` when
    ``logc`` is given (back to a gauge), uncentred."""
    hidden = _hidden(net)
    for l, h in enumerate(hidden):
        if logc is not None and h.scale:
            c = np.exp(logc[l])
            Vs[l] /= c[:, None, :]
            Vs[l + 1][:, : h.n] *= c[:, :, None]
        if h.centre:
            Vs[l + 1][:, -1, :] -= 0.5 * Vs[l + 1][:, : h.n, :].sum(axis=1)
    return np.concatenate([V.reshape(V.shape[0], -1) for V in Vs], axis=1)


def _flat(Vs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([V.reshape(V.shape[0], -1) for V in Vs], axis=1)


def _permute(Vs: list[np.ndarray], l: int, n: int, perm: np.ndarray, sign: np.ndarray | None) -> None:
    """Unit ``perm[r, j]`` of hidden layer l moves to position j (times ``sign[r, j]``)."""
    Vs[l] = np.take_along_axis(Vs[l], perm[:, None, :], axis=2)
    if sign is not None:
        Vs[l] *= sign[:, None, :]
    if l + 1 < len(Vs):
        rows = np.take_along_axis(Vs[l + 1][:, :n], perm[:, :, None], axis=1)
        Vs[l + 1][:, :n] = rows if sign is None else rows * sign[:, :, None]


def _first_sign(M: np.ndarray) -> np.ndarray:
    """Sign (R, n) of the first entry along axis 1 of ``M`` (R, k, n) whose magnitude is at
    least 1e-9 of the largest; 0 where all are zero. Exactly odd in ``M``."""
    mag = np.abs(M)
    big = mag > 1e-9 * mag.max(axis=1, keepdims=True)
    first = np.take_along_axis(M, big.argmax(axis=1)[:, None, :], axis=1)[:, 0]
    return np.where(big.any(axis=1), np.sign(first), 0.0)


def _canonical_chart(net: Network, Vs: list[np.ndarray]) -> list[np.ndarray]:
    """Chart layers (modified in place) put in canonical sign and order, layer by layer."""
    hidden = _hidden(net)
    for l, h in enumerate(hidden):
        out = Vs[l + 1][:, : h.n].transpose(0, 2, 1) if h.nxt else None
        if h.flip:
            s = _first_sign(Vs[l])
            s = np.where(s == 0, _first_sign(out), s)
            _permute(Vs, l, h.n, np.broadcast_to(np.arange(h.n), s.shape).copy(), np.where(s == 0, 1.0, s))
            out = Vs[l + 1][:, : h.n].transpose(0, 2, 1) if h.nxt else None
        # Sort key: incoming weights in the (already canonical) order of the layer below, then
        # the bias, then -- for the last hidden layer, whose next layer is the output -- the
        # outgoing weights. np.lexsort takes its primary key last.
        keys = np.concatenate([Vs[l], out], 1) if out is not None and l == len(hidden) - 1 else Vs[l]
        keys = np.round(keys, SORT_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
        perm = np.lexsort(keys[:, ::-1].transpose(1, 0, 2), axis=-1)
        _permute(Vs, l, h.n, perm, None)
    return Vs


def canonical(net: Network, theta) -> np.ndarray:
    """One representative of each row's orbit under the network's symmetries, shape of ``theta``
    ((R, P) or (P,)).

    Rescalable units balanced (incoming and outgoing norms equal), each flippable unit's sign set
    so that its first significant incoming weight (or bias; outgoing weight for a unit with none)
    is positive, and units sorted lexicographically by their incoming weights and bias rounded to
    ``SORT_DECIMALS`` decimals, layer by layer from the input. The result computes the same
    function as ``theta``. Copies of one point give the same vector up to rounding, except when
    two units' keys agree to the rounding (ties broken by noise): compare with :func:`align`.
    Rows that are not finite come back NaN.
    """
    theta, single = _rows(net, theta)
    out = np.full_like(theta, np.nan)
    ok = np.isfinite(theta).all(axis=1)
    if ok.any():
        Vs, _ = _chart(net, theta[ok])
        out[ok] = _unchart(net, _canonical_chart(net, Vs))
    return out[0] if single else out


def _match(net: Network, ref: list[np.ndarray], Vs: list[np.ndarray]) -> list[np.ndarray]:
    """Chart layers ``Vs`` (R rows, modified) permuted and flipped to the closest to ``ref``
    (R rows): one optimal assignment per hidden layer and row, the layer's units compared on
    incoming column and outgoing row (the latter once the next layer is matched)."""
    hidden = _hidden(net)
    R = Vs[0].shape[0]
    for sweep in range(MATCH_SWEEPS if len(hidden) > 1 else 1):
        changed = False
        for l, h in enumerate(hidden):
            use_out = h.nxt and (sweep > 0 or l == len(hidden) - 1)
            G = np.einsum("rkj,rki->rji", ref[l], Vs[l])
            nt, nr = np.einsum("rki,rki->ri", Vs[l], Vs[l]), np.einsum("rkj,rkj->rj", ref[l], ref[l])
            if use_out:
                To, Ro = Vs[l + 1][:, : h.n], ref[l + 1][:, : h.n]
                G = G + np.einsum("rjk,rik->rji", Ro, To)
                nt = nt + np.einsum("rik,rik->ri", To, To)
                nr = nr + np.einsum("rjk,rjk->rj", Ro, Ro)
            if h.flip:
                S = np.where(G < 0, -1.0, 1.0)
                G = np.abs(G)
            cost = nr[:, :, None] + nt[:, None, :] - 2.0 * G
            perm = np.empty((R, h.n), dtype=np.intp)
            for r in range(R):
                perm[r] = linear_sum_assignment(cost[r])[1]
            sign = np.take_along_axis(S, perm[:, :, None], 2)[..., 0] if h.flip else None
            if np.any(perm != np.arange(h.n)) or (sign is not None and np.any(sign < 0)):
                changed = True
                _permute(Vs, l, h.n, perm, sign)
        if not changed:
            break
    return Vs


def align(net: Network, reference, theta) -> np.ndarray:
    """The copy of each row of ``theta`` ((R, P) or (P,)) under the network's symmetries closest
    to ``reference`` ((P,), or (R, P): one reference per row); the shape of ``theta``.

    Units are matched in the chart (module docstring) by an optimal assignment per hidden layer
    with the sign choice in the cost: exact for one hidden layer, layer by layer plus
    re-matching sweeps for deeper networks. Rescalable units come back in the reference's scale
    (each matched unit rescaled by the reference unit's balancing factor), so a copy of the
    reference returns the reference itself (to rounding; bit for bit without rescaling or
    sigmoid flips). Non-finite rows come back NaN.
    """
    theta, single = _rows(net, theta)
    ref, _ = _rows(net, reference)
    if ref.shape[0] not in (1, theta.shape[0]):
        raise ValueError(f"The 'reference' parameter must have shape ({net.n_params},) or "
                         f"({theta.shape[0]}, {net.n_params}). Got shape {np.shape(reference)} instead.")
    if not np.isfinite(ref).all():
        raise ValueError("The 'reference' parameter must be finite.")
    out = np.full_like(theta, np.nan)
    ok = np.isfinite(theta).all(axis=1)
    if ok.any():
        R = int(ok.sum())
        Vr, gr = _chart(net, ref if ref.shape[0] == 1 else ref[ok])
        Vr = [np.broadcast_to(V, (R, *V.shape[1:])) for V in Vr]
        gr = [np.broadcast_to(g, (R, g.shape[1])) for g in gr]
        Vs = _match(net, Vr, _chart(net, theta[ok])[0])
        out[ok] = _unchart(net, Vs, gr)
    return out[0] if single else out


def _features(net: Network, Vs: list[np.ndarray]) -> np.ndarray:
    """Column norms of every trained layer, sorted within hidden layers: invariant under the
    symmetries, and ``||f(a) - f(b)||`` is a lower bound of the chart distance of any copies."""
    H = len(_hidden(net))
    parts = []
    for l, V in enumerate(Vs):
        norms = np.sqrt(np.einsum("rkj,rkj->rj", V, V))
        parts.append(np.sort(norms, axis=1) if l < H else norms)
    return np.concatenate(parts, axis=1)


# --- distinct minima ---------------------------------------------------------------------------


def distinct_minima(net: Network, thetas, losses, *, rtol: float = 1e-3, loss_tol: float = 1e-6):
    """Group endpoints (rows of ``thetas`` (n, P), losses (n,)) into minima distinct up to symmetry.

    Endpoints are taken in order of increasing loss (ties by index); each joins the first-made
    group whose representative (its first, lowest-loss member) has a loss within
    ``loss_tol * max(1, |loss|)`` and a copy within ``rtol * max(1, ||rep||)`` of it (distances
    and norms in the chart, module docstring), or starts a new group. The closest such group wins.
    A copy is found by :func:`canonical` forms (an upper bound) and, when that fails and a lower
    bound from column norms cannot rule the group out, by :func:`align`.

    Returns ``(labels, table)``: labels (n,), 0 for the lowest-loss minimum and -1 for rows with a
    non-finite loss or parameter; ``table`` a DataFrame with one row per minimum: ``minimum``,
    ``loss`` (the representative's), ``count``, ``representative`` (row index into ``thetas``).
    """
    thetas = net._check_theta(thetas)
    losses = np.asarray(losses, dtype=float).ravel()
    if losses.shape != (thetas.shape[0],):
        raise ValueError(f"The 'losses' parameter must have shape ({thetas.shape[0]},). Got {losses.shape} instead.")
    for name, v in (("rtol", rtol), ("loss_tol", loss_tol)):
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"The {name!r} parameter must be >= 0. Got {v!r} instead.")
    labels = np.full(thetas.shape[0], -1)
    valid = np.flatnonzero(np.isfinite(losses) & np.isfinite(thetas).all(axis=1))
    if valid.size == 0:
        return labels, pd.DataFrame({"minimum": [], "loss": [], "count": [], "representative": []})
    order = valid[np.lexsort((valid, losses[valid]))]
    Vs, _ = _chart(net, thetas[order])
    chart = _flat(Vs)
    feats = _features(net, Vs)
    canon = _flat(_canonical_chart(net, [V.copy() for V in Vs]))
    norms = np.linalg.norm(chart, axis=1)
    # Groups, in order of creation (= increasing representative loss): rows into `order`.
    reps: list[int] = []
    rep_loss: list[float] = []
    group_of = np.empty(order.size, dtype=int)
    for i, idx in enumerate(order):
        L = losses[idx]
        first = bisect.bisect_left(rep_loss, L - loss_tol * max(1.0, abs(L)))
        best = -1
        if first < len(reps):
            cand = np.arange(first, len(reps))
            rows = np.asarray(reps)[cand]
            thr = rtol * np.maximum(1.0, norms[rows])
            lower = np.linalg.norm(feats[rows] - feats[i], axis=1)
            d = np.linalg.norm(canon[rows] - canon[i], axis=1)
            unsure = np.flatnonzero((lower <= thr) & (d > thr))
            if unsure.size:
                ref = [V[rows[unsure]] for V in Vs]
                mine = [np.repeat(V[i : i + 1], unsure.size, axis=0) for V in Vs]
                d[unsure] = np.linalg.norm(_flat(_match(net, ref, mine)) - chart[rows[unsure]], axis=1)
            hit = np.flatnonzero(d <= thr)
            if hit.size:
                k = hit[np.argmin(d[hit])]  # argmin: the first of equals, i.e. the oldest group
                best = int(cand[k])
        if best < 0:
            reps.append(i)
            rep_loss.append(L)
            best = len(reps) - 1
        group_of[i] = best
    labels[order] = group_of
    counts = np.bincount(group_of, minlength=len(reps))
    table = pd.DataFrame({"minimum": np.arange(len(reps)), "loss": losses[order[reps]], "count": counts,
                          "representative": order[reps]})
    return labels, table


# --- barriers ----------------------------------------------------------------------------------


def _data(net: Network, X, y):
    X = net._check_X(X)
    if X.ndim != 2:
        raise ValueError(f"The 'X' parameter must have shape (n_samples, {net.sizes[0]}). Got shape {X.shape} instead.")
    return net.inputs(X), net._check_y(y, X)


def _point(net: Network, name: str, v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (net.n_params,) or not np.isfinite(v).all():
        raise ValueError(f"The {name!r} parameter must be a finite vector of shape ({net.n_params},). "
                         f"Got shape {v.shape} instead.")
    return v


def _path_max(net: Network, X1, y, curve, points: int, workspaces: dict):
    """The highest loss on ``curve(t)`` for t in [0, 1]: a grid of ``points`` values, then
    ``ZOOMS`` finer grids about the highest point so far. Returns ``(height, t_max)`` with the
    height over the higher endpoint, floored at 0 (t_max then the higher endpoint's t)."""
    def loss(ts):
        with np.errstate(all="ignore"):
            L = full_pass(net, curve(ts), X1, y, workspaces=workspaces)[0]
        return np.where(np.isnan(L), np.inf, L)

    ends = loss(np.array([0.0, 1.0]))
    ts = np.linspace(0.0, 1.0, points)
    L = loss(ts)
    k = int(np.argmax(L))
    t_best, L_best = ts[k], L[k]
    for _ in range(ZOOMS):
        lo, hi = ts[max(k - 1, 0)], ts[min(k + 1, ts.size - 1)]
        if hi <= lo:
            break
        ts = np.linspace(lo, hi, points)
        L = loss(ts)
        k = int(np.argmax(L))
        if L[k] > L_best:
            t_best, L_best = ts[k], L[k]
    top = max(ends)
    if L_best <= top:
        return 0.0, float(np.argmax(ends))
    return float(L_best - top), float(t_best)


def straight_barrier(net: Network, X, y, a, b, *, points: int = 65) -> tuple[float, float]:
    """``(height, t_max)``: the highest training loss on the segment ``a + t (b - a)``, t in
    [0, 1], minus ``max(L(a), L(b))``, floored at 0, and the t where it is reached.

    All ``points`` points of a grid are one vectorised pass, followed by ``ZOOMS`` grids of as
    many points about the highest point so far (each about 30x narrower), so the height is the
    segment's maximum to about 1e-9 in t whenever the grid resolves its peak. A highest point at an
    endpoint gives height 0 and ``t_max`` 0 or 1 (the higher endpoint). Non-finite losses on the
    segment count as infinitely high.
    """
    X1, y = _data(net, X, y)
    a, b = _point(net, "a", a), _point(net, "b", b)
    if points < 3:
        raise ValueError(f"The 'points' parameter must be >= 3. Got {points!r} instead.")
    return _path_max(net, X1, y, lambda t: a + t[:, None] * (b - a), int(points), {})


def _bezier(a, c, b):
    return lambda t: ((1 - t) ** 2)[:, None] * a + (2 * t * (1 - t))[:, None] * c + (t**2)[:, None] * b


def path_barrier(net: Network, X, y, a, b, *, steps: int = 200, points: int = 17, lr: float | None = None,
                 seed: int = 0, check_every: int = 10) -> tuple[float, np.ndarray]:
    """``(height, control)``: the barrier of a low-loss quadratic Bezier curve
    ``phi(t) = (1-t)^2 a + 2t(1-t) c + t^2 b`` from ``a`` to ``b`` (Garipov et al. 2018), and its
    control point ``c`` (P,).

    ``c`` starts at the midpoint (the curve is then the straight segment) and takes ``steps``
    Adam steps (betas 0.9, 0.999) on the mean training loss at ``points`` values of t, one per
    stratum of (0, 1) at a position drawn from ``seed`` each step, all one vectorised pass; the
    gradient with respect to ``c`` is the mean of ``2t(1-t) grad L(phi(t))``. ``lr`` defaults to
    ``0.05 * rms(b - a)`` (Adam's steps are about ``lr`` per coordinate, so the curve can move
    by the scale of the segment). Every ``check_every`` steps and at the end, the curve's barrier
    is measured as :func:`straight_barrier` measures a segment; the lowest is returned, with the
    straight segment's own as the first candidate, so the height is never above
    ``straight_barrier(net, X, y, a, b)``. Deterministic for the same inputs.
    """
    X1, y = _data(net, X, y)
    a, b = _point(net, "a", a), _point(net, "b", b)
    if steps < 0 or points < 1:
        raise ValueError(f"The 'steps' parameter must be >= 0 and 'points' >= 1. Got {steps!r} and {points!r}.")
    if lr is None:
        lr = 0.05 * float(np.sqrt(np.mean((b - a) ** 2)))
    ws: dict = {}
    c = 0.5 * (a + b)
    best_h, best_c = _path_max(net, X1, y, lambda t: a + t[:, None] * (b - a), 65, ws)[0], c.copy()
    if best_h == 0.0 or lr <= 0 or steps == 0:
        return best_h, best_c
    rng = np.random.default_rng(seed)
    m, v = np.zeros_like(c), np.zeros_like(c)
    grad = np.empty((points, net.n_params))
    for step in range(1, steps + 1):
        t = (np.arange(points) + rng.uniform(size=points)) / points
        with np.errstate(all="ignore"):
            full_pass(net, _bezier(a, c, b)(t), X1, y, grad_out=grad, workspaces=ws)
        g = (2 * t * (1 - t)) @ grad / points
        if not np.isfinite(g).all():
            break
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        c = c - lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-12)
        if step % check_every == 0 or step == steps:
            h = _path_max(net, X1, y, _bezier(a, c, b), 65, ws)[0]
            if h < best_h:
                best_h, best_c = h, c.copy()
                if h == 0.0:
                    break
    return best_h, best_c


def barriers(net: Network, X, y, thetas, losses, labels, global_label=0, *, pairs: int | None = None,
             steps: int = 200, points: int = 17, seed: int = 0) -> pd.DataFrame:
    """Barriers from every non-global minimum to the global one: one row per distinct minimum
    (labels from :func:`distinct_minima`, ``-1`` ignored) other than ``global_label`` (one label
    or several), lowest loss first, at most ``pairs`` of them.

    Each minimum is represented by its lowest-loss endpoint (ties: the lowest index, as in
    :func:`distinct_minima`). Its partner is the global endpoint nearest after alignment: every
    global endpoint and the representative are aligned to the global minimum's representative,
    the nearest there is chosen, and that endpoint aligned to the representative. Columns:
    ``minimum``, ``loss``, ``global_loss`` (the partner's), ``distance`` (Euclidean, representative
    to aligned partner), ``straight_barrier``, ``path_barrier`` (:func:`straight_barrier` and
    :func:`path_barrier` with ``steps``, ``points``, ``seed``), then ``representative`` and
    ``partner`` (row indices into ``thetas``).
    """
    thetas = net._check_theta(thetas)
    losses = np.asarray(losses, dtype=float).ravel()
    labels = np.asarray(labels).ravel()
    if losses.shape != (thetas.shape[0],) or labels.shape != (thetas.shape[0],):
        raise ValueError(f"The 'losses' and 'labels' parameters must have shape ({thetas.shape[0]},). "
                         f"Got {losses.shape} and {labels.shape} instead.")
    columns = ["minimum", "loss", "global_loss", "distance", "straight_barrier", "path_barrier",
               "representative", "partner"]
    glob = np.isin(labels, np.atleast_1d(global_label)) & np.isfinite(losses)
    if not glob.any():
        raise ValueError(f"No endpoint has the global label {global_label!r}.")

    def representative(mask):
        idx = np.flatnonzero(mask)
        return int(idx[np.lexsort((idx, losses[idx]))[0]])

    others = sorted({int(k) for k in labels[(labels >= 0) & ~glob & np.isfinite(losses)]},
                    key=lambda k: (losses[representative(labels == k)], k))
    if pairs is not None:
        others = others[: int(pairs)]
    g_idx = np.flatnonzero(glob)
    g_ref = thetas[representative(glob)]
    g_aligned = align(net, g_ref, thetas[g_idx])
    rows = []
    for k in others:
        r = representative(labels == k)
        near = g_idx[int(np.argmin(np.linalg.norm(g_aligned - align(net, g_ref, thetas[r]), axis=1)))]
        a = thetas[r]
        b = align(net, a, thetas[near])
        h_straight = straight_barrier(net, X, y, a, b)[0]
        h_path = min(path_barrier(net, X, y, a, b, steps=steps, points=points, seed=seed)[0], h_straight)
        rows.append((k, losses[r], losses[near], float(np.linalg.norm(a - b)), h_straight, h_path, r, int(near)))
    return pd.DataFrame(rows, columns=columns)
