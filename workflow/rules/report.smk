REPORTS = "reports" if STUDY == "default" else f"reports/{STUDY}"
TABLES = [
    "outcomes",
    "best_rates",
    "paired",
    "tolerance",
    "minima_levels",
    "claims",
    "claims_by_tolerance",
    "speeds",
    "unit_cost",
    "timings",
    "spurious",
    "escape",
    "distinct_minima",
    "barriers",
]
FIGURES = [
    "global_share",
    "outcome_shares",
    "loss_curves_best_rates",
    "polished_levels",
    "sharpness_accuracy",
    "escape_share",
    "distinct_minima",
    "barriers",
]


rule report:
    """The study's report from the pipeline's own result files: tables, figures, verdicts on
    the claims, as Markdown, HTML and CSV; mirrored into MLflow as a summary run."""
    input:
        outcomes=expand(f"{ROOT}/outcomes/{{dataset}}.csv", dataset=DATASETS),
        results=[f"{run_dir(*k)}/results.npz" for k in JOBS],
        timings=[f"{run_dir(*k)}/timing.json" for k in JOBS],
        cost=f"{ROOT}/unit_cost.csv",
        escape=expand(f"{ROOT}/escape/{{dataset}}.csv", dataset=DATASETS),
        minima=expand(f"{ROOT}/minima/{{dataset}}.csv", dataset=DATASETS),
        barriers=expand(f"{ROOT}/barriers/{{dataset}}.csv", dataset=DATASETS),
        datasets=expand(f"{ROOT}/datasets/{{dataset}}.npz", dataset=DATASETS),
        store=f"{ROOT}/tracking.json",
        # the summary run comes after every job's runs
        tracked=expand(f"{ROOT}/tracking/{{dataset}}.json", dataset=DATASETS),
    output:
        readme=f"{REPORTS}/README.md",
        html=f"{REPORTS}/index.html",
        # the README as one page with its figures, and each table as a page: what the Snakemake
        # report and MLflow's artifact viewer display (neither shows Markdown or CSV inline)
        page=report(
            f"{ROOT}/report/report.html",
            caption="../report/readme.rst",
            category="1. The study's report",
        ),
        tables=[f"{REPORTS}/tables/{name}.csv" for name in TABLES],
        table_pages=[
            report(
                f"{ROOT}/report/tables/{name}.html",
                caption=f"../report/tables/{name}.rst",
                category="3. Tables",
                labels={"table": name},
            )
            for name in TABLES
        ],
        figures=[
            report(
                f"{REPORTS}/figures/{name}.png",
                caption=f"../report/figures/{name}.rst",
                category="2. Figures",
                labels={"figure": name},
            )
            for name in FIGURES
        ]
        + [
            report(
                f"{REPORTS}/figures/landscape_{d}.png",
                caption="../report/landscape.rst",
                category="4. Landscapes",
                labels={"dataset": d},
            )
            for d in DATASETS
        ],
        summary=f"{ROOT}/report_mlflow.json",
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{LOGS}/benchmarks/report.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code("report.py"),
        config=config,
        dataset_names=DATASETS,  # in the order of input.datasets
        jobs=sorted(j["key"] for j in RESOLVED["jobs"]),  # the others' runs are retired
        table_names=TABLES,  # in the order of output.table_pages
    script:
        "../scripts/report.py"
