"""Every path the workflow writes or reads, in one place: the rules and the package both ask here.

Given values, each function returns a file's path relative to the workflow's working directory;
given Snakemake's wildcards as text ("{scale}", "{run_id}") it returns the rule's pattern, so a
rule's output and the paths other rules and the package compute for it cannot drift apart.
"""

from __future__ import annotations

RESULTS = "results"
RESOURCES = "resources"
# The files of a run's folder that the workflow reads (trainers write them there).
METRICS = "metrics.json"
HISTORY = "history.csv"


def scale_dir(scale: str) -> str:
    return f"{RESULTS}/{scale}"


# ---- runs, packs and their checkpoints ----

def runs_root(scale: str) -> str:
    return f"{RESULTS}/{scale}/runs"


def run_dir(scale: str, run_id: str) -> str:
    return f"{runs_root(scale)}/{run_id}"


def metrics(scale: str, run_id: str) -> str:
    return f"{run_dir(scale, run_id)}/{METRICS}"


def history(scale: str, run_id: str) -> str:
    return f"{run_dir(scale, run_id)}/{HISTORY}"


def checkpoints_root(scale: str) -> str:
    """Checkpoints live outside the runs' declared outputs: Snakemake's clean-up of an interrupted
    job keeps them, and the rerun resumes. Snapshots sit beside them (training.checkpoint)."""
    return f"{RESULTS}/{scale}/checkpoints"


def checkpoint_name(run_id: str) -> str:
    return f"{run_id}.pt"


def checkpoint(scale: str, run_id: str) -> str:
    return f"{checkpoints_root(scale)}/{checkpoint_name(run_id)}"


def pack_record(scale: str, pack_id: str) -> str:
    return f"{RESULTS}/{scale}/packs/{pack_id}.json"


# ---- what runs train on and what is measured of them ----

def view(scale: str, view_id: str) -> str:
    return f"{RESULTS}/{scale}/views/{view_id}.npz"


def view_summary(scale: str, view_id: str) -> str:
    return f"{RESULTS}/{scale}/views/{view_id}.json"


def vectors(scale: str, vectors_id: str) -> str:
    return f"{RESULTS}/{scale}/vectors/{vectors_id}.npy"


def vectors_meta(scale: str, vectors_id: str) -> str:
    return f"{RESULTS}/{scale}/vectors/{vectors_id}.json"


def cover(scale: str, cluster_id: str) -> str:
    return f"{RESULTS}/{scale}/clusters/{cluster_id}.npz"


def cover_meta(scale: str, cluster_id: str) -> str:
    return f"{RESULTS}/{scale}/clusters/{cluster_id}.json"


def evals_root(scale: str) -> str:
    return f"{RESULTS}/{scale}/evals"


def evaluation(scale: str, eval_id: str) -> str:
    return f"{evals_root(scale)}/{eval_id}.json"


# ---- what a reader sees ----

def paper_dir(scale: str, paper: str) -> str:
    return f"{RESULTS}/{scale}/{paper}"


def group_csv(scale: str, paper: str, group: str) -> str:
    return f"{paper_dir(scale, paper)}/groups/{group}.csv"


def target_file(scale: str, paper: str, name: str, ext: str) -> str:
    """A target's file: name is a target, comparison or claims; ext starts with a dot."""
    return f"{paper_dir(scale, paper)}/{name}{ext}"


def index(scale: str) -> str:
    return f"{RESULTS}/{scale}/index.md"


def log(scale: str, stage: str, name: str) -> str:
    """The log of one job of a stage (train, evaluate, collect, targets, ...) at a scale."""
    return f"{RESULTS}/{scale}/logs/{stage}/{name}.log"


# ---- data, shared by every scale ----

def download_manifest(dataset: str) -> str:
    return f"{RESOURCES}/downloads/{dataset}.json"


def resource_log(stage: str, dataset: str) -> str:
    return f"{RESOURCES}/logs/{stage}/{dataset}.log"


def prepared(folder: str, dataset: str) -> str:
    """The prepared .npz of a dataset in config's data.prepared folder (resources/prepared by default)."""
    return f"{folder}/{dataset}.npz"
