"""One table of the benches' headline numbers on one machine: what a GPU machine has to show (issue 15).

    PYTHONPATH=src bash bench/device-check.sh                  # a CUDA GPU: under 8 minutes
    PYTHONPATH=src bash bench/device-check.sh --quick [CSV]    # tiny sizes, a few steps each
    DEVICE=cpu bash bench/device-check.sh                      # the same reduced mode on the CPU

Each row is one measurement, run in its own try block under its own time cap, inside a budget for
the whole check: a failure, or a cap or the budget running out, becomes that row's value
("failed: ...", "skipped: ...") and the rest still run. Rows that need CUDA (GPU busy share, the
torch.compile epochs) say "skipped: needs CUDA" on a CPU. The table goes to stdout as markdown and
to a CSV (the argument, else $OUT/device-check.csv when $OUT is set, else ./device-check.csv);
progress goes to stderr. Needs torch, numpy, pandas and tqdm (robustrepro's trainer); torchvision
for the DataLoader baselines' ratios and torchattacks for the attack rows, which say so without
them. All data is random, of the datasets' shapes: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import signal
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from robustrepro.compute.device import device_name, pick_device

HERE = Path(__file__).resolve().parent
COLUMNS = ("what", "setting", "value", "unit", "ratio", "goal", "device")
OPTIMIZER = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}  # bench_trainer's
AUGMENT = {"crop": 4, "flip": True}
CIFAR_EPOCH = 50_000

# Full sizes for a CUDA machine, and the reduced mode's (a CPU, or --quick), which only show that
# every measurement runs: its numbers mean little.
FULL = dict(batch=128, warmup=5, mlp_size=60_000, mlp_steps=2000, conv_steps=100, wrn_steps=50, width=1.0,
            wrn_width=1.0, epoch_images=CIFAR_EPOCH, epoch_steps=None, busy_images=10_000, pack_runs=12,
            sbs_runs=720, sbs_loop=100, repeats=3, cover=(50_000, 512), facility=(50_000, 200),
            attack=(128, 1.0, 10, 5), reweight=(100, 1.0, 50), budget=450, cap=90, compile_cap=200)
QUICK = dict(batch=8, warmup=1, mlp_size=500, mlp_steps=10, conv_steps=2, wrn_steps=2, width=0.25,
             wrn_width=0.1, epoch_images=256, epoch_steps=3, busy_images=128, pack_runs=2, sbs_runs=12,
             sbs_loop=3, repeats=1, cover=(2000, 64), facility=(1000, 10), attack=(8, 0.25, 2, 1),
             reweight=(8, 0.25, 2), budget=150, cap=40, compile_cap=120)


@dataclass
class Result:
    value: float
    setting: str
    ratio: float | None = None


@dataclass
class Check:
    what: str
    unit: str
    run: Callable[[], Result]
    setting: str = ""  # what a failed or skipped row says it was
    goal: str = ""
    met: Callable[[Result], bool] | None = None  # judges the goal, on CUDA at full size only
    cuda_only: bool = False
    cap: float | None = None


@dataclass
class Context:
    device: torch.device
    sizes: dict
    done: dict = field(default_factory=dict)  # what -> Result, for rows that compare with earlier ones

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def precision(self) -> str:
        return "bf16 autocast + channels_last" if self.cuda else "fp32 (CPU)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- trainer throughput, epochs, busy share -----------------------------------------------------

def model_section(name: str, width: float) -> dict:
    return {"name": name} if width == 1 else {"name": name, "width": width}


def conv_run(name: str, ctx: Context, **extra) -> dict:
    # The reduced mode narrows the networks, so a CPU step takes milliseconds.
    model = model_section(name, ctx.sizes["wrn_width" if name.startswith("wrn") else "width"])
    return {"model": model, "batch_size": ctx.sizes["batch"], "optimizer": OPTIMIZER, "augment": AUGMENT, **extra}


def workers(ctx: Context) -> int:
    return min(8, os.cpu_count() or 1) if ctx.cuda else 0  # bench_trainer's default


def mlp_throughput(ctx: Context) -> Result:
    from bench_trainer import NormalisedItems, dataloader_throughput, mnist, trainer_throughput
    from robustrepro.noise import make_view

    s = ctx.sizes
    prepared, source = mnist(None, s["mlp_size"])
    view = make_view(prepared.train_y, prepared.test_y, 10, {"noise": {"kind": "alpha", "alpha": 50}})
    run = {"model": {"name": "mlp1"}, "batch_size": s["batch"], "optimizer": OPTIMIZER}
    ours = trainer_throughput(run, prepared, view, ctx.device, s["mlp_steps"], s["warmup"])
    dataset = NormalisedItems(prepared.train_x, view.train_indices, view.train_labels)
    theirs = dataloader_throughput(run, prepared, dataset, ctx.device, s["mlp_steps"], s["warmup"], workers(ctx))
    return Result(ours, f"{source}, {len(view.train_indices):,} examples, batch {s['batch']}, {s['mlp_steps']} "
                        f"steps; ratio: trainer / DataLoader loop ({workers(ctx)} workers)", ours / theirs)


def conv_throughput(name: str, steps_key: str, ctx: Context) -> Result:
    from bench_trainer import AugmentedItems, cifar_shaped, dataloader_throughput, trainer_throughput
    from robustrepro.noise import make_view

    s, steps = ctx.sizes, ctx.sizes[steps_key]
    prepared = cifar_shaped(s["batch"] * (s["warmup"] + steps + 1))
    view = make_view(prepared.train_y, prepared.test_y, 10, {})
    run = conv_run(name, ctx)
    ours = trainer_throughput(run, prepared, view, ctx.device, steps, s["warmup"])
    setting = (f"CIFAR-shaped random, width {run['model'].get('width', 1)}, batch {s['batch']}, crop + flip, "
               f"{ctx.precision()}, eager, {steps} steps")
    try:
        dataset = AugmentedItems(prepared.train_x, view.train_indices, view.train_labels, crop=4)
    except ImportError as e:  # the baseline is torchvision's pipeline
        return Result(ours, f"{setting}; no DataLoader ratio: {e}")
    theirs = dataloader_throughput(run, prepared, dataset, ctx.device, steps, s["warmup"], workers(ctx))
    return Result(ours, f"{setting}; ratio: trainer / DataLoader loop ({workers(ctx)} workers)", ours / theirs)


def epoch_time(name: str, compile: bool, ctx: Context) -> Result:
    from bench_trainer import cifar_shaped, timed_steps
    from robustrepro.noise import make_view
    from robustrepro.runs import resolve
    from robustrepro.training import Trainer

    s = ctx.sizes
    prepared = cifar_shaped(s["epoch_images"])
    view = make_view(prepared.train_y, prepared.test_y, 10, {})
    from robustrepro.compute.recipe import pick_recipe

    run = resolve(conv_run(name, ctx))
    trainer = Trainer(run, prepared, view, ctx.device, pick_recipe(ctx.device, run["model"], compile=compile))
    full = s["epoch_images"] // s["batch"]
    # Never the epoch's last, shorter batch: a new shape, which torch.compile would compile anew.
    steps = min(s["epoch_steps"] or full, full - s["warmup"])
    seconds = timed_steps(trainer, steps, s["warmup"]) * CIFAR_EPOCH / (steps * s["batch"])
    setting = (f"{CIFAR_EPOCH:,} images an epoch, batch {s['batch']}, width {s['width']}, crop + flip on the device, "
               f"{ctx.precision()}, {'torch.compile' if compile else 'eager'}; {steps} steps timed after "
               f"{s['warmup']} warm-up, scaled to the epoch; training steps only")
    eager = ctx.done.get(f"epoch time: {name}, eager")
    if not compile or eager is None:
        return Result(seconds, setting)
    return Result(seconds, setting + "; ratio: eager / compiled", eager.value / seconds)


def busy_fraction(intervals: list[tuple[float, float]], wall: float) -> float:
    """The share of `wall` covered by the union of the (start, end) intervals, in the same unit."""
    busy, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            busy += end - max(start, reach)
            reach = end
    return busy / wall


def busy_share(name: str, ctx: Context) -> Result:
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from bench_trainer import cifar_shaped
    from robustrepro.noise import make_view
    from robustrepro.runs import resolve
    from robustrepro.training import Trainer

    s = ctx.sizes
    prepared = cifar_shaped(s["busy_images"])
    view = make_view(prepared.train_y, prepared.test_y, 10, {})
    trainer = Trainer(resolve(conv_run(name, ctx, epochs=2)), prepared, view, ctx.device)
    trainer.fit_epoch()  # warm-up: cudnn's autotuning, the allocator
    sync(ctx.device)
    # Kernels only: recording the CPU side's ops would slow the very launches that keep the GPU fed.
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        trainer.fit_epoch()
        sync(ctx.device)
        wall = time.perf_counter() - start
    kernels = [(e.time_range.start, e.time_range.end) for e in prof.events() if e.device_type == DeviceType.CUDA]
    if not kernels:
        raise RuntimeError("the profiler recorded no CUDA kernels")
    share = 100 * min(1.0, busy_fraction(kernels, wall * 1e6))  # time_range is in microseconds
    return Result(share, f"one epoch of {s['busy_images']:,} CIFAR-shaped images (fit_epoch: steps, then the "
                         f"test set), batch {s['batch']}, {ctx.precision()}, eager, after a warm-up epoch; "
                         f"kernel time (torch.profiler, union) / wall time {wall:.2f} s")


def pack_throughput(ctx: Context) -> Result:
    from bench_pack import SeedNoisyLabels, grid_runs, pack_seconds
    from bench_trainer import dataloader_throughput, mnist
    from robustrepro.noise import make_view

    s = ctx.sizes
    prepared, source = mnist(None, s["mlp_size"])
    view = make_view(prepared.train_y, prepared.test_y, 10, {"noise": {"kind": "alpha", "alpha": 50}})
    runs = grid_runs(s["pack_runs"], s["batch"])
    steps = s["mlp_steps"] // 4  # a pack's step trains every run
    ours = s["pack_runs"] * s["batch"] * steps / pack_seconds(runs, prepared, view, ctx.device, steps, s["warmup"])
    try:
        seed_set = SeedNoisyLabels(prepared.train_x, prepared.train_y, 50)
    except ImportError as e:  # the seed's items are torchvision's
        return Result(ours, f"{source}, {s['pack_runs']} runs of seed 003's grid point; no seed-loop ratio: {e}")
    theirs = dataloader_throughput(runs[0], prepared, seed_set, ctx.device, steps, s["warmup"], workers=0)
    return Result(ours, f"{source}, {s['pack_runs']} runs (lr x seed) of mlp1 at alpha 50, Adadelta, batch "
                        f"{s['batch']}, {steps} steps, model-examples/s; ratio: pack / seed 003's loop (torchvision "
                        "items, NoisyLabelDataset, DataLoader)", ours / theirs)


# --- side by side, selection, attacks, reweight ------------------------------------------------------

def side_by_side(ctx: Context) -> Result:
    import bench_side_by_side as b

    s = ctx.sizes
    model, x, y, test_x, test_y = b.setting("tinyconv", ctx.device)
    sgd = {"lr": 0.05}
    side = b.runs_per_second(lambda n: b.side_by_side(model, x, y, test_x, test_y, n, sgd, True), s["sbs_runs"],
                             ctx.device, s["repeats"])
    loop = b.runs_per_second(lambda n: b.loop(model, x, y, test_x, test_y, n, sgd), s["sbs_loop"], ctx.device,
                             s["repeats"])
    return Result(side, f"seed 004's epoch 1: tinyconv, {s['sbs_runs']} orders of {b.BATCHES} batches of {b.BATCH} "
                        f"side by side, {b.TEST} test images each; best of {s['repeats']}; ratio: side by side / "
                        f"a loop of {s['sbs_loop']} single runs", side / loop)


def set_cover(ctx: Context) -> Result:
    import bench_setcover as b
    from robustrepro.selection.neighbours import radius_neighbours
    from robustrepro.selection.setcover import lazy_greedy_set_cover, plain_greedy_set_cover
    from robustrepro.selection.setcover import set_cover_from_neighbours

    n, d = ctx.sizes["cover"]
    points = b.blobs(n, d, 0)
    radius = b.nn_radius(points, 0.2, ctx.device, 0)
    radius_neighbours(points[:500], radius, ctx.device.type)  # warm-up, as the bench does
    nbrs, t_dist = b.timed(lambda: radius_neighbours(points, radius, ctx.device.type), ctx.device)
    cover, t_greedy = b.timed(lambda: set_cover_from_neighbours(nbrs), ctx.device)
    setting = (f"{n:,} x {d} blobs (bench_setcover), radius {radius:.3f}: {cover.n_clusters:,} clusters; "
               f"blocked distances {t_dist:.2f} s + lazy greedy {t_greedy:.2f} s")
    if n <= 10_000:  # the bench's --dense-max: the whole N x N matrix fits
        dense, t_dense = b.timed(lambda: b.dense_neighbours(points, radius, ctx.device), ctx.device)
        _, t_plain = b.timed(lambda: plain_greedy_set_cover(dense), ctx.device)
        return Result(t_dist + t_greedy, f"{setting}; ratio: dense cdist + non-lazy greedy / ours",
                      (t_dense + t_plain) / (t_dist + t_greedy))
    _, t_plain = b.timed(lambda: plain_greedy_set_cover(nbrs), ctx.device)
    _, t_lazy = b.timed(lambda: lazy_greedy_set_cover(nbrs), ctx.device)
    return Result(t_dist + t_greedy, f"{setting}; ratio: non-lazy / lazy greedy (greedy stage only)", t_plain / t_lazy)


def facility(ctx: Context) -> Result:
    # Through its command line: bench_facility.py is being rewritten, its functions may move.
    n, plain_steps = ctx.sizes["facility"]
    command = [sys.executable, str(HERE / "bench_facility.py"), "--device", ctx.device.type, "--sizes", str(n),
               "--plain-steps", str(plain_steps), "--threads", str(torch.get_num_threads())]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # the cap's alarm kills it
    if out.returncode:
        raise RuntimeError(f"bench_facility.py exited {out.returncode}: {out.stderr.strip().splitlines()[-1:]}")
    for line in out.stdout.splitlines():
        words = line.split()
        if len(words) >= 4 and words[0] == str(n):
            plain_s, lazy_s = float(words[1]), float(words[2])
            return Result(lazy_s, f"bench_facility.py --sizes {n} --plain-steps {plain_steps}: 10 classes of 10-dim "
                                  f"unit vectors, ratio 0.4 selected; ratio: plain greedy ({plain_s:.2f} s, first "
                                  f"{plain_steps} steps per class, scaled) / lazy greedy", plain_s / lazy_s)
    raise RuntimeError(f"no row for N = {n} in bench_facility.py's output: {out.stdout.strip().splitlines()[-1:]}")


def attack(name: str, ctx: Context) -> Result:
    import bench_attacks as b

    batch, width, iterations, repeats = ctx.sizes["attack"]
    model, x, y = b.setting(width, batch, ctx.device)
    config, reference = next((c, r) for n, c, r in b.pairs(8 / 255, 2 / 255, iterations, model) if n == name)
    ours, theirs, diff = b.compare(config, reference, model, x, y, repeats)
    return Result(ours, f"resnet20 width {width}, batch {batch}, eps 8/255, {iterations} iterations, best of "
                        f"{repeats}; largest difference from theirs {diff:.1e}; ratio: ours / torchattacks 3.5.1",
                  ours / theirs)


def reweight(name: str, ctx: Context) -> Result:
    from bench_reweight import step_ms

    s = ctx.sizes
    batch, width, steps = s["reweight"]
    width = 1.0 if name == "lenet" else width  # LeNet is small as it is
    plain, reweighted = step_ms(model_section(name, width), batch, steps, s["warmup"], batch, s["repeats"],
                                ctx.device)
    return Result(reweighted, f"{name} width {width}, batch {batch} + {batch} clean examples, {steps} steps, best "
                              f"of {s['repeats']}; plain step {plain:.1f} ms; ratio: reweight / plain",
                  reweighted / plain)


def checks(ctx: Context) -> list[Check]:
    s = ctx.sizes
    epoch_goals = {"resnet18": 5.0, "resnet32": 2.0}
    rows = [
        Check("trainer throughput: mlp1, alpha 50", "ex/s", lambda: mlp_throughput(ctx),
              "MNIST-shaped, bench_trainer (a)"),
        *(Check(f"trainer throughput: {name}", "img/s", lambda name=name, k=k: conv_throughput(name, k, ctx),
                "CIFAR-shaped, crop + flip")
          for name, k in (("resnet18", "conv_steps"), ("resnet32", "conv_steps"), ("wrn28_10", "wrn_steps"))),
        *(Check(f"epoch time: {name}, eager", "s", lambda name=name: epoch_time(name, False, ctx),
                f"{CIFAR_EPOCH:,} CIFAR-shaped images", f"<= {goal:g} s on H100/H200",
                lambda r, goal=goal: r.value <= goal)
          for name, goal in epoch_goals.items()),
        *(Check(f"GPU busy share: {name}", "%", lambda name=name: busy_share(name, ctx), "training, eager",
                "> 90 %", lambda r: r.value > 90, cuda_only=True)
          for name in ("resnet32", "resnet18")),
        Check("pack: mlp1, alpha 50", "ex/s", lambda: pack_throughput(ctx), "bench_pack",
              ">= 20x seed 003's loop", lambda r: r.ratio is not None and r.ratio >= 20),
        Check("side by side: perfect ordering", "runs/s", lambda: side_by_side(ctx), "bench_side_by_side"),
        Check("set cover", "s", lambda: set_cover(ctx), f"{s['cover'][0]:,} x {s['cover'][1]}",
              "< 1 s at 50,000 x 512", lambda r: r.value < 1),
        Check("facility location", "s", lambda: facility(ctx), f"N = {s['facility'][0]:,}"),
        *(Check(f"attack: {name} vs torchattacks", "img/s", lambda name=name: attack(name, ctx), "bench_attacks")
          for name in ("fgsm", "bim", "mifgsm", "pgd")),
        *(Check(f"reweight step: {name}", "ms", lambda name=name: reweight(name, ctx), "bench_reweight",
                "ratio <= 3", lambda r: r.ratio <= 3)
          for name in ("lenet", "resnet32")),
        # Last: compiling takes the longest, and should not crowd out the rows above.
        *(Check(f"epoch time: {name}, torch.compile", "s", lambda name=name: epoch_time(name, True, ctx),
                f"{CIFAR_EPOCH:,} CIFAR-shaped images", f"<= {goal:g} s on H100/H200",
                lambda r, goal=goal: r.value <= goal, cuda_only=True, cap=s["compile_cap"])
          for name, goal in epoch_goals.items()),
    ]
    return rows


# --- running them -------------------------------------------------------------------------------

class OverCap(BaseException):
    """Raised by the alarm; a BaseException, so no `except Exception` inside a bench swallows it."""


@contextmanager
def time_cap(seconds: float):
    def stop(signum, frame):
        raise OverCap(f"over its {seconds:.0f} s cap")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def skip_reason(check: Check, ctx: Context) -> str | None:
    if check.cuda_only and not ctx.cuda:
        return "skipped: needs CUDA"
    if check.what.startswith("attack:"):
        try:
            import torchattacks  # noqa: F401
        except ImportError:
            return "skipped: torchattacks is not importable"
    return None


def run_checks(rows: list[Check], ctx: Context, budget: float, default_cap: float, judge: bool,
               out: Path | None = None) -> list[dict]:
    """Every check's row, in order; each in its own try block, under min(its cap, what is left of `budget`).
    The table so far is written to `out` after every row, so a run killed from outside leaves its rows."""
    name = device_name(ctx.device)
    deadline = time.monotonic() + budget
    table = []
    for i, check in enumerate(rows, 1):
        row = {"what": check.what, "setting": check.setting, "value": "", "unit": check.unit, "ratio": "",
               "goal": check.goal, "device": name}
        left = deadline - time.monotonic()
        cap = min(check.cap or default_cap, left)
        skip = skip_reason(check, ctx) or (f"skipped: out of time (the {budget:.0f} s budget)" if left < 5 else None)
        print(f"[{i}/{len(rows)}] {check.what} ...", end=" ", file=sys.stderr, flush=True)
        start = time.monotonic()
        if skip:
            row["value"] = skip
        else:
            try:
                with time_cap(cap):
                    result = check.run()
                ctx.done[check.what] = result
                row.update(setting=result.setting, value=number(result.value),
                           ratio="" if result.ratio is None else number(result.ratio))
                if judge and check.met is not None:
                    row["goal"] += "; met" if check.met(result) else "; missed"
            except (Exception, OverCap, SystemExit) as e:  # a bench says "too few batches" by SystemExit
                traceback.print_exc(file=sys.stderr)
                message = " ".join(str(e).split()) or type(e).__name__
                row["value"] = f"failed: {type(e).__name__}: {message[:200]}"
            finally:
                gc.collect()
                if ctx.cuda:
                    torch.cuda.empty_cache()
        print(f"{row['value']} {row['unit'] if not row['value'][:1].isalpha() else ''}"
              f"({time.monotonic() - start:.1f} s)", file=sys.stderr, flush=True)
        table.append(row)
        if out is not None:
            write_csv(table, out)
    return table


def write_csv(table: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(table)


def number(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def markdown(table: list[dict]) -> str:
    def cell(row, column):
        text = row[column]
        try:  # thousands separators, for reading
            return f"{float(text):,.0f}" if float(text) >= 1000 else text
        except ValueError:
            return text.replace("|", "/")

    lines = ["| " + " | ".join(COLUMNS) + " |", "| --- | --- | ---: | --- | ---: | --- | --- |"]
    lines += ["| " + " | ".join(cell(row, c) for c in COLUMNS) + " |" for row in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv", nargs="?", type=Path, default=None,
                   help="where the CSV goes (default: $OUT/device-check.csv when $OUT is set, else ./device-check.csv)")
    p.add_argument("--device", default=os.environ.get("DEVICE") or "auto", choices=["auto", "cpu", "cuda"],
                   help="default: $DEVICE, else cuda when there is one")
    p.add_argument("--quick", action="store_true", help="tiny sizes, a few steps each (implied on a CPU)")
    p.add_argument("--budget", type=float, default=None, help="seconds for all the checks (default 450; quick 150)")
    p.add_argument("--only", default=None, help="run only the rows whose `what` contains one of these, comma-separated")
    args = p.parse_args(argv)
    out = args.csv or Path(os.environ["OUT"] if os.environ.get("OUT") else ".") / "device-check.csv"

    device = pick_device(args.device)
    quick = args.quick or device.type == "cpu"  # full sizes would take hours on a CPU
    sizes = QUICK if quick else FULL
    if device.type == "cpu":
        # One thread: tiny ops on several threads crawl on a busy machine (each parallel region
        # waits for its slowest thread), and a test suite runs this beside other jobs.
        torch.set_num_threads(1)
    ctx = Context(device, sizes)
    rows = checks(ctx)
    if args.only:
        rows = [c for c in rows if any(word in c.what for word in args.only.split(","))]
    budget = args.budget or sizes["budget"]
    print(f"device check on {device_name(device)}, torch {torch.__version__}: {len(rows)} rows, "
          f"{'reduced mode (tiny sizes)' if quick else 'full sizes'}, {budget:.0f} s budget", file=sys.stderr)
    table = run_checks(rows, ctx, budget, sizes["cap"], judge=ctx.cuda and not quick, out=out)
    write_csv(table, out)  # also when --only leaves no rows
    print(markdown(table))
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
