"""One evaluation: a run's model snapshot measured on a split of its view, attacked and defended.

`evaluate_snapshot` loads the snapshot as its run built the model, and wraps it so that it
takes images in [0, 1] (the normalisation the run trained with happens inside, see
robustrepro.compute.device_data), then in the spec's defence, if any. It goes over the chosen
examples batch by batch: the clean predictions, then the attack's images and the predictions
on them, and writes `results/{scale}/evals/<id>.json`:

    eval_id, run_id, spec (resolved), split, n,
    clean_acc1, clean_loss             the model (defended, if a defence is given) on the clean images
    acc1, loss                         on the attacked images; the clean numbers when there is no attack
    flipped                            share of the clean-correct examples that the attack gets wrong
    wall_time_s, provenance            snapshot (tag, epoch, sha256, what it was trained from),
                                       input digests, code fingerprint, device, host, versions

Every random draw comes from generators seeded by the spec's seed (the attack's by batch, so
a batch's draws do not depend on the batches before it): the same evaluation twice on a CPU
gives the same numbers. Attacks run in float32, without autocast, on every device.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from robustrepro.compute.device import device_name, pick_device, set_threads
from robustrepro.compute.device_data import DeviceData
from robustrepro.compute.recipe import pick_recipe
from robustrepro.data.prepared import load_prepared
from robustrepro.errors import UserError
from robustrepro.evaluation.attacks import ATTACKS, Normalized
from robustrepro.evaluation.defences import DEFENCES
from robustrepro.evaluation.spec import check_snapshot, evaluation_id, resolve_evaluation, snapshot_tag
from robustrepro.files import atomic_write_text, file_digest
from robustrepro.provenance import EVALUATION, code_fingerprint, input_digests, now, process_info
from robustrepro.runs import canonical_json, identity, resolve, run_id
from robustrepro.training.checkpoint import load_snapshot
from robustrepro.training.outputs import json_ready, versions
from robustrepro.training.seeding import derive_seed, make_generator
from robustrepro.training.trainer import load_model_snapshot
from robustrepro.views import check_inputs, load_view

log = logging.getLogger(__name__)


def balanced_subset(labels: np.ndarray, n: int | None) -> np.ndarray:
    """Positions of `n` examples of a split, class-balanced and drawn from nothing: each class's
    first example (in split order), then each class's second, ..., returned in split order."""
    positions = np.arange(len(labels))
    if n is None or n >= len(labels):
        return positions
    rank = np.zeros(len(labels), dtype=np.int64)  # how many earlier examples share the label
    for label in np.unique(labels):
        where = labels == label
        rank[where] = np.arange(where.sum())
    order = np.lexsort((positions, rank))  # by rank within the class, then by position
    return np.sort(order[:n])


def _check_snapshot_record(state: dict, run: dict, spec: dict, path) -> None:
    recorded = json.loads(state["run_json"])
    if canonical_json(identity(recorded)) != canonical_json(identity(run)):
        raise UserError(f"model snapshot {path} was trained by run {run_id(recorded)}, not {run_id(run)}; "
                        "pass the checkpoint of the run being evaluated")
    if isinstance(spec["snapshot"], int) and state["epoch"] != spec["snapshot"]:
        raise UserError(f"model snapshot {path} holds epoch {state['epoch']}, not {spec['snapshot']}; "
                        "delete the run's metrics.json and rebuild the run")


class _Totals:
    """Running sums over the batches: hits and summed loss, clean and attacked."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(5, dtype=torch.float64, device=device)

    def add(self, clean: torch.Tensor, attacked: torch.Tensor, y: torch.Tensor) -> None:
        clean_hit, attacked_hit = clean.argmax(1) == y, attacked.argmax(1) == y
        self.sums += torch.stack([
            clean_hit.sum().double(), F.cross_entropy(clean, y, reduction="sum").double(),
            attacked_hit.sum().double(), F.cross_entropy(attacked, y, reduction="sum").double(),
            (clean_hit & ~attacked_hit).sum().double()])

    def result(self, n: int) -> dict:
        clean_hits, clean_loss, hits, loss, flipped = self.sums.tolist()
        return {"clean_acc1": clean_hits / n, "clean_loss": clean_loss / n, "acc1": hits / n, "loss": loss / n,
                "flipped": flipped / clean_hits if clean_hits else 0.0}


def evaluate_snapshot(run: dict, spec: dict, prepared_path, view_path, snapshot_path, out, device: str = "auto",
                      threads: int | None = None, progress: bool = True, channels_last="auto",
                      compile: bool = False) -> dict:
    """Evaluate the snapshot at `snapshot_path` of `run` as `spec` says; writes and returns the JSON at `out`.

    channels_last and compile pick the model's layout and compilation (robustrepro.compute.recipe);
    its precision is always fp32 (above)."""
    start = time.perf_counter()
    started = now()
    try:
        run = resolve(run)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    spec = resolve_evaluation(spec)
    check_snapshot(spec, run)
    rid = run_id(run)
    eid = evaluation_id(rid, spec)
    set_threads(threads)
    code = code_fingerprint(entries=EVALUATION)
    torch_device = pick_device(device)
    recipe = pick_recipe(torch_device, run["model"], "fp32", channels_last, compile)
    # The parts first: a bad option fails before any file is loaded.
    attack = None if spec["attack"] is None else ATTACKS.build(spec["attack"])
    check_inputs(run, prepared_path, view_path)  # the run's dataset, and a view made for it from that file

    state = load_snapshot(snapshot_path)
    _check_snapshot_record(state, run, spec, snapshot_path)
    prepared, view = load_prepared(prepared_path), load_view(view_path)
    data = DeviceData(prepared, view, torch_device, channels_last=recipe.channels_last)
    split = spec["split"]
    if not data.has(split):
        raise UserError(f"evaluation key 'split': run {rid} has no {split!r} split (its validation is "
                        f"{run['validation']!r}); evaluate 'test', or give the run a validation split")
    model = load_model_snapshot(snapshot_path, prepared, view, torch_device, recipe)
    model.requires_grad_(False)  # attacks need gradients of the inputs only
    if recipe.compile:  # the model alone: a defence's random draws stay outside the compiled graph
        model = torch.compile(model)
    net = Normalized(model, tuple(float(m) for m in data.mean), tuple(float(s) for s in data.std)).to(torch_device)
    net.eval()

    role = data.splits[split]
    images = data.images[role.source]

    def unit_images(positions: torch.Tensor) -> torch.Tensor:
        return images[role.rows[positions]].float().div_(255.0)

    everything = torch.arange(len(role), device=torch_device)
    if spec["defence"] is not None:
        pool = unit_images(everything)
        net = DEFENCES.build(spec["defence"], net, pool, make_generator(derive_seed(spec["seed"], "defence"),
                                                                       torch_device))
        net.eval()
    chosen = balanced_subset(role.labels.cpu().numpy(), spec["subset"])
    positions = torch.from_numpy(chosen).to(torch_device)

    what = spec["attack"]["name"] if spec["attack"] else "clean"
    log.info("evaluation %s: %s on %d %s examples of run %s (snapshot %s, epoch %d) on %s", eid, what,
             len(positions), split, rid, snapshot_tag(spec["snapshot"]), state["epoch"], device_name(torch_device))
    totals = _Totals(torch_device)
    batches = list(torch.split(positions, spec["batch_size"]))
    interactive = sys.stderr.isatty()
    with tqdm(batches, desc=f"evaluate {what}", unit="batch", file=sys.stderr, disable=not progress,
              mininterval=0.1 if interactive else 30, ascii=not interactive) as bar:
        for i, batch in enumerate(bar):
            x, y = unit_images(batch), role.labels[batch]
            with torch.no_grad():
                clean = net(x).float()
            if attack is None:
                attacked = clean
            else:
                generator = make_generator(derive_seed(spec["seed"], "attack", i), torch_device)
                x_adv = attack(net, x, y, generator=generator)
                with torch.no_grad():
                    attacked = net(x_adv).float()
            totals.add(clean, attacked, y)

    result = {
        "eval_id": eid, "run_id": rid, "spec": spec, "split": split, "n": len(positions),
        **totals.result(len(positions)),
        "wall_time_s": time.perf_counter() - start,
        "provenance": {
            "snapshot": {"tag": snapshot_tag(spec["snapshot"]), "epoch": state["epoch"],
                         "sha256": file_digest(snapshot_path), "trained_from": state.get("provenance")},
            "data": input_digests(prepared=prepared_path, view=view_path), "code": code,
            **process_info(), "started": started, "ended": now(), "device": device_name(torch_device),
            "recipe": recipe.as_dict(),
            "threads": torch.get_num_threads(), **versions(),
        },
    }
    atomic_write_text(Path(out), json.dumps(json_ready(result), indent=2) + "\n")
    log.info("evaluation %s: clean acc1 %.4f, acc1 %.4f (%d examples, %.1f s)", eid, result["clean_acc1"],
             result["acc1"], result["n"], result["wall_time_s"])
    return result
