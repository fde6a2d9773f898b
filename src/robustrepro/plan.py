"""What a build will do, said before it starts: runs per paper, the data each needs, the time.

`make reproduce` builds every target at a scale. Some datasets cannot be had on some machines
(CIFAR-10 offline), so the workflow asks this module which datasets are there or can be
downloaded, builds the targets whose runs need only those, and lists the others with the reason
and the fix (at the start, at the end and in the results index). The time estimate is a cost
model calibrated on this machine's finished runs when there are any.

Imports no torch: the workflow calls it while it builds the DAG.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from robustrepro import clusterings, gpu_cost, paths
from robustrepro.data.availability import Availability, availability, probe_here
from robustrepro.data.registry import DATASETS, DatasetInfo
from robustrepro.data.download import mirror_url
from robustrepro.data.synthetic import synthetic_sizes
from robustrepro.packs import packs
from robustrepro.runs import run_id, view_id


# Real datasets' (train, test) sizes; synthetic stand-ins use robustrepro.data.synthetic's.
SIZES = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000), "cifar10": (50000, 10000),
         "cifar100": (50000, 10000)}

# Forward MFLOPs per example of each model at width 1 on 1x28x28 and 3x32x32 inputs, as
# torch.utils.flop_counter counts them (tests/test_plan.py checks these against the models).
MODEL_MFLOPS = {
    "resnet20": (61.6, 81.1), "resnet32": (105.0, 137.7), "resnet56": (191.7, 251.0), "resnet18": (911.6, 1110.8),
    "preact_resnet56": (192.1, 251.5), "wrn28_10": (8028.4, 10486.7), "wrn40_4": (1988.0, 2597.2),
    "vgg16_bn": (535.3, 626.4), "lenet": (0.833, 1.303), "perceptron": (0.016, 0.061), "mlp1": (0.407, 1.578),
    "mlp2": (0.47, 1.641), "mlp4": (0.485, 1.656), "conv4": (20.7, 32.1),
    "tinyconv": (0.00755, 0.0254),
}
# Seed 004's brute-force orderings (robustrepro.training.perfect_ordering) train and test their
# runs side by side, this many to a vmapped call or so: the plan counts such calls as its steps.
SIDE_BY_SIDE_RUNS = 64

# The CPU cost model's defaults when this machine has no finished run to calibrate on: seconds to
# start a training job (process, torch import, data load), seconds per optimizer step (Python, kernel
# launches, sampler work: this dominates tiny models) and sustained training GFLOP/s (forward +
# backward = 3x forward): bench/calibrate_plan.py's fit to the 141 training jobs of `make reproduce`
# from a fresh clone on 2026-12-06 at commit 7b15d6a, the convolutional models in channels_last
# (2-core x86_64 CPU, one thread a job, two jobs at once; docs/running.md has the estimate against
# the measured time). On CUDA the plan uses the H100 model of
# robustrepro.gpu_cost instead, with the packs the workflow trains there.
DEFAULT_RATES = {"cpu": (4.5, 0.0165, 56.4)}
# Seconds of each job of a build other than training, counted for every view, feature extraction,
# set cover and evaluation still to build; on the CPU it also carries the light jobs (tables,
# figures, reports), as the same fit spread them. An evaluation counts as one such job, whatever its
# attack costs.
OTHER_JOB_S = {"cpu": 5.9, "cuda": 10.0}


def _compute_seconds(run: dict, device: str) -> float:
    """A run's steps and arithmetic at the default rates, alone: what its metrics' wall_time_s measures."""
    work = run_work(run)
    if device == "cuda":
        return gpu_cost.job_time(run["model"]["name"], [work]).compute_s
    _, step_s, gflop_s = DEFAULT_RATES[device]
    return work[0] * step_s + work[1] / gflop_s


def _seconds(run: dict, device: str, factor: float = 1.0) -> float:
    """A training job on the CPU: its start-up (process, imports, data) and its compute, scaled by `factor`."""
    return DEFAULT_RATES[device][0] + factor * _compute_seconds(run, device)


def gpu_jobs(runs: dict[str, dict], packed: bool = True) -> list[tuple[list[str], gpu_cost.GpuTime]]:
    """The jobs that train `runs` (run id -> resolved run) on one GPU, each with its run ids and time:
    one per pack (robustrepro.packs, side by side) when `packed`, one per other run."""
    groups = list(packs(runs).values()) if packed else []
    packed_ids = {rid for members in groups for rid in members}
    groups += [[rid] for rid in runs if rid not in packed_ids]
    return [(members, gpu_cost.job_time(runs[members[0]]["model"]["name"], [run_work(runs[rid]) for rid in members]))
            for members in groups]


def gpu_cost_of(runs: dict[str, dict], packed: bool = True) -> gpu_cost.GpuCost:
    """What training `runs` costs on one H100, one job at a time, at the default rates."""
    return gpu_cost.GpuCost(tuple(job for _, job in gpu_jobs(runs, packed)))


def dataset_sizes(name: str) -> tuple[int, int]:
    info = DATASETS[name]
    return synthetic_sizes(info.num_classes) if info.is_synthetic else SIZES[name]


def run_work(run: dict) -> tuple[float, float]:
    """(optimizer steps, forward GFLOPs) a resolved run needs: training plus one test pass an epoch."""
    info = DATASETS[run["dataset"]]
    n_train, n_test = dataset_sizes(run["dataset"])
    n_train = min(n_train, run["train_subset"] or n_train) - (run["holdout"] or {}).get("size", 0)
    n_test = min(n_test, run["test_subset"] or n_test)
    n_train *= 1 + (run["noise"].get("alpha", 0) if run["noise"]["kind"] == "alpha" else 0)
    n_train *= run["sampler"].get("ratio", 1.0) * ((run.get("clustering") or {}).get("share", 1.0))
    model = run["model"]
    mflops = MODEL_MFLOPS.get(model["name"], (100.0, 100.0))[0 if info.size <= 28 else 1]
    mflops *= (model.get("width", 1.0) or 1.0) ** 2
    if run.get("orderings"):
        return _orderings_work(run, mflops)
    per_epoch = math.ceil(max(n_train, 1) / run["batch_size"])
    if run.get("iterations"):  # an iteration budget: its epochs are as many as its steps take
        steps, epochs = run["iterations"], run["iterations"] / per_epoch
    else:
        epochs = run["epochs"]
        steps = epochs * per_epoch
    gflops = epochs * (3 * n_train + n_test) * mflops / 1000
    scored, trials = _scoring(run)
    gflops += steps * scored * mflops / 1000
    return steps * (1 + trials), gflops


def _orderings_work(run: dict, mflops: float) -> tuple[float, float]:
    """Every order of the batches in epoch 1, `keep` runs' worth of them in every later epoch, each
    trained on the view's examples and tested on `test_size` images."""
    orderings = run["orderings"]
    n_train = run["shaping"].get("size") or run["train_subset"] or dataset_sizes(run["dataset"])[0]
    batches = max(1, n_train // run["batch_size"])
    orders = math.factorial(batches)
    trained = orders * (1 + (run["epochs"] - 1) * orderings["keep"])
    calls = trained * (batches + math.ceil(orderings["test_size"] / orderings["loss_batch"])) / SIDE_BY_SIDE_RUNS
    return calls, trained * (3 * n_train + orderings["test_size"]) * mflops / 1000


def _scoring(run: dict) -> tuple[float, int]:
    """(forward passes of examples, trial updates) a sampler adds per optimizer step: seed 004's orderers
    score K candidate batches under the model (loss_order, loss_sample) or try one update on each
    (loss_delta: forward and backward, 3x a forward, then the loss before and after on the scored batch)."""
    sampler, batch = run["sampler"], run["batch_size"]
    k = sampler.get("candidates", 0)
    if sampler["name"] in ("loss_order", "loss_sample"):
        return k * batch, 0
    if sampler["name"] == "loss_delta":
        scored = 2 * batch if sampler.get("score_on", "same") == "same" else sampler.get("external_size", 512)
        return k * (3 * batch + scored), k if sampler.get("trials", "sequential") == "sequential" else 1
    return 0, 0


def finished_runs(results: str | Path) -> list[tuple[dict, float, str]]:
    """(run, wall seconds, device) of every run with a metrics.json under results/*/runs/."""
    out = []
    for path in Path(results).glob("*/runs/*/metrics.json"):
        try:
            metrics = json.loads(path.read_text())
            provenance = metrics["provenance"]
            # The device of the processes that trained it (the last one when it was resumed).
            device = provenance["sessions"][-1]["device"] if provenance.get("sessions") else provenance["device"]
            out.append((provenance["run"], float(metrics["wall_time_s"]), str(device)))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written or foreign file says nothing about speed
    return out


def calibration(finished: list[tuple[dict, float, str]], device: str) -> tuple[float, str]:
    """How much slower (>1) or faster this machine computes than the default rates, and on what
    evidence: the finished runs' measured training time over the time the rates give them, summed, so
    that the long runs, which make up a build's time, weigh the most. On a GPU the finished runs of a
    pack count once, as their pack (whose wall time each of them records): `pack: auto` packs there."""
    mine = [(run, seconds) for run, seconds, dev in finished
            if (not dev.startswith("cpu")) == (device == "cuda") and seconds > 0]
    if device == "cuda":
        walls = {run_id(run): seconds for run, seconds in mine}
        jobs = gpu_jobs({run_id(run): run for run, _ in mine})
        pairs = [(max(walls[rid] for rid in members), job.compute_s) for members, job in jobs]
    else:
        pairs = [(seconds, _compute_seconds(run, device)) for run, seconds in mine]
    if not pairs:
        return 1.0, f"default {device} rates (no finished run on this machine to calibrate on)"
    factor = sum(seconds for seconds, _ in pairs) / max(sum(model for _, model in pairs), 1e-9)
    return factor, f"calibrated on {len(mine)} finished {device} run(s) here"


def estimate_seconds(runs: list[dict] | dict[str, dict], device: str, factor: float, jobs: int, other_jobs: int = 0,
                     packed: bool = True) -> float:
    """Wall time of training `runs` (a list, or run id -> run) and running `other_jobs` jobs besides
    (views, extractions, set covers, evaluations), `jobs` at once on a CPU; one at a time on the GPU, a
    pack's runs side by side in one job (unless not `packed`)."""
    if device == "cuda":
        by_id = runs if isinstance(runs, dict) else {run_id(run): run for run in runs}
        each = [job.start_s + factor * job.compute_s for _, job in gpu_jobs(by_id, packed)]
    else:
        each = [_seconds(run, device, factor) for run in (runs.values() if isinstance(runs, dict) else runs)]
    total = sum(each) + other_jobs * OTHER_JOB_S[device]
    # No build is shorter than its longest job.
    return max(total / max(1, jobs if device == "cpu" else 1), max(each, default=0.0))


@dataclass
class PaperPlan:
    slug: str
    runs: int
    to_train: int
    datasets: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # target -> why it is not built
    seconds: float = 0.0  # the estimate for its runs to train (a run shared with another paper counts in both)
    all_runs: int = 0  # every run of the paper, its data here or not
    gpu: gpu_cost.GpuCost | None = None  # at paper scale: those of them still to train on one H100


def describe_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_plan(scale: str, papers: list[PaperPlan], datasets: dict[str, Availability], estimate: str,
                gpu_total: gpu_cost.GpuCost | None = None) -> str:
    lines = [f"robustrepro plan ({scale} scale):"]
    for p in papers:
        built = "all targets" if not p.skipped else f"{len(p.skipped)} target(s) skipped"
        cost = f" (about {describe_seconds(p.seconds)})" if p.to_train else ""
        lines.append(f"  {p.slug}: {p.runs} runs, {p.to_train} to train{cost}; data {', '.join(p.datasets)}; {built}")
    for a in datasets.values():
        lines.append(f"  data {a.dataset}: {'available' if a.ok else 'MISSING'}, {a.how}")
        if not a.ok:
            lines.append(f"    fix: {a.fix}")
    lines.append(f"  estimated time: {estimate}")
    if gpu_total is not None:
        lines += gpu_cost.format_papers([(p.slug, p.all_runs, p.gpu) for p in papers if p.gpu], gpu_total)
    if any(p.skipped for p in papers):
        lines.append("  not built, for missing data (the rest is built, and these do not fail the command):")
        for p in papers:
            for dataset in sorted({d for why in p.skipped.values() for d in p.datasets if f"needs {d}:" in why}):
                names = [t for t, why in p.skipped.items() if f"needs {dataset}:" in why]
                lines.append(f"    {p.slug} (needs {dataset}): {', '.join(names)}")
    return "\n".join(lines)


class AllTargets:
    """What `all` builds at a scale: every target whose runs' data can be had here, and why each
    other one is left out. A build probes each missing dataset's download URL once (robustrepro.data.availability);
    a dry run probes no network URL and counts such a dataset as to be downloaded."""

    def __init__(self, pipeline, scale: str, data: dict, prepared: str, dry_run: bool = False):
        self.pipeline, self.scale, self.data, self.prepared = pipeline, scale, data, prepared
        runs = pipeline.scale(scale).runs
        names = sorted({run["dataset"] for run in runs.values()})
        self.datasets = {name: self._availability(DATASETS[name], dry_run) for name in names}

    def _availability(self, info: DatasetInfo, dry_run: bool) -> Availability:
        found = availability(info, self.data, self.prepared, probe=False)
        if found.ok or not dry_run:
            return found if found.ok else availability(info, self.data, self.prepared)
        raw = info.files[0]
        url = mirror_url(self.data["mirror"], raw) if self.data.get("mirror") else raw.urls[0]
        if probe_here(url):
            return availability(info, self.data, self.prepared)
        return Availability(info.name, True, f"not here: to download from {url.rsplit('/', 1)[0]}/ (a dry run does not "
                            "probe the network: a build does, and leaves its targets out if it cannot be had)")

    def groups(self, slug: str) -> tuple[tuple[str, ...], dict[str, str]]:
        """The run groups of a paper whose datasets can all be had, and why each other one cannot."""
        ready, missing = [], {}
        for group in self.pipeline.papers[slug].groups:
            datasets = self.pipeline.group_datasets(self.scale, slug, group.name)
            absent = [d for d in datasets if not self.datasets[d].ok]
            if absent:
                missing[group.name] = "; ".join(f"needs {d}: {self.datasets[d].how}; to get it: {self.datasets[d].fix}"
                                                for d in absent)
            else:
                ready.append(group.name)
        return tuple(ready), missing

    def skipped(self, slug: str) -> dict[str, str]:
        """Targets of a paper left out of `all` (and of the index's inputs), with why."""
        ready, missing = self.groups(slug)
        needs = {t.name: [*t.groups, *([t.images] if t.images else [])] for t in self.pipeline.papers[slug].targets}
        return {name: next(missing[g] for g in groups if g in missing)
                for name, groups in needs.items() if not set(groups) <= set(ready)}

    def all_skipped(self) -> dict[str, str]:
        return {f"{slug}/{target}": why for slug in self.pipeline.papers for target, why in self.skipped(slug).items()}

    def paper_outputs(self, slug: str) -> list[str]:
        """Every file of a paper that can be built here: its targets whose data can be had, its
        comparison and claims (over the groups that can be built; the rest show as not run), and the
        table of its runs."""
        return self.report_inputs(slug) + self.report_files(slug)

    def report_inputs(self, slug: str) -> list[str]:
        """What the paper's report assembles: its buildable targets, comparison, claims and runs table."""
        skipped = self.skipped(slug)
        out = [paths.target_file(self.scale, slug, t.name, ext) for t in self.pipeline.papers[slug].targets
               if t.name not in skipped for ext in t.outputs()]
        return out + [paths.target_file(self.scale, slug, name, ext)
                      for name, ext in (("comparison", ".tex"), ("comparison", ".csv"), ("claims", ".csv"),
                                        ("runs", ".csv"))]

    def report_files(self, slug: str) -> list[str]:
        """The paper's report: its LaTeX, and the PDF where pdflatex is installed here."""
        tex = paths.target_file(self.scale, slug, "report", ".tex")
        return [tex, tex.removesuffix(".tex") + ".pdf"] if shutil.which("pdflatex") else [tex]

    def files(self) -> list[str]:
        return [f for slug in self.pipeline.papers for f in self.paper_outputs(slug)]

    def _other_jobs(self, runs) -> set[str]:
        """The views, extractions and set covers that `runs` need and that are not on disk yet."""
        needed = set()
        for run in runs:
            view = view_id(run)
            needed.add(paths.view(self.scale, view))
            if run.get("clustering"):
                needed.add(paths.vectors(self.scale, clusterings.vectors_id(run["clustering"], view)))
                needed.add(paths.cover(self.scale, clusterings.cluster_id(run["clustering"], view)))
        return {path for path in needed if not Path(path).is_file()}

    def text(self, jobs: int) -> str:
        """The plan printed before anything runs: runs per paper, data, and the estimated time; at paper
        scale also each paper's GPU-hours on one H100 (robustrepro.gpu_cost)."""
        device, scale = self.pipeline.device, self.scale
        factor, basis = calibration(finished_runs(paths.RESULTS), device)
        packed = self.pipeline.pack_setting is not False
        done: dict[str, bool] = {}

        def to_train(rid: str) -> bool:
            if rid not in done:
                done[rid] = Path(self.pipeline.finished_file(scale, rid)).is_file()
            return not done[rid]

        plans, todo, other, gpu_todo = [], {}, set(), {}
        for slug, paper in self.pipeline.papers.items():
            ready, _ = self.groups(slug)
            rows = self.pipeline.runs(scale, slug)
            ids = {r["run_id"]: r["run"] for r in rows if r["group"] in ready}
            waiting = {rid: run for rid, run in ids.items() if to_train(rid)}
            todo.update(waiting)  # a run two papers share trains once
            evals = {e["eval_id"] for e in self.pipeline.evaluations(scale, slug) if e["group"] in ready
                     and not Path(paths.evaluation(scale, e["eval_id"])).is_file()}
            others = self._other_jobs(waiting.values()) | evals
            other |= others
            datasets = sorted({r["run"]["dataset"] for r in rows})
            seconds = estimate_seconds(waiting, device, factor, jobs, len(others), packed)
            paper_plan = PaperPlan(slug, len(ids), len(waiting), datasets, self.skipped(slug), seconds)
            if scale == "paper":
                every = {r["run_id"]: r["run"] for r in rows}
                unfinished = {rid: run for rid, run in every.items() if to_train(rid)}
                gpu_todo.update(unfinished)
                paper_plan.all_runs, paper_plan.gpu = len(every), gpu_cost_of(unfinished)
            plans.append(paper_plan)
        seconds = estimate_seconds(todo, device, factor, jobs, len(other), packed)
        estimate = (f"{describe_seconds(seconds)} for {len(todo)} run(s) and {len(other)} other job(s) (views, "
                    f"set covers, evaluations) on {device} with {jobs} job(s) at once ({basis})")
        gpu_total = None
        if scale == "paper":  # the papers' jobs together, unless a run two papers share would count twice
            shared = sum(p.gpu.runs for p in plans) != len(gpu_todo)
            gpu_total = gpu_cost_of(gpu_todo) if shared else gpu_cost.GpuCost(sum((p.gpu.jobs for p in plans), ()))
        text = format_plan(scale, plans, self.datasets, estimate, gpu_total)
        if not shutil.which("pdflatex"):
            text += ("\n  reports: report.tex only, pdflatex is not installed here (e.g. apt install "
                     "texlive-latex-recommended, or compile report.tex elsewhere) for each paper's report.pdf")
        return text
