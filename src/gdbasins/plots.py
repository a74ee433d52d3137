"""Figures. The only module that imports matplotlib; every figure is deterministic (no dates or
software versions embedded, fixed SVG hash salt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["loss_curves", "save", "global_share_heatmap", "best_rate_curves", "polished_levels",
           "sharpness_accuracy", "landscape", "escape_shares", "distinct_minima", "barriers",
           "outcome_shares"]


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
    ax.set_xlim(0, max(1, len(epochs) - 1))  # symlog would otherwise pad to an empty negative decade
    n_div = int(np.sum(np.asarray(diverged_at) >= 0)) if diverged_at is not None else 0
    ax.set(xlabel="epoch", ylabel="training loss", title=title + (f" ({n_div} diverged)" if n_div else ""))
    save(fig, path)


VARIANT_COLORS = {"batch": "C0", "minibatch": "C2", "sgd": "C3"}


def global_share_heatmap(table, path) -> None:
    """Share of global outcomes, one panel per dataset, one row per variant, one cell per
    learning rate (the variants' grids differ, so each row has its own rates)."""
    plt = _pyplot()
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(len(datasets), 1, figsize=(7.5, 1.5 + 1.25 * len(datasets)), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, dataset in zip(axes[:, 0], datasets):
        t = table[table["dataset"] == dataset]
        variants = [v for v in VARIANT_COLORS if v in set(t["variant"])]
        for i, v in enumerate(variants):
            for eta, share in t.loc[t["variant"] == v, ["eta", "global"]].itertuples(index=False):
                x = np.log10(eta)
                ax.add_patch(plt.Rectangle((x - 0.24, i - 0.4), 0.48, 0.8, color=cmap(share)))
                ax.text(x, i, f"{share:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if share < 0.6 else "black")
        xs = np.log10(t["eta"].to_numpy())
        ax.set_xlim(xs.min() - 0.5, xs.max() + 0.5)
        ax.set_ylim(-0.6, len(variants) - 0.4)
        ax.set_yticks(range(len(variants)), variants)
        ticks = np.arange(np.floor(xs.min()), np.ceil(xs.max()) + 1)
        ax.set_xticks(ticks, [f"{10 ** k:g}" for k in ticks])
        ax.set_title(dataset, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("learning rate")
    fig.suptitle("Share of runs ending in the global minimum", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def best_rate_curves(curves: dict, path) -> None:
    """Median and interquartile band of the training loss per variant at its best rate, one
    panel per dataset (four to a row). ``curves[dataset][variant] = (eta, loss of shape
    (epochs + 1, seeds))``."""
    if not curves:
        placeholder(path, "no loss curves to draw")
        return
    fig, axes, panels = _grid(list(curves))
    for ax, dataset in panels:
        for variant, (eta, loss) in curves[dataset].items():
            with np.errstate(all="ignore"):
                finite = np.where(np.isfinite(loss), loss, np.nan)
                if not np.isfinite(finite).any():
                    continue
                q1, med, q3 = np.nanpercentile(finite, [25, 50, 75], axis=1)
            e = np.arange(len(med)) + 1
            c = VARIANT_COLORS[variant]
            ax.fill_between(e, q1, q3, color=c, alpha=0.2, lw=0)
            ax.plot(e, med, color=c, lw=1.5, label=f"{variant} (eta {eta:g})")
        ax.set(xscale="log", yscale="log", title=dataset, xlabel="epoch + 1")
        ax.legend(fontsize=7)
    for row in axes:
        row[0].set_ylabel("training loss")
    fig.tight_layout()
    save(fig, path)


def polished_levels(runs, path) -> None:
    """Polished loss minus L* for every run, per dataset (four panels to a row) and variant:
    distinct minima show as distinct levels (log scale; gaps below 1e-12 drawn at 1e-12)."""
    fig, axes, panels = _grid(sorted(runs["dataset"].unique()))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for ax, dataset in panels:
        d = runs[(runs["dataset"] == dataset) & np.isfinite(runs["polished_loss"])]
        for i, v in enumerate(VARIANT_COLORS):
            g = d[d["variant"] == v]
            gap = np.maximum(g["gap"].to_numpy(), 1e-12)
            ax.scatter(i + rng.uniform(-0.3, 0.3, len(g)), gap, s=4, color=VARIANT_COLORS[v], alpha=0.5)
        if d.empty:
            ax.text(0.5, 0.5, "every run diverged", ha="center", transform=ax.transAxes)
        else:
            ax.set_yscale("log")
        ax.set_title(dataset)
        ax.set_xticks(range(3), list(VARIANT_COLORS), fontsize=8)
    for row in axes:
        row[0].set_ylabel("polished loss - L*")
    fig.tight_layout()
    save(fig, path)


def sharpness_accuracy(runs, path) -> None:
    """Largest Hessian eigenvalue at the polished endpoint against held-out accuracy, for the
    datasets with a held-out set: one column per dataset, one row per variant (sharing the
    dataset's axes), so that the variants do not hide each other. Runs that ended at the same point
    overlap exactly (the same minimum, the same accuracy on a small test set), so each point is
    drawn once with its area proportional to how many runs ended there; the dashed line is the
    variant's median sharpness."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plt = _pyplot()
    d = runs[np.isfinite(runs["eig_max"]) & runs.get("final_test_accuracy", runs["eig_max"] * np.nan).notna()]
    datasets = sorted(d["dataset"].unique())
    if not datasets:
        placeholder(path, "no run with a held-out set and a finite endpoint")
        return
    variants = [v for v in VARIANT_COLORS if v in set(d["variant"])]
    fig, axes = plt.subplots(len(variants), len(datasets), figsize=(4.0 * len(datasets), 2.4 * len(variants)),
                             squeeze=False, sharex="col", sharey="col")
    for col, dataset in enumerate(datasets):
        g = d[d["dataset"] == dataset]
        for row, v in enumerate(variants):
            ax, h = axes[row, col], g[g["variant"] == v]
            if not h.empty:
                points = (h.assign(sharp=h["eig_max"].round(3))
                          .groupby(["sharp", "final_test_accuracy"]).size())
                x = points.index.get_level_values(0).to_numpy(dtype=float)
                y = points.index.get_level_values(1).to_numpy(dtype=float)
                ax.scatter(x, y, s=8 + 400 * points.to_numpy() / len(h), color=VARIANT_COLORS[v], alpha=0.6,
                           lw=0)
                ax.axvline(float(np.median(h["eig_max"])), color="0.3", lw=0.8, ls="--")
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
            ax.grid(alpha=0.3)
            ax.set_title(f"{dataset}, {v} ({len(h)} runs)", fontsize=9)
            if col == 0:
                ax.set_ylabel("held-out accuracy")
        axes[-1, col].set_xlabel("sharpness (largest eigenvalue)")
    fig.suptitle("Sharpness against held-out accuracy (area: runs that ended there; dashed: median "
                 "sharpness)", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def landscape(grid_a, grid_b, loss, paths: dict, path, title: str) -> None:
    """A 2-D slice of the loss around one seed's initial weights (at the origin) with each
    variant's path projected on it. ``paths[variant] = (eta, coords of shape (points, 2))``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    with np.errstate(all="ignore"):
        z = np.log10(np.maximum(loss, 1e-12))
    cs = ax.contourf(grid_a, grid_b, z, levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10 training loss")
    for variant, (eta, xy) in paths.items():
        c = VARIANT_COLORS[variant]
        ax.plot(xy[:, 0], xy[:, 1], color=c, lw=1.4, label=f"{variant} (eta {eta:g})")
        ax.plot(xy[-1, 0], xy[-1, 1], "o", color=c, mec="white")
    ax.plot(0, 0, "k*", ms=10, label="initial weights")
    ax.set(title=title, xlabel="direction 1", ylabel="direction 2")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save(fig, path)


def _grid(datasets, cols: int = 4, size=(3.3, 2.9)):
    """A grid of panels, one per dataset name in order, up to ``cols`` a row (unused ones hidden):
    ``(fig, axes, [(ax, dataset), ...])``."""
    plt = _pyplot()
    cols = max(1, min(cols, len(datasets)))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax in axes.ravel()[len(datasets):]:
        ax.axis("off")
    return fig, axes, list(zip(axes.ravel(), datasets))


def _panels(table, cols: int = 4):
    """A grid of panels, one per dataset of ``table`` in order of appearance, up to ``cols`` a
    row (unused ones hidden): ``(fig, axes, [(ax, (dataset, rows of table)), ...])``."""
    fig, axes, panels = _grid(list(dict.fromkeys(table["dataset"])), cols)
    return fig, axes, [(ax, (d, table[table["dataset"] == d])) for ax, d in panels]


#: Where a run is after the budget, grouped for :func:`outcome_shares`: column(s) of the outcome
#: table summed, and the line style.
OUTCOME_GROUPS = {"global minimum": (("global",), "-"), "stuck (local or flat minimum, plateau, saddle)":
                  (("local", "flat", "plateau", "saddle"), "--"), "still travelling (unconverged)":
                  (("unconverged", "unresolved"), "-."), "diverged": (("diverged",), ":")}


def outcome_shares(table, path) -> None:
    """Where runs are after the budget against the learning rate: one panel per dataset, a line
    per variant (colour) and outcome (line style): in the global minimum, stuck, still travelling,
    diverged. ``table``: the report's outcome table (one row per dataset, variant and rate)."""
    from matplotlib.lines import Line2D

    fig, axes, panels = _panels(table)
    for ax, (dataset, t) in panels:
        for v, c in VARIANT_COLORS.items():
            g = t[t["variant"] == v].sort_values("eta")
            if g.empty:
                continue
            for columns, style in OUTCOME_GROUPS.values():
                share = g[[col for col in columns if col in g]].sum(axis=1)
                ax.plot(g["eta"], share, color=c, ls=style, lw=1.4 if style == "-" else 1.0,
                        marker="o" if style == "-" else None, ms=3)
        ax.set(xscale="log", ylim=(-0.03, 1.03), title=f"{dataset} ({int(t['seeds'].iloc[0])} seeds)",
               xlabel="learning rate")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("share of runs")
    handles = [Line2D([], [], color=c, lw=2, label=v) for v, c in VARIANT_COLORS.items()]
    handles += [Line2D([], [], color="0.3", ls=style, label=name)
                for name, (_, style) in OUTCOME_GROUPS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Where runs are after the budget, against the learning rate", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save(fig, path)


def escape_shares(table, path) -> None:
    """The escape experiment: per dataset, the share of batch GD's stuck endpoints that a
    continuation under each variant left for a lower basin (solid, with 95% Wilson intervals) and
    the share that reached the global minimum (dashed), against the learning rate."""
    if table.empty:
        placeholder(path, "no escape experiment: batch GD was never stuck at its best rate")
        return
    fig, axes, panels = _panels(table)
    for ax, (dataset, t) in panels:
        for v, c in VARIANT_COLORS.items():
            g = t[t["variant"] == v].sort_values("eta")
            if g.empty:
                continue
            err = np.vstack([g["escaped"] - g["escaped_lo"], g["escaped_hi"] - g["escaped"]])
            ax.errorbar(g["eta"], g["escaped"], yerr=err, color=c, marker="o", ms=3, lw=1.3, capsize=2, label=v)
            ax.plot(g["eta"], g["reached_global"], color=c, ls="--", lw=1)
        ax.set(xscale="log", ylim=(-0.03, 1.03), title=f"{dataset} ({int(t['starts'].iloc[0])} starts)",
               xlabel="learning rate of the continuation")
        ax.title.set_fontsize(9)
    axes[0, 0].set_ylabel("share escaped (solid) / global (dashed)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Escape experiment: continuing batch GD's stuck endpoints", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def distinct_minima(found, path) -> None:
    """Distinct minima up to symmetry: per dataset, each minimum's loss above the lowest (log
    scale) against how many runs of each variant found it."""
    if found.empty:
        placeholder(path, "no distinct minima to show")
        return
    fig, axes, panels = _panels(found)
    offsets = {"batch": 0.9, "minibatch": 1.0, "sgd": 1.1}
    for ax, (dataset, g) in panels:
        gap = np.maximum(g["gap"].to_numpy(dtype=float), 1e-12)
        for v, c in VARIANT_COLORS.items():
            n = g[v].to_numpy(dtype=float) if v in g else np.zeros(len(g))
            keep = n > 0
            ax.scatter(gap[keep] * offsets[v], n[keep], s=9, color=c, alpha=0.7, label=v)
        ax.set(xscale="log", yscale="log", title=f"{dataset}: {len(g)} distinct minima", xlabel="loss above the lowest")
        ax.title.set_fontsize(9)
    axes[0, 0].set_ylabel("runs that ended there")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def barriers(table, path) -> None:
    """Barrier heights from non-global minima to the nearest global minimum: the straight path
    and the low-loss path found by path optimisation, per dataset (log scale; 0 drawn at 1e-12)."""
    if table.empty:
        placeholder(path, "no barriers measured (no non-global minimum)")
        return
    plt = _pyplot()
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(datasets) + 2), 3.4))
    for i, dataset in enumerate(datasets):
        g = table[table["dataset"] == dataset]
        for dx, col, c, lab in ((-0.15, "straight_barrier", "0.5", "straight path"),
                                (0.15, "path_barrier", "C1", "optimised path")):
            ax.scatter(np.full(len(g), i + dx), np.maximum(g[col].to_numpy(dtype=float), 1e-12), s=12, color=c,
                       label=lab if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("barrier height (loss above the higher end)")
    ax.legend(fontsize=7)
    ax.set_title("Barriers between non-global minima and the nearest global minimum", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def placeholder(path, text: str) -> None:
    """A figure that says why the real one could not be drawn."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.axis("off")
    save(fig, path)
