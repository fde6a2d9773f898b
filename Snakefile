# robustrepro: every table and figure of the reproduced papers is a file target.
#   snakemake --cores all all                                  every target at config's scale
#   snakemake --cores all results/smoke/massive-noise/figure1.pdf    one target
#   snakemake --workflow-profile profiles/slurm all   on a SLURM cluster
# A plain `snakemake` here reads profiles/default (local settings: the GPU cap, light jobs in process).
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# Parse with the checkout's own package, the same code its jobs run (rules/common.smk puts it
# on their PYTHONPATH), never another installed copy of robustrepro.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from robustrepro import config as rr_config
from robustrepro.buildlock import hold_build_lock
from robustrepro.errors import UserError

# config.yaml of the working directory (else the project's), under --configfile and --config.
# Loaded here rather than by `configfile:` so that a broken file gets one line naming its line.
DEFAULT_CONFIG = "config.yaml" if Path("config.yaml").is_file() else str(Path(workflow.basedir) / "config.yaml")
try:
    config.update(rr_config.workflow_config(config, DEFAULT_CONFIG))
except UserError as err:
    sys.exit(f"robustrepro: {err}")
if workflow.is_main_process:  # once, not again in each cluster job's own parse
    for line in rr_config.missing_shared_roots(config["data"]):
        print(f"robustrepro: {line}", file=sys.stderr)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/noise.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/features.smk"
include: "rules/clustering.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        default_targets,


onstart:
    # One build per folder (robustrepro.buildlock); a dry run or a lint starts no job and takes no lock.
    if workflow.is_main_process:
        try:
            hold_build_lock()
        except UserError as err:
            sys.exit(f"robustrepro: {err}")


onsuccess:
    remind_skipped()


onerror:
    remind_skipped()
