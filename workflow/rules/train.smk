rule train:
    """One (dataset, variant, learning rate): every seed at once on the replica axis, endpoints
    polished and analysed, results written, runs mirrored into MLflow."""
    input:
        dataset=f"{ROOT}/datasets/{{dataset}}.npz",
        store=f"{ROOT}/tracking.json",
        src=sources(
            "network.py",
            "functions.py",
            "checks.py",
            "train.py",
            "endpoints.py",
            "datasets.py",
            "files.py",
            "job.py",
            "tracking.py",
            "model.py",
            "pyfunc_model.py",
        ),
    output:
        results=f"{ROOT}/runs/{{dataset}}/{{variant}}/eta={{eta}}/results.npz",
        runs=f"{ROOT}/runs/{{dataset}}/{{variant}}/eta={{eta}}/mlflow.json",
        timing=f"{ROOT}/runs/{{dataset}}/{{variant}}/eta={{eta}}/timing.json",
    log:
        f"{LOGS}/train/{{dataset}}/{{variant}}/eta={{eta}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train/{{dataset}}/{{variant}}/eta={{eta}}.tsv"
    conda:
        "../../environment.yml"
    params:
        job=job_spec,
    script:
        "../scripts/train.py"
