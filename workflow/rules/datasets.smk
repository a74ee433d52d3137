rule make_dataset:
    input:
        # a file dataset's data file; its digest is a param (spec): a changed file reruns the
        # dataset and what depends on it, one only touched reruns nothing (ancient)
        source=lambda w: (
            [ancient(RESOLVED["datasets"][w.dataset]["params"]["path"])]
            if RESOLVED["datasets"][w.dataset]["generator"] == "file"
            else []
        ),
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
            if k in ("generator", "params", "seed", "source_sha256")
        },
    script:
        "../scripts/make_dataset.py"
