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


rule minima:
    """Per dataset: every polished endpoint grouped into distinct minima up to the network's
    symmetries; barriers from the most often found non-global minima to the nearest global one.
    """
    input:
        dataset=f"{ROOT}/datasets/{{dataset}}.npz",
        outcomes=f"{ROOT}/outcomes/{{dataset}}.csv",
        results=lambda w: dataset_runs(w, "results.npz"),
    output:
        minima=f"{ROOT}/minima/{{dataset}}.csv",
        barriers=f"{ROOT}/barriers/{{dataset}}.csv",
    log:
        f"{LOGS}/minima/{{dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/minima/{{dataset}}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("minima.py"),
        settings=RESOLVED["minima"],
        tolerances=RESOLVED["tolerances"],
    script:
        "../scripts/minima.py"
