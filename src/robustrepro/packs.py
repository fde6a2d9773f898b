"""Which runs train together in a pack (robustrepro.training.pack), and the packs of a set of runs.

Imports nothing heavy (no torch): Snakemake groups the runs of every paper into packs when it
parses the workflow. A pack is the runs of one grid point that differ only in `seed` and
`optimizer.lr` (massive-noise: 4 learning rates x 3 seeds per model and alpha). Which runs may
pack is an allow-list, ALLOWED: every run key a pack handles and the values of it the pack
implements. A run with a value the pack does not implement, or with a key the list does not name
(one added to the runs after the list was written), trains alone, one job, as before, and
`why_not_packable` says which key and why.
"""

from __future__ import annotations

import re

from robustrepro.runs import config_hash, resolve

PACK_KEYS = ("seed", "optimizer.lr")  # what may differ between the runs of one pack

# Each optimizer a pack implements (robustrepro.training.side_by_side.SGD, Adadelta) and the options
# of it that the pack's update follows; dampening only at 0.
OPTIMIZERS = {"sgd": ("lr", "momentum", "nesterov", "weight_decay", "dampening"),
              "adadelta": ("lr", "rho", "eps", "weight_decay")}


def _any(value) -> None:
    """A key each run's own Trainer carries through in a pack as alone: any value packs."""
    return None


def _off(what: str):
    """A part the pack does not implement: only its off value (None, or no metrics) packs."""
    return lambda value: None if value is None or value == [] else what


def _model(model: dict) -> str | None:
    # Any architecture and option: functional_call runs the run's own module, and vmap refuses any
    # randomness inside it (randomness="error"), so an option that draws fails loudly, not silently.
    return "dropout (vmap draws no randomness inside the model)" if model.get("dropout") else None


def _optimizer(optimizer: dict) -> str | None:
    name = optimizer.get("name")
    if name not in OPTIMIZERS:
        return f"optimizer {name} (packs implement {', '.join(OPTIMIZERS)})"
    unknown = sorted(set(optimizer) - {"name", *OPTIMIZERS[name]})
    if unknown:
        return (f"optimizer.{unknown[0]} of {name} (not on the pack's allow-list, robustrepro.packs.OPTIMIZERS: "
                "add it there once the pack's update implements it)")
    return "SGD dampening" if optimizer.get("dampening") else None


def _exactly(expected: dict, what: str):
    """A part the pack implements in one form only."""

    def check(value) -> str | None:
        if value == expected:
            return None
        if not isinstance(value, dict) or value.get("name") != expected["name"]:
            name = value.get("name") if isinstance(value, dict) else value
            return f"{what} {name} (packs train the {expected['name']} {what})"
        return f"{what} {expected['name']} with options {', '.join(sorted(set(value) - {'name'}))} (packs train it without)"

    return check


# The allow-list: every key of a resolved run (robustrepro.runs.DEFAULT_RUN) that a pack handles, with
# what it says of a run's value: None where the pack implements it, else why not. A key missing here
# keeps its runs out of packs (`_why_not`), so one added to the runs later never packs silently.
ALLOWED = {
    # The view and its data: the pack's runs share one DeviceData (they are equal in these) and each
    # Trainer evaluates its own validation and test splits.
    **{key: _any for key in ("dataset", "train_subset", "test_subset", "holdout", "shaping", "noise", "data_seed",
                             "validation")},
    "augment": _any,  # every run draws its own crops and flips through DeviceData.inputs, as alone
    "model": _model,
    "optimizer": _optimizer,
    "schedule": _any,  # each run's schedule sets its lr (and momentum, one for the pack) every step
    "epochs": _any,
    "iterations": _off("an iteration budget"),
    "batch_size": _any,  # one for the pack: the runs step together
    "sampler": _exactly({"name": "shuffle"}, "sampler"),
    "step": _exactly({"name": "weighted"}, "step"),
    "metrics": _off("extra epoch metrics"),
    "early_stopping": _any,  # each Trainer's end_epoch; a run that stops leaves the pack
    "snapshots": _any,  # each run's end_of_epoch
    "clustering": _off("a clustering"),
    "eval_every": _any,
    "step_log": _off("a step log"),
    "orderings": _off("orderings"),
    "cascade": _off("a cascade"),
    "seed": _any,  # a pack key: each Trainer's own initialisation, batch order and draws
}


def _without_pack_keys(run: dict) -> dict:
    """A resolved run with its PACK_KEYS blanked (a shallow copy: the run is not changed)."""
    return {**run, "seed": None, "optimizer": {**run["optimizer"], "lr": None}}


def why_not_packable(run: dict) -> str | None:
    """None if the run can train in a pack, else why not (in words)."""
    return _why_not(resolve(run))


def _why_not(run: dict) -> str | None:
    """why_not_packable of a resolved run: every key must be on the allow-list with a value it allows."""
    reasons = []
    for key, value in run.items():
        check = ALLOWED.get(key)
        if check is None:
            reasons.append(f"run key {key!r} (not on the pack's allow-list, robustrepro.packs.ALLOWED: add it there "
                           "once the pack implements it)")
        elif (why := check(value)) is not None:
            reasons.append(why)
    return "; ".join(reasons) if reasons else None


def packable(runs: list[dict]) -> bool:
    """Whether these runs can train together in one pack."""
    runs = [resolve(r) for r in runs]
    if len(runs) < 2 or any(_why_not(r) for r in runs):
        return False
    first = _without_pack_keys(runs[0])
    return all(_without_pack_keys(r) == first for r in runs[1:])


def packs(runs: dict[str, dict]) -> dict[str, list[str]]:
    """The packs of `runs` (run id -> resolved run, as the workflow holds them): pack id -> its run
    ids (sorted), for every set of two or more packable runs equal but for PACK_KEYS. A pack's id is
    its first run's slug, "pack" and a hash of its run ids, so it changes whenever its members do."""
    by_key: dict[str, list[str]] = {}
    for rid, run in runs.items():
        if _why_not(run) is None:
            by_key.setdefault(config_hash(_without_pack_keys(run)), []).append(rid)
    out = {}
    for members in by_key.values():
        if len(members) >= 2:
            members = sorted(members)
            slug = re.sub(r"-s\d+$", "", members[0].rsplit("-", 1)[0])  # the seed is no pack's
            out[f"{slug}-pack-{config_hash({'runs': members})}"] = members
    return out
