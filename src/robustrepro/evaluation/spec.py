"""Evaluation specs: what to measure on a trained run, and the id of that measurement.

An evaluation is the second unit of work after a run: one model snapshot of a finished run,
measured on one split of the run's view, under an optional attack and an optional defence.

    {"snapshot": "final",    # "final", "best", or an epoch the run lists in its `snapshots`
     "attack": None,         # None: clean accuracy only; else {"name": "pgd", "eps": 8/255, ...}
                             #   (robustrepro.evaluation.attacks checks the options when the job runs)
     "defence": None,        # None, or {"name": "sum_augment", ...} (robustrepro.evaluation.defences)
     "split": "test",        # "test", or "val" for a run that has a validation split
     "subset": None,         # None: the whole split; n: n examples of it, class-balanced (below)
     "batch_size": 256,      # examples attacked at once (part of the id: it shapes the random draws)
     "seed": 0}              # seeds the attack's random starts and the defence's draws

`subset` takes examples without drawing anything: it walks the split in its stored order and
takes each class's first example, then each class's second, and so on, until it has n. Every
class gets n / classes examples (one more for the classes whose turn comes first), or all it
has when it has fewer; the examples are then evaluated in split order.

`resolve_evaluation` fills the defaults and checks every key, so two spellings of one
evaluation resolve alike. `evaluation_id(run, spec)` names it as runs are named: a readable
slug (the run's slug, the attack, the defence, the snapshot) plus a short hash of the run id and
the resolved spec, e.g. `mnist-lenet-none-s0-pgd-final-1c9e0b7d2a`. Keys left at None are
not hashed, so adding an optional key later keeps every existing id.

Imports nothing heavy (no torch): Snakemake imports this when it parses the workflow.
"""

from __future__ import annotations

import copy
import re

from robustrepro.errors import UserError, unknown_choice
from robustrepro.runs import config_hash, run_id

DEFAULT_EVALUATION: dict = {
    "snapshot": "final",
    "attack": None,
    "defence": None,
    "split": "test",
    "subset": None,
    "batch_size": 256,
    "seed": 0,
}

SNAPSHOT_NAMES = ("final", "best")
SPLITS = ("test", "val")
COMPONENTS = ("attack", "defence")  # sections that name a registered part, with its options


def _slug(text) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-")


def _integer(key: str, value, at_least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise UserError(f"{key}: must be an integer >= {at_least}; got {value!r}")
    return value


def _component(key: str, value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        raise UserError(f"{key}: null, or a mapping with a 'name' and that part's options "
                        f"(e.g. {{'name': 'pgd', 'eps': 0.03}}); got {value!r}")
    return copy.deepcopy(value)


def resolve_evaluation(spec: dict | None) -> dict:
    """The canonical, fully defaulted form of an evaluation spec; a UserError names a bad key."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise UserError(f"evaluation: a mapping of {', '.join(DEFAULT_EVALUATION)}; got {spec!r}")
    for key in spec:
        if key not in DEFAULT_EVALUATION:
            raise UserError(f"evaluation key '{key}': unknown key; known keys: {', '.join(sorted(DEFAULT_EVALUATION))}")
    out = {**copy.deepcopy(DEFAULT_EVALUATION), **copy.deepcopy(spec)}
    snapshot = out["snapshot"]
    if snapshot not in SNAPSHOT_NAMES and (isinstance(snapshot, bool) or not isinstance(snapshot, int) or snapshot < 1):
        raise UserError(f"evaluation key 'snapshot': 'final', 'best' or an epoch (an integer >= 1) that the run "
                        f"lists in its `snapshots`; got {snapshot!r}")
    for key in COMPONENTS:
        out[key] = _component(f"evaluation key '{key}'", out[key])
    if out["split"] not in SPLITS:
        raise unknown_choice("evaluation key 'split'", out["split"], SPLITS)
    if out["subset"] is not None:
        _integer("evaluation key 'subset'", out["subset"], 1)
    _integer("evaluation key 'batch_size'", out["batch_size"], 1)
    _integer("evaluation key 'seed'", out["seed"], 0)
    return out


def identity(spec: dict) -> dict:
    """What an evaluation's id hashes: the resolved spec without the keys left at None."""
    return {k: v for k, v in resolve_evaluation(spec).items() if v is not None}


def snapshot_tag(snapshot) -> str:
    """The snapshot as its id part reads: final, best or e<epoch>."""
    return snapshot if isinstance(snapshot, str) else f"e{snapshot}"


def evaluation_id(run: dict | str, spec: dict) -> str:
    """Readable slug plus a hash of (run id, resolved spec); `run` is a run config or its id."""
    rid = run if isinstance(run, str) else run_id(run)
    spec = resolve_evaluation(spec)
    run_slug = rid.rsplit("-", 1)[0]  # a run id is its slug, a dash and its hash
    parts = [run_slug, spec["attack"]["name"] if spec["attack"] else "clean"]
    if spec["defence"]:
        parts.append(spec["defence"]["name"])
    if spec["split"] != "test":
        parts.append(spec["split"])
    parts.append(snapshot_tag(spec["snapshot"]))
    return "-".join(_slug(p) for p in parts) + "-" + config_hash({"run": rid, "evaluation": identity(spec)})


def check_snapshot(spec: dict, run: dict) -> None:
    """An epoch snapshot must be one the (resolved) run keeps."""
    snapshot = resolve_evaluation(spec)["snapshot"]
    if isinstance(snapshot, int) and snapshot not in (run.get("snapshots") or []):
        raise UserError(f"evaluation key 'snapshot': run {run_id(run)} keeps no snapshot of epoch {snapshot} "
                        f"(its snapshots: {run.get('snapshots') or 'none'}); add {snapshot} to the run's "
                        "`snapshots`, or evaluate 'final' or 'best'")


def merge_evaluation(spec: dict, override: dict) -> dict:
    """`spec` with a per-scale `override` applied: plain keys are replaced; an attack or defence
    override is merged option by option, unless it names another part (then it replaces it)."""
    if not isinstance(override, dict):
        raise UserError(f"evaluation override: a mapping of evaluation keys; got {override!r}")
    out = copy.deepcopy(spec)
    for key, value in override.items():
        base = out.get(key)
        if key in COMPONENTS and isinstance(base, dict) and isinstance(value, dict) and value.get("name", base["name"]) == base["name"]:
            out[key] = {**base, **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


NAME = re.compile(r"[a-z][a-z0-9_]*")
# Column prefixes a run's own numbers already use (test_acc1, val_loss, ...).
RESERVED_NAMES = ("train", "test", "val", "noisy", "clean", "best", "final")


def check_name(name: str) -> str:
    """An evaluation's name in a paper spec: it prefixes its columns (`<name>_acc1`)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise UserError(f"evaluation name {name!r}: lower-case letters, digits and '_', starting with a letter, "
                        f"and none of {', '.join(RESERVED_NAMES)} (it prefixes the columns <name>_acc1, ...)")
    return name
