"""Where does gradient descent end up? A NumPy network trained under batch, stochastic and
mini-batch gradient descent over many seeds at once, and the classification of where each run
ended (global minimum, local minimum, plateau, saddle, divergence)."""

from .blas import pin_kernels

pin_kernels()  # before NumPy loads OpenBLAS: the same kernels, and numbers, on every x86-64 CPU

from .network import INITS, Network  # noqa: E402
from .train import VARIANTS, TrainResult, batch_size_for, replica_rngs, train  # noqa: E402

__version__ = "0.1.0"

__all__ = ["INITS", "Network", "VARIANTS", "TrainResult", "batch_size_for", "replica_rngs", "train", "__version__"]
