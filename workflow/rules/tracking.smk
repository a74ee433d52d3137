rule init_tracking:
    """Create the MLflow store and the study's experiment once, before any job logs to it:
    parallel jobs opening a brand-new SQLite store at once corrupt it."""
    output:
        store=f"{ROOT}/tracking.json",
    log:
        f"{LOGS}/init_tracking.log",
    benchmark:
        f"{LOGS}/benchmarks/init_tracking.tsv"
    conda:
        "../../environment.yml"
    params:
        code=store_code(),
        uri=TRACKING_URI,
        experiment=EXPERIMENT,
        artifacts=ARTIFACTS,
    script:
        "../scripts/init_tracking.py"
