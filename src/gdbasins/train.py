"""One training loop for batch, stochastic and mini-batch gradient descent.

The variant is only a batch size (:func:`batch_size_for` is the one place that maps names to
sizes). All replicas advance together: every NumPy call in the loop works on the leading replica
axis, each replica with its own learning rate and its own shuffled order of the samples.

Randomness: replica r's initial weights come from ``SeedSequence([salt, seed_r])`` stream 0 and
its shuffles from stream 1. The initial weights therefore depend on the seed (and the salt, e.g. a
dataset key) and the architecture only -- never on the variant or the learning rate -- which is
what makes comparisons between variants paired.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import functions
from .checks import check_nonnegative_int, check_positive, check_positive_int
from .network import Network, _T

__all__ = ["VARIANTS", "TrainResult", "batch_size_for", "replica_rngs", "train", "accuracy"]

VARIANTS = ("batch", "sgd", "minibatch")
INIT_STREAM, SHUFFLE_STREAM = 0, 1


def batch_size_for(variant: str, n_samples: int, minibatch_size: int = 32) -> int:
    """The batch size that defines ``variant``: all samples, one, or ``minibatch_size``."""
    if variant == "batch":
        return n_samples
    if variant == "sgd":
        return 1
    if variant == "minibatch":
        check_positive_int("minibatch_size", minibatch_size)
        return minibatch_size
    raise ValueError(f"The 'variant' parameter must be one of {list(VARIANTS)}. Got {variant!r} instead.")


def replica_rngs(seeds, stream: int, salt: int = 0) -> list[np.random.Generator]:
    """One independent generator per seed for the given stream (init or shuffle)."""
    # Generator(PCG64(.)) is what default_rng builds from a SeedSequence, a third faster (R = 512:
    # 6.6 ms instead of 9.6 ms per stream).
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence([salt, int(s)], spawn_key=(stream,))))
        for s in seeds
    ]


def accuracy(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Share of correctly classified samples per replica, for 0/1 targets of shape
    (..., m, n_out): threshold 0.5 for one output, argmax for several."""
    return _accuracy(out, _labels(y))


def _labels(y: np.ndarray) -> np.ndarray:
    """The classes of 0/1 targets (..., m, n_out), as :func:`accuracy` compares them."""
    return y[..., 0] > 0.5 if y.shape[-1] == 1 else y.argmax(axis=-1)


def _accuracy(out: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """:func:`accuracy` given the targets' :func:`_labels` (computed once per full pass)."""
    hit = ((out[..., 0] > 0.5) if out.shape[-1] == 1 else out.argmax(axis=-1)) == labels
    # hit.mean(axis=-1) divides the count, summed in float64, by m: exactly the integer count
    # divided by m, without mean's overhead and the cast to float (7.6 us -> 4 us at R = 1)
    return np.add.reduce(hit, axis=-1) / hit.shape[-1]


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1)))


@dataclass
class TrainResult:
    """What training returns.

    ``theta``: final parameters (R, P); a diverged replica keeps the parameters of the epoch in
    which divergence was detected. ``theta0``: initial parameters (R, P). ``history``: name ->
    array of shape (epochs + 1, R), row e measured on the full training set after e epochs (NaN
    after a replica diverged). ``diverged_at``: epoch of divergence per replica, -1 if none.
    ``seconds``: cumulative wall time after each epoch, shape (epochs + 1,) (not reproducible,
    so kept apart from the history). ``snapshots``: epoch -> parameters (R, P), when asked for.
    """

    theta: np.ndarray
    theta0: np.ndarray
    history: dict[str, np.ndarray]
    diverged_at: np.ndarray
    batch_size: int
    updates_per_epoch: int
    seconds: np.ndarray = field(repr=False)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0


def train(
    net: Network,
    X,
    y,
    *,
    seeds,
    eta,
    batch_size: int,
    epochs: int,
    theta0=None,
    init: str = "glorot",
    init_scale: float = 1.0,
    salt: int = 0,
    X_test=None,
    y_test=None,
    divergence_bound: float = 1e6,
    progress: Callable[[int, int], None] | None = None,
    snapshot_every: int = 0,
) -> TrainResult:
    """Train one replica per seed with gradient descent of the given batch size.

    ``eta`` is one learning rate or one per replica. Every epoch draws a fresh order of the
    samples per replica (full batch uses the data as given: order does not change its gradient).
    A replica whose loss turns non-finite or exceeds ``divergence_bound`` is marked diverged and
    frozen; the others go on. ``progress(epoch, epochs)`` is called after every epoch.
    ``snapshot_every = k > 0`` keeps the parameters at epochs 0, k, 2k, ... and the last in
    ``TrainResult.snapshots`` (the path a run took).
    """
    seeds = [int(s) for s in np.atleast_1d(np.asarray(seeds))]
    if not seeds:
        raise ValueError("The 'seeds' parameter must list at least one seed. Got an empty list instead.")
    R = len(seeds)
    X = net._check_X(X)
    if X.ndim != 2:
        raise ValueError(f"The 'X' parameter must have shape (n_samples, {net.sizes[0]}). Got shape {X.shape} instead.")
    y = net._check_y(y, X)
    n = X.shape[0]
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size > n:
        raise ValueError(
            f"The 'batch_size' parameter must be <= n_samples = {n}. Got {batch_size} instead."
        )
    epochs = check_nonnegative_int("epochs", epochs)
    eta = check_positive("eta", eta)
    if eta.size not in (1, R) or eta.ndim > 1:
        raise ValueError(f"The 'eta' parameter must be a number or have shape ({R},). Got shape {eta.shape} instead.")
    check_positive("divergence_bound", divergence_bound)
    has_test = X_test is not None
    if has_test:
        X_test = net._check_X(X_test)
        y_test = net._check_y(y_test, X_test)
    if theta0 is None:
        theta0 = net.init(replica_rngs(seeds, INIT_STREAM, salt), init, init_scale)
    else:
        theta0 = net._check_theta(theta0)
        if theta0.shape[0] != R:
            raise ValueError(f"The 'theta0' parameter must have {R} rows (one per seed). Got {theta0.shape[0]} instead.")
    classify = _is_binary(y)
    names = ["loss", "grad_norm", "weight_norm", "distance"] + (["accuracy"] if classify else [])
    if has_test:
        names += ["test_loss"] + (["test_accuracy"] if classify else [])
    history = {k: np.full((epochs + 1, R), np.nan) for k in names}

    theta = theta0.copy()
    final = theta  # rows of diverged replicas are copied here before they are frozen
    diverged_at = np.full(R, -1)
    alive = np.ones(R, dtype=bool)
    eta_col = np.broadcast_to(eta.ravel(), (R,)).copy()[:, None]
    shuffles = replica_rngs(seeds, SHUFFLE_STREAM, salt)
    X1 = net.inputs(X)
    X1_test = net.inputs(X_test) if has_test else None
    grad = np.empty_like(theta)
    workspaces = {}
    seconds = np.full(epochs + 1, np.nan)
    snapshots = {}
    step = np.empty_like(theta)  # theta - theta0, squared
    all_alive = True
    start = time.perf_counter()
    with np.errstate(all="ignore"):
        for epoch in range(epochs + 1):
            loss, acc = full_pass(net, theta, X1, y, grad_out=grad, with_accuracy=classify, workspaces=workspaces)
            np.subtract(theta, theta0, out=step)
            np.multiply(step, step, out=step)
            row = {
                "loss": loss,
                "grad_norm": np.sqrt(np.einsum("rp,rp->r", grad, grad)),
                "weight_norm": np.sqrt(np.einsum("rp,rp->r", theta, theta)),
                # np.linalg.norm(theta - theta0, axis=1), the same operations without its overhead
                "distance": np.sqrt(np.add.reduce(step, axis=1)),
            }
            if classify:
                row["accuracy"] = acc
            if has_test:
                row["test_loss"], test_acc = full_pass(
                    net, theta, X1_test, y_test, with_accuracy=classify, workspaces=workspaces)
                if classify:
                    row["test_accuracy"] = test_acc
            for k, v in row.items():
                if all_alive:
                    history[k][epoch] = v
                else:
                    history[k][epoch, alive] = v[alive]
            # A replica blows up when its loss is not finite or exceeds the bound, or a weight is not
            # finite. A finite weight norm (a sum of squares) means every weight is finite, so the
            # elementwise test of theta runs only when some norm is not (a few us per epoch at R = 1).
            ok = np.isfinite(loss) & (loss <= divergence_bound)
            weights_finite = np.isfinite(row["weight_norm"])
            if not weights_finite.all():
                weights_finite = np.isfinite(theta).all(axis=1)
            ok &= weights_finite
            blown = alive & ~ok
            if not ok.all() and blown.any():
                if final is theta:
                    final = theta.copy()
                final[blown] = theta[blown]
                diverged_at[blown] = epoch
                alive &= ~blown
                all_alive = False
                theta[blown] = 0.0  # frozen: keeps later arithmetic finite and cheap
                eta_col[blown] = 0.0
            seconds[epoch] = time.perf_counter() - start
            if snapshot_every and (epoch % snapshot_every == 0 or epoch == epochs or not alive.any()):
                snapshots[epoch] = np.where(alive[:, None], theta, final)
            if epoch == epochs or (not all_alive and not alive.any()):
                break
            if batch_size == n:  # the full-data gradient just computed is the epoch's one update
                theta -= np.multiply(grad, eta_col, out=grad)
            else:
                _stochastic_epoch(net, theta, X1, y, eta_col, batch_size, shuffles)
            if progress is not None:
                progress(epoch + 1, epochs)
    if final is not theta:
        final[alive] = theta[alive]
    return TrainResult(
        theta=final,
        theta0=theta0,
        history=history,
        diverged_at=diverged_at,
        batch_size=batch_size,
        updates_per_epoch=-(-n // batch_size),
        seconds=seconds,
        snapshots=snapshots,
    )


#: Elements per work buffer in a full-data pass. Passes over all samples go through the replicas
#: in chunks this size (about 0.5 MB per buffer): one buffer for all R replicas outgrows the
#: cache and ran 20% slower at R = 512, n = 1,000 (workflow/benchmarks/bench_engine.py workload).
CHUNK_ELEMENTS = 2**16


def full_pass(net: Network, theta, X1, y, *, grad_out=None, with_accuracy=False, workspaces=None):
    """Loss (R,) and accuracy (R,) or ``None`` on all samples ``X1`` (with its column of ones),
    writing the gradient into ``grad_out`` (R, P) when given. Replicas go in cache-sized chunks;
    each replica's arithmetic is the same as in one pass over all of them. ``workspaces``, a
    dict, keeps the work buffers between calls."""
    R, n = theta.shape[0], X1.shape[-2]
    chunk = max(1, CHUNK_ELEMENTS // (n * (max(net.sizes[1:]) + 1)))
    workspaces = {} if workspaces is None else workspaces
    special = _has_one_hidden_path(net) and X1.ndim == 2
    if special and R <= chunk:  # one chunk: the pass's own arrays, no copies (10 us less at R = 1)
        key = ("one hidden", R, n)
        if key not in workspaces:
            workspaces[key] = _OneHiddenPass(net, R, n)
        loss, g, out = workspaces[key](theta, X1, y, grad_out is not None)
        if grad_out is not None:
            np.copyto(grad_out, g)
        return loss, (_accuracy(out, _labels(y)) if with_accuracy else None)
    loss = np.empty(R)
    acc = np.empty(R) if with_accuracy else None
    labels = _labels(y) if with_accuracy else None  # once, not once per chunk
    for c in range(0, R, chunk):
        part = slice(c, min(c + chunk, R))
        shape = (part.stop - part.start, n)
        if special:
            key = ("one hidden",) + shape
            if key not in workspaces:
                workspaces[key] = _OneHiddenPass(net, *shape)
            loss[part], g, out = workspaces[key](theta[part], X1, y, grad_out is not None)
        else:
            if shape not in workspaces:
                workspaces[shape] = net.workspace(*shape)
            ws = workspaces[shape]
            loss[part], g, out = net.objective(theta[part], X1, y, ws, grad=grad_out is not None)
        if grad_out is not None:
            grad_out[part] = g
        if with_accuracy:
            acc[part] = _accuracy(out, labels)
    return loss, acc


def _has_one_hidden_path(net: Network) -> bool:
    """Whether :class:`_OneHiddenPass` handles ``net``: one hidden layer and one output (with or
    without biases, trained or fixed output layer)."""
    return len(net.sizes) == 3 and net.sizes[-1] == 1


class _OneHiddenPass:
    """:meth:`Network.objective` on all samples for a network with one hidden layer and one
    output (:func:`_has_one_hidden_path`), with its own buffers for R replicas and m samples.

    Why it exists: the generic backward pass forms ``delta_1 = delta_2 @ W_2^T``, an outer
    product of m x 1 by 1 x h per replica, which NumPy's matmul runs as R * m loops of h
    elements. Here the hidden layer is kept unit-major, (R, h, m), so that product is h long
    loops per replica, and the elementwise work of the backward pass runs on contiguous memory
    too: a full-data pass (2-8-1 tanh/sigmoid/BCE, 1,000 samples, chunks of 7 replicas) runs
    15-20% faster than the generic one at R = 1, 32 and 128 (fastest of 15 runs, side by side).
    What remains is mostly tanh, the loss's logaddexp and the sigmoid: elementwise functions
    whose results fix the bits (logaddexp alone is about a fifth of the pass; NumPy's vectorised
    exp and log1p would be 3x faster but differ from it in the last bit). The Safran-Shamir
    students (8-8-1 ReLU, no biases, fixed output, 500 samples, R = 100) train 1.2x faster at
    full batch and 1.3x at batch size 32 through it.

    Bit-identical to :meth:`Network.objective`: the same BLAS calls (the first layer's gemm
    writes its transposed output, the gradient's gemm reads the unit-major delta through a
    transposed view; NumPy passes both to BLAS as the same product), and the outer product is
    one multiplication per element in both (NumPy's matmul computes ``0 + a * b`` there).
    """

    def __init__(self, net: Network, R: int, m: int):
        h = net.sizes[1]
        self.net, self.h = net, h
        self.hidden = functions.activation(net.activation)
        self.out_act = functions.activation(net.output)
        self.lossfn = functions.loss(net.loss)
        # Two unit-major buffers, not four: z1 becomes h in place, and h (no longer needed once
        # copied into a1) becomes f'(z1) in place where the activation's derivative allows it
        # (tanh's 1 - a^2 and ReLU's a > 0 read each element once): a smaller working set.
        self.h_T, self.d1_T = np.empty((R, h, m)), np.empty((R, h, m))
        self.df_T = self.h_T if net.activation in ("tanh", "relu") else np.empty((R, h, m))
        # hidden activations, sample-major, with the column of ones when the layers have biases
        self.a1 = np.ones((R, m, h + net.bias))
        self.z2, self.a2, self.d2, self.tmp2 = (np.empty((R, m, 1)) for _ in range(4))
        self.grad = np.empty((R, net.n_params))
        self.g1, *self.g2 = net.layers(self.grad)  # no g2 for a fixed output layer
        self.fixed = net.output_layer() if net.fixed_output else None
        self._theta = self._layers = None  # the last theta and its layer views (one chunk: theta)

    def __call__(self, theta, X1, y, grad=True, value=True):
        """``(loss, grad, out)`` as :meth:`Network.objective` returns them; ``X1`` and ``y`` may
        be shared, (m, .), or one batch per replica, (R, m, .)."""
        net, h = self.net, self.h
        if theta is not self._theta:
            self._theta, self._layers = theta, net.layers(theta)
        V1, *V2 = self._layers
        V2 = self.fixed if net.fixed_output else V2[0]
        np.matmul(X1, V1, out=self.h_T.transpose(0, 2, 1))
        self.hidden.f(self.h_T, self.h_T)
        np.copyto(self.a1[..., :h], self.h_T.transpose(0, 2, 1))
        np.matmul(self.a1, V2, out=self.z2)
        a_out = self.out_act.f(self.z2, self.a2)
        loss = None
        if value:
            loss = self.lossfn.value(self.z2, a_out, y)
            if net.l2:  # the generic path adds a penalty of 0.0, which changes no loss
                loss += net._penalty(theta)
        if not grad:
            return loss, None, a_out
        d2 = self.lossfn.delta(self.z2, a_out, y, self.out_act, self.d2, self.tmp2)
        if not net.fixed_output:
            g2 = self.g2[0]
            np.matmul(self.a1.transpose(0, 2, 1), d2, out=g2)
            if net.l2:
                g2[:, :h] += net.l2 * V2[:, :h]
        d1 = np.multiply(V2[:, :h], d2.transpose(0, 2, 1), out=self.d1_T)
        d1 *= self.hidden.df_from_a(self.h_T, self.df_T)
        np.matmul(_T(X1), d1.transpose(0, 2, 1), out=self.g1)
        if net.l2:
            n_in = net.sizes[0]
            self.g1[:, :n_in] += net.l2 * V1[:, :n_in]
        return loss, self.grad, a_out


def _stochastic_epoch(net, theta, X1, y, eta_col, batch_size, shuffles) -> None:
    """One pass over the data in batches of ``batch_size`` (the last one smaller when
    ``batch_size`` does not divide n), in a fresh order per replica, updating ``theta`` in place.
    ``X1`` is the input with its column of ones.

    Replicas are independent, so they go through the epoch in chunks whose work buffers stay in
    the cache (``CHUNK_ELEMENTS`` per buffer, as in :func:`full_pass`): every replica does the
    same arithmetic as in one pass over all of them (at batch size 32, R = 512, one pass over all
    replicas ran 15% slower per replica than chunks of about 200)."""
    R, n = theta.shape[0], X1.shape[0]
    # rng.permutation(n) is np.arange(n) shuffled: shuffling rows of one array in place draws the
    # same orders, without n arrays to stack.
    perm = np.empty((R, n), dtype=np.intp)
    perm[:] = np.arange(n)
    for rng, row in zip(shuffles, perm):
        rng.shuffle(row)
    chunk = max(1, CHUNK_ELEMENTS // (batch_size * (max(net.sizes[1:]) + 1)))
    for c in range(0, R, chunk):
        part = slice(c, min(c + chunk, R))
        _stochastic_epoch_chunk(net, theta[part], X1, y, eta_col[part], batch_size, perm[part])


def _stochastic_epoch_chunk(net, theta, X1, y, eta_col, batch_size, perm) -> None:
    R, n = theta.shape[0], X1.shape[0]
    # One gather per epoch, sample-major (n, R, d + 1), so that each step's batch is one
    # contiguous block of memory whatever R is.
    if batch_size == 1 and _has_one_hidden_path(net):
        _sgd_epoch_one_hidden(net, theta, X1, y, eta_col, perm)
        return
    X1p, yp = np.take(X1, perm.T, axis=0), np.take(y, perm.T, axis=0)  # X1[perm.T]: 3x faster
    if _has_one_hidden_path(net):
        _minibatch_epoch_one_hidden(net, theta, X1p, yp, eta_col, batch_size)
        return
    ws = net.workspace(R, batch_size)
    Vs = net.layers(theta)
    for s in range(0, n, batch_size):
        Xb, yb = X1p[s : s + batch_size].transpose(1, 0, 2), yp[s : s + batch_size].transpose(1, 0, 2)
        if Xb.shape[1] != batch_size:  # the last, partial batch
            ws = net.workspace(R, Xb.shape[1])
        _, grad, _ = net.objective(theta, Xb, yb, ws, value=False, Vs=Vs)
        theta -= np.multiply(grad, eta_col, out=grad)


def _minibatch_epoch_one_hidden(net, theta, X1p, yp, eta_col, batch_size) -> None:
    """The steps of :func:`_stochastic_epoch_chunk` through :class:`_OneHiddenPass` (the same
    arithmetic as :meth:`Network.objective`; why it is faster is said there): an epoch at batch
    size 32, R = 128 (2-8-1, 1,000 samples, with its shuffles) went from 14.4 ms to 12.0 ms."""
    R, n = theta.shape[0], X1p.shape[0]
    step = _OneHiddenPass(net, R, batch_size)
    for s in range(0, n, batch_size):
        Xb, yb = X1p[s : s + batch_size].transpose(1, 0, 2), yp[s : s + batch_size].transpose(1, 0, 2)
        if Xb.shape[1] != batch_size:  # the last, partial batch
            step = _OneHiddenPass(net, R, Xb.shape[1])
        _, grad, _ = step(theta, Xb, yb, value=False)
        theta -= np.multiply(grad, eta_col, out=grad)


def _sgd_epoch_one_hidden(net, theta, X1, y, eta_col, perm) -> None:
    """One SGD epoch (batch size 1) of a network with one hidden layer and one output (with or
    without biases, trained or fixed output layer), replica r visiting the samples in the order
    ``perm[r]``, updating ``theta`` in place.

    Why it exists: at batch size 1 a step of :meth:`Network.objective` is mostly Python overhead
    and NumPy calls on tiny per-replica matrices. Here everything is set up once per epoch, and
    the backward pass runs with the replica axis *last* ((units, R) arrays), where each NumPy
    call is a few long contiguous loops instead of R short ones: the outer product
    ``x^T @ delta`` of the first layer went from 18-25 us to about 10 us per step at R = 512,
    and an epoch (2-8-1 tanh/sigmoid/BCE, 1,000 samples, with its shuffles) from 126 ms to
    105 ms (fastest of 15 runs, side by side). Most of what remains is fixed by the bits: the
    R gemv and dot calls of the forward pass (about 30 us per step), tanh and the sigmoid.

    The arithmetic is the generic step's, operation for operation, so results are bit-identical:
    the two forward products stay ``np.matmul`` on the same per-replica operands (BLAS gemv and
    dot, whose fused multiply-adds no elementwise NumPy call reproduces), and every backward
    product at batch size 1 is a single multiplication per element in the generic step too
    (NumPy's matmul computes ``0 + a * b`` for a product with a core dimension of 1), so it is
    written as one ``np.multiply``. The update ``theta -= eta * grad`` is elementwise either way.
    """
    R, P = theta.shape
    n, d1 = X1.shape  # d1: inputs, with the column of ones when the layers have biases
    h, b, fixed = net.sizes[1], int(net.bias), net.fixed_output
    P1 = d1 * h  # parameters of the first layer, weights and biases
    hidden, out_act = functions.activation(net.activation), functions.activation(net.output)
    lossfn = functions.loss(net.loss)
    f, df, out_f, delta = hidden.f, hidden.df_from_a, out_act.f, lossfn.delta
    l2 = net.l2
    # dL/dz of one sample is a - y for BCE and for MSE with an identity output (what the loss's
    # delta computes at m = 1, without the call)
    plain_delta = net.loss == "bce" or net.output == "identity"
    # Each step's samples, gathered once per epoch: (n, R, 1, d + 1), each replica's row vector
    # contiguous for its gemv, and (n, d + 1, 1, R), the replica axis last and contiguous for
    # the outer product (8 us instead of 13 us per step at R = 512 than a view of the first).
    xs = np.take(X1, perm.T, axis=0)[:, :, None, :]
    xs_T = np.take(X1.T, perm.T, axis=1).transpose(1, 0, 2)[:, :, None, :]
    ys = np.take(y, perm.T, axis=0)[:, :, None, :]  # (n, R, 1, 1)
    V1, *V2 = net.layers(theta)
    # the output layer: (R, h + b, 1) views of theta, or the fixed one, (1, h + b, 1) of ones
    V2 = net.output_layer() if fixed else V2[0]
    W2_T = V2[:, :h, 0].T  # (h, R) view of the output weights, or (h, 1) of ones
    W1_T = theta[:, : (d1 - b) * h].T.reshape(d1 - b, h, R)  # first-layer weights, no biases
    z1 = np.empty((R, 1, h))
    a1 = np.ones((R, 1, h + b))  # hidden activations, with the column of ones for the bias
    a1_h = a1[..., :h]
    # The same activations replica axis last, (h, R), for the backward pass: written by the
    # activation, copied into a1, then read contiguously (the derivative and the output layer's
    # gradient read a1 across otherwise).
    h_T = np.empty((h, R))
    h_T_out = h_T.T[:, None, :]  # (R, 1, h) view
    z2, a2, d2, tmp2 = (np.empty((R, 1, 1)) for _ in range(4))
    d2_row = d2.reshape(R)
    d1_T = np.empty((h, R))
    df_T = h_T if net.activation in ("tanh", "relu") else np.empty((h, R))  # in place if it can
    # The gradient, replica axis last. Its rows are padded: with R a multiple of 512, rows 4 kB
    # apart alias in the cache, and the update, which reads them across (theta is replica-major),
    # took 20 us instead of 10 us at R = 512. The product with eta runs over the whole padded
    # buffer (zeros beyond R, and eta 0 there), as one contiguous loop: 6 us instead of 13 us.
    grad_pad = np.zeros((P, R + 8))
    grad_T = grad_pad[:, :R]
    g1_T, g2_T = grad_pad[:P1].reshape(d1, h, R + 8)[..., :R], grad_T[P1:]  # no g2 when fixed
    eta_pad = np.zeros((1, R + 8))
    eta_pad[0, :R] = eta_col[:, 0]
    for s in range(n):
        np.matmul(xs[s], V1, out=z1)
        f(z1, h_T_out)
        np.copyto(a1_h, h_T_out)
        np.matmul(a1, V2, out=z2)
        out_f(z2, a2)
        if plain_delta:
            np.subtract(a2, ys[s], out=d2)
        else:
            delta(z2, a2, ys[s], out_act, d2, tmp2)
        if not fixed:
            np.multiply(h_T, d2_row, out=g2_T[:h])
            if b:
                np.copyto(g2_T[h], d2_row)  # the bias row: 1 * d2
        np.multiply(W2_T, d2_row, out=d1_T)
        d1_T *= df(h_T, df_T)
        np.multiply(xs_T[s], d1_T, out=g1_T)
        if l2:
            if not fixed:
                g2_T[:h] += l2 * W2_T
            g1_T[: d1 - b] += l2 * W1_T
        np.multiply(grad_pad, eta_pad, out=grad_pad)
        np.subtract(theta, grad_T.T, out=theta)  # theta replica-major: the faster order of the two
