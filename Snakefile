# robustrepro: every table and figure of the reproduced papers is a file target.
#   snakemake --cores all all                                  every target at config's scale
#   snakemake --cores all results/smoke/massive-noise/figure1.pdf    one target
#   snakemake --workflow-profile workflow/profiles/slurm all   on a SLURM cluster
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/noise.smk"
include: "rules/train.smk"
include: "rules/features.smk"
include: "rules/clustering.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        default_targets,
