"""Figures. The only module that imports matplotlib; every figure is deterministic (no dates or
software versions embedded, fixed SVG hash salt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["loss_curves", "save"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "gdbasins"
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> None:
    """Save ``fig`` to ``path`` (PNG or SVG) without metadata that changes between runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Software": None} if path.suffix == ".png" else {"Date": None, "Creator": None}
    fig.savefig(path, dpi=110, metadata=meta, bbox_inches="tight")
    _pyplot().close(fig)


def loss_curves(loss: np.ndarray, path, title: str, diverged_at=None) -> None:
    """Every seed's training loss per epoch (thin lines) with the median and interquartile band;
    ``loss`` is (epochs + 1, seeds)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    epochs = np.arange(len(loss))
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(loss), loss, np.nan)
        ax.plot(epochs, finite, color="0.6", lw=0.5, alpha=0.5)
        if np.isfinite(finite).any():
            q1, med, q3 = np.nanpercentile(finite, [25, 50, 75], axis=1)
            ax.fill_between(epochs, q1, q3, color="C0", alpha=0.25, label="interquartile range")
            ax.plot(epochs, med, color="C0", lw=2, label="median")
            ax.legend(loc="upper right", fontsize=8)
    if np.nanmin(finite, initial=np.inf) > 0:
        ax.set_yscale("log")
    if len(epochs) > 20:
        ax.set_xscale("symlog", linthresh=10)
    n_div = int(np.sum(np.asarray(diverged_at) >= 0)) if diverged_at is not None else 0
    ax.set(xlabel="epoch", ylabel="training loss", title=title + (f" ({n_div} diverged)" if n_div else ""))
    save(fig, path)
