"""Dataset generators and the hash-checked files they are stored in."""


import numpy as np
import pytest

from gdbasins import Network, datasets, files
from helpers import rewrite_entry


@pytest.mark.parametrize("generator,params", [
    ("xor", {}), ("moons", {"n_samples": 40}), ("circles", {"n_samples": 40}),
    ("spirals", {"n_samples": 40, "turns": 1.5}), ("teacher", {"n_samples": 40, "hidden": 3}),
    ("relu_teacher", {"k": 3, "n_samples": 40, "test_fraction": 0.25}),
])
def test_same_parameters_give_byte_identical_files(tmp_path, generator, params):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    datasets.write(a, "d", generator, params, seed=3)
    datasets.write(b, "d", generator, params, seed=3)
    assert a.read_bytes() == b.read_bytes()
    ds = datasets.read(a)
    assert ds.meta["generator"] == generator and ds.meta["params"] == params
    assert len(ds.digest) == 64 and np.all(np.isfinite(ds.X_train))


def test_splits_and_shapes(tmp_path):
    datasets.write(tmp_path / "m.npz", "moons", "moons", {"n_samples": 100, "test_fraction": 0.2})
    ds = datasets.read(tmp_path / "m.npz")
    assert ds.X_train.shape == (80, 2) and ds.X_test.shape == (20, 2)
    assert set(np.unique(ds.y_train)) == {0.0, 1.0}
    xor = datasets.generate("xor", {})[0]
    assert xor["y_train"].tolist() == [0, 1, 1, 0] and "X_test" not in xor


def test_spirals_interleave():
    arrays, _ = datasets.generate("spirals", {"n_samples": 400, "noise": 0.0, "test_fraction": 0.0})
    X, y = arrays["X_train"], arrays["y_train"]
    r = np.linalg.norm(X, axis=1)
    assert r.max() <= 1.0 + 1e-12
    # each class is the other rotated by pi: same radii distribution, opposite mean direction
    assert abs(np.median(r[y == 0]) - np.median(r[y == 1])) < 0.1


def test_teacher_targets_come_from_the_teacher_network(tmp_path):
    datasets.write(tmp_path / "t.npz", "t", "teacher", {"n_samples": 50, "n_features": 3, "hidden": 4})
    ds = datasets.read(tmp_path / "t.npz")
    info = ds.meta["info"]
    teacher = Network(tuple(info["teacher_sizes"]), info["teacher_activation"], "identity", "mse")
    theta = np.array(info["teacher_theta"])[None, :]
    np.testing.assert_allclose(teacher.forward(theta, ds.X_train)[0, :, 0] / info["target_scale"], ds.y_train, rtol=1e-12)
    # the student absorbs the target scale in its output layer: loss 0 is reachable
    (_, _), (W2, b2) = teacher.unpack(theta)
    W2 /= info["target_scale"]
    b2 /= info["target_scale"]
    assert teacher.loss_value(theta, ds.X_train, ds.y_train)[0] < 1e-28
    assert ds.known_optimum(teacher) == 0.0
    assert ds.known_optimum(Network((3, 5, 1), "tanh", "identity", "mse")) is None  # other architecture


def test_relu_teacher_is_the_safran_shamir_problem(tmp_path):
    """y = sum_j relu(x_j) for x ~ N(0, I_k), written out by hand; the student with the teacher's
    form reaches 0 at the identity (and so does one with a spare unit at weight 0)."""
    datasets.write(tmp_path / "r.npz", "r", "relu_teacher", {"k": 4, "n_samples": 300})
    ds = datasets.read(tmp_path / "r.npz")
    X, y = ds.X_train, ds.y_train
    assert X.shape == (300, 4) and ds.X_test is None
    assert abs(X.mean()) < 0.1 and abs(X.std() - 1) < 0.1
    np.testing.assert_array_equal(y, np.where(X > 0, X, 0).sum(axis=1))
    student = Network((4, 4, 1), "relu", "identity", "mse", bias=False, fixed_output=True)
    assert student.loss_value(np.eye(4).reshape(1, -1), X, y)[0] < 1e-28
    wider = Network((4, 5, 1), "relu", "identity", "mse", bias=False, fixed_output=True)
    assert wider.loss_value(np.hstack([np.eye(4), np.zeros((4, 1))]).reshape(1, -1), X, y)[0] < 1e-28
    assert ds.known_optimum(student) == 0.0 and ds.known_optimum(wider) == 0.0
    assert ds.known_optimum(Network((4, 3, 1), "relu", "identity", "mse")) is None  # too few units
    assert ds.known_optimum(Network((4, 4, 1), "tanh", "identity", "mse")) is None
    with pytest.raises(ValueError, match="'k' parameter must be an integer >= 1"):
        datasets.generate("relu_teacher", {"k": 0})


def test_edited_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "moons.npz"
    datasets.write(path, "moons", "moons", {"n_samples": 30})
    X = datasets.read(path).X_train.copy()
    X[0, 0] += 1e-9  # a hand edit
    rewrite_entry(path, "X_train", X)
    with pytest.raises(files.IntegrityError, match=r"moons\.npz: content does not match its recorded hash"):
        datasets.read(path)


def test_truncated_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "circles.npz"
    datasets.write(path, "circles", "circles", {"n_samples": 30})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(files.IntegrityError, match=r"circles\.npz: not a readable result file"):
        datasets.read(path)


def test_save_is_atomic_and_deterministic(tmp_path):
    arrays = {"a": np.arange(5.0), "b/c": np.eye(2)}
    d1 = files.save(tmp_path / "x.npz", arrays, {"k": 1})
    d2 = files.save(tmp_path / "y.npz", dict(reversed(arrays.items())), {"k": 1})
    assert d1 == d2 and (tmp_path / "x.npz").read_bytes() == (tmp_path / "y.npz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz", "y.npz"]  # no temporary left
    loaded, meta = files.load(tmp_path / "x.npz")
    np.testing.assert_array_equal(loaded["b/c"], np.eye(2))
    assert meta == {"k": 1, "sha256": d1}
