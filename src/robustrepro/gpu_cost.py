"""What training costs on one H100-class GPU: the plan's GPU cost model, every constant stated.

A training job on the GPU (one run, or one pack) takes its start-up plus the longer of two times:

- FLOP-bound: its training FLOPs (robustrepro.plan.run_work: forward + backward = 3x the forward
  pass of every training example, a test pass an epoch, the samplers' scoring and trial updates)
  at UTILISATION of the H100's bf16 dense peak (the trainer runs bf16 autocast on CUDA);
- step-bound: its optimizer steps at a floor per step that no arithmetic lowers, the host's time
  to issue the step's ops one by one (eager PyTorch: Python, dispatch, one kernel launch each):
  OPS_PER_STEP plus OPS_PER_LAYER for each weight layer of the model, OP_S each.

Small models are step-bound: MLP1's step is 0.6 microseconds of arithmetic at batch 128 and about
half a millisecond of ops. The runs of a pack (robustrepro.packs: a grid point's runs that differ
only in seed and lr) train side by side in one vmapped step (robustrepro.training.pack), which
issues one run's ops for all of them: a pack's FLOPs are its runs' together, its steps one run's,
so it pays one step floor for all its runs.

UTILISATION, OP_S and START_S are assumptions until bench/device-check.sh has run on a GPU;
docs/performance.md ("Paper scale on a GPU") says which of its rows calibrate which. Test passes
between epochs are counted in FLOPs, not in ops. Imports nothing: robustrepro.plan, which the
workflow calls while it builds the DAG, uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

# NVIDIA H100 SXM5, BF16 Tensor Core, dense: the datasheet's 1,979 TFLOPS is with 2:4 sparsity,
# "one-half lower without sparsity"; the Hopper architecture whitepaper gives 989.4. (H100 PCIe:
# 756; an H200 has the same compute as an H100 SXM5.)
H100_BF16_DENSE_TFLOPS = 989.4
# The share of that peak a training step sustains. An assumption: Epoch AI measured 0.3 to 0.75 for
# most architectures on a P100 in fp32 ("Measuring FLOP empirically", epochai.org); an H100's bf16
# peak is about 20x a P100's per byte of memory bandwidth, so the memory-bound norm, activation and
# augmentation kernels between an eager CIFAR network's convolutions weigh more. Calibrated by
# device-check's "trainer throughput: wrn28_10" row: achieved TFLOP/s = img/s x 3 x 10.49 GFLOP / 1000.
UTILISATION = 0.25

# Top-level ops (torch.profiler's aten ops) of one trainer step: OPS_PER_STEP for the batch
# (gather, augmentation, normalisation), loss and optimizer, OPS_PER_LAYER for each weight layer
# (its convolution or linear map with its norm and activation, forward and backward). Counted on the
# CPU under the CUDA recipe (bf16 autocast, channels_last: robustrepro.compute.recipe), whose step
# issues the same ops as on CUDA, SGD with momentum, batch 8: a least-squares fit to MLP1 79 and MLP4
# 125 ops a step (MNIST-shaped), LeNet 161, Conv4 174, VGG-16-BN 466, ResNet-20 555, WRN-28-10 711
# and ResNet-32 843 (CIFAR-shaped, crop + flip; 5 % fewer in fp32); tests/test_plan.py counts MLP1's
# and ResNet-20's again.
OPS_PER_STEP = 42
OPS_PER_LAYER = 25
# Host seconds per op in eager PyTorch on CUDA (Python, dispatch and a kernel launch of a few
# microseconds): an assumption, at the low end of the 5 to 25 us of host work per op usually quoted,
# since many counted ops are views and the backward's run in autograd's C++ engine. Calibrated by device-check's "trainer throughput: mlp1, alpha 50"
# row, whose step is all ops (seconds a step = batch 128 / ex/s), and its "pack: mlp1, alpha 50"
# row for the vmapped step of a pack (12 x 128 / model-examples/s).
OP_S = 6e-6
# Seconds a training job spends before its first step on a GPU node: process, torch import, CUDA
# context, data to the device. An assumption; at paper scale it weighs little.
START_S = 10.0

# Weight layers (convolutions and linear layers) of each model, as robustrepro.models builds them
# (tests/test_plan.py counts them); robustrepro.plan.MODEL_MFLOPS has the same models.
MODEL_LAYERS = {
    "resnet20": 20, "resnet32": 32, "resnet56": 56, "resnet18": 21, "preact_resnet56": 58, "wrn28_10": 29,
    "wrn40_4": 41, "vgg16_bn": 14, "lenet": 5, "perceptron": 1, "mlp1": 2, "mlp2": 3, "mlp4": 4, "conv4": 6,
    "tinyconv": 3,
}
DEFAULT_LAYERS = 20  # a model the table does not know


def sustained_gflop_s() -> float:
    """Training GFLOP/s the model assumes: the bf16 dense peak at the stated utilisation."""
    return H100_BF16_DENSE_TFLOPS * 1000 * UTILISATION


def step_floor_s(model: str) -> float:
    """Seconds an optimizer step of `model` takes on the GPU however little arithmetic it does."""
    return (OPS_PER_STEP + OPS_PER_LAYER * MODEL_LAYERS.get(model, DEFAULT_LAYERS)) * OP_S


@dataclass(frozen=True)
class GpuTime:
    """One training job on the GPU: `runs` runs (a pack when more than one) of `model`."""

    model: str
    runs: int
    steps: float  # optimizer steps (a pack's: one run's, which every step trains all of)
    gflops: float  # training GFLOPs of all its runs
    start_s: float = START_S

    @property
    def flop_s(self) -> float:
        return self.gflops / sustained_gflop_s()

    @property
    def step_s(self) -> float:
        return self.steps * step_floor_s(self.model)

    @property
    def flop_bound(self) -> bool:
        return self.flop_s >= self.step_s

    @property
    def compute_s(self) -> float:
        return max(self.flop_s, self.step_s)

    @property
    def seconds(self) -> float:
        return self.start_s + self.compute_s


def job_time(model: str, works: list[tuple[float, float]]) -> GpuTime:
    """The job that trains runs of `model` with these (steps, GFLOPs) works: alone, or side by side
    in a pack (one run's steps, the longest's, and every run's FLOPs)."""
    return GpuTime(model, len(works), max(steps for steps, _ in works), sum(gflops for _, gflops in works))


@dataclass(frozen=True)
class GpuCost:
    """What a set of jobs costs on one GPU, one job at a time."""

    jobs: tuple[GpuTime, ...]

    @property
    def runs(self) -> int:
        return sum(job.runs for job in self.jobs)

    @property
    def packs(self) -> int:
        return sum(job.runs > 1 for job in self.jobs)

    @property
    def hours(self) -> float:
        return sum(job.seconds for job in self.jobs) / 3600

    @property
    def flop_bound_hours(self) -> float:
        """The hours of its FLOP-bound jobs; the rest, step_bound_hours, are step-bound."""
        return sum(job.seconds for job in self.jobs if job.flop_bound) / 3600

    @property
    def step_bound_hours(self) -> float:
        return self.hours - self.flop_bound_hours

    @property
    def pflops(self) -> float:
        return sum(job.gflops for job in self.jobs) / 1e6


def describe_hours(hours: float) -> str:
    if hours == 0:
        return "0"
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.1f}" if hours >= 1 else f"{hours:.2f}"


def assumptions() -> str:
    """The model's constants in words, as the plan names them once."""
    return (f"bf16 dense peak {H100_BF16_DENSE_TFLOPS:g} TFLOP/s at {UTILISATION:.0%} utilisation; a step at least "
            f"({OPS_PER_STEP} + {OPS_PER_LAYER} a weight layer) ops x {OP_S * 1e6:g} us; a pack's runs side by side, "
            "one step for all; robustrepro.gpu_cost")


def format_papers(papers: list[tuple[str, int, GpuCost]], total: GpuCost) -> list[str]:
    """The plan's lines on GPU-hours: each paper's (name, every run of it, the cost of those to train)
    and the total, under the model's assumptions, named once."""
    hours = describe_hours
    lines = [f"  GPU-hours on one H100 ({assumptions()}), every run of each paper, its data here or not:"]
    for slug, runs, cost in papers:
        packs = f"{cost.packs} pack{'' if cost.packs == 1 else 's'}"
        lines.append(f"    {slug}: {runs} runs, {cost.runs} to train in {len(cost.jobs)} jobs ({packs}): "
                     f"{hours(cost.hours)} GPU-h ({hours(cost.flop_bound_hours)} FLOP-bound, "
                     f"{hours(cost.step_bound_hours)} step-bound)")
    lines.append(f"    all papers: {total.runs} runs to train (a run two papers share trains once): "
                 f"{hours(total.hours)} GPU-h")
    return lines
