# Configuration check, the run registry and path helpers shared by every rule file.
import json
import sys

from robustrepro import clusterings
from robustrepro import config as rr_config
from robustrepro.data.registry import DATASETS
from robustrepro.errors import UserError
from robustrepro.jobenv import expose_package, visible_gpus
from robustrepro.papers import all_papers
from robustrepro.runs import view_id, view_spec
from robustrepro.scales import SCALES

try:
    rr_config.validate(config)
except UserError as err:
    # One line naming the key and what is allowed, instead of a traceback.
    sys.exit(f"robustrepro: {err}")

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

PAPERS = {paper.slug: paper for paper in all_papers()}

# Every run of every paper at every scale, by id: run ids hash the resolved config, so a
# run that several targets (or papers) need is trained once. Building this imports no torch.
RUNS = {
    scale: {row["run_id"]: row["run"] for paper in PAPERS.values() for row in paper.runs(scale, SEEDS)}
    for scale in SCALES
}
VIEWS = {view_id(run): view_spec(run) for runs in RUNS.values() for run in runs.values()}


def _clustering_files():
    """Every set cover a run trains on and the vectors it clusters, by id (see robustrepro.clusterings)."""
    vectors, clusters = {}, {}
    for scale, runs in RUNS.items():
        for rid, run in runs.items():
            spec = run.get("clustering")
            if not spec:
                continue
            clusterings.check(spec)
            source = runs.get(spec["source"])
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


try:
    VECTORS, CLUSTERS = _clustering_files()
except UserError as err:
    sys.exit(f"robustrepro: {err}")


wildcard_constraints:
    scale="|".join(SCALES),
    dataset="|".join(DATASETS),
    run_id=r"[a-z0-9.\-]+",
    view_id=r"[a-z0-9.\-]+",
    paper="|".join(PAPERS),
    group=r"[a-z0-9\-]+",
    vectors_id=r"[a-z0-9.\-]+",
    cluster_id=r"[a-z0-9.\-]+",


def lookup_run(wildcards):
    try:
        return RUNS[wildcards.scale][wildcards.run_id]
    except KeyError:
        raise UserError(
            f"unknown run '{wildcards.run_id}' at scale {wildcards.scale}; "
            "no run group defines it (a run's id changes with its config: build a target, not an old run path)"
        ) from None


def clustering_of(wildcards):
    """The set cover a run's sampler reads, if its config has a `clustering`."""
    run = lookup_run(wildcards)
    if not run.get("clustering"):
        return []
    return f"results/{wildcards.scale}/clusters/{clusterings.cluster_id(run['clustering'], view_id(run))}.npz"


def prepared_path(dataset):
    return f"{PREPARED}/{dataset}.npz"


def metrics_path(scale, rid):
    return f"results/{scale}/runs/{rid}/metrics.json"


def paper_outputs(scale, paper):
    """Every file a paper's targets and comparison write at a scale."""
    out = [f"results/{scale}/{paper.slug}/{t.name}{ext}" for t in paper.targets for ext in t.outputs()]
    return out + [f"results/{scale}/{paper.slug}/{name}" for name in ("comparison.tex", "comparison.csv", "claims.csv")]


def default_targets(wildcards):
    scale = config["scale"]
    files = [f for paper in PAPERS.values() for f in paper_outputs(scale, paper)]
    return files + [f"results/{scale}/index.md"]


def group_run_files(wildcards):
    """metrics.json and history.csv of every run of one group of one paper."""
    paper = PAPERS[wildcards.paper]
    rows = [r for r in paper.runs(wildcards.scale, SEEDS) if r["group"] == wildcards.group]
    return [f"results/{wildcards.scale}/runs/{r['run_id']}/{name}" for r in rows for name in ("metrics.json", "history.csv")]


def target_groups(wildcards):
    target = PAPERS[wildcards.paper].target(wildcards.target)
    return [f"results/{wildcards.scale}/{wildcards.paper}/groups/{g}.csv" for g in target.groups]


def paper_groups(wildcards):
    paper = PAPERS[wildcards.paper]
    return [f"results/{wildcards.scale}/{paper.slug}/groups/{g.name}.csv" for g in paper.groups]


def caption_of(wildcards):
    return PAPERS[wildcards.paper].target(wildcards.target).caption


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


def fetch_args():
    data = config["data"]
    shared = " ".join(f"--shared-root {r}" for r in data.get("shared_roots", []))
    mirror = f"--mirror {data['mirror']}" if data.get("mirror") else ""
    return f"--root {data['root']} {shared} {mirror}"


def manifest_of(wildcards):
    # Synthetic stand-ins are generated, so they have nothing to download.
    if DATASETS[wildcards.dataset].is_synthetic:
        return []
    return f"resources/downloads/{wildcards.dataset}.json"
