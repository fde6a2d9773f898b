"""A run's `clustering` key: which vectors of which run to cluster by set cover, and how finely.

    {"source": "<run id>",            # a run of the same scale whose model snapshots give the vectors
     "space": "features",             # features | grad_fc | grad_softmax (robustrepro.selection.vectors)
     "checkpoints": ["final"],        # snapshots to concatenate: "final", "best" or epochs the source keeps
     "radius": 1.5}                   # the ball radius, or instead
     "share": 0.86}                   # the cluster count as a share of the points (radius found by bisection)

The workflow extracts the vectors over the training view of the run being trained (its
labels, its subset), clusters them and hands the file to the run's sampler. Vectors and
clusters are files named by a hash of what defines them, so runs that cluster alike share them.
Imports nothing heavy: the workflow reads it when it parses the rules.
"""

from __future__ import annotations

from numbers import Real

from robustrepro.errors import UserError, unknown_choice
from robustrepro.runs import config_hash

SPACES = ("features", "grad_fc", "grad_softmax")
KEYS = ("source", "space", "checkpoints", "radius", "share")


def check(spec: dict) -> dict:
    """The spec as given, after checking every key; raises a UserError naming the bad one."""
    if not isinstance(spec, dict):
        raise UserError(f"clustering: a mapping with {', '.join(KEYS)}; got {spec!r}")
    unknown = set(spec) - set(KEYS)
    if unknown:
        raise UserError(f"clustering.{sorted(unknown)[0]}: unknown key; known keys: {', '.join(KEYS)}")
    if not isinstance(spec.get("source"), str):
        raise UserError("clustering.source: the id of the run whose snapshots give the vectors")
    if spec.get("space") not in SPACES:
        raise unknown_choice("clustering.space", spec.get("space"), SPACES)
    points = spec.get("checkpoints")
    if not isinstance(points, (list, tuple)) or not points or not all(
            p in ("final", "best") or (isinstance(p, int) and not isinstance(p, bool) and p >= 1) for p in points):
        raise UserError(f"clustering.checkpoints: a non-empty list of 'final', 'best' or epochs (>= 1) the "
                        f"source run keeps as snapshots; got {points!r}")
    if ("radius" in spec) == ("share" in spec):
        raise UserError("clustering.radius / clustering.share: give exactly one: the ball radius, or the "
                        "number of clusters as a share of the points")
    value = spec.get("radius", spec.get("share"))
    if isinstance(value, bool) or not isinstance(value, Real) or value < 0 or ("share" in spec and not 0 < value <= 1):
        raise UserError(f"clustering.{'radius' if 'radius' in spec else 'share'}: a radius >= 0 or a share in "
                        f"(0, 1]; got {value!r}")
    return spec


def vectors_spec(spec: dict, view: str) -> dict:
    """What the extracted vectors depend on: the source, the space, the checkpoints and the view."""
    return {"source": spec["source"], "space": spec["space"], "checkpoints": list(spec["checkpoints"]), "view": view}


def vectors_id(spec: dict, view: str) -> str:
    return f"{spec['space'].replace('_', '-')}-{config_hash(vectors_spec(spec, view))}"


def cluster_id(spec: dict, view: str) -> str:
    fineness = {k: spec[k] for k in ("radius", "share") if k in spec}
    return f"setcover-{config_hash({**vectors_spec(spec, view), **fineness})}"


def missing_snapshots(spec: dict, source_run: dict) -> list[int]:
    """Epochs the clustering asks for that the source run does not keep (its `snapshots` list)."""
    kept = set(source_run.get("snapshots") or [])
    return [p for p in spec["checkpoints"] if isinstance(p, int) and p not in kept]
