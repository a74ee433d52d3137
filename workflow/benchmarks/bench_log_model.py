"""What logging each job's best network as a pyfunc model adds to the job's MLflow time.

    python3 workflow/benchmarks/bench_log_model.py STUDY_DIR [--jobs 4] [--repeats 5]

``STUDY_DIR`` is the working directory of a finished run of the workflow (it has
``data/<study>/runs/.../results.npz``). Into a fresh SQLite store in a temporary folder, every
measurement mirrors one job's result file with :func:`gdbasins.tracking.log_job` in a **new
process**, as a Snakemake job does (so the first-call costs -- importing mlflow and
``mlflow.pyfunc``, scanning the installed packages -- count), once with the model and once without
(``gdbasins.model`` replaced by a no-op stub), alternating which goes first. It prints the median
wall and CPU seconds of ``log_job`` each way (CPU time is the steadier figure on a shared
machine), their difference per job, and the median wall seconds inside ``log_best`` itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def one(uri: str, experiment_id: str, results: str, dataset: str, with_model: bool) -> dict:
    """Mirror one result file (in this process) and return the seconds spent. Without the model,
    ``gdbasins.model`` is replaced by a stub, so that not even its imports are paid for."""
    import types

    from gdbasins import files, tracking

    _, meta = files.load(results)
    job = meta["job"]
    params = {k: v for k, v in job.items() if k != "key"}
    inside = [0.0]
    t, cpu = time.perf_counter(), time.process_time()
    if with_model:
        from gdbasins import model

        real = model.log_best

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - t0

        model.log_best = timed
    else:
        sys.modules["gdbasins.model"] = types.SimpleNamespace(log_best=lambda *a, **k: None)
    tracking.log_job(uri, experiment_id, job["key"], params, results, dataset, code="bench")
    return {"log_job": time.perf_counter() - t, "log_job_cpu": time.process_time() - cpu, "log_best": inside[0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study_dir", type=Path, nargs="?")
    ap.add_argument("--jobs", type=int, default=4, help="result files to use (spread over datasets)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        uri, exp, results, dataset, flag = args.one
        print(json.dumps(one(uri, exp, results, dataset, flag == "1")))
        return
    if args.study_dir is None:
        ap.error("STUDY_DIR is required")
    results = sorted(args.study_dir.glob("data/*/runs/*/*/eta=*/results.npz"))
    if not results:
        sys.exit(f"no results.npz under {args.study_dir}/data/*/runs: is it a finished study directory?")
    picked = results[:: max(1, len(results) // args.jobs)][: args.jobs]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MLFLOW_DISABLE_TELEMETRY="true",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    sys.path.insert(0, str(REPO / "src"))
    from gdbasins import tracking

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        exp = tracking.init_store(uri, "bench", Path(tmp) / "mlartifacts")
        rows = {True: [], False: []}
        for rep in range(args.repeats):
            for i, res in enumerate(picked):
                dataset = res.parents[4] / "datasets" / f"{res.parents[2].name}.npz"
                order = (True, False) if (rep + i) % 2 == 0 else (False, True)
                for flag in order:
                    out = subprocess.run([sys.executable, __file__, "--one", uri, exp, str(res),
                                          str(dataset.resolve()), "1" if flag else "0"],
                                         env=env, capture_output=True, text=True)
                    if out.returncode:
                        sys.exit(f"measurement failed:\n{out.stderr[-3000:]}")
                    rows[flag].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {(flag, k): statistics.median(r[k] for r in rows[flag]) for flag in rows for k in ("log_job", "log_job_cpu")}
    inside = statistics.median(r["log_best"] for r in rows[True])
    n = len(rows[True])
    print(f"{n} measurements each way ({len(picked)} jobs x {args.repeats} repeats), one new process each; "
          f"medians, wall (CPU) seconds")
    print(f"log_job without the model: {med[False, 'log_job']:.2f} ({med[False, 'log_job_cpu']:.2f})")
    print(f"log_job with the model:    {med[True, 'log_job']:.2f} ({med[True, 'log_job_cpu']:.2f})")
    print(f"added per job:             {med[True, 'log_job'] - med[False, 'log_job']:+.2f} "
          f"({med[True, 'log_job_cpu'] - med[False, 'log_job_cpu']:+.2f}); log_best itself: {inside:.2f} wall")

if __name__ == "__main__":
    main()
