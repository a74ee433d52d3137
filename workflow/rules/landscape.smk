rule escape:
    """Per dataset: batch GD's stuck endpoints at its best rate, continued under every variant
    at every rate of its grid (batch GD as the control); where each continuation ends.
    """
    input:
        dataset=f"{ROOT}/datasets/{{dataset}}.npz",
        outcomes=f"{ROOT}/outcomes/{{dataset}}.csv",
        results=lambda w: batch_runs(w, "results.npz"),
    output:
        escape=f"{ROOT}/escape/{{dataset}}.csv",
    log:
        f"{LOGS}/escape/{{dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/escape/{{dataset}}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("escape.py"),
        grids=lambda w: dataset_grids(w.dataset),
        settings=lambda w: escape_settings(w.dataset),
    script:
        "../scripts/escape.py"
