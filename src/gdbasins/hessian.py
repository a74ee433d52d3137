"""The exact Hessian of a network's loss, by forward-over-reverse differentiation.

:func:`hessian` applies Pearlmutter's R-operator, ``R{.} = d/dr (.)(theta + r v)|_{r=0}``, to the
forward and backward passes of :meth:`gdbasins.network.Network.objective`: ``R{grad} = H v``.
With layer l computing ``z_l = a_l @ V_l`` (``a_l`` its input, with a column of ones for the
bias), ``a_{l+1} = f(z_l)``, the error ``d_l = dL/dz_l`` and the weights ``W_l = V_l`` without
its bias row, the R-operator gives, for a direction ``dV``:

* forward: ``R{z_l} = R{a_l} @ V_l + a_l @ dV_l`` and ``R{a_{l+1}} = f'(z_l) * R{z_l}``;
* at the output: ``R{d} = l''(z) * R{z}``, the loss's second derivative with respect to its
  pre-activation (:attr:`gdbasins.functions.Loss.curvature`);
* backward: ``R{d_{l-1}} = (R{d_l} @ W_l^T + d_l @ dW_l^T) * f'(z_{l-1})
  + (d_l @ W_l^T) * f''(z_{l-1}) * R{z_{l-1}}``;
* the gradient: ``R{g_l} = R{a_l}^T @ d_l + a_l^T @ R{d_l} + l2 * dW_l``.

The directions are the unit vectors ``e_p``, one per parameter, pushed through as a batch. A
unit vector in layer t changes nothing before layer t, and one entry ``(i, j)`` of ``V_t``: then
``R{z_t}`` has one nonzero column (``a_t[:, i]`` in column j), and so does ``R{a_{t+1}}``, which
the first steps use instead of dense products. Its backward pass stops at layer t: the rows of
the Hessian for layer t's parameters are computed for the columns of layers t and after, and the
blocks below the diagonal are their transposes, so the result is exactly symmetric (the
diagonal blocks are symmetrised). One replica costs, per parameter, about one forward and one
backward pass from its layer on, with the data's m samples and the chunk's directions in one
matrix product per layer.

Derivatives of ReLU follow :mod:`gdbasins.functions`: ``f'(0) = 0``, and ``f'' = 0`` (the second
derivative away from the kinks). At a point with a pre-activation exactly at 0 the loss has no
Hessian; the result is the one of this convention, the Hessian on the side where the unit is off.
"""

from __future__ import annotations

import numpy as np

from . import functions
from .network import Network

__all__ = ["hessian", "CHUNK_ELEMENTS"]

#: Elements (float64) the R-operator's arrays of one chunk of directions may hold together: the
#: directions of a layer go through in chunks of this size, about 4 MB.
CHUNK_ELEMENTS = 2**19


def hessian(net: Network, theta: np.ndarray, X, y) -> np.ndarray:
    """The exact Hessian of ``net``'s loss (its L2 penalty included) at each row of ``theta``.

    Parameters
    ----------
    net : Network
        The architecture; any activations, loss, ``l2``, ``bias`` and ``fixed_output``.
    theta : ndarray of shape (R, P)
        Parameters of R replicas.
    X : ndarray of shape (m, n_in) or (R, m, n_in)
        Inputs, shared by every replica or one batch per replica.
    y : ndarray of shape (m, n_out) or (R, m, n_out)
        Targets (or without the last axis for one output).

    Returns
    -------
    ndarray of shape (R, P, P)
        Symmetric Hessians, replica r's computed from row r alone (the same bits as with that
        replica alone). A row of ``theta`` that is not finite gets a Hessian of NaN.
    """
    theta = net._check_theta(theta)
    X = net._check_X(X, theta.shape[0])
    y = net._check_y(y, X)
    hidden, out_act = functions.activation(net.activation), functions.activation(net.output)
    lossfn = functions.loss(net.loss)
    second = {net.activation: hidden.d2f_from_a, net.output: out_act.d2f_from_a, net.loss: lossfn.curvature}
    for name, derivative in second.items():
        if derivative is None:
            raise ValueError(f"The exact Hessian needs the second derivative of {name!r}; it has none.")
    X1 = net.inputs(X)
    R, P = theta.shape
    H = np.full((R, P, P), np.nan)
    ws = net.workspace(1, X.shape[-2])
    for r in range(R):
        if np.all(np.isfinite(theta[r])):
            Xr, yr = (X1, y) if X1.ndim == 2 else (X1[r], y[r])
            _replica(net, theta[r : r + 1], Xr, yr, ws, H[r])
    return H


def _replica(net: Network, theta1: np.ndarray, X1: np.ndarray, y: np.ndarray, ws, out: np.ndarray) -> None:
    """Write the Hessian of one replica (``theta1`` of shape (1, P)) into ``out`` (P, P)."""
    hidden, out_act = functions.activation(net.activation), functions.activation(net.output)
    net.objective(theta1, X1, y, ws, value=False)
    Vs = [V[0] for V in net.layers(theta1)]
    trained = len(Vs)
    if net.fixed_output:
        Vs.append(net.output_layer()[0])
    L, m, sizes = len(Vs), X1.shape[0], net.sizes
    W = [V[:n] for V, n in zip(Vs, sizes)]  # weights without the bias row, (n_l, n_{l+1})
    A = [X1] + [ws.a[l][0] for l in range(1, L)]  # each layer's input, with its column of ones
    D = [d[0] for d in ws.delta]  # dL/dz_l, (m, n_{l+1})
    # Per unit and sample, (n_{l+1}, m): f'(z_l) and (d_{l+1} @ W_{l+1}^T) * f''(z_l) of the hidden
    # layers (None where f'' vanishes, as for ReLU), and l''(z) at the output.
    F1, G = [], []
    for l in range(L - 1):
        h = ws.h[l][0]
        F1.append(hidden.df_from_a(h, np.empty_like(h)).T.copy())
        g = (D[l + 1] @ W[l + 1].T) * hidden.d2f_from_a(h, np.empty_like(h))
        G.append(g.T.copy() if g.any() else None)
    z, a = ws.z[-1][0], ws.a[-1][0]
    C = functions.loss(net.loss).curvature(z, a, y, out_act, np.empty_like(a), np.empty_like(a)).T.copy()
    starts = np.cumsum([0] + [V.size for V in Vs[:trained]])
    for t in range(trained):
        n_out = sizes[t + 1]
        per_direction = m * (sum(sizes[t + 2 :]) + 3 * max(sizes[t + 1 :]) + 2)
        chunk = max(1, CHUNK_ELEMENTS // per_direction)
        for p0 in range(0, Vs[t].size, chunk):
            p = np.arange(p0, min(p0 + chunk, Vs[t].size))
            rows = _rows(net.l2, t, p // n_out, p % n_out, A, W, D, F1, G, C, trained, sizes)
            for l, block in enumerate(rows, start=t):
                out[starts[t] + p0 : starts[t] + p0 + len(p), starts[l] : starts[l + 1]] = block
        s, e = starts[t], starts[t + 1]
        out[s:e, s:e] = 0.5 * (out[s:e, s:e] + out[s:e, s:e].T)
        out[e:, s:e] = out[s:e, e:].T


def _rows(l2, t, I, J, A, W, D, F1, G, C, trained, sizes) -> list[np.ndarray]:
    """Hessian rows of the K unit directions ``V_t[I[k], J[k]]`` of layer t, as blocks
    ``(K, size of layer l)`` for the trained layers l = t, t+1, ...

    Arrays of the directions are laid out (n, K, m): units, directions, samples. Each layer's
    products are then single matrix products over all directions and samples, and elementwise
    products with a per-unit, per-sample array run along the m samples.
    """
    L, m, K = len(W), A[0].shape[0], len(I)
    k = np.arange(K)
    x = A[t].T[I]  # the nonzero row of R{z_t}, (K, m)
    RZ = {}  # dense R{z_l} for l > t, (n_{l+1}, K, m)
    if t == L - 1:
        RD = np.zeros((sizes[-1], K, m))
        RD[J, k, :] = C[J] * x
    else:
        s = F1[t][J] * x  # the nonzero row of R{a_{t+1}}, (K, m)
        RZ[t + 1] = W[t + 1][J].T[:, :, None] * s[None, :, :]
        for l in range(t + 2, L):
            RZ[l] = _product(W[l].T, F1[l - 1][:, None, :] * RZ[l - 1])
        RD = C[:, None, :] * RZ[L - 1]
    blocks = []
    for l in range(L - 1, t - 1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        if l < trained:
            # R{g_l} = R{a_l}^T d_l + a_l^T R{d_l}, laid out (n_out, K, n_in [+ 1])
            Rg = (RD.reshape(n_out * K, m) @ A[l]).reshape(n_out, K, -1)
            if l == t + 1:
                Rg[:, k, J] += (s @ D[l]).T
            elif l > t + 1:
                RA = (F1[l - 1][:, None, :] * RZ[l - 1]).reshape(n_in * K, m)
                Rg[:, :, :n_in] += (RA @ D[l]).T.reshape(n_out, n_in, K).transpose(0, 2, 1)
            elif l2:
                w = I < n_in  # a weight, not a bias
                Rg[J[w], k[w], I[w]] += l2
            blocks.append(Rg.transpose(1, 2, 0).reshape(K, -1))
        if l > t:
            RD_prev = _product(W[l], RD)
            RD_prev *= F1[l - 1][:, None, :]
            g = G[l - 1]
            if g is not None and l - 1 > t:
                RD_prev += g[:, None, :] * RZ[l - 1]
            elif g is not None:  # R{z_t} has one nonzero row per direction
                RD_prev[J, k, :] += g[J] * x
            RD = RD_prev
    return blocks[::-1]


def _product(M: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``M @ B`` over the first axis of B (n, K, m), as one matrix product: (M.shape[0], K, m)."""
    n, K, m = B.shape
    if n == 1:  # an outer product, faster broadcast than as a matrix product of inner size 1
        return M[:, 0, None, None] * B[0]
    return (M @ B.reshape(n, K * m)).reshape(M.shape[0], K, m)
