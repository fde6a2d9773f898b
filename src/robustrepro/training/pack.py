"""A pack: runs that differ only in seed and learning rate, trained side by side in one process.

A grid point of a paper (massive-noise: 4 learning rates x 3 seeds per model and alpha) is many
small runs of one shape. Trained one process each, most of their time goes on start-up and on
per-step Python; packed, one vmapped forward, gradient and update (torch.func) trains all of
them at once, while every run keeps its own parts: its initialisation, sampler (batch order),
augmentation draws, schedule, early stopping, epoch metrics and evaluations, which are the
runs' own Trainers (robustrepro.training.trainer). The Pack only replaces their optimizer step:

- every parameter, buffer and optimizer state tensor of the runs lives in one stacked tensor
  [runs, ...]; each Trainer's own Parameter holds a view of its row (`p.data = stacked[r]`), so
  its evaluation, snapshots and checkpoints read the current weights without copies, and its
  torch optimizer's state holds views of the stacked state for the same reason;
- each step takes one batch from every run's sampler and calls side_by_side.step, the one stacked
  kernel (seed 004's every-order runs and loss_delta's vmap trials run it too): the model on all
  the batches under vmap, under the runs' autocast, and the optimizer's update (SGD with momentum,
  Nesterov and weight decay, or Adadelta, in torch.optim's order of operations) with each run's
  own learning rate, as its schedule sets it; the Pack keeps only the rows its runs view, the
  schedules and the parts' after_step hooks;
- a run that stops early leaves the pack, which is restacked without it: it costs nothing more.

What packs (robustrepro.packs.packable): runs equal in everything but `seed` and `optimizer.lr`,
every key of which is on the allow-list robustrepro.packs.ALLOWED with a value the pack implements:
the plain weighted step, the shuffling sampler, SGD (no dampening) or Adadelta with their listed
options, an epoch budget, no step log, cascade, orderings, clustering or extra metrics, no dropout
(vmap refuses randomness inside the model), and any value of the keys each run's own Trainer
carries through (the view, augmentation, model, schedule, early stopping, evaluation, snapshots).
A key not on the list, such as one added to the runs later, keeps its runs out of packs until the
pack implements it and the list says so. Anything else trains alone, as before.

A packed run's results equal the same run trained alone up to float rounding of the batched
kernels (tests/test_pack.py states the tolerance). Its wall time is the pack's. On a CPU,
where side by side is slower than the runs alone, `train_pack` trains the runs in turn instead
(its docstring has the measurements).
"""

from __future__ import annotations

import torch

from robustrepro.compute.device import pick_device
from robustrepro.packs import PACK_KEYS, packable, why_not_packable
from robustrepro.runs import resolve
from robustrepro.training import side_by_side
from robustrepro.training.context import Batch, StepResult
from robustrepro.training.schedules import set_hyperparameters


class Pack:
    """Trainers of packable runs stepped together; `fit_epoch` trains one epoch of every active run."""

    def __init__(self, trainers: list):
        self.trainers = trainers
        rule = side_by_side.rule_of(trainers[0].ctx.optimizer)  # ValueError for an optimizer it does not implement
        self.state_keys, self.adadelta = rule.state_keys, isinstance(rule, side_by_side.Adadelta)
        self.model = trainers[0].ctx.model  # the architecture every run shares (side_by_side.step)
        self.active: list = []
        self.restack()

    # -- the stacked state ------------------------------------------------------------------------
    def restack(self) -> None:
        """Stack the state of the runs not finished yet, and point their tensors at their rows."""
        self.active = [t for t in self.trainers if not t.finished]
        if not self.active:
            return
        named = [dict(t.ctx.model.named_parameters()) for t in self.active]
        self.params = {name: torch.stack([n[name].detach() for n in named]) for name in named[0]}
        buffers = [dict(t.ctx.model.named_buffers()) for t in self.active]
        self.buffers = {name: torch.stack([b[name] for b in buffers]) for name in buffers[0]}
        self.state = {}
        for key in self.state_keys:
            self.state[key] = {name: torch.stack([self._state_of(t, n[name], key) for t, n in zip(self.active, named)])
                               for name in named[0]}
        with torch.no_grad():
            for r, (t, n, b) in enumerate(zip(self.active, named, buffers)):
                for name, p in n.items():
                    p.data = self.params[name][r]
                    state = t.ctx.optimizer.state[p]
                    for key in self.state_keys:
                        state[key] = self.state[key][name][r]
                for name, buffer in b.items():
                    buffer.data = self.buffers[name][r]
        if self.adadelta:
            # Adadelta counts steps per parameter: one [runs, parameters] tensor that the states view,
            # so a step is one add rather than a Python loop over runs and parameters.
            self.steps = torch.stack([torch.stack([self._step_of(t, p) for p in n.values()])
                                      for t, n in zip(self.active, named)])
            for r, (t, n) in enumerate(zip(self.active, named)):
                for j, p in enumerate(n.values()):
                    t.ctx.optimizer.state[p]["step"] = self.steps[r, j]

    @staticmethod
    def _step_of(trainer, p: torch.Tensor) -> torch.Tensor:
        value = trainer.ctx.optimizer.state.get(p, {}).get("step")
        return torch.tensor(0.0) if value is None else torch.as_tensor(value, dtype=torch.float32).detach()

    @staticmethod
    def _state_of(trainer, p: torch.Tensor, key: str) -> torch.Tensor:
        value = trainer.ctx.optimizer.state.get(p, {}).get(key)
        return torch.zeros_like(p) if value is None else value.detach()

    # -- one epoch --------------------------------------------------------------------------------
    def fit_epoch(self) -> list[tuple[object, dict]]:
        """One epoch of every active run; (trainer, its history row) for each. Runs that finished leave."""
        runs, iterators = self.active, self.start_epoch()
        for _ in range(runs[0].ctx.steps_per_epoch):
            batches = [next(it, None) for it in iterators]
            if any(b is None for b in batches):
                break
            self.step(batches)
        rows = [(t, t.end_epoch()) for t in runs]
        if any(t.finished for t in runs):
            self.restack()
        return rows

    def start_epoch(self) -> list:
        """Start the next epoch of every active run; their batch iterators, in the order of `active`."""
        for t in self.active:
            t.start_epoch()
        steps = {t.ctx.steps_per_epoch for t in self.active}
        if len(steps) != 1:
            raise RuntimeError(f"packed runs disagree on the steps of an epoch ({sorted(steps)}); pack only runs "
                               "of one view and batch size")
        return [iter(t.sampler.batches(t.ctx)) for t in self.active]

    def step(self, batches: list[Batch]) -> None:
        """One optimizer step of every active run, each on its batch (in the order of `active`)."""
        runs = self.active
        lrs = []
        for t in runs:
            planned = t.schedule_step(t.step_in_epoch)
            lrs.append(t.schedule.lr(planned))
            set_hyperparameters(t.ctx.optimizer, lrs[-1], t.schedule.momentum(planned))  # what its state records
        rules = {side_by_side.rule_of(t.ctx.optimizer) for t in runs}  # each run's update, its lr aside
        if len(rules) > 1:
            raise RuntimeError("packed runs need one optimizer setting but the lr at every step (a momentum "
                               f"schedule differs): {sorted(map(repr, rules))}")
        if any(b.weights is not None for b in batches):
            raise RuntimeError("a packed run's sampler gave example weights; packs train unweighted batches")
        x = torch.stack([t.ctx.data.inputs("train", b.indices, t.augment) for t, b in zip(runs, batches)])
        y = torch.stack([t.ctx.data.labels("train", b.indices) for t, b in zip(runs, batches)])
        first = runs[0].ctx
        lr = torch.tensor(lrs, dtype=torch.float32, device=first.device)
        with first.autocast():
            losses, logits = side_by_side.step(self.model, self.params, self.buffers, self.state, x, y, lr=lr,
                                               rule=rules.pop(), compiled=first.recipe.compile)
        if self.adadelta:
            self.steps += 1
        for r, (t, batch) in enumerate(zip(runs, batches)):
            result = StepResult(losses[r], logits[r], y[r], batch.indices, None)
            t.ctx.global_step += 1
            t.step_in_epoch += 1
            for part in t.parts:
                part.after_step(t.ctx, batch, result)


def train_pack(runs: list[dict], prepared_path, view_path, out_dirs: list, checkpoint_paths: list,
               device: str = "auto", threads: int | None = None, lock_timeout: float | None = None,
               side_by_side: bool | None = None, progress: bool = False, precision: str = "auto",
               channels_last="auto", compile: bool = False) -> list[dict]:
    """Train packable `runs` (each resumed from its own checkpoint where it may); returns each run's
    metrics.json content, in order. Each run keeps its own lock, outputs and checkpoint, written as
    train_run writes them, so a pack is resumed run by run, or its runs trained alone. precision,
    channels_last and compile pick the recipe as train_run's do (compile: of the vmapped step).

    side_by_side: in one Pack (the default on CUDA, where one small model leaves the device idle), or
    one run after the other in this process (the default elsewhere: on a CPU the runs' steps are
    compute-bound, vmap's batched convolutions are slower than plain ones and interleaving the runs
    costs cache; Conv4 0.48x and 0.80x, MLP1 1.1x of the runs alone, six runs, one thread, so the pack
    saves only each run's process start-up, and its runs' numbers are bit for bit their own alone)."""
    from contextlib import ExitStack
    from pathlib import Path

    from robustrepro.compute.device import set_threads
    from robustrepro.compute.device_data import DeviceData
    from robustrepro.compute.recipe import pick_recipe
    from robustrepro.data.prepared import load_prepared
    from robustrepro.provenance import code_fingerprint
    from robustrepro.runs import run_id
    from robustrepro.training.lock import run_lock
    from robustrepro.training.run_job import end_of_epoch, file_state, open_run
    from robustrepro.views import check_inputs, load_view

    runs = [resolve(r) for r in runs]
    if side_by_side is None:
        side_by_side = pick_device(device).type == "cuda"
    if not packable(runs):
        reasons = [why for why in map(why_not_packable, runs) if why]
        raise ValueError("these runs do not pack: " + (reasons[0] if reasons else
                         f"they differ in more than {', '.join(PACK_KEYS)}, or there are fewer than two"))
    for run in runs:  # the runs' dataset, and a view made for them from that file
        check_inputs(run, prepared_path, view_path)
    if not side_by_side:
        from robustrepro.training.run_job import train_run

        return [train_run(run, prepared_path, view_path, out_dir, path, device, threads, progress=progress,
                          lock_timeout=lock_timeout, precision=precision, channels_last=channels_last,
                          compile=compile) for run, out_dir, path in zip(runs, out_dirs, checkpoint_paths)]
    set_threads(threads)
    code = code_fingerprint()
    torch_device = pick_device(device)
    recipe = pick_recipe(torch_device, runs[0]["model"], precision, channels_last, compile)
    out_dirs, checkpoint_paths = [Path(p) for p in out_dirs], [Path(p) for p in checkpoint_paths]
    before = [file_state(path) for path in checkpoint_paths]
    with ExitStack() as locks:
        # As train_run: a checkpoint that changed while we waited for its lock was written by the holder.
        waited = [locks.enter_context(run_lock(path, run_id(run), lock_timeout)).waited and file_state(path) != b
                  for run, path, b in zip(runs, checkpoint_paths, before)]
        prepared, view = load_prepared(prepared_path), load_view(view_path)
        data = DeviceData(prepared, view, torch_device, runs[0]["augment"], recipe.channels_last)
        inputs = {"prepared": prepared_path, "view": view_path}
        metrics: list[dict | None] = []
        trainers = []
        for run, out_dir, path, was_waited in zip(runs, out_dirs, checkpoint_paths, waited):
            trainer, done = open_run(run, prepared, view, torch_device, out_dir, path, code, was_waited, inputs,
                                     recipe=recipe, data=data)
            while done is None and trainer.step_in_epoch:  # a mid-epoch checkpoint: finish that epoch alone
                done = end_of_epoch(trainer, trainer.fit_epoch(), path, out_dir)
            metrics.append(done)
            trainers.append(trainer)
        place = {id(t): i for i, t in enumerate(trainers)}
        todo = [t for t, m in zip(trainers, metrics) if m is None]
        pack = Pack(todo) if todo else None
        while pack is not None and pack.active:
            for trainer, row in pack.fit_epoch():
                i = place[id(trainer)]
                done = end_of_epoch(trainer, row, checkpoint_paths[i], out_dirs[i])
                if done is not None:
                    metrics[i] = done
    return metrics
