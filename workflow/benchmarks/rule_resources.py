"""What each rule's jobs used in a finished study, and Slurm resources with headroom.

Every rule writes a Snakemake benchmark file per job (``logs/<study>/benchmarks/<rule>/...tsv``:
wall seconds, peak resident memory, CPU seconds). This prints, per rule, the number of jobs, the
median and largest wall time, the largest peak memory (max_rss), and the runtime and mem_mb to
ask a scheduler for: three times the largest wall time (a cluster node may be slower than the
machine measured; behind a tracking server the track jobs take longer, see the README), rounded up
to 5 minutes, at least 10; twice the largest peak memory, rounded up to 500 MB, at least 1000.
Snakemake samples memory every 0.5 s for a job's first 30 s and every 30 s after, so a job
shorter than about a second reads low (its shell, before Python has started) and a brief peak of
a long job can be missed: hence the factor two and the floor.

    python3 workflow/benchmarks/rule_resources.py                 # the default study, from the repository root
    python3 workflow/benchmarks/rule_resources.py --study smoke --workdir /path/to/workdir
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import pandas as pd


def rule_usage(bench_dir: Path) -> pd.DataFrame:
    """One row per rule: jobs, median and max wall seconds, max peak memory (MB), total CPU s."""
    rows = []
    for path in sorted(bench_dir.rglob("*.tsv")):
        rel = path.relative_to(bench_dir)
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        table = pd.read_csv(path, sep="\t")
        rows += [dict(rule=rule, s=float(r["s"]), max_rss=float(r["max_rss"]), cpu=float(r["cpu_time"]))
                 for _, r in table.iterrows()]
    if not rows:
        raise SystemExit(f"no benchmark files under {bench_dir}: run the study first")
    df = pd.DataFrame(rows)
    out = df.groupby("rule", sort=False).agg(jobs=("s", "size"), median_s=("s", "median"), max_s=("s", "max"),
                                            max_rss_mb=("max_rss", "max"), cpu_s=("cpu", "sum"))
    out["runtime_min"] = [max(10, 5 * math.ceil(3 * s / 60 / 5)) for s in out["max_s"]]
    out["mem_mb"] = [max(1000, 500 * math.ceil(2 * m / 500)) for m in out["max_rss_mb"]]
    order = ["make_dataset", "init_tracking", "train", "classify", "track", "report"]
    return out.reindex([r for r in order if r in out.index] + [r for r in out.index if r not in order])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default="default")
    parser.add_argument("--workdir", type=Path, default=Path("."))
    args = parser.parse_args()
    usage = rule_usage(args.workdir / "logs" / args.study / "benchmarks")
    print(f"study {args.study!r}: {int(usage['jobs'].sum())} jobs, "
          f"{statistics.fsum(usage['cpu_s']):.0f} CPU-s in all\n")
    print("| rule | jobs | wall s, median | wall s, max | peak memory MB, max | runtime (min) | mem_mb |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in usage.itertuples():
        print(f"| `{r.Index}` | {r.jobs} | {r.median_s:.1f} | {r.max_s:.1f} | {r.max_rss_mb:.0f} | "
              f"{r.runtime_min} | {r.mem_mb} |")


if __name__ == "__main__":
    main()
