"""A fully connected network with a leading replica axis, and its backpropagation.

Array layout, used throughout the package:

* Parameters of R replicas are one array ``theta`` of shape (R, P): each row is one network's
  parameters as a flat vector, layer by layer, ``W1`` (row-major, shape (n_in, n_out)) then
  ``b1``, then ``W2``, ``b2``, ... :meth:`Network.unpack` returns views ``W`` of shape
  (R, n_in, n_out) and ``b`` of shape (R, 1, n_out) into it, so an optimizer step on ``theta``
  updates every layer of every replica in one call, and an external optimizer or a Hessian sees
  one vector per replica.
* Inputs ``X`` are (m, n_in), shared by every replica, or (R, m, n_in), one batch per replica.
  Targets ``y`` are (m, n_out) or (R, m, n_out). A layer computes ``z = a @ W + b``.

Conventions (they set the scale of the learning rate, and are the same for every variant):

* ``mse``: ``L = 1/(2m) * sum_i ||a_i - y_i||^2`` -- half the squared error, summed over output
  units and averaged over the m samples of the batch (scikit-learn's ``squared_error`` convention
  for one output).
* ``bce``: ``L = -1/m * sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]`` with ``p = sigmoid(z)``,
  computed from the logits ``z`` so that it stays finite for any weights.
* ``l2``: adds ``l2/2 * sum ||W||^2`` over weight matrices (not biases) to either loss. Gradients
  and reported losses always include it.

Two options shape the two-layer ReLU teacher-student problems of Safran & Shamir (2018):

* ``bias=False``: no layer has a bias. ``theta`` holds only the ``W`` of each layer, and the
  input passes to :meth:`Network.objective` without its column of ones (:meth:`Network.inputs`).
* ``fixed_output=True``: the output layer is not trained: every weight into an output unit is 1
  and it has no bias, so the network computes ``sum_j f(w_j . x + b_j)`` per output. ``theta``
  holds the hidden layers only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import functions
from .checks import check_finite, check_positive_int

__all__ = ["Network", "INITS", "Workspace", "with_ones", "network_from"]

#: Initialization schemes. Uniform and Glorot draw biases like weights (scikit-learn's
#: convention, which breaks the symmetry of tiny networks such as XOR's 2-2-1); He sets them to 0.
INITS = ("uniform", "glorot", "he")


@dataclass(frozen=True)
class Network:
    """An architecture: layer sizes, activations, loss and L2 penalty.

    ``sizes`` lists the units per layer, input first (e.g. ``(2, 2, 1)`` for XOR).
    ``activation`` is used by every hidden layer, ``output`` by the last one; ``bce`` requires a
    ``sigmoid`` output. ``bias`` and ``fixed_output`` are described in the module's docstring.
    """

    sizes: tuple[int, ...]
    activation: str = "tanh"
    output: str = "identity"
    loss: str = "mse"
    l2: float = 0.0
    bias: bool = True
    fixed_output: bool = False
    _offsets: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        sizes = tuple(self.sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"The 'sizes' parameter must list at least an input and an output layer. "
                f"Got {sizes!r} instead."
            )
        for s in sizes:
            check_positive_int("sizes", s)
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))
        functions.activation(self.activation)
        functions.activation(self.output)
        required = functions.loss(self.loss).output
        if required is not None and self.output != required:
            raise ValueError(
                f"The 'output' parameter must be {required!r} with loss {self.loss!r}. "
                f"Got {self.output!r} instead."
            )
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"The 'l2' parameter must be >= 0. Got {self.l2!r} instead.")
        for name in ("bias", "fixed_output"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"The {name!r} parameter must be true or false. Got {getattr(self, name)!r} instead.")
        object.__setattr__(self, "bias", bool(self.bias))
        object.__setattr__(self, "fixed_output", bool(self.fixed_output))
        if self.fixed_output and len(sizes) < 3:
            raise ValueError(f"The 'fixed_output' parameter needs at least one hidden layer. Got sizes {sizes!r}.")
        if self.fixed_output and sizes[-1] != 1:
            raise ValueError(
                f"The 'fixed_output' parameter needs one output unit (the sum of the last hidden layer). "
                f"Got {sizes[-1]} outputs instead.")
        offsets, o = [], 0
        for n_in, n_out in self._trained_shapes():
            offsets.append((o, o + n_in * n_out, o + n_in * n_out + n_out * self.bias))
            o = offsets[-1][2]
        object.__setattr__(self, "_offsets", tuple(offsets))

    def _trained_shapes(self) -> list[tuple[int, int]]:
        shapes = list(zip(self.sizes[:-1], self.sizes[1:]))
        return shapes[:-1] if self.fixed_output else shapes

    def spec(self) -> dict:
        """The keyword arguments that rebuild this network with :func:`network_from`."""
        return {"sizes": list(self.sizes), "activation": self.activation, "output": self.output, "loss": self.loss,
                "l2": self.l2, "bias": self.bias, "fixed_output": self.fixed_output}

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """The input :meth:`objective` takes: ``X`` with a column of ones appended, for the bias,
        or ``X`` itself for a network without biases."""
        return with_ones(X) if self.bias else np.asarray(X, dtype=float)

    # --- parameters ---------------------------------------------------------------------------

    @property
    def n_params(self) -> int:
        """P, the length of one replica's flat parameter vector."""
        return self._offsets[-1][2]

    def layers(self, theta: np.ndarray) -> list[np.ndarray]:
        """Views ``[V1, V2, ...]`` into ``theta`` of shape (R, P) of the trained layers, ``V`` of
        shape (R, n_in + 1, n_out): the weights ``W = V[:, :-1]`` with the biases ``b = V[:, -1:]``
        as one more row. With a column of ones appended to its input, a layer is one product
        ``z = [a, 1] @ V``, and its gradient ``[a, 1]^T @ delta`` is one product too. Without
        biases ``V`` is ``W``, (R, n_in, n_out). A fixed output layer is not among them
        (:meth:`output_layer`)."""
        R = theta.shape[0]
        return [
            theta[:, w0:b1].reshape(R, n_in + self.bias, n_out)
            for (n_in, n_out), (w0, _, b1) in zip(self._trained_shapes(), self._offsets)
        ]

    def output_layer(self) -> np.ndarray:
        """The fixed output layer of a ``fixed_output`` network, shaped like a layer of
        :meth:`layers` for one replica: weights 1, bias 0 (a row of zeros when the hidden layers
        have biases)."""
        n_in = self.sizes[-2]
        V = np.ones((1, n_in + self.bias, self.sizes[-1]))
        V[:, n_in:] = 0.0
        return V

    def unpack(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Views ``[(W1, b1), ...]`` into ``theta`` of shape (R, P) of the trained layers; ``W``
        is (R, n_in, n_out) and ``b`` is (R, 1, n_out), or ``None`` without biases. Writing to a
        view writes to ``theta``."""
        if not self.bias:
            return [(V, None) for V in self.layers(theta)]
        return [(V[:, :-1], V[:, -1:]) for V in self.layers(theta)]

    def init(self, rngs: list[np.random.Generator], scheme: str = "glorot", scale: float = 1.0):
        """Initial parameters of shape (len(rngs), P), replica r drawn from ``rngs[r]`` alone.

        ``uniform``: weights and biases ~ U(-scale, scale). ``glorot``: U(-a, a) with
        ``a = scale * sqrt(6 / (n_in + n_out))`` (``sqrt(2 / ...)`` for a sigmoid layer, as
        scikit-learn does). ``he``: weights ~ N(0, scale^2 * 2 / n_in), biases 0.
        """
        if scheme not in INITS:
            raise ValueError(f"The 'init' parameter must be one of {list(INITS)}. Got {scheme!r} instead.")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"The 'init_scale' parameter must be > 0. Got {scale!r} instead.")
        theta = np.zeros((len(rngs), self.n_params))
        layers = self.unpack(theta)
        acts = [self.activation] * (len(self.sizes) - 2) + [self.output]
        for r, rng in enumerate(rngs):
            for (W, b), act in zip(layers, acts):
                n_in, n_out = W.shape[1:]
                if scheme == "he":
                    W[r] = rng.normal(0.0, scale * np.sqrt(2.0 / n_in), (n_in, n_out))
                    continue
                if scheme == "glorot":
                    factor = 2.0 if act == "sigmoid" else 6.0
                    bound = scale * np.sqrt(factor / (n_in + n_out))
                else:
                    bound = scale
                W[r] = rng.uniform(-bound, bound, (n_in, n_out))
                if b is not None:
                    b[r] = rng.uniform(-bound, bound, (1, n_out))
        return theta

    # --- forward and backward -----------------------------------------------------------------

    def workspace(self, replicas: int, m: int) -> "Workspace":
        """Work buffers for batches of m samples and the given number of replicas."""
        return Workspace(self, replicas, m)

    def objective(self, theta, X1, y, ws: "Workspace | None" = None, *, value=True, grad=True, Vs=None):
        """The unchecked core of :meth:`backprop`, used by the training loop.

        ``X1`` is the input with a column of ones appended, (m, n_in + 1) or (R, m, n_in + 1)
        (see :meth:`inputs`; without biases, the input itself); ``y`` is (m, n_out) or (R, m, n_out). Returns ``(loss, grad,
        out)``: loss (R,) or ``None`` when ``value`` is false, the gradient (R, P) or ``None``,
        and the outputs (R, m, n_out). Reads ``theta``, ``X1`` and ``y``; writes only into
        ``ws``, whose buffers the returned arrays are. ``Vs`` may pass ``self.layers(theta)``
        when the caller already has it (the training loop's steps).
        """
        R, m = theta.shape[0], X1.shape[-2]
        if ws is None or ws.shape != (R, m):
            ws = Workspace(self, R, m)
        Vs = self.layers(theta) if Vs is None else Vs
        trained = len(Vs)
        if self.fixed_output:
            Vs = [*Vs, self.output_layer()]
        hidden = functions.activation(self.activation)
        out_act = functions.activation(self.output)
        a = X1
        for V, z, h, a_next in zip(Vs[:-1], ws.z[:-1], ws.h, ws.a[1:-1]):
            np.matmul(a, V, out=z)
            hidden.f(z, h)
            if a_next is not h:
                np.copyto(a_next[..., : h.shape[-1]], h)
            a = a_next
        np.matmul(a, Vs[-1], out=ws.z[-1])
        a_out = out_act.f(ws.z[-1], ws.a[-1])
        lossfn = functions.loss(self.loss)
        loss = lossfn.value(ws.z[-1], a_out, y) + self._penalty(theta) if value else None
        if not grad:
            return loss, None, a_out
        grads = ws.grad_layers
        delta = lossfn.delta(ws.z[-1], a_out, y, out_act, ws.delta[-1], ws.tmp[-1])
        for l in range(len(Vs) - 1, -1, -1):
            n_in = self.sizes[l]
            if l < trained:
                a_prev = X1 if l == 0 else ws.a[l]
                np.matmul(_T(a_prev), delta, out=grads[l])
                if self.l2:
                    grads[l][:, :n_in] += self.l2 * Vs[l][:, :n_in]
            if l:
                np.matmul(delta, Vs[l][:, :n_in].transpose(0, 2, 1), out=ws.delta[l - 1])
                delta = ws.delta[l - 1]
                delta *= hidden.df_from_a(ws.h[l - 1], ws.tmp[l - 1])
        return loss, ws.grad, a_out

    def _penalty(self, theta: np.ndarray) -> np.ndarray | float:
        if self.l2 == 0:
            return 0.0
        return 0.5 * self.l2 * sum(np.einsum("rij,rij->r", W, W) for W, _ in self.unpack(theta))

    def forward(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Network outputs of shape (R, m, n_out) for inputs X (m, n_in) or (R, m, n_in)."""
        theta = self._check_theta(theta)
        X = self._check_X(X, theta.shape[0])
        return self.objective(theta, self.inputs(X), None, value=False, grad=False)[2].copy()

    def backprop(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray):
        """``loss, grads = backprop(theta, X, y)``: loss of shape (R,) and its gradient with
        respect to ``theta``, of shape (R, P). A pure function: reads, returns, mutates nothing."""
        theta = self._check_theta(theta)
        X = self._check_X(X, theta.shape[0])
        y = self._check_y(y, X)
        loss, grad, _ = self.objective(theta, self.inputs(X), y)
        return loss, grad

    def loss_value(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Loss of shape (R,) without the gradient."""
        theta = self._check_theta(theta)
        X = self._check_X(X, theta.shape[0])
        return self.objective(theta, self.inputs(X), self._check_y(y, X), grad=False)[0]

    # --- argument checks ----------------------------------------------------------------------

    def _check_theta(self, theta) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 2 or theta.shape[1] != self.n_params:
            raise ValueError(
                f"The 'theta' parameter must have shape (replicas, {self.n_params}) for sizes "
                f"{self.sizes}. Got shape {theta.shape} instead."
            )
        return theta

    def _check_X(self, X, replicas: int | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        ok = X.ndim in (2, 3) and X.shape[-1] == self.sizes[0]
        if ok and X.ndim == 3 and replicas is not None:
            ok = X.shape[0] == replicas
        if not ok:
            raise ValueError(
                f"The 'X' parameter must have shape (n_samples, {self.sizes[0]}) or "
                f"(replicas, n_samples, {self.sizes[0]}). Got shape {X.shape} instead."
            )
        check_finite("X", X)
        return X

    def _check_y(self, y, X: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if y.ndim == X.ndim - 1:
            y = y[..., None]
        if y.shape != X.shape[:-1] + (self.sizes[-1],):
            raise ValueError(
                f"The 'y' parameter must have shape {X.shape[:-1] + (self.sizes[-1],)} "
                f"(or without the last axis for one output) to match X. Got shape {y.shape} instead."
            )
        check_finite("y", y)
        if self.loss == "bce" and np.any((y < 0) | (y > 1)):
            raise ValueError("The 'y' parameter must lie in [0, 1] for loss 'bce'. Got values outside it.")
        return y


def _T(a: np.ndarray) -> np.ndarray:
    """Swap the last two axes of a 2-D or 3-D array (a view)."""
    return a.T if a.ndim == 2 else a.transpose(0, 2, 1)


def network_from(sizes, spec: dict) -> Network:
    """The network of the given layer sizes that a config's (or a record's) ``network`` mapping
    describes: ``activation``, ``output``, ``loss``, ``l2`` and, when present, ``bias`` and
    ``fixed_output``."""
    return Network(tuple(sizes), spec["activation"], spec["output"], spec["loss"], float(spec.get("l2", 0.0)),
                   bool(spec.get("bias", True)), bool(spec.get("fixed_output", False)))


def with_ones(X: np.ndarray) -> np.ndarray:
    """``X`` with a column of ones appended on its last axis: the input of :meth:`Network.objective`."""
    return np.concatenate([X, np.ones(X.shape[:-1] + (1,))], axis=-1)


class Workspace:
    """Preallocated buffers for :meth:`Network.objective` on R replicas and batches of m samples.

    ``a[l]`` holds layer l's activations with a trailing column of ones (hidden layers) so the
    next product includes the bias; ``h[l - 1]`` holds the same activations without it, in
    contiguous memory, where elementwise work runs several times faster than on the strided
    view ``a[l][..., :-1]``; ``z``, ``delta`` and ``tmp`` are (R, m, n_l) per layer l >= 1;
    ``grad`` is (R, P).
    """

    def __init__(self, net: Network, replicas: int, m: int):
        self.shape = (replicas, m)
        sizes = net.sizes[1:]
        self.h = [np.empty((replicas, m, n)) for n in sizes[:-1]]
        # Without biases a hidden layer's activations are its input to the next layer as they are.
        hidden_a = [np.ones((replicas, m, n + 1)) for n in sizes[:-1]] if net.bias else self.h
        self.a = [None, *hidden_a, np.empty((replicas, m, sizes[-1]))]
        self.z = [np.empty((replicas, m, n)) for n in sizes]
        self.delta = [np.empty((replicas, m, n)) for n in sizes]
        self.tmp = [np.empty((replicas, m, n)) for n in sizes]
        self.grad = np.empty((replicas, net.n_params))
        self.grad_layers = net.layers(self.grad)
