# Configuration check, the run registry and path helpers shared by every rule file.
import json
import sys

from robustrepro import baseline
from robustrepro import config as rr_config
from robustrepro.data.registry import DATASETS
from robustrepro.errors import UserError
from robustrepro.jobenv import expose_package
from robustrepro.runs import view_id, view_spec
from robustrepro.scales import SCALES

try:
    rr_config.validate(config)
except UserError as err:
    # One line naming the key and what is allowed, instead of a traceback.
    sys.exit(f"robustrepro: {err}")

expose_package(f"{workflow.basedir}/src")
PREPARED = config["data"].get("prepared", "resources/prepared")
SEEDS = rr_config.seeds(config)

# Every run of every scale, by id: run ids hash the resolved config, so a run that
# several targets need is trained once. Building this imports no torch.
RUNS = {scale: baseline.runs(scale, SEEDS) for scale in SCALES}
VIEWS = {view_id(run): view_spec(run) for runs in RUNS.values() for run in runs.values()}


wildcard_constraints:
    scale="|".join(SCALES),
    dataset="|".join(DATASETS),
    run_id=r"[a-z0-9.\-]+",
    view_id=r"[a-z0-9.\-]+",


def lookup_run(wildcards):
    try:
        return RUNS[wildcards.scale][wildcards.run_id]
    except KeyError:
        raise UserError(
            f"unknown run '{wildcards.run_id}' at scale {wildcards.scale}; "
            "no run group defines it (a run's id changes with its config: build a target, not an old run path)"
        ) from None


def prepared_path(dataset):
    return f"{PREPARED}/{dataset}.npz"


def metrics_path(scale, rid):
    return f"results/{scale}/runs/{rid}/metrics.json"


def default_targets(wildcards):
    scale = config["scale"]
    return [metrics_path(scale, rid) for rid in RUNS[scale]]


# Software of every job when run with --use-conda (relative to rules/).
ENV = "../workflow/envs/robustrepro.yaml"


def gpus_per_job():
    # A job asks for a GPU unless the config pins the CPU; the profile caps the total.
    return 0 if config["device"] == "cpu" else 1


# Minutes of wall time a training job may take at each scale (cluster schedulers need it).
TRAIN_RUNTIME = {"smoke": 15, "quick": 120, "paper": 24 * 60}


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
