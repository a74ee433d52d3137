# Where does gradient descent end up? The study's workflow.
#   snakemake --cores all                                # the default study (config/config.yaml)
#   snakemake --cores all --configfile config/smoke.yaml # the trimmed grid
from snakemake.utils import min_version

min_version("9.0")


# The default study, unless --configfile names another: Snakemake would merge the two, and a
# trimmed grid must not inherit the default study's datasets.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/track.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/landscape.smk"
include: "workflow/rules/report.smk"


# Every file of the study is a target, not only the report: Snakemake then regenerates a
# deleted intermediate file (a dataset, a result, an outcomes table, a tracking record), and what
# depends on it, even when the files after it are up to date (gdbasins/preflight.py: the store).
rule all:
    default_target: True
    input:
        rules.report.output,
        rules.report.input,
        expand(f"{ROOT}/curves/{{dataset}}", dataset=DATASETS),


# The report's first page in `snakemake --report`: what the study is and where to look.
report: "workflow/report/workflow.rst"


# The console: the study's estimated time at the start, where the results are at the end.
onstart:
    logger.info(cost.estimate_line(RESOLVED, CORES, STUDY))


onsuccess:
    if line := browse.done_line(f"{REPORTS}/README.md", f"{ROOT}/tracking.json"):
        logger.info(line)
