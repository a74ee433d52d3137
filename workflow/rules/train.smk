rule train:
    """One (dataset, variant, learning rate): every seed at once on the replica axis, endpoints
    polished and analysed, results written (rule track mirrors them into MLflow; a failed job
    leaves a FAILED run there)."""
    input:
        dataset=f"{ROOT}/datasets/{{dataset}}.npz",
        # Where runs are tracked does not change what training computes: a new store re-logs
        # the results (rule track) without retraining.
        store=ancient(f"{ROOT}/tracking.json"),
    output:
        results=f"{ROOT}/runs/{{dataset}}/{{variant}}/eta={{eta}}/results.npz",
        timing=f"{ROOT}/runs/{{dataset}}/{{variant}}/eta={{eta}}/timing.json",
    log:
        f"{LOGS}/train/{{dataset}}/{{variant}}/eta={{eta}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train/{{dataset}}/{{variant}}/eta={{eta}}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("train.py"),
        job=job_spec,
    script:
        "../scripts/train.py"
