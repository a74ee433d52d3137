rule make_dataset:
    output:
        dataset=f"{ROOT}/datasets/{{dataset}}.npz",
    log:
        f"{LOGS}/make_dataset/{{dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/make_dataset/{{dataset}}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("make_dataset.py"),
        spec=lambda w: {
            k: v
            for k, v in RESOLVED["datasets"][w.dataset].items()
            if k in ("generator", "params", "seed")
        },
    script:
        "../scripts/make_dataset.py"
