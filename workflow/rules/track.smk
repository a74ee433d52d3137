rule track:
    """Per dataset, once it is classified: every job mirrored into MLflow in one process (one
    parent run per job with its params, dataset, outcome shares, loss-curves figure and best
    network as a model; one run per seed with its curves, endpoint metrics, outcome tags and
    weights). Writes the run and model ids of every job."""
    input:
        results=lambda w: dataset_runs(w, "results.npz"),
        outcomes=f"{ROOT}/outcomes/{{dataset}}.csv",
        curves=f"{ROOT}/curves/{{dataset}}",
        dataset=f"{ROOT}/datasets/{{dataset}}.npz",
        store=f"{ROOT}/tracking.json",
    output:
        runs=f"{ROOT}/tracking/{{dataset}}.json",
    log:
        f"{LOGS}/track/{{dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/track/{{dataset}}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("track.py"),
        # logged with every job: the classification's tolerances, not only training's
        tolerances=RESOLVED["tolerances"],
    script:
        "../scripts/track.py"
