"""The study's datasets: scikit-learn generators, a few of our own, and a user's own file.

Each generator takes its parameters as keywords plus a ``seed`` and returns ``(arrays, info)``:
``arrays`` holds ``X_train``, ``y_train`` and, when ``test_fraction > 0``, ``X_test``, ``y_test``;
``info`` holds facts about the data (e.g. the teacher network's architecture). :func:`write`
stores them with the generator's name, its parameters and a content hash; :func:`read` checks the
hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from . import files, tables
from .network import Network

__all__ = ["GENERATORS", "generate", "write", "read", "Dataset"]


def _split(X, y, test_fraction, rng):
    n_test = int(round(test_fraction * len(X)))
    order = rng.permutation(len(X))
    test, train = order[:n_test], order[n_test:]
    arrays = {"X_train": X[train], "y_train": y[train]}
    if n_test:
        arrays.update(X_test=X[test], y_test=y[test])
    return arrays


def xor(*, seed: int = 0):
    """The four points of XOR, no test split."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return {"X_train": X, "y_train": np.array([0.0, 1.0, 1.0, 0.0])}, {}


def moons(*, n_samples: int = 200, noise: float = 0.2, test_fraction: float = 0.25, seed: int = 0):
    """scikit-learn's two interleaved half circles."""
    from sklearn.datasets import make_moons  # imported here: scikit-learn takes 1.4 s to import

    X, y = make_moons(n_samples, noise=noise, random_state=seed)
    return _split(X, y.astype(float), test_fraction, np.random.default_rng(seed)), {}


def circles(*, n_samples: int = 200, noise: float = 0.1, factor: float = 0.5, test_fraction: float = 0.25,
            seed: int = 0):
    """scikit-learn's two concentric circles."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples, noise=noise, factor=factor, random_state=seed)
    return _split(X, y.astype(float), test_fraction, np.random.default_rng(seed)), {}


def spirals(*, n_samples: int = 200, noise: float = 0.1, turns: float = 1.0, test_fraction: float = 0.25,
            seed: int = 0):
    """Two interleaved spirals: class k at angle t + k*pi and radius t / (2 pi turns), for t
    uniform in [0, 2 pi turns], plus Gaussian noise of standard deviation ``noise``."""
    rng = np.random.default_rng(seed)
    k = np.arange(n_samples) % 2
    t = rng.uniform(0.0, 2 * np.pi * turns, n_samples)
    r = t / (2 * np.pi * turns)
    X = np.column_stack([r * np.cos(t + k * np.pi), r * np.sin(t + k * np.pi)])
    X += noise * rng.normal(size=X.shape)
    return _split(X, k.astype(float), test_fraction, rng), {}


def teacher(*, n_samples: int = 200, n_features: int = 2, hidden: int = 3, activation: str = "tanh",
            scale: float = 2.0, test_fraction: float = 0.25, seed: int = 0):
    """Teacher-student regression: Gaussian inputs, targets from a fixed random "teacher" network
    ``n_features - hidden - 1`` (identity output, every parameter ~ N(0, scale^2)), divided by
    their standard deviation so that losses are on the same scale whatever the teacher, no noise.
    A student of the same architecture absorbs that factor in its output layer and can reach
    loss exactly 0: the global minimum is known."""
    rng = np.random.default_rng(seed)
    net = Network((n_features, hidden, 1), activation, "identity", "mse")
    theta = scale * rng.normal(size=(1, net.n_params))
    X = rng.normal(size=(n_samples, n_features))
    y = net.forward(theta, X)[0, :, 0]
    target_scale = float(y.std())
    y = y / target_scale
    info = {"teacher_sizes": list(net.sizes), "teacher_activation": activation, "teacher_theta": theta[0].tolist(),
            "target_scale": target_scale}
    return _split(X, y, test_fraction, rng), info


def relu_teacher(*, k: int = 6, n_samples: int = 500, test_fraction: float = 0.0, seed: int = 0):
    """The two-layer ReLU teacher-student problem of Safran & Shamir (2018), "Spurious Local
    Minima are Common in Two-Layer ReLU Neural Networks": inputs ``x ~ N(0, I_k)`` and targets
    ``y = sum_j relu(v_j . x)`` with orthonormal teacher vectors ``V = I_k``, no biases, output
    weights 1 -- a teacher network ``k - k - 1`` with ReLU units, ``bias=False`` and
    ``fixed_output=True``. A student of that form with at least k units can reach loss 0; with
    exactly k, spurious local minima become common as k grows past about 6."""
    if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1):
        raise ValueError(f"The 'k' parameter must be an integer >= 1. Got {k!r} instead.")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, k))
    y = np.maximum(X, 0.0).sum(axis=1)
    info = {"teacher_sizes": [k, k, 1], "teacher_activation": "relu", "teacher_bias": False,
            "teacher_fixed_output": True, "teacher_theta": np.eye(k).ravel().tolist(), "target_scale": 1.0}
    return _split(X, y, test_fraction, rng), info


def from_file(*, path: str, features: list, target: str, standardize: bool = True,
              test_fraction: float = 0.25, seed: int = 0):
    """A user's CSV or Parquet file (:mod:`gdbasins.tables`): the ``features`` columns as inputs,
    the ``target`` column as the target, the rows split into train and test by ``seed``. With
    ``standardize``, every feature is shifted and scaled to mean 0 and standard deviation 1 on
    the training rows (the test rows with the same numbers); the target is left as it is. The
    file's own SHA-256 is kept in ``info`` beside the means and scales used."""
    frame = tables.read_table(path)
    X, y = tables.table_arrays(frame, list(features), target, path)
    arrays = _split(X, y, test_fraction, np.random.default_rng(seed))
    info = {"source": str(path), "source_sha256": tables.file_digest(path), "rows": len(X),
            "features": list(features), "target": target}
    if standardize:
        mean, std = arrays["X_train"].mean(axis=0), arrays["X_train"].std(axis=0)
        if (std == 0).any():
            name = features[int(np.flatnonzero(std == 0)[0])]
            raise tables.TableError("features", f"column {name!r} is constant on the training rows and "
                                                "cannot be standardised; drop it or set standardize: false.")
        for part in ("X_train", "X_test"):
            if part in arrays:
                arrays[part] = (arrays[part] - mean) / std
        info.update(mean=mean.tolist(), std=std.tolist())
    return arrays, info


GENERATORS: dict[str, Callable] = {
    "xor": xor, "moons": moons, "circles": circles, "spirals": spirals, "teacher": teacher,
    "relu_teacher": relu_teacher, "file": from_file,
}


def generate(generator: str, params: dict, seed: int = 0):
    """``(arrays, info)`` from the named generator; unknown names list the known ones."""
    if generator not in GENERATORS:
        raise ValueError(f"The 'generator' parameter must be one of {sorted(GENERATORS)}. Got {generator!r} instead.")
    return GENERATORS[generator](**params, seed=seed)


def write(path, name: str, generator: str, params: dict, seed: int = 0) -> str:
    """Generate and store a dataset; returns its content hash."""
    arrays, info = generate(generator, params, seed)
    meta = {"name": name, "generator": generator, "params": dict(params), "seed": seed, "info": info}
    return files.save(path, arrays, meta)


class Dataset:
    """A dataset read from disk (hash checked): ``X_train``, ``y_train``, ``X_test`` and
    ``y_test`` (``None`` without a test split), and the metadata it was written with."""

    def __init__(self, path):
        self.path = Path(path)
        arrays, self.meta = files.load(self.path)
        self.X_train, self.y_train = arrays["X_train"], arrays["y_train"]
        self.X_test, self.y_test = arrays.get("X_test"), arrays.get("y_test")

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def digest(self) -> str:
        return self.meta["sha256"]

    @property
    def n_train(self) -> int:
        return len(self.X_train)

    def known_optimum(self, net: Network) -> float | None:
        """The global minimum of ``net``'s loss when it is known in advance, else ``None``:
        0 for a teacher-student set whose student has the teacher's architecture, and for XOR
        with a network of at least two hidden units, both without L2."""
        if net.l2 != 0:
            return None
        info = self.meta["info"]
        if self.meta["generator"] == "teacher":
            same = list(net.sizes) == info["teacher_sizes"] and net.activation == info["teacher_activation"]
            return 0.0 if same and net.output == "identity" and net.loss == "mse" else None
        if self.meta["generator"] == "relu_teacher":
            # Any student with at least the teacher's k ReLU units can copy it (spare units get
            # zero weights; a trained output layer or biases can take the teacher's values).
            k = info["teacher_sizes"][1]
            fits = (len(net.sizes) == 3 and net.sizes[1] >= k and net.activation == "relu"
                    and net.output == "identity" and net.loss == "mse")
            return 0.0 if fits else None
        if self.meta["generator"] == "xor" and len(net.sizes) > 2 and min(net.sizes[1:-1]) >= 2:
            return 0.0
        return None


def read(path) -> Dataset:
    return Dataset(path)
