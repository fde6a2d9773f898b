"""Which runs train together in a pack (robustrepro.training.pack), and the packs of a set of runs.

Imports nothing heavy (no torch): Snakemake groups the runs of every paper into packs when it
parses the workflow. A pack is the runs of one grid point that differ only in `seed` and
`optimizer.lr` (massive-noise: 4 learning rates x 3 seeds per model and alpha); runs that need a
part the pack does not implement train alone, one job each, as before.
"""

from __future__ import annotations

import re

from robustrepro.runs import config_hash, resolve

PACK_KEYS = ("seed", "optimizer.lr")  # what may differ between the runs of one pack
OPTIMIZERS = ("sgd", "adadelta")


def _without_pack_keys(run: dict) -> dict:
    """A resolved run with its PACK_KEYS blanked (a shallow copy: the run is not changed)."""
    return {**run, "seed": None, "optimizer": {**run["optimizer"], "lr": None}}


def why_not_packable(run: dict) -> str | None:
    """None if the run can train in a pack, else why not (in words)."""
    return _why_not(resolve(run))


def _why_not(run: dict) -> str | None:
    """why_not_packable of a resolved run."""
    checks = [
        (run["step"] != {"name": "weighted"}, f"step {run['step']['name']} (packs train the plain weighted step)"),
        (run["sampler"] != {"name": "shuffle"}, f"sampler {run['sampler']['name']} (packs shuffle)"),
        (run["optimizer"]["name"] not in OPTIMIZERS, f"optimizer {run['optimizer']['name']}"),
        (bool(run["optimizer"].get("dampening")), "SGD dampening"),
        (run["iterations"] is not None, "an iteration budget"),
        (bool(run["metrics"]), "extra epoch metrics"),
        (run["step_log"] is not None, "a step log"),
        (run["cascade"] is not None or run["orderings"] is not None, "a cascade or orderings"),
        (run["clustering"] is not None, "a clustering"),
        (bool(run["model"].get("dropout")), "dropout (vmap draws no randomness inside the model)"),
    ]
    reasons = [why for failed, why in checks if failed]
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
