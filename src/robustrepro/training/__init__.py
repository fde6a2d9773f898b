"""The training engine: one trainer composed from small registered parts.

    train_run(run, prepared_path, view_path, out_dir, checkpoint_path) -> metrics dict

A paper's method is one part, registered by name and chosen by the run config:
SAMPLERS (sampler.name), STEPS (step.name), SCHEDULES (schedule.name), OPTIMIZERS
(optimizer.name) and METRICS (extra epoch metrics). Each part gets a TrainContext (model,
device data, view, optimizer, epoch, seeded generators); see context.py. The papers' methods
live one module each in robustrepro.training.methods, all imported (and so registered) here.
"""

from robustrepro.training.context import Batch, Part, StepResult, TrainContext
from robustrepro.compute.device import pick_device, set_threads
from robustrepro.compute.device_data import DeviceData
from robustrepro.training.metrics import METRICS, EpochMetric, evaluate
from robustrepro.training.optim import OPTIMIZERS, build_optimizer
from robustrepro.training.samplers import SAMPLERS, Sampler
from robustrepro.training.schedules import SCHEDULES, Plan, Schedule, build_schedule, lr_curve
from robustrepro.training.steps import STEPS, Step, weighted_mean
from robustrepro.training.run_job import train_run
from robustrepro.training.trainer import Trainer
from robustrepro.training import methods  # noqa: F401, E402  (registers every method module's parts)

__all__ = ["train_run", "Trainer", "lr_curve", "TrainContext", "Batch", "StepResult", "Part", "DeviceData",
           "Sampler", "Step", "Schedule", "Plan", "EpochMetric", "SAMPLERS", "STEPS", "SCHEDULES", "OPTIMIZERS",
           "METRICS", "build_optimizer", "build_schedule", "evaluate", "weighted_mean", "pick_device", "set_threads"]
