"""Write the study's report: tables (CSV), figures (PNG), ``README.md`` and ``index.html``.

:func:`build` is what the ``report`` rule runs: it reads the per-dataset outcome tables and the
jobs' result files, computes everything with :mod:`gdbasins.report`, draws with
:mod:`gdbasins.plots` and writes the files. Everything written is deterministic except
``timings.csv`` (measured wall time), which the report names as such.
"""

from __future__ import annotations

import html
import json
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, claims, files, plots, report
from .classify import LEVEL_WINDOW
from .blas import kernels
from .datasets import Dataset
from .endpoints import OUTCOMES, Tolerances
from .stats import holm
from .job import dataset_salt, load_results, network_for
from .landscape import plane, project, slice_loss
from .train import train

__all__ = ["build", "missing_jobs", "versions", "standalone_html", "table_html"]

PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "mlflow", "snakemake")


def versions() -> dict[str, str]:
    """Python, the versions of the packages the study ran with, and the BLAS kernels (the same
    for every job of a workflow run; see :mod:`gdbasins.blas`)."""
    out = {"python": platform.python_version(), "gdbasins": __version__}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    blas = kernels()
    if blas:
        out["BLAS"] = blas
    return out


def missing_jobs(expected: list[str], present: list[str]) -> list[str]:
    """Job keys that are expected but have no result."""
    have = set(present)
    return [k for k in expected if k not in have]


def _fmt_table(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Numbers as text for reading: NaN as an em dash (never as a number)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [("—" if not np.isfinite(v) else f"{v:.{digits}g}") for v in out[c]]
    return out


def _md(df: pd.DataFrame) -> str:
    df = _fmt_table(df)
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def build(outcome_paths, result_paths, timing_paths, dataset_paths: dict, config: dict, out_dir, *,
          code_version: str = "unknown", absent: list[str] | None = None, landscapes: bool = True,
          cost_path=None, escape_paths=(), minima_paths=(), barrier_paths=()) -> dict:
    """Build the report in ``out_dir``; returns the paths written (name -> path). ``dataset_paths``
    maps dataset names to their files (the landscapes retrain one seed on them); ``cost_path`` is
    the ``unit_cost`` table (seconds per update of one network; without it speeds in seconds are
    not reported and claim 3 rests on updates).

    ``absent``: job keys with no results (a partial report, allowed only when asked for); the
    report's first line lists them. ``escape_paths``, ``minima_paths`` and ``barrier_paths`` are the
    landscape experiments' per-dataset tables (rules escape and minima); without them their
    sections say they were not run.
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    runs = pd.concat([files.read_table(p) for p in outcome_paths], ignore_index=True)
    cost = files.read_table(cost_path) if cost_path is not None else None
    runs["seconds_to_arrive"] = report.seconds_to_arrive(runs, cost)
    tol = Tolerances(**(config.get("tolerances") or {}))
    settings = claims.Settings(**(config.get("claims") or {}))
    gaps = config.get("report_gaps", [1e-6, 1e-4, 1e-3])
    table = report.outcome_table(runs)
    best = report.best_rates(runs)
    paired = report.paired_table(runs, best)
    tolerance = report.tolerance_table(runs, tol, gaps)
    levels = report.minima_levels(runs)
    verdicts = claims.claims(runs, cost, settings)
    robustness = _robustness(runs, cost, settings, tol, gaps)
    speeds = _speeds(runs, table, best)
    timings = _timings(timing_paths)
    spurious = report.spurious_table(runs, best, tol)
    L_star = runs.groupby("dataset")["L_star"].first().to_dict()
    escape = report.escape_table(_concat(escape_paths), L_star, tol)
    found = _concat(minima_paths)
    barriers = _concat(barrier_paths)

    written = {}
    for name, df in (("outcomes", table), ("best_rates", best), ("paired", paired), ("tolerance", tolerance),
                     ("minima_levels", levels), ("claims", verdicts), ("claims_by_tolerance", robustness),
                     ("speeds", speeds), ("unit_cost", cost if cost is not None else pd.DataFrame()),
                     ("timings", timings), ("spurious", spurious), ("escape", escape), ("distinct_minima", found),
                     ("barriers", barriers)):
        path = out / "tables" / f"{name}.csv"
        files.write_text(path, df.to_csv(index=False, float_format="%.6g"))
        written[name] = path

    results = {}
    for p in result_paths:
        _, histories, meta, arrays = load_results(p)
        j = meta["job"]
        results[(j["dataset"], j["variant"], j["eta"])] = (histories, meta, arrays)
    figs = _figures(runs, table, best, results, dataset_paths, out / "figures", landscapes)
    for name, draw, df in (("escape_share", plots.escape_shares, escape), ("distinct_minima", plots.distinct_minima, found),
                           ("barriers", plots.barriers, barriers)):
        figs[name] = out / "figures" / f"{name}.png"
        draw(df, figs[name])
    written.update(figs)
    experiments = {"spurious": spurious, "escape": escape, "found": found, "barriers": barriers,
                   "ran": {"escape": bool(escape_paths), "minima": bool(minima_paths)}}
    md = _markdown(runs, table, best, paired, tolerance, levels, verdicts, robustness, speeds, cost, timings, config,
                   tol, settings, gaps, code_version, absent, figs, out, experiments)
    files.write_text(out / "README.md", md)
    files.write_text(out / "index.html", _html(md))
    written.update(readme=out / "README.md", html=out / "index.html")
    return written


def _concat(paths) -> pd.DataFrame:
    """The per-dataset tables at ``paths`` as one (empty when there are none or all are empty)."""
    frames = [files.read_table(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _robustness(runs, cost, settings, tol, gaps) -> pd.DataFrame:
    """Every claim re-decided with the global minimum counted at each gap above L*."""
    rows = []
    for gap in gaps:
        outcome, basin = report.reclassify(runs, tol, gap)
        v = claims.claims(runs.assign(outcome=outcome, basin=basin), cost, settings)
        for row in v.itertuples():
            rows.append({"gap": gap, "claim": row.claim, "dataset": row.dataset, "verdict": row.verdict})
    df = pd.DataFrame(rows)
    return df.pivot_table(index=["claim", "dataset"], columns="gap", values="verdict", aggfunc="first").reset_index()


def _speeds(runs, table, best) -> pd.DataFrame:
    """At each variant's best rate: how many runs converged and arrived, and the median epochs,
    updates and one-network seconds to arrive (and epochs to the global minimum). The seconds
    rest on the measured unit cost: this table is reproduced bit for bit only with the same
    ``unit_cost.csv``."""
    keys = best[["dataset", "variant", "eta"]]
    cols = ["dataset", "variant", "eta", "batch_size", "epochs", "seeds", "converged", "arrival_defined",
            "median_epochs_to_arrive", "median_updates_to_arrive", "median_epochs_to_global"]
    t = keys.merge(table, on=["dataset", "variant", "eta"], how="left")[cols]
    timed = runs[runs["converged"].astype(bool) & runs["arrived"].astype(bool)]
    seconds = timed.groupby(["dataset", "variant", "eta"])["seconds_to_arrive"].median().rename("median_seconds_to_arrive")
    t = t.merge(seconds.reset_index(), on=["dataset", "variant", "eta"], how="left")
    return report._sorted(t)


def _timings(timing_paths) -> pd.DataFrame:
    """Measured wall time of every job (all its seeds at once on the replica axis). Varies
    between runs of the same config."""
    rows = []
    for p in timing_paths:
        t = files.read_record(p)
        rows.append({"job": str(Path(p).parent), **t})
    t = pd.DataFrame(rows)
    if t.empty:
        return t
    parts = t["job"].str.extract(r"runs/(?P<dataset>[^/]+)/(?P<variant>[^/]+)/eta=(?P<eta>[^/]+)$")
    t = pd.concat([parts.assign(eta=parts["eta"].astype(float)), t.drop(columns="job")], axis=1)
    return report._sorted(t)


def _figures(runs, table, best, results, dataset_paths, fig_dir: Path, landscapes: bool) -> dict:
    figs = {}
    p = fig_dir / "global_share.png"
    plots.global_share_heatmap(table, p)
    figs["global_share"] = p
    p = fig_dir / "outcome_shares.png"
    plots.outcome_shares(table, p)
    figs["outcome_shares"] = p
    curves = {}
    for row in best.itertuples():
        key = (row.dataset, row.variant, row.eta)
        if key in results:
            curves.setdefault(row.dataset, {})[row.variant] = (row.eta, results[key][0]["loss"])
    p = fig_dir / "loss_curves_best_rates.png"
    plots.best_rate_curves(curves, p)
    figs["loss_curves"] = p
    p = fig_dir / "polished_levels.png"
    plots.polished_levels(runs, p)
    figs["polished_levels"] = p
    p = fig_dir / "sharpness_accuracy.png"
    plots.sharpness_accuracy(runs, p)
    figs["sharpness_accuracy"] = p
    if landscapes:
        for dataset in sorted(runs["dataset"].unique()):
            p = fig_dir / f"landscape_{dataset}.png"
            reason = _landscape(dataset, runs, best, results, Path(dataset_paths[dataset]), p)
            if reason:
                plots.placeholder(p, f"{dataset}: no landscape ({reason})")
            figs[f"landscape_{dataset}"] = p
    return figs


def _landscape(dataset, runs, best, results, dataset_path: Path, path) -> str | None:
    """Retrain one seed under each variant at its best rate, keeping its path, and draw the
    loss on the plane through its initial weights and the batch and SGD endpoints. The seed is
    the first whose variants ended at different polished losses (else seed 0). Returns why it
    could not be drawn, or None."""
    b = best[best["dataset"] == dataset].set_index("variant")["eta"]
    if not {"batch", "sgd"} <= set(b.index):
        return "needs both batch and SGD runs"
    d = runs[runs["dataset"] == dataset]
    at_best = pd.concat([d[(d["variant"] == v) & (d["eta"] == e)] for v, e in b.items()])
    if at_best["diverged"].all():
        return "every run diverged"
    spread = at_best.groupby("seed")["polished_loss"].agg(lambda s: s.max() - s.min())
    seed = int(spread.index[spread > 1e-3][0]) if (spread > 1e-3).any() else int(spread.index[0])
    histories, meta, arrays = results[(dataset, "batch", b["batch"])]
    job = meta["job"]
    ds = Dataset(dataset_path)
    net = network_for(ds, job["network"])
    paths, ends = {}, {}
    for variant, eta in b.items():
        _, m, _ = results[(dataset, variant, eta)]
        epochs = m["job"]["epochs"]
        res = train(net, ds.X_train, ds.y_train, seeds=[seed], eta=eta, batch_size=m["batch_size"], epochs=epochs,
                    init=job["network"]["init"], init_scale=job["network"]["init_scale"], salt=dataset_salt(dataset),
                    snapshot_every=max(1, epochs // 200))
        if res.diverged[0]:
            continue
        paths[variant] = (eta, np.stack([res.snapshots[e][0] for e in sorted(res.snapshots)]))
        ends[variant] = res.theta[0]
    if "batch" not in ends or "sgd" not in ends:
        return "the chosen seed diverged"
    theta0 = arrays["theta0"][list(arrays["seeds"]).index(seed)]
    directions = plane(theta0, ends["batch"], ends["sgd"], np.random.default_rng(seed))
    coords = {v: (eta, project(p, theta0, directions)) for v, (eta, p) in paths.items()}
    allxy = np.concatenate([xy for _, xy in coords.values()] + [np.zeros((1, 2))])
    lo, hi = allxy.min(axis=0), allxy.max(axis=0)
    pad = 0.25 * np.maximum(hi - lo, 1e-3)
    a = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 61)
    bgrid = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 61)
    loss = slice_loss(net, ds.X_train, ds.y_train, theta0, directions, a, bgrid)
    plots.landscape(a, bgrid, loss, coords, path, f"{dataset}, seed {seed}: plane of the batch and SGD endpoints")
    return None


MARKS = {"supported": "✅ supported", "partly supported": "◐ partly supported", "contradicted": "❌ contradicted",
         "inconclusive": "❔ inconclusive", "too few runs": "∅ too few runs",
         "depends on the problem": "↔ depends on the problem"}


def _verdict_mark(v: str) -> str:
    return MARKS.get(v, v)


def _effect(r) -> str:
    """An effect with its interval: a share difference, a time ratio (claim 3) or a rank
    correlation (claim 4)."""
    est, lo, hi = (getattr(r, k) for k in ("estimate", "lo", "hi"))
    if not np.isfinite(est):
        return "—"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return (f"{est:.2f}×" if r.claim == 3 else f"{est:+.2f}") + " (too few seeds for a 95% interval)"
    if r.claim == 3:
        return f"{est:.2f}× [{lo:.2f}, {hi:.2f}]"
    return f"{est:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _p(x) -> str:
    return "—" if not np.isfinite(x) else f"{x:.2g}"


def _checks(runs, best, settings) -> list[str]:
    """What the verdicts can carry: did the best rates converge, is arrival defined, how many
    seeds select and test, and how wide an interval that gives."""
    low = best[best["converged"] < report.CONVERGED_TARGET]
    lines = []
    if len(low):
        lines.append(f"**{len(low)} of {len(best)} cells had < {report.CONVERGED_TARGET:.0%} converged at their best "
                     "rate**: " + ", ".join(f"{r.dataset}/{r.variant} (eta {r.eta:g}: {r.converged:.0%})"
                                            for r in low.itertuples())
                     + ". Their runs were still travelling when the budget ended; verdicts on them rest on where the "
                       "runs were heading (the polished basin).")
    else:
        lines.append(f"All {len(best)} (dataset, variant) cells had ≥ {report.CONVERGED_TARGET:.0%} of runs converged at "
                     f"their best rate (lowest: {best['converged'].min():.0%}).")
    conv = runs[runs["converged"].astype(bool)]
    if len(conv):
        lines.append(f"Arrival time is defined for {conv['arrived'].mean():.1%} of the {len(conv)} converged runs.")
    half = report.halves(runs)
    n_sel, n_test = runs.loc[half == "select", "seed"].nunique(), runs.loc[half != "select", "seed"].nunique()
    if (half == "both").any():
        lines.append("**One seed per cell: best rates are chosen and tested on the same seed.**")
    else:
        per = runs.assign(half=half).groupby("dataset").apply(
            lambda g: (g.loc[g["half"] == "select", "seed"].nunique(), g.loc[g["half"] != "select", "seed"].nunique()))
        for (n_sel, n_test), names in per.groupby(per).groups.items():
            lo, hi = report.wilson(n_test // 2, n_test) if n_test else (np.nan, np.nan)
            where = "" if len(per.unique()) == 1 else f" ({', '.join(sorted(names))})"
            lines.append(f"Seeds{where}: {n_sel} select each variant's best rate, the other {n_test} test the claims "
                         f"at it; on {n_test} seeds a share near 0.5 has a 95% interval about ±{(hi - lo) / 2:.2f} wide.")
    return lines


def _escape_bearing(escape: pd.DataFrame, best: pd.DataFrame, settings) -> list[str]:
    """Claim 2 tested directly: per dataset, SGD (and mini-batch) continued at its best rate
    against the control, by the rule :data:`ESCAPE_RULE`."""
    rows = []
    for r in best[best["variant"] != "batch"].itertuples():
        e = escape[(escape["dataset"] == r.dataset) & (escape["variant"] == r.variant) & np.isclose(escape["eta"], r.eta)]
        if not e.empty:
            rows.append(e.iloc[0])
    if not rows:
        return ["No dataset had stuck batch runs to start from, or no variant's best rate was continued."]
    df = pd.DataFrame(rows).reset_index(drop=True)
    df["p_holm"] = np.nan
    for v, g in df.groupby("variant"):
        df.loc[g.index, "p_holm"] = holm(g["p_value"].fillna(1.0).to_numpy())
    lines = []
    for e in df.itertuples():
        if e.p_holm < settings.alpha and e.vs_control_lo > 0:
            word = "**escapes more often than batch GD**"
        elif e.vs_control_hi < settings.margin:
            word = "**does not escape more often** (interval below the margin)"
        else:
            word = "cannot tell"
        lines.append(f"- {e.dataset}, {e.variant} at its best rate {e.eta:g}: escaped from {e.escaped:.0%} "
                     f"[{e.escaped_lo:.0%}, {e.escaped_hi:.0%}] of {int(e.starts)} stuck starts, "
                     f"reached the global minimum from {e.reached_global:.0%}; against the control: "
                     f"{e.vs_control:+.2f} [{e.vs_control_lo:+.2f}, {e.vs_control_hi:+.2f}], Holm p = {_p(e.p_holm)}: {word}.")
    return lines


ESCAPE_RULE = ("A variant **escapes more often than batch GD** on a dataset when, on the same stuck starts, its share "
               "escaped at its best rate exceeds the control's (batch GD continued at the rate it got stuck at) with "
               "Holm p < alpha (across datasets) and an interval above 0; it **does not** when the interval of the "
               "difference lies below the margin; else the data cannot tell.")

BARRIER_RULE = ("A non-global minimum is **behind a real barrier** when even the optimised path to the nearest global "
                "minimum climbs more than `converged_gap` above the higher end: SGD hovers about that much above its "
                "minimum, so a lower barrier is no obstacle to its noise.")


def _landscape_sections(ex: dict, best, settings, tol, rel) -> list[str]:
    lines = ["## Where local minima are real", "",
             "Batch GD can only be stuck in local minima where there are some. The share of runs ending in a "
             "non-global **local minimum** (strict; certified non-smooth at a ReLU kink, `non_smooth` = the share of "
             "those; or flat), at each variant's best rate on the test seeds, with its 95% Wilson interval, beside "
             "the other endpoints:", "", _md(ex["spurious"]), ""]
    lines += ["### The escape experiment", ""]
    if not ex["ran"]["escape"]:
        lines += ["Not run (the report was built without the escape tables).", ""]
    else:
        lines += ["Batch GD's stuck endpoints (local and flat minima, plateaus) at its best rate, continued from there "
                  "under every variant at every rate of its grid; batch GD is the control. `escaped`: the polished "
                  f"endpoint is lower than the start by more than {tol.escape:g}; `reached_global`: within "
                  f"{tol.global_gap:g} of L*. `vs_control`: the paired difference in the escaped share against batch "
                  "GD continued at the rate it got stuck at, with Newcombe's interval and McNemar's p.", "",
                  f"Rule (its bearing on claim 2, SGD escapes local minima, tested directly): {ESCAPE_RULE}", ""]
        lines += _escape_bearing(ex["escape"], best, settings) + [""]
        if "escape_share" in rel:
            lines += [f"![Escape experiment]({rel['escape_share']})", ""]
        if not ex["escape"].empty:
            lines += [_md(ex["escape"]), ""]
    lines += ["### Distinct minima up to symmetry", ""]
    found, bars = ex["found"], ex["barriers"]
    if not ex["ran"]["minima"]:
        lines += ["Not run (the report was built without the minima tables).", ""]
    elif found.empty:
        lines += ["No polished endpoint to compare.", ""]
    else:
        lines += ["Two endpoints are the same minimum when their parameters agree up to a permutation of the hidden "
                  "units (and a sign flip of a unit for odd activations, a positive rescaling for ReLU units feeding a "
                  "trained layer) and their losses agree. Per dataset: how many distinct minima the runs found, the "
                  "gaps of the lowest few above the lowest, and how many distinct minima each variant reached. Points "
                  "on one flat set (a free bias, a saturation plateau, a dead ReLU unit) are not merged, so there the "
                  "count is an upper bound:", ""]
        lines += [_md(_minima_summary(found)), ""]
        if "distinct_minima" in rel:
            lines += [f"![Distinct minima]({rel['distinct_minima']})", ""]
        lines += ["### Barriers between minima", "",
                  f"Rule (its bearing on claim 1, batch GD gets stuck in local minima): {BARRIER_RULE} The optimised "
                  "path is one path, so its height bounds the lowest barrier from above.", ""]
        if bars.empty:
            lines += ["No non-global minimum to measure a barrier from.", ""]
        else:
            real = bars["path_barrier"] > tol.converged_gap
            lines += ["From the non-global minima found most often to the nearest global minimum (after aligning the "
                      "symmetry): the highest loss above the higher end on the straight path, and on a low-loss path "
                      "(a quadratic Bezier curve optimised by gradient steps, Garipov et al. 2018; Draxler et al. 2018). "
                      + "; ".join(f"{d}: {int(g.sum())} of {len(g)} behind a real barrier"
                                  for d, g in real.groupby(bars["dataset"], sort=False)) + ".", "",
                      _md(bars), ""]
            if "barriers" in rel:
                lines += [f"![Barriers]({rel['barriers']})", ""]
    return lines


def _minima_summary(found: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for dataset, g in found.groupby("dataset", sort=False):
        g = g.sort_values("loss")
        row = {"dataset": dataset, "distinct_minima": len(g), "runs": int(g["count"].sum()),
               "lowest_loss": float(g["loss"].iloc[0]),
               "next_gaps": ", ".join(f"{x:.2g}" for x in g["gap"].iloc[1:5])}
        row.update({f"{v}_found": int((g[v] > 0).sum()) for v in report.VARIANT_ORDER if v in g})
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(runs, table, best, paired, tolerance, levels, verdicts, robustness, speeds, cost, timings, config,
              tol, settings, gaps, code_version, absent, figs, out: Path, experiments=None) -> str:
    rel = {k: Path(v).relative_to(out).as_posix() for k, v in figs.items()}
    lines = []
    if absent:
        lines += [f"**Partial report: {len(absent)} job(s) absent: {', '.join(absent)}.**", ""]
    lines += [f"# Where does gradient descent end up? Study `{config['study']}`", ""]
    lines += _checks(runs, best, settings) + [""]
    overall = verdicts[verdicts["dataset"] == "overall"].set_index("claim")
    per_ds = verdicts[verdicts["dataset"] != "overall"]
    lines += ["## Headline", "",
              f"{len(runs)} runs: {runs['dataset'].nunique()} datasets, {len(table)} (dataset, variant, learning rate) "
              f"cells, {_seed_counts(runs)}. Each claim is tested against its alternative on the same seeds; "
              f"every verdict shows its effect with a 95% interval and its Holm-corrected p (alpha = {settings.alpha:g}, "
              f"smallest effect that matters = {settings.margin:g}).", "",
              "| claim | overall | by dataset: verdict, effect [95% interval], Holm p |", "|---|---|---|"]
    for claim, c in claims.CLAIMS.items():
        if claim not in overall.index:
            continue
        per = per_ds[per_ds["claim"] == claim]
        by = "<br>".join(f"{r.dataset}: {r.verdict}, {_effect(r)}, p = {_p(r.p_holm)}" for r in per.itertuples())
        lines.append(f"| {claim}. {c.statement} | **{_verdict_mark(overall.loc[claim, 'verdict'])}** "
                     f"({overall.loc[claim, 'note']}) | {by} |")
    lines += ["", "Effects: claim 1, batch's share stuck minus SGD's; claim 2, SGD's share in the global minimum minus "
              "batch's; claim 3, SGD's time to arrive over mini-batch's for one network (> 1: mini-batch faster); "
              "claim 4, the rank correlation of log rate and time to arrive for the variant with the weakest trend. When every "
              "run ends at a stationary point, claim 1's difference is claim 2's with the sign turned (stuck = not "
              "global); claim 1 adds what batch is stuck in.", ""]
    lines += [_outcome_summary(runs, best), ""]
    if "global_share" in rel:
        lines += [f"![Share of runs ending in the global minimum]({rel['global_share']})", ""]
    if "outcome_shares" in rel:
        lines += ["Where runs are after the budget at every learning rate, per dataset: in the global "
                  "minimum (solid), stuck in a local or flat minimum, on a plateau or at a saddle (dashed), "
                  "still travelling (dash-dot) or diverged (dotted); one colour per variant.", "",
                  f"![Outcome shares against the learning rate]({rel['outcome_shares']})", ""]
    lines += ["## The claims, one by one", ""]
    for claim, c in claims.CLAIMS.items():
        per = verdicts[verdicts["claim"] == claim]
        if per.empty:
            continue
        lines += [f"### Claim {claim}: {c.statement}", "", claims.in_words(claim, verdicts, settings), "",
                  f"Rule: {c.rule}", "",
                  "| dataset | verdict | why | effect [95% interval] | p | Holm p | seeds | rests on | numbers |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in per.itertuples():
            if r.dataset == "overall":
                lines.append(f"| **overall** | **{_verdict_mark(r.verdict)}** | {r.note} | | | | | | |")
                continue
            lines.append(f"| {r.dataset} | {_verdict_mark(r.verdict)} | {r.note} | {_effect(r)} | {_p(r.p_value)} | "
                         f"{_p(r.p_holm)} | {int(r.seeds)} | {r.rests_on} | {r.numbers} |")
        rob = robustness[robustness["claim"] == claim]
        if not rob.empty:
            gap_cols = [col for col in rob.columns if col not in ("claim", "dataset")]
            flips = [r for r in rob.itertuples(index=False) if len(set(r[2:])) > 1]
            lines += ["", f"Does the verdict survive the tolerance? Global minimum counted at a gap above L* of "
                          f"{', '.join(f'{g:g}' for g in gap_cols)}: "
                      + ("the verdict is the same at every gap." if not flips else
                         "it **changes** for " + "; ".join(f"{r[1]} ({' / '.join(r[2:])})" for r in flips) + ".")]
        lines.append("")
    if experiments is not None:
        lines += _landscape_sections(experiments, best, settings, tol, rel)
    lines += ["## Where the runs ended", "",
              f"Per dataset, variant and learning rate ({_seed_counts(runs)}). After the budget: the outcome "
              "shares (`global` with its 95% Wilson interval; `unconverged` runs were still travelling). Where runs "
              "ended: `ended_global`, `ended_stuck` (polished basin, converged or not). `arrival_defined` is the share of "
              "converged runs whose arrival is defined; times are medians over converged runs that arrived "
              "(`median_epochs_to_global` over those that arrived in the global minimum). "
              "`above_2_over_eta` counts converged runs in a minimum sharper than 2/eta.", ""]
    cols = ["dataset", "variant", "eta", "epochs", "seeds", "global", "global_lo", "global_hi", "local", "flat", "plateau",
            "saddle", "unresolved", "unconverged", "diverged", "ended_global", "ended_stuck", "converged",
            "arrival_defined", "median_epochs_to_arrive", "median_updates_to_arrive", "median_epochs_to_global", "median_descent_share", "median_sharpness", "above_2_over_eta",
            "median_test_accuracy"]
    lines += [_md(table[cols]), ""]
    lines += [f"Each variant's best learning rate, chosen on the selection seeds: among the rates where at least "
              f"{report.CONVERGED_TARGET:.0%} of them converged (`selection_settled`; all rates if none), the highest "
              "share in the global minimum after the budget, then the fewest epochs to arrive, then the smaller rate. "
              "`converged` and `arrival_defined` are on all seeds. Where runs end at the other rates is in the table "
              "above and in claim 4.", "", _md(best), ""]
    lines += ["Speed at the best rates: epochs, updates and seconds for one network to arrive (medians over converged "
              "runs that arrived):", "", _md(speeds), ""]
    for key, title in (("loss_curves", "Loss curves at the best rates (median and interquartile band)"),
                       ("polished_levels", "Polished loss above L*: distinct minima show as distinct levels"),
                       ("sharpness_accuracy", "Sharpness against held-out accuracy")):
        if key in rel:
            lines += [f"![{title}]({rel[key]})", ""]
    lines += ["## Paired comparisons", "",
              "Seeds share their initial weights across variants, so variants are compared on the same seeds: the "
              "share of each ending in the global minimum (polished basin), their difference a − b with Newcombe's 95% "
              "interval, the seeds where only one did (`a_only`, `b_only`) and McNemar's exact p; beside it the shares "
              "after the budget. Best-rate rows use the test seeds only.", "", _md(paired), ""]
    lines += ["## Distinct minima and the tolerance", "",
              f"Share ending in the global minimum when it is counted at each gap above L* ({', '.join(f'{g:g}' for g in gaps)}):",
              "", _md(tolerance), "",
              "Distinct polished loss levels (runs within 1e-4 of each other share a level):", "", _md(levels), ""]
    land = [k for k in rel if k.startswith("landscape_")]
    if land:
        lines += ["## The landscape around one seed", "",
                  "The loss on the plane through one seed's initial weights (star) and the endpoints of batch and "
                  "stochastic gradient descent, with each variant's path at its best rate projected on it (the paths "
                  "also move off the plane; the projection shows their direction, not every detail).", ""]
        lines += [f"![{k}]({rel[k]})" for k in land] + [""]
    lines += ["## Timing (measured, varies between runs)", "",
              "Seconds per update of **one network** (R = 1, one thread, every variant of a dataset measured side by "
              "side in one process, median of 5 repeats): what claim 3's speed in seconds uses. These and the job "
              "times below are the only numbers in this report that rerunning the same config does not reproduce bit "
              "for bit; a verdict in seconds could move if the ratio between variants moved.", "",
              _md(cost) if cost is not None and not cost.empty else "(not measured: claim 3 rests on updates)", "",
              "Wall time of each job, all its seeds at once on the replica axis (cheaper per network than one network "
              "alone, unevenly across variants):", "",
              _md(timings[[c for c in ("dataset", "variant", "eta", "seconds_per_epoch", "train_seconds", "analyse_seconds")
                           if c in timings.columns]]) if not timings.empty else "(none)", ""]
    lines += ["## How this was computed", "",
              "- Every run is evaluated on the full training set at its final weights. Its **polished endpoint** is the "
              "nearest stationary point found by L-BFGS from there; the Hessian there classifies it.",
              f"- **L\\*** per dataset: the known optimum where there is one, else the lowest polished loss of any run "
              f"({', '.join(f'{d}: {s}' for d, s in runs.groupby('dataset')['L_star_source'].first().items())}).",
              f"- Tolerances: global if polished loss − L\\* ≤ {tol.global_gap:g}; stationary if gradient norm ≤ {tol.grad:g}; "
              f"flat eigenvalues |λ| ≤ {tol.eig:g}; converged if raw − polished loss ≤ {tol.converged_gap:g}; a saddle is "
              f"confirmed when a step along its negative eigenvector descends by more than {tol.escape:g}.",
              f"- **Arrival**: a run has arrived at the first epoch after which its full-data training loss stays within "
              f"{tol.arrival_band:g} (`tolerances.arrival_band`) of its final level, the median loss of its last "
              f"{LEVEL_WINDOW:.0%} of epochs; one that still leaves the band at the end never arrived. Speeds are "
              "epochs, updates and one-network seconds to arrival; a run still travelling is not counted as failing "
              "to reach the basin it is heading for. Directness is the share of epochs with a falling loss until arrival.",
              "- Outcomes: " + ", ".join(f"`{o}`" for o in OUTCOMES) + " (see the project README for definitions).",
              "- Seeds: the first half of each cell's seeds (seed < seeds // 2) chooses each variant's best rate, the "
              "second half tests the claims at it (a rule fixed before the data).",
              f"- Claim settings: alpha = {settings.alpha:g} after Holm's correction across the datasets of a claim; "
              f"smallest effect that matters (margin) = {settings.margin:g}; speed tests need ≥ {settings.min_pairs} "
              "paired seeds. " + claims.OVERALL_RULE,
              f"- Code version `{code_version}`; " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
              "", "Config:", "", "```json", json.dumps(config, indent=1, sort_keys=True), "```", ""]
    return "\n".join(lines)


def _seed_counts(runs) -> str:
    """"200 seeds each", or per dataset when datasets differ."""
    n = runs.groupby("dataset")["seed"].nunique()
    if n.nunique() == 1:
        return f"{int(n.iloc[0])} seeds each"
    return "seeds per cell: " + ", ".join(f"{d} {int(k)}" for d, k in n.items())


def _outcome_summary(runs, best) -> str:
    parts = []
    for dataset, d in runs.groupby("dataset", sort=True):
        b = best[best["dataset"] == dataset]
        shares = ", ".join(f"{r['variant']} {r['selection_global']:.0%} (eta {r['eta']:g})" for r in b.to_dict("records"))
        parts.append(f"- **{dataset}**: in the global minimum after the budget at each variant's best rate (selection "
                     f"seeds): {shares}; over all rates: "
                     + ", ".join(f"{o} {n}" for o, n in d["outcome"].value_counts().items()) + ".")
    return "\n".join(parts)


def _html(md: str, images=None) -> str:
    """A self-contained HTML page of the Markdown report (headings, tables, images, code). It
    needs no font beyond the browser's own: the verdict marks become coloured labels, and wide
    tables scroll inside the page. ``images``: the folder the image links are relative to, to embed
    every image in the page (data URIs) instead of linking it."""
    body, in_table, in_code = [], False, False
    for line in md.splitlines():
        if line.startswith("```"):
            body.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if set(line) <= {"|", "-", " "}:
                continue
            if not in_table:
                body.append("<div class='scroll'><table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells) + "</tr>")
                continue
            body.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table></div>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            src = src.rstrip(")")
            if images is not None:
                src = _data_uri(Path(images) / src)
            body.append(f'<p><img src="{html.escape(src)}" alt="{html.escape(alt)}"></p>')
        elif line.startswith("- "):
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    if in_table:
        body.append("</table></div>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;line-height:1.4}"
             ".scroll{overflow-x:auto;max-width:100%}"
             "table{border-collapse:collapse;font-size:12px;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}img{max-width:100%}"
             ".v{display:inline-block;padding:0 4px;border-radius:3px;font-weight:bold;white-space:nowrap}"
             ".v-supported{background:#d4edda;color:#155724}.v-partly{background:#e8f0d0;color:#3d5a00}"
             ".v-contradicted{background:#f8d7da;color:#721c24}.v-inconclusive{background:#eee;color:#444}"
             ".v-few{background:#fff3cd;color:#6b5000}.v-depends{background:#d6e4f5;color:#0c3d75}")
    return f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>gdbasins report</title><style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"


def _data_uri(path: Path) -> str:
    import base64
    import mimetypes

    mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def standalone_html(readme) -> str:
    """The report at ``readme`` (its ``README.md``) as one HTML page with its figures embedded:
    what MLflow's artifact viewer (which shows an HTML file on its own, where relative links
    find nothing) and the Snakemake report display."""
    readme = Path(readme)
    return _html(readme.read_text(), images=readme.parent)


def table_html(csv_path, title: str) -> str:
    """A CSV table of the report as one HTML page (numbers as the report prints them): what the
    Snakemake report displays (it shows HTML inline, CSV only as a download)."""
    try:
        df = pd.read_csv(csv_path)
    except pd.errors.EmptyDataError:  # a table with no columns (e.g. no speed was measured) is an empty file
        df = pd.DataFrame()
    return _html(f"# {title}\n\n" + (_md(df) if len(df.columns) else "(empty)"))


#: Verdict marks of the Markdown report -> (label class, text) in the HTML page.
BADGES = {"✅ supported": ("supported", "supported"), "◐ partly supported": ("partly", "partly supported"),
          "❌ contradicted": ("contradicted", "contradicted"),
          "❔ inconclusive": ("inconclusive", "inconclusive"), "∅ too few runs": ("few", "too few runs"),
          "↔ depends on the problem": ("depends", "depends on the problem")}


def _inline(text: str) -> str:
    import re

    t = html.escape(text, quote=False)
    t = t.replace("&lt;br&gt;", "<br>")  # line breaks inside table cells
    # Markdown's escapes (L\* is L*), as character references that the markup below leaves alone
    t = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", lambda m: f"&#{ord(m.group(1))};", t)
    for mark, (cls, word) in BADGES.items():
        t = t.replace(mark, f"<span class='v v-{cls}'>{word}</span>")
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    return t
