"""Seed 004's brute-force "perfect ordering" (§2.2): every batch order of every epoch, side by side.

The training view (the paper: 24 zeros and 24 ones of MNIST) is split once, from the run seed,
into n = N / batch_size batches that every epoch reuses; one initial model is built from the
seed as an ordinary run builds it. Epoch 1 trains that model on all n! orders of the batches
(720 for n = 6). After each epoch a 1-D KMeans with k = `keep` clusters on the trained runs'
test losses keeps, for each centre, the run nearest to it (distinct runs); each kept run goes
on with all n! orders of the next epoch, so epochs after the first train keep * n! runs. The
final epoch keeps none. All runs are trained side by side (robustrepro.training.side_by_side),
sharing the steps of a common order prefix: the 720 orders of 6 batches need 1,956 updates
rather than 4,320.

Test set: `test_size` images drawn once, with the run seed, from the view's test set.
Test loss: table 2.1 prints 2.39-2.45 at 78 % accuracy and 0.13 at 99 % on two classes, which
reads as a sum over its four 512-image test batches of each batch's mean cross-entropy.
`test_loss` is that: the sum over the test set's batches of `loss_batch` images of their mean
cross-entropy; `test_loss_mean` is the plain mean cross-entropy. Accuracies are fractions, as
the trainer's test_acc1 and the paper's table.

Optimizer and model: the run's (SGD only: momentum, nesterov and weight decay are accepted, and a
kept run's momentum buffers go on into its next epoch). Seed 004 names neither; the paper spec's
choice and the measurements behind it are in robustrepro.papers.ordering_augment.

Outputs: history.csv (one row per epoch: the spread over its runs), orderings.csv (one row per
trained run per epoch: its parent's row, its order of batches, test loss and accuracy, whether
it was kept) and metrics.json (the last epoch's spread and the provenance an ordinary run has).
The checkpoint after every epoch holds the kept runs' stacked state and all records, so a
resumed run trains the same epochs it would have trained uninterrupted.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from robustrepro import paths
from robustrepro.compute.device import device_name, pick_device
from robustrepro.compute.device_data import DeviceData
from robustrepro.compute.recipe import PLAIN
from robustrepro.data.prepared import load_prepared
from robustrepro.errors import UserError
from robustrepro.models import build_model
from robustrepro.options import integer, number
from robustrepro.provenance import code_fingerprint, input_digests, now
from robustrepro.runs import DEFAULT_RUN, ORDERINGS_DEFAULTS, canonical_json, run_id
from robustrepro.training import side_by_side as sbs
from robustrepro.training.checkpoint import load_checkpoint, save_checkpoint, stale_because
from robustrepro.training.outputs import new_session, write_history, write_metrics
from robustrepro.training.seeding import derive_seed
from robustrepro.views import load_view

log = logging.getLogger(__name__)

DEFAULTS = ORDERINGS_DEFAULTS
MAX_BATCHES = 8  # 8! = 40,320 runs per kept run and epoch; beyond that brute force is out of reach
# Keys an ordinary run uses that would change what this experiment trains: they must keep their defaults.
FIXED_KEYS = ("iterations", "schedule", "sampler", "step", "augment", "metrics", "early_stopping",
              "snapshots", "clustering", "step_log", "eval_every", "cascade")
TRAIN_RUNS = 1440  # runs trained together (whole kept runs' families of orders, at least one)
EVAL_RUNS = 64  # runs evaluated together: their activations on loss_batch images stay in cache
ORDERING_COLUMNS = ("epoch", "parent", "order", "test_loss", "test_loss_mean", "test_acc1", "kept")
HISTORY_COLUMNS = ("epoch", "orderings", "test_acc1_min", "test_acc1_mean", "test_acc1_max", "test_loss_min",
                   "test_loss_max", "time_s")

# Every device, whatever the config's recipe asks: fp32, eager, contiguous. The orders' differences
# are what this experiment measures; bf16's rounding would be of their size.
RECIPE = PLAIN


# --- configuration -------------------------------------------------------------------------

def parse_orderings(value) -> dict:
    """The run's `orderings` section with its defaults filled in."""
    if not isinstance(value, dict):
        raise UserError(f"orderings: a mapping such as {DEFAULTS}, or null for an ordinary run; got {value!r}")
    unknown = sorted(set(value) - set(DEFAULTS))
    if unknown:
        raise UserError(f"orderings.{unknown[0]}: unknown key; known keys: {', '.join(DEFAULTS)}")
    config = {**DEFAULTS, **value}
    meanings = {"keep": "runs kept by KMeans after each epoch", "test_size": "test images drawn from the view",
                "loss_batch": "test images per loss batch"}
    for key, meaning in meanings.items():
        integer(f"orderings.{key}", config[key], at_least=1, meaning=meaning)
    return config


def parse_sgd(optimizer: dict) -> dict:
    """lr, momentum, nesterov, weight_decay of the run's SGD optimizer (the only one trained side by side)."""
    if optimizer.get("name") != "sgd":
        raise UserError(f"optimizer.name: perfect ordering trains with sgd only; got {optimizer.get('name')!r}")
    known = {"name", "lr", "momentum", "nesterov", "weight_decay", "dampening"}
    unknown = sorted(set(optimizer) - known)
    if unknown:
        raise UserError(f"optimizer.{unknown[0]}: unknown sgd option; known: lr, momentum, nesterov, weight_decay")
    if optimizer.get("dampening", 0) != 0:
        raise UserError("optimizer.dampening: perfect ordering's SGD has no dampening; set it to 0 or drop it")
    sgd = {"lr": number("optimizer.lr", optimizer.get("lr"), above=0),
           "momentum": number("optimizer.momentum", optimizer.get("momentum", 0.0), at_least=0),
           "nesterov": optimizer.get("nesterov", False),
           "weight_decay": number("optimizer.weight_decay", optimizer.get("weight_decay", 0.0), at_least=0)}
    if not isinstance(sgd["nesterov"], bool) or (sgd["nesterov"] and sgd["momentum"] <= 0):
        raise UserError(f"optimizer.nesterov: true (with momentum > 0) or false; got {sgd['nesterov']!r}")
    return sgd


def check_run(run: dict) -> None:
    for key in FIXED_KEYS:
        if run[key] != DEFAULT_RUN[key]:
            raise UserError(f"{key}: perfect ordering (orderings set) trains fixed batches in every order for "
                            f"`epochs` epochs; leave {key} at its default {DEFAULT_RUN[key]!r}")
    if run["epochs"] is None:
        raise UserError("epochs: perfect ordering is budgeted in epochs; set epochs and leave iterations null")
    integer("epochs", run["epochs"], at_least=1)


def batch_count(examples: int, batch_size: int) -> int:
    batch_size = integer("batch_size", batch_size, at_least=1)
    if examples % batch_size:
        raise UserError(f"batch_size: perfect ordering splits the {examples} training examples into equal batches; "
                        f"{batch_size} does not divide {examples}")
    n = examples // batch_size
    if n > MAX_BATCHES:
        raise UserError(f"batch_size: {examples} examples in batches of {batch_size} make {n} batches, "
                        f"{math.factorial(n):,} orders per epoch; use a batch_size of at least "
                        f"{math.ceil(examples / MAX_BATCHES)} (at most {MAX_BATCHES} batches)")
    return n


# --- selection -------------------------------------------------------------------------------

def kmeans_1d(values: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 1000) -> np.ndarray:
    """k centres of 1-D `values`: k-means++ seeding, then Lloyd's iterations until no point moves.

    When fewer than k distinct values remain to seed from, a centre repeats an unused point; an
    empty cluster keeps its centre."""
    values = np.asarray(values, dtype=np.float64)
    chosen = [int(rng.integers(len(values)))]
    for _ in range(1, k):
        d2 = np.min((values[:, None] - values[chosen][None, :]) ** 2, axis=1)
        if d2.sum() > 0:
            chosen.append(int(rng.choice(len(values), p=d2 / d2.sum())))
        else:
            unused = np.setdiff1d(np.arange(len(values)), chosen)
            chosen.append(int(rng.choice(unused)))
    centres = values[chosen]
    assignment = None
    for _ in range(max_iter):
        new = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)  # ties: the lowest centre
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        for c in range(k):
            if np.any(assignment == c):
                centres[c] = values[assignment == c].mean()
    return centres


def nearest_distinct(values: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """For each centre in turn, the index of the nearest value not taken by an earlier centre (sorted)."""
    values = np.asarray(values, dtype=np.float64)
    taken: list[int] = []
    for centre in centres:
        for index in np.argsort(np.abs(values - centre), kind="stable"):
            if int(index) not in taken:
                taken.append(int(index))
                break
    return np.array(sorted(taken), dtype=np.int64)


def keep_runs(losses: np.ndarray, keep: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the runs kept after an epoch: the nearest to each KMeans centre of their test losses."""
    if len(losses) <= keep:
        return np.arange(len(losses))
    return nearest_distinct(losses, kmeans_1d(losses, keep, rng))


# --- training --------------------------------------------------------------------------------

def prefix_levels(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each length d = 1..n of an order prefix: (index of each prefix's own prefix of length
    d - 1, the batch it trains last), prefixes in lexicographic order; the last level is every order."""
    levels, previous = [], {(): 0}
    for d in range(1, n + 1):
        prefixes = list(itertools.permutations(range(n), d))
        levels.append((torch.tensor([previous[p[:-1]] for p in prefixes]), torch.tensor([p[-1] for p in prefixes])))
        previous = {p: i for i, p in enumerate(prefixes)}
    return levels


def train_all_orders(model: torch.nn.Module, parents: sbs.Stacked, x: torch.Tensor, y: torch.Tensor,
                     sgd: dict) -> sbs.Stacked:
    """Every parent trained one epoch in every order of the batches x [n, b, ...], y [n, b].

    Returns the runs parent-major, each parent's orders lexicographic (as itertools.permutations)."""
    parents_n, width = len(parents), 1
    states = parents
    for own_prefix, last in prefix_levels(x.shape[0]):
        parent_of = (torch.arange(parents_n)[:, None] * width + own_prefix[None, :]).flatten()
        batch = last.repeat(parents_n).to(x.device)
        states, _ = sbs.sgd_step(model, states.select(parent_of), x[batch], y[batch], **sgd)
        width = len(own_prefix)
    return states


def test_numbers(model: torch.nn.Module, runs: sbs.Stacked, x: torch.Tensor, y: torch.Tensor,
                 loss_batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(test_loss: the sum of each loss batch's mean cross-entropy, test_loss_mean, test_acc1) per run, float64 on the CPU."""
    losses, correct = sbs.evaluate(model, runs, x, y, chunk=loss_batch)
    losses = losses.double()
    summed = sum(part.mean(1) for part in losses.split(loss_batch, dim=1))
    return summed.cpu(), losses.mean(1).cpu(), correct.double().mean(1).cpu()


def order_names(n: int) -> list[str]:
    return ["-".join(map(str, order)) for order in itertools.permutations(range(n))]


class Experiment:
    """One perfect-ordering run's data, model and progress (epochs done, kept runs, records)."""

    def __init__(self, run: dict, prepared, view, device: torch.device, inputs: dict):
        check_run(run)
        self.run, self.device, self.inputs = run, device, inputs
        self.config = parse_orderings(run["orderings"])
        self.sgd = parse_sgd(run["optimizer"])
        self.seed = integer("seed", run["seed"], at_least=0)
        self.epochs = run["epochs"]
        data = DeviceData(prepared, view, device, channels_last=RECIPE.channels_last)
        examples = len(data)
        self.n = batch_count(examples, run["batch_size"])
        self.orders = math.factorial(self.n)
        available = len(data.splits["test"])
        if self.config["test_size"] > available:
            raise UserError(f"orderings.test_size: {self.config['test_size']} test images asked for, the view's "
                            f"test set has {available}; use at most {available}")

        split = torch.randperm(examples, generator=torch.Generator().manual_seed(derive_seed(self.seed, "orderings",
                                                                                             "batches")))
        self.batches = split.view(self.n, -1)
        positions = self.batches.flatten().to(device)
        self.train_x = data.inputs("train", positions).view(self.n, -1, *data.shape)
        self.train_y = data.labels("train", positions).view(self.n, -1)
        drawn = torch.randperm(available, generator=torch.Generator().manual_seed(derive_seed(self.seed, "orderings",
                                                                                              "test")))
        test = drawn[:self.config["test_size"]].to(device)
        self.test_x, self.test_y = data.inputs("test", test), data.labels("test", test)

        torch.manual_seed(derive_seed(self.seed, "init"))  # as the trainer: the run's ordinary initial model
        options = dict(run["model"])
        channels, height, _ = prepared.shape
        self.model = build_model(options.pop("name"), channels, view.num_classes, height, **options).to(device)

        self.epoch = 0
        self.kept: sbs.Stacked | None = sbs.stack(self.model, 1)
        self.kept_rows = torch.tensor([-1])
        self.records: dict[str, list[torch.Tensor]] = {c: [] for c in ORDERING_COLUMNS}  # one tensor per epoch
        self.history: list[dict] = []
        self.earlier_s, self.session_start = 0.0, time.perf_counter()
        self.sessions: list[dict] = []
        self.session = new_session(device_name(device), RECIPE)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    @property
    def elapsed_s(self) -> float:
        return self.earlier_s + time.perf_counter() - self.session_start

    @property
    def rows(self) -> int:
        return sum(len(part) for part in self.records["epoch"])

    def fit_epoch(self, progress: bool) -> dict:
        epoch, parents, parent_rows = self.epoch + 1, self.kept, self.kept_rows
        group = max(1, TRAIN_RUNS // self.orders)  # kept runs trained together
        children, numbers = [], []
        starts = range(0, len(parents), group)
        for start in tqdm(starts, desc=f"epoch {epoch}/{self.epochs}", unit="group", file=sys.stderr,
                          disable=not progress, leave=False):
            trained = train_all_orders(self.model, parents.select(torch.arange(start, min(start + group,
                                                                                           len(parents)))),
                                       self.train_x, self.train_y, self.sgd)
            for first in range(0, len(trained), EVAL_RUNS):
                chunk = trained.select(torch.arange(first, min(first + EVAL_RUNS, len(trained))))
                numbers.append(test_numbers(self.model, chunk, self.test_x, self.test_y, self.config["loss_batch"]))
            children.append(trained)
        runs = sbs.concat(children)
        loss, loss_mean, acc = (torch.cat(column) for column in zip(*numbers))

        kept = torch.zeros(len(runs), dtype=torch.bool)
        first_row = self.rows
        if epoch < self.epochs:
            rng = np.random.default_rng(derive_seed(self.seed, epoch, "kmeans"))
            chosen = torch.from_numpy(keep_runs(loss.numpy(), self.config["keep"], rng))
            kept[chosen] = True
            self.kept, self.kept_rows = runs.select(chosen.to(self.device)), first_row + chosen
        else:
            self.kept, self.kept_rows = None, torch.zeros(0, dtype=torch.long)
        count = len(runs)
        new = {"epoch": torch.full((count,), epoch), "parent": parent_rows.repeat_interleave(self.orders),
               "order": torch.arange(self.orders).repeat(count // self.orders), "test_loss": loss,
               "test_loss_mean": loss_mean, "test_acc1": acc, "kept": kept}
        for column, values in new.items():
            self.records[column].append(values)
        self.epoch = epoch
        row = {"epoch": epoch, "orderings": count, "test_acc1_min": acc.min().item(),
               "test_acc1_mean": acc.mean().item(), "test_acc1_max": acc.max().item(),
               "test_loss_min": loss.min().item(), "test_loss_max": loss.max().item(), "time_s": self.elapsed_s}
        self.history.append(row)
        if self.session["first_epoch"] is None:
            self.session["first_epoch"] = epoch
        self.session.update(last_epoch=epoch, ended=now())
        return row

    def ordering_rows(self) -> list[dict]:
        names = order_names(self.n)
        columns = {c: torch.cat(parts).tolist() if parts else [] for c, parts in self.records.items()}
        rows = []
        for i in range(len(columns["epoch"])):
            row = {c: columns[c][i] for c in ORDERING_COLUMNS}
            row["order"] = names[row["order"]]
            rows.append(row)
        return rows

    def best_orders(self) -> list[str]:
        """The orders, epoch by epoch, that led to the last epoch's most accurate run (lowest loss among ties)."""
        columns = {c: torch.cat(self.records[c]) for c in ("epoch", "parent", "order", "test_loss", "test_acc1")}
        last = (columns["epoch"] == self.epoch).nonzero().flatten()
        key = np.lexsort((columns["test_loss"][last].numpy(), -columns["test_acc1"][last].numpy()))
        names, path, row = order_names(self.n), [], int(last[key[0]])
        while row >= 0:
            path.append(names[int(columns["order"][row])])
            row = int(columns["parent"][row])
        return path[::-1]

    def all_sessions(self) -> list[dict]:
        mine = [dict(self.session)] if self.session["first_epoch"] is not None else []
        return [dict(s) for s in self.sessions] + mine

    def state_dict(self) -> dict:
        return {"run_json": canonical_json(self.run), "epoch": self.epoch, "elapsed_s": self.elapsed_s,
                "kept": None if self.kept is None else self.kept.to("cpu").state_dict(),
                "kept_rows": self.kept_rows, "records": {c: list(parts) for c, parts in self.records.items()},
                "history": self.history, "inputs": self.inputs, "sessions": self.all_sessions()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.earlier_s = state["epoch"], state["elapsed_s"]
        self.session_start = time.perf_counter()
        self.kept = None if state["kept"] is None else sbs.Stacked.from_state_dict(state["kept"]).to(self.device)
        self.kept_rows = state["kept_rows"]
        self.records = {c: list(parts) for c, parts in state["records"].items()}
        self.history = list(state["history"])
        self.sessions = [dict(s) for s in state["sessions"]]

    def summary(self) -> dict:
        last = self.history[-1]
        return {**{k: v for k, v in last.items() if k not in ("epoch", "orderings", "time_s")},
                "orderings_trained": self.rows, "orderings_last_epoch": last["orderings"],
                "orders_per_epoch": self.orders, "epochs_done": self.epoch, "wall_time_s": last["time_s"],
                "best_orders": self.best_orders(), "batches": self.batches.tolist(),
                "run_id": run_id(self.run), "seed": self.seed,
                "provenance": {"run": self.run, "data": self.inputs["data"], "code": self.inputs["code"],
                               "sessions": self.all_sessions()}}


# --- the run -----------------------------------------------------------------------------------

def train_orderings(run: dict, prepared_path, view_path, out_dir, checkpoint_path, device: str = "auto",
                    progress: bool = True, *, code: dict | None = None, written_meanwhile: bool = False) -> dict:
    """Train a run whose `orderings` is set; returns metrics.json's content.

    Called by robustrepro.training.run_job.train_run under the run's lock, with the code
    fingerprint it took and whether the checkpoint was written while it waited for the lock;
    a finished run found again is treated as the trainer treats it."""
    out_dir, checkpoint_path = Path(out_dir), Path(checkpoint_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    rid = run_id(run)
    torch_device = pick_device(device)
    state = load_checkpoint(checkpoint_path, run)
    inputs = {"data": None, "code": code or code_fingerprint()}
    experiment = Experiment(run, load_prepared(prepared_path), load_view(view_path), torch_device, inputs)
    inputs["data"] = input_digests(prepared=prepared_path, view=view_path)
    stale = [] if state is None else stale_because(state, inputs)
    if state is not None and not stale and state["epoch"] >= experiment.epochs:
        experiment.load_state_dict(state)  # finished with the same run, data and code: kept, as the trainer does
        why = "the process we waited for" if written_meanwhile else "an earlier job"
        log.info("run %s: %s finished it with the same run, data and code; keeping its results", rid, why)
        return _write_results(experiment, out_dir)
    (out_dir / paths.METRICS).unlink(missing_ok=True)
    if state is not None and not stale:
        experiment.load_state_dict(state)
        log.info("run %s: resuming from %s after epoch %d", rid, checkpoint_path, experiment.epoch)
    else:
        if state is not None:
            log.info("run %s: not resuming %s, training from scratch: %s", rid, checkpoint_path, "; ".join(stale))
        for name in (paths.HISTORY, "orderings.csv"):
            (out_dir / name).unlink(missing_ok=True)
        log.info("run %s: every order of %d batches (%d per run) for %d epochs, keeping %d runs per epoch, on %s",
                 rid, experiment.n, experiment.orders, experiment.epochs, experiment.config["keep"],
                 device_name(torch_device))
    metrics = None
    while not experiment.finished:
        row = experiment.fit_epoch(progress)
        if experiment.finished:
            metrics = _write_results(experiment, out_dir)
        else:
            _write_logs(experiment, out_dir)
        save_checkpoint(checkpoint_path, experiment.state_dict())
        log.info("epoch %d: %d runs, test_acc1 min %.4f mean %.4f max %.4f (%.1f s)", row["epoch"], row["orderings"],
                 row["test_acc1_min"], row["test_acc1_mean"], row["test_acc1_max"], row["time_s"])
    return metrics


def _write_logs(experiment: Experiment, out_dir: Path) -> None:
    write_history(out_dir / paths.HISTORY, experiment.history, HISTORY_COLUMNS)
    write_history(out_dir / "orderings.csv", experiment.ordering_rows(), ORDERING_COLUMNS)


def _write_results(experiment: Experiment, out_dir: Path) -> dict:
    metrics = experiment.summary()
    _write_logs(experiment, out_dir)
    write_metrics(out_dir / paths.METRICS, metrics)
    return metrics
