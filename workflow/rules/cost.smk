rule unit_cost:
    """Seconds per update of one network (R = 1, one thread) under each variant on each
    dataset, all measured side by side in one process: what claim 3's speed in seconds uses.
    """
    input:
        datasets=expand(f"{ROOT}/datasets/{{dataset}}.npz", dataset=DATASETS),
    output:
        cost=f"{ROOT}/unit_cost.csv",
    log:
        f"{LOGS}/unit_cost.log",
    benchmark:
        f"{LOGS}/benchmarks/unit_cost.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("unit_cost.py"),
        spec=cost_spec(),
        dataset_names=DATASETS,  # in the order of input.datasets
    script:
        "../scripts/unit_cost.py"
