# The run registry and path helpers shared by every rule file (Snakefile loads and checks the config).
import functools
import json
import sys
from pathlib import Path

from robustrepro import clusterings
from robustrepro import config as rr_config
from robustrepro import packs as rr_packs
from robustrepro import plan as rr_plan
from robustrepro.data.registry import DATASETS
from robustrepro.errors import UserError
from robustrepro.jobenv import expose_package, visible_gpus
from robustrepro.papers import all_papers
from robustrepro.papers.spec import TARGET_NAMES
from robustrepro.runs import view_id, view_spec
from robustrepro.scales import SCALES

expose_package(f"{workflow.basedir}/src")
PREPARED = config["data"].get("prepared", "resources/prepared")

# data.prepared may be a folder of the user's: before Snakemake deletes a prepare job's old
# outputs, stop if a file there is not the harness's, and move aside a truncated one of its
# own so that it is rebuilt. A stat and a small JSON per dataset: this runs for every job.
from robustrepro.data import prepared as rr_prepared

for _dataset in DATASETS:
    try:
        _note = rr_prepared.vet_prepared(f"{PREPARED}/{_dataset}.npz")
    except UserError as err:
        sys.exit(f"robustrepro: {err}")
    if _note:
        print(f"robustrepro: {_note}", file=sys.stderr)

SEEDS = rr_config.seeds(config)

# robustrepro's papers and those of the modules in config key paper_modules (a lab's own specs);
# every command that reads a paper is told those modules too (PAPER_MODULE_ARGS).
PAPER_MODULES = list(config.get("paper_modules") or [])
PAPER_MODULE_ARGS = [arg for name in PAPER_MODULES for arg in ("--paper-module", name)]
try:
    PAPERS = {paper.slug: paper for paper in all_papers(PAPER_MODULES)}
    for _paper in PAPERS.values():
        _paper.validate()
except UserError as err:
    sys.exit(f"robustrepro: {err}")

# Every run of every paper at every scale, by id: run ids hash the resolved config, so a
# run that several targets (or papers) need is trained once. Building this imports no torch.
RUNS = {
    scale: {row["run_id"]: row["run"] for paper in PAPERS.values() for row in paper.runs(scale, SEEDS)}
    for scale in SCALES
}


@functools.cache
def seed0_runs(scale):
    return {row["run_id"]: row["run"] for paper in PAPERS.values() for row in paper.runs(scale, [0])}



def _clustering_files():
    """Every set cover a run trains on and the vectors it clusters, by id (see robustrepro.clusterings)."""
    vectors, clusters = {}, {}
    for scale, runs in RUNS.items():
        for rid, run in list(runs.items()):
            spec = run.get("clustering")
            if not spec:
                continue
            clusterings.check(spec)
            source = runs.get(spec["source"]) or seed0_runs(scale).get(spec["source"])
            if source is not None and spec["source"] not in runs:
                # A source run of a seed that is not configured (e.g. the seed-0 pretrained run
                # when seeds=[1,2]) is still trained: every seed's set cover comes from it.
                runs[spec["source"]] = source
            if source is None:
                raise UserError(f"clustering.source of run {rid}: {spec['source']} is no run at scale {scale}; "
                                "name a run of one of the paper's groups at the same scale")
            missing = clusterings.missing_snapshots(spec, source)
            if missing:
                raise UserError(f"clustering.checkpoints of run {rid}: source run {spec['source']} keeps no "
                                f"snapshot of epochs {missing}; add them to its `snapshots`")
            view = view_id(run)
            vid, cid = clusterings.vectors_id(spec, view), clusterings.cluster_id(spec, view)
            vectors[vid] = {"scale": scale, "spec": spec, "view": view, "dataset": run["dataset"]}
            clusters[cid] = {"scale": scale, "spec": spec, "vectors": vid}
    return vectors, clusters


def stop(message):
    """End the workflow with one line. From an input function too: Snakemake prints the line as
    it is while it builds the DAG, before any job has started, so no finished work is lost."""
    sys.exit(f"robustrepro: {message}")


def one_line_errors(func):
    """An input function whose UserError (a bad target path) ends the workflow with one line."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            stop(err)

    return wrapped


try:
    VECTORS, CLUSTERS = _clustering_files()
except UserError as err:
    stop(err)
VIEWS = {view_id(run): view_spec(run) for runs in RUNS.values() for run in runs.values()}


def _evaluations():
    """Every evaluation of every paper at every scale, by id: {scale: {eval id: {run_id, spec, name}}}.
    Evaluation ids hash the run id and the spec, so one that several groups ask for runs once."""
    return {
        scale: {row["eval_id"]: {"run_id": row["run_id"], "spec": row["spec"], "name": row["name"]}
                for paper in PAPERS.values() for row in paper.evaluations(scale, SEEDS)}
        for scale in SCALES
    }


try:
    EVALS = _evaluations()
except UserError as err:
    stop(err)


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


def _choices(names):
    return ", ".join(sorted(names))


def lookup_scale(wildcards):
    if wildcards.scale not in SCALES:
        raise UserError(f"results/{wildcards.scale}: unknown scale '{wildcards.scale}'; scales: {', '.join(SCALES)}")
    return wildcards.scale


def lookup_paper(wildcards):
    lookup_scale(wildcards)
    if wildcards.paper not in PAPERS:
        raise UserError(f"results/{wildcards.scale}/{wildcards.paper}: '{wildcards.paper}' is no paper; "
                        f"papers: {_choices(PAPERS)}")
    return PAPERS[wildcards.paper]


def lookup_target(wildcards, kind):
    paper = lookup_paper(wildcards)
    targets = [t for t in paper.targets if t.kind == kind]
    target = next((t for t in targets if t.name == wildcards.target), None)
    if target is None:
        listed = "; ".join(f"{t.name} ({' '.join(t.outputs())})" for t in paper.targets)
        raise UserError(f"{paper.slug} has no {kind} '{wildcards.target}'; its targets: {listed}; "
                        "and comparison (.tex .csv), claims (.csv .tex)")
    return target


def lookup_group(wildcards):
    paper = lookup_paper(wildcards)
    names = [g.name for g in paper.groups]
    if wildcards.group not in names:
        raise UserError(f"{paper.slug} has no run group '{wildcards.group}'; its groups: {_choices(names)}")
    return paper.group(wildcards.group)


def lookup_run(wildcards):
    try:
        return RUNS[lookup_scale(wildcards)][wildcards.run_id]
    except KeyError:
        raise UserError(
            f"unknown run '{wildcards.run_id}' at scale {wildcards.scale}; "
            "no run group defines it (a run's id changes with its config: build a target, not an old run path)"
        ) from None


def _lookup(table, kind, key, scale):
    if key not in table or table[key].get("scale", scale) != scale:
        raise UserError(f"unknown {kind} '{key}' at scale {scale}: no run of any paper uses it "
                        f"(its id changes with its config: build a target, not an old path)")
    return table[key]


def lookup_view(wildcards):
    lookup_scale(wildcards)
    if wildcards.view_id not in VIEWS:
        raise UserError(f"unknown view '{wildcards.view_id}': no run of any paper trains on it "
                        "(its id changes with its config: build a target, not an old path)")
    return VIEWS[wildcards.view_id]


def lookup_vectors(wildcards):
    return _lookup(VECTORS, "vectors", wildcards.vectors_id, lookup_scale(wildcards))


def lookup_eval(wildcards):
    scale = lookup_scale(wildcards)
    if wildcards.eval_id not in EVALS[scale]:
        raise UserError(f"unknown evaluation '{wildcards.eval_id}' at scale {scale}: no run group of any paper "
                        "declares it (its id changes with its run and spec: build a target, not an old path)")
    return EVALS[scale][wildcards.eval_id]


def evaluated_run(wildcards):
    """The run an evaluation measures: its id and resolved config."""
    rid = lookup_eval(wildcards)["run_id"]
    return rid, RUNS[wildcards.scale][rid]


def evaluate_inputs(wildcards):
    rid, run = evaluated_run(wildcards)
    # A finished run's metrics.json stands for its snapshots, which sit beside its checkpoint
    # outside the declared outputs (see train.smk).
    return {
        "metrics": metrics_path(wildcards.scale, rid),
        "data": prepared_path(run["dataset"]),
        "view": f"results/{wildcards.scale}/views/{view_id(run)}.npz",
    }


def extract_inputs(wildcards):
    vectors = lookup_vectors(wildcards)
    return {
        "source": metrics_path(wildcards.scale, vectors["spec"]["source"]),
        "data": prepared_path(vectors["dataset"]),
        "view": f"results/{wildcards.scale}/views/{vectors['view']}.npz",
    }


def lookup_cluster(wildcards):
    return _lookup(CLUSTERS, "set cover", wildcards.cluster_id, lookup_scale(wildcards))


@one_line_errors
def clustering_of(wildcards):
    """The set cover a run's sampler reads, if its config has a `clustering`."""
    run = lookup_run(wildcards)
    if not run.get("clustering"):
        return []
    return f"results/{wildcards.scale}/clusters/{clusterings.cluster_id(run['clustering'], view_id(run))}.npz"


def prepared_path(dataset):
    return f"{PREPARED}/{dataset}.npz"


@functools.cache
def packs_at(scale):
    """pack id -> its run ids, and run id -> its pack id: the runs of a grid point that differ only in
    seed and lr train in one job, side by side (robustrepro.packs; rules/train.smk's train_pack).
    With `pack: auto`, only where the runs train on CUDA: on a CPU a pack's runs train in turn in one
    process (their steps gain nothing side by side there), which saves start-ups but serialises what
    separate jobs would run at once on several cores. `pack: false`: every run is a job of its own."""
    wanted = config.get("pack", "auto")
    packs = rr_packs.packs(RUNS[scale]) if wanted is True or (wanted == "auto" and device_kind() == "cuda") else {}
    return packs, {rid: pid for pid, members in packs.items() for rid in members}


def pack_path(scale, pid):
    return f"results/{scale}/packs/{pid}.json"


def lookup_pack(wildcards):
    """The resolved runs of a pack, in its order."""
    packs, _ = packs_at(lookup_scale(wildcards))
    if wildcards.pack_id not in packs:
        raise UserError(f"unknown pack '{wildcards.pack_id}' at scale {wildcards.scale}: no runs of any paper "
                        "make it up (its id changes with its runs: build a target, not an old path)")
    return [RUNS[wildcards.scale][rid] for rid in packs[wildcards.pack_id]]


def metrics_path(scale, rid):
    """What stands for a finished run: its metrics.json, or the record of the pack that trains it."""
    pid = packs_at(scale)[1].get(rid)
    return pack_path(scale, pid) if pid else f"results/{scale}/runs/{rid}/metrics.json"


# ---- what `all` builds: every target whose data can be had (robustrepro.plan) ----


@functools.cache
def data_availability(scale):
    """Each dataset the runs at `scale` train on, with whether it can be had (probes a download URL once)."""
    names = sorted({run["dataset"] for run in RUNS[scale].values()})
    return {name: rr_plan.availability(DATASETS[name], config["data"], PREPARED) for name in names}


def group_datasets(scale, paper, group):
    return sorted({row["run"]["dataset"] for row in paper.runs(scale, SEEDS) if row["group"] == group})


@functools.cache
def buildable_groups(scale, slug):
    """The run groups of a paper whose datasets can all be had, and why each other one cannot."""
    paper, found = PAPERS[slug], data_availability(scale)
    ready, missing = [], {}
    for group in paper.groups:
        absent = [d for d in group_datasets(scale, paper, group.name) if not found[d].ok]
        if absent:
            missing[group.name] = "; ".join(f"needs {d}: {found[d].how}; to get it: {found[d].fix}" for d in absent)
        else:
            ready.append(group.name)
    return tuple(ready), missing


def skipped_targets(scale, slug):
    """Targets of a paper left out of `all` (and of the index's inputs), with why."""
    ready, missing = buildable_groups(scale, slug)
    needs = {t.name: [*t.groups, *([t.images] if t.images else [])] for t in PAPERS[slug].targets}
    return {name: next(missing[g] for g in groups if g in missing)
            for name, groups in needs.items() if not set(groups) <= set(ready)}


def paper_outputs(scale, paper):
    """Every file of a paper at a scale that can be built here: its targets whose data can be had,
    and its comparison and claims (over the groups that can be built; the rest show as not run)."""
    skipped = skipped_targets(scale, paper.slug)
    out = [f"results/{scale}/{paper.slug}/{t.name}{ext}" for t in paper.targets if t.name not in skipped
           for ext in t.outputs()]
    return out + [f"results/{scale}/{paper.slug}/{name}" for name in ("comparison.tex", "comparison.csv", "claims.csv")]


def device_kind():
    if config["device"] == "auto":
        return "cuda" if visible_gpus() else "cpu"
    return config["device"]


def build_plan(scale):
    """The plan `all` prints before anything runs (robustrepro.plan.format_plan)."""
    plans, todo = [], []
    for slug, paper in PAPERS.items():
        ready, _ = buildable_groups(scale, slug)
        rows = [r for r in paper.runs(scale, SEEDS) if r["group"] in ready]
        ids = {r["run_id"]: r["run"] for r in rows}
        waiting = {rid: run for rid, run in ids.items() if not Path(metrics_path(scale, rid)).is_file()}
        todo += waiting.values()
        datasets = sorted({r["run"]["dataset"] for r in paper.runs(scale, SEEDS)})
        plans.append(rr_plan.PaperPlan(slug, len(ids), len(waiting), datasets, skipped_targets(scale, slug)))
    device = device_kind()
    factor, basis = rr_plan.calibration(rr_plan.finished_runs("results"), device)
    jobs = max(1, workflow.cores // config["threads"]) if isinstance(workflow.cores, int) else 1
    unique = list({json.dumps(run, sort_keys=True): run for run in todo}.values())
    seconds = rr_plan.estimate_seconds(unique, device, factor, jobs)
    estimate = (f"{rr_plan.describe_seconds(seconds)} for {len(unique)} run(s) on {device} with {jobs} job(s) at once "
                f"({basis})")
    return rr_plan.format_plan(scale, plans, data_availability(scale), estimate)


ANNOUNCED = set()  # scales whose plan was printed: their skipped targets are repeated at the end


@functools.cache
def announce_plan(scale):
    ANNOUNCED.add(scale)
    text = build_plan(scale)
    print(text, file=sys.stderr)
    return text


def remind_skipped():
    """At the end of a build of `all`: the targets left out for missing data, again."""
    for scale in SCALES:
        if scale in ANNOUNCED and all_skipped(scale):
            lines = [f"  {name}: {why}" for name, why in all_skipped(scale).items()]
            print(f"robustrepro: not built at {scale} scale (data missing; see results/{scale}/index.md):",
                  *lines, sep="\n", file=sys.stderr)


def all_skipped(scale):
    return {f"{slug}/{target}": why for slug in PAPERS for target, why in skipped_targets(scale, slug).items()}


@one_line_errors
def default_targets(wildcards):
    scale = config["scale"]
    announce_plan(scale)
    skipped = all_skipped(scale)
    if skipped and config.get("missing_data", "skip") == "fail":
        raise UserError(f"missing_data is 'fail' and {len(skipped)} target(s) need data that cannot be had: "
                        f"{', '.join(skipped)}; see the plan above for the fix, or set missing_data: skip")
    files = [f for paper in PAPERS.values() for f in paper_outputs(scale, paper)]
    return files + [f"results/{scale}/index.md"]


@one_line_errors
def group_run_files(wildcards):
    """metrics.json and history.csv of every run of one group of one paper, and the JSON of each
    of the group's evaluations (the group's CSV carries their numbers)."""
    paper = lookup_paper(wildcards)
    lookup_group(wildcards)
    rows = [r for r in paper.runs(wildcards.scale, SEEDS) if r["group"] == wildcards.group]
    evals = [r for r in paper.evaluations(wildcards.scale, SEEDS) if r["group"] == wildcards.group]
    packed = packs_at(wildcards.scale)[1]
    runs = [f"results/{wildcards.scale}/runs/{r['run_id']}/{name}" for r in rows if r["run_id"] not in packed
            for name in ("metrics.json", "history.csv")]
    packs = sorted({pack_path(wildcards.scale, packed[r["run_id"]]) for r in rows if r["run_id"] in packed})
    return runs + packs + [f"results/{wildcards.scale}/evals/{r['eval_id']}.json" for r in evals]


def target_groups(kind):
    @one_line_errors
    def groups(wildcards):
        target = lookup_target(wildcards, kind)
        return [f"results/{wildcards.scale}/{wildcards.paper}/groups/{g}.csv" for g in target.groups]

    return groups


def target_images(kind):
    """The prepared dataset a target reads images from (Target.images), or none."""
    @one_line_errors
    def images(wildcards):
        target = lookup_target(wildcards, kind)
        dataset = lookup_paper(wildcards).images_dataset(target, wildcards.scale)
        return [] if dataset is None else [prepared_path(dataset)]

    return images


def images_args(kind):
    """`--images <npz>` for the target command of a target that reads images, else nothing."""
    def args(wildcards):
        return [arg for path in target_images(kind)(wildcards) for arg in ("--images", path)]

    return args


@one_line_errors
def paper_groups(wildcards):
    """The group CSVs a paper's comparison reads: those of the groups whose data can be had."""
    paper = lookup_paper(wildcards)
    ready, _ = buildable_groups(wildcards.scale, paper.slug)
    return [f"results/{wildcards.scale}/{paper.slug}/groups/{g}.csv" for g in ready]


def caption_of(wildcards):
    return lookup_paper(wildcards).target(wildcards.target).caption


# Software of every job when run with --use-conda (relative to rules/).
ENV = "../workflow/envs/robustrepro.yaml"


def gpus_per_job():
    # device: cuda asks for a GPU (set it on a cluster); auto asks only where one is visible
    # here, so a CPU-only machine runs jobs side by side. The profile caps the total.
    if config["device"] == "auto":
        return min(1, visible_gpus())
    return int(config["device"] == "cuda")


# Minutes of wall time a training job may take at each scale (cluster schedulers need it).
TRAIN_RUNTIME = {"smoke": 15, "quick": 60, "paper": 24 * 60}
# Minutes an evaluation job may take: an attack costs its iterations in forward and backward passes.
EVAL_RUNTIME = {"smoke": 15, "quick": 60, "paper": 4 * 60}


def fetch_args():
    """The data options of `robustrepro fetch` as a list, so that each item gets quoted (`:q`)."""
    data = config["data"]
    args = ["--root", data["root"]]
    for root in data.get("shared_roots", []):
        args += ["--shared-root", root]
    return args + (["--mirror", data["mirror"]] if data.get("mirror") else [])


def manifest_of(wildcards):
    # Synthetic stand-ins are generated, so they have nothing to download.
    if DATASETS[wildcards.dataset].is_synthetic:
        return []
    return f"resources/downloads/{wildcards.dataset}.json"
