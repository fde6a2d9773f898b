# Glue between the rules and the package: the pipeline of the configured papers (robustrepro.pipeline),
# its lookups as input functions, and what `all` builds (robustrepro.plan). Paths: robustrepro.paths.
import functools
import json
import sys

from robustrepro import paths
from robustrepro import plan as rr_plan
from robustrepro.clusterings import cluster_id
from robustrepro.data import prepared as rr_prepared
from robustrepro.data.registry import DATASETS
from robustrepro.errors import UserError
from robustrepro.inprocess import in_process
from robustrepro.jobenv import device_kind, expose_package, expose_settings, gpus_per_job, recipe_flags
from robustrepro.papers import all_papers
from robustrepro.papers.spec import TARGET_NAMES
from robustrepro.provenance import JOBS, job_code
from robustrepro.pipeline import from_config as pipeline_from_config
from robustrepro.report import jobs as light_jobs
from robustrepro.runs import view_id

expose_package(f"{workflow.basedir}/src")
PREPARED = config["data"].get("prepared", "resources/prepared")

# data.prepared may be a folder of the user's: stop before any job if a file there is not the
# harness's (a build would replace it) or holds another dataset. A stat and a small read per dataset.
try:
    for _dataset in DATASETS:
        rr_prepared.check_prepared(paths.prepared(PREPARED, _dataset), _dataset)
except UserError as err:
    sys.exit(f"robustrepro: {err}")


def stop(message):
    """End the workflow with one line. From an input function too: Snakemake prints the line as
    it is while it builds the DAG, before any job has started, so no finished work is lost."""
    sys.exit(f"robustrepro: {message}")


# robustrepro's papers and those of the modules in config key paper_modules (a lab's own specs).
# Parsing checks each spec at the configured scale and expands that scale's runs only.
try:
    PIPELINE = pipeline_from_config(config, all_papers(config.get("paper_modules") or []))
except UserError as err:
    stop(err)
PAPERS = PIPELINE.papers


def one_line_errors(func):
    """An input function whose UserError (a bad target path) ends the workflow with one line."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            stop(err)

    return wrapped


# Scales and papers match any slug, so that a mistyped one reaches the input functions below and
# gets a message naming the choices, rather than Snakemake's "no rule to produce".
wildcard_constraints:
    scale=r"[a-z0-9\-]+",
    dataset="|".join(DATASETS),
    run_id=r"[a-z0-9.\-]+",
    view_id=r"[a-z0-9.\-]+",
    paper=r"[a-z0-9\-]+",
    group=r"[a-z0-9\-]+",
    vectors_id=r"[a-z0-9.\-]+",
    cluster_id=r"[a-z0-9.\-]+",
    eval_id=r"[a-z0-9.\-]+",


def prepared_path(dataset):
    return paths.prepared(PREPARED, dataset)


@one_line_errors
def run_inputs(wildcards):
    run = PIPELINE.run(wildcards.scale, wildcards.run_id)
    cover = run.get("clustering")
    return {"data": prepared_path(run["dataset"]), "view": paths.view(wildcards.scale, view_id(run)),
            "clustering": [paths.cover(wildcards.scale, cluster_id(cover, view_id(run)))] if cover else []}


@one_line_errors
def pack_inputs(wildcards):
    first = PIPELINE.pack(wildcards.scale, wildcards.pack_id)[0]
    return {"data": prepared_path(first["dataset"]), "view": paths.view(wildcards.scale, view_id(first))}


@one_line_errors
def evaluate_inputs(wildcards):
    rid = PIPELINE.evaluation(wildcards.scale, wildcards.eval_id)["run_id"]
    run = PIPELINE.run(wildcards.scale, rid)
    # A finished run's record stands for its snapshots, which sit beside its checkpoint outside the
    # declared outputs (see train.smk).
    return {"metrics": PIPELINE.finished_file(wildcards.scale, rid), "data": prepared_path(run["dataset"]),
            "view": paths.view(wildcards.scale, view_id(run))}


@one_line_errors
def extract_inputs(wildcards):
    vectors = PIPELINE.vectors(wildcards.scale, wildcards.vectors_id)
    return {"source": PIPELINE.finished_file(wildcards.scale, vectors["spec"]["source"]),
            "data": prepared_path(vectors["dataset"]), "view": paths.view(wildcards.scale, vectors["view"])}


@one_line_errors
def group_run_files(wildcards):
    return PIPELINE.group_files(wildcards.scale, wildcards.paper, wildcards.group)


def target_inputs(kind):
    """The group CSVs a table or figure reads and, for a target that shows images, its prepared dataset."""
    @one_line_errors
    def inputs(wildcards):
        target = PIPELINE.target(wildcards.scale, wildcards.paper, kind, wildcards.target)
        dataset = PAPERS[wildcards.paper].images_dataset(target, wildcards.scale)
        return {"groups": [paths.group_csv(wildcards.scale, wildcards.paper, g) for g in target.groups],
                "images": [] if dataset is None else [prepared_path(dataset)]}

    return inputs


def caption_of(wildcards):
    return PAPERS[wildcards.paper].target(wildcards.target).caption


# ---- what `all` builds: every target whose data can be had (robustrepro.plan) ----


@functools.cache
def all_targets(scale):
    """The plan of `all` at a scale; a build (not a dry run) probes a missing dataset's URL once."""
    PIPELINE.scale(scale)
    return rr_plan.AllTargets(PIPELINE, scale, config["data"], PREPARED, workflow.dryrun)


@one_line_errors
def paper_groups(wildcards):
    """The group CSVs a paper's comparison reads: those of the groups whose data can be had."""
    PIPELINE.paper(wildcards.scale, wildcards.paper)
    ready, _ = all_targets(wildcards.scale).groups(wildcards.paper)
    return [paths.group_csv(wildcards.scale, wildcards.paper, g) for g in ready]


ANNOUNCED = set()  # scales whose plan was printed: their skipped targets are repeated at the end


@one_line_errors
def default_targets(wildcards):
    scale = config["scale"]
    plan = all_targets(scale)
    if scale not in ANNOUNCED:
        ANNOUNCED.add(scale)
        jobs = max(1, workflow.cores // config["threads"]) if isinstance(workflow.cores, int) else 1
        print(plan.text(jobs), file=sys.stderr)
    skipped = plan.all_skipped()
    if skipped and config.get("missing_data", "skip") == "fail":
        raise UserError(f"missing_data is 'fail' and {len(skipped)} target(s) need data that cannot be had: "
                        f"{', '.join(skipped)}; see the plan above for the fix, or set missing_data: skip")
    return plan.files() + [paths.index(scale)]


def remind_skipped():
    """At the end of a build of `all`: the targets left out for missing data, again."""
    for scale in ANNOUNCED:
        if skipped := all_targets(scale).all_skipped():
            lines = [f"  {name}: {why}" for name, why in skipped.items()]
            print(f"robustrepro: not built at {scale} scale (data missing; see {paths.index(scale)}):",
                  *lines, sep="\n", file=sys.stderr)


# Software of every shell job under --use-conda (relative to rules/); light rules run in Snakemake's own.
ENV = "../workflow/envs/robustrepro.yaml"
# Job settings as params, whose change reruns a finished job (the code it runs, the device it resolves
# to), and in the jobs' environment, whose change cannot alter a number and reruns nothing.
JOB_CODE, DEVICE_KIND = {kind: (lambda wildcards, kind=kind: job_code(kind)) for kind in JOBS}, device_kind(config["device"])
expose_settings(config["device"], config.get("progress", True))
# Minutes of wall time a job may take at each scale (cluster schedulers need it): training, and
# evaluation (an attack costs its iterations in forward and backward passes).
TRAIN_RUNTIME, EVAL_RUNTIME = {"smoke": 15, "quick": 60, "paper": 24 * 60}, {"smoke": 15, "quick": 60, "paper": 4 * 60}


def prepare_inputs(wildcards):
    """The download manifest a prepare job reads (none for a synthetic stand-in, which is generated).

    Before a build may replace a prepared file, a truncated or outdated one of the harness's own is
    moved aside so that it is rebuilt (robustrepro.data.prepared.vet_prepared). A dry run changes no file."""
    if not workflow.dryrun:
        try:
            if note := rr_prepared.vet_prepared(prepared_path(wildcards.dataset), wildcards.dataset):
                print(f"robustrepro: {note}", file=sys.stderr)
        except UserError as err:
            stop(err)
    return [] if DATASETS[wildcards.dataset].is_synthetic else paths.download_manifest(wildcards.dataset)
