"""Reference optimum, time to the global minimum and directness, on hand-made histories."""

import numpy as np
import pandas as pd

from gdbasins.classify import descent_share, first_epoch_within, reference_optimum


def test_reference_optimum_known_or_best_polished():
    tables = [pd.DataFrame({"polished_loss": [0.3, np.nan, 0.25]}), pd.DataFrame({"polished_loss": [0.2]})]
    assert reference_optimum(tables, [{"known_optimum": None}] * 2) == (0.2, "best polished loss")
    assert reference_optimum(tables, [{"known_optimum": 0.0}] * 2) == (0.0, "known")
    nan, why = reference_optimum([pd.DataFrame({"polished_loss": [np.nan]})], [{"known_optimum": None}])
    assert np.isnan(nan) and why == "none: every run diverged"


def test_first_epoch_within_and_descent_share():
    loss = np.array([[1.0, 1.0, 1.0],
                     [0.5, 1.2, np.nan],
                     [0.2, 0.9, np.nan],
                     [0.25, 0.8, np.nan],
                     [0.1, 0.7, np.nan]])
    hit = first_epoch_within(loss, 0.21)
    assert hit.tolist() == [2, -1, -1]
    share = descent_share(loss, hit)
    assert share[0] == 1.0  # two falling epochs before it arrived at epoch 2
    assert share[1] == 0.75  # one rise in four epochs, never arrived
    assert np.isnan(share[2])  # diverged: no directness
