rule classify:
    """Per dataset: the reference optimum L* (known, or the best polished loss of any run), every
    run's outcome, each job's loss-curves figure, and both on the MLflow runs (outcome tags on
    the seed runs, outcome shares and the figure on the job's run)."""
    input:
        results=lambda w: dataset_runs(w, "results.npz"),
        runs=lambda w: dataset_runs(w, "mlflow.json"),
        store=f"{ROOT}/tracking.json",
        src=sources(
            "classify.py",
            "endpoints.py",
            "job.py",
            "files.py",
            "tracking.py",
            "plots.py",
        ),
    output:
        outcomes=f"{ROOT}/outcomes/{{dataset}}.csv",
        curves=directory(f"{ROOT}/curves/{{dataset}}"),
    log:
        f"{LOGS}/classify/{{dataset}}.log",
    conda:
        "../../environment.yml"
    params:
        tolerances=RESOLVED["tolerances"],
    script:
        "../scripts/classify.py"
