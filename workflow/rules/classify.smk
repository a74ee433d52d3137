rule classify:
    """Per dataset: the reference optimum L* (known, or the best polished loss of any run), every
    run's outcome, and each job's loss-curves figure."""
    input:
        results=lambda w: dataset_runs(w, "results.npz"),
    output:
        outcomes=f"{ROOT}/outcomes/{{dataset}}.csv",
        curves=directory(f"{ROOT}/curves/{{dataset}}"),
    log:
        f"{LOGS}/classify/{{dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/classify/{{dataset}}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("classify.py"),
        tolerances=RESOLVED["tolerances"],
    script:
        "../scripts/classify.py"
