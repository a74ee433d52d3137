"""Reference optimum, arrival and directness, on hand-made histories with known answers."""

import numpy as np
import pandas as pd

from gdbasins.classify import arrival_epoch, descent_share, final_level, reference_optimum


def test_reference_optimum_known_or_best_polished():
    tables = [pd.DataFrame({"polished_loss": [0.3, np.nan, 0.25]}), pd.DataFrame({"polished_loss": [0.2]})]
    assert reference_optimum(tables, [{"known_optimum": None}] * 2) == (0.2, "best polished loss")
    assert reference_optimum(tables, [{"known_optimum": 0.0}] * 2) == (0.0, "known")
    nan, why = reference_optimum([pd.DataFrame({"polished_loss": [np.nan]})], [{"known_optimum": None}])
    assert np.isnan(nan) and why == "none: every run diverged"


def hovering(epochs=400, arrive=120, level=0.3, amplitude=0.004, start=1.0):
    """A loss that falls linearly to ``level`` by epoch ``arrive``, then oscillates around it
    with the given amplitude (constant-rate SGD hovering in its basin)."""
    e = np.arange(epochs + 1)
    loss = np.where(e < arrive, start - (start - level) * e / arrive, level)
    return loss + np.where(e >= arrive, amplitude * np.sin(e * 1.7), 0.0)


def test_a_run_hovering_in_a_band_arrives_where_it_entered_the_band_for_good():
    loss = hovering()
    # final level: median of the last 5% (21 rows) ~ 0.3; the band 0.01 is entered for good when
    # the falling line crosses 0.3 + 0.01 - a little before the hover starts: 1 - 0.7 e / 120 <= 0.31
    first_inside = int(np.ceil((1.0 - 0.31) / 0.7 * 120))
    level = final_level(loss[:, None])[0]
    assert abs(level - 0.3) < 0.004
    got = arrival_epoch(loss[:, None], 0.01)[0]
    assert first_inside - 1 <= got <= first_inside + 1
    # a band narrower than the hover: it never stays inside, so it never arrived
    assert arrival_epoch(loss[:, None], 0.001)[0] == -1


def test_a_run_that_leaves_the_band_late_arrives_after_its_last_excursion():
    loss = hovering()
    loss[300] = 0.5  # a late kick out of the basin's band
    assert arrival_epoch(loss[:, None], 0.01)[0] == 301


def test_runs_that_never_arrive():
    e = np.arange(401)
    still_falling = 1.0 - 0.002 * e  # the last epochs are still far from the final level
    diverged = np.r_[np.linspace(1, 2, 100), np.full(301, np.nan)]
    flat = np.full(401, 0.25)  # at its level from the start: arrived at epoch 0
    got = arrival_epoch(np.stack([still_falling, diverged, flat], axis=1), 0.01)
    assert got.tolist() == [-1, -1, 0]


def test_descent_share_until_arrival():
    loss = np.array([[1.0, 1.0, 1.0],
                     [0.5, 1.2, np.nan],
                     [0.2, 0.9, np.nan],
                     [0.25, 0.8, np.nan],
                     [0.1, 0.7, np.nan]])
    share = descent_share(loss, np.array([2, -1, -1]))
    assert share[0] == 1.0  # two falling epochs before it arrived at epoch 2
    assert share[1] == 0.75  # one rise in four epochs, never arrived
    assert np.isnan(share[2])  # diverged: no directness
