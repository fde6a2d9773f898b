"""The environment that the workflow's shell jobs inherit."""

from __future__ import annotations

import glob
import os
import sys


def expose_package(source_dir: str) -> None:
    """Make `python -m robustrepro` in a job mean this package under this interpreter.

    The interpreter running Snakemake (the project's venv) goes first on PATH, so it is the
    `python` jobs find even when the venv was never activated; the package source goes on
    PYTHONPATH, so a --use-conda env that holds only the dependencies runs it too (conda
    activation puts its own python first). Cluster jobs re-run this when they parse the workflow.
    """
    path = os.environ.get("PATH", "")
    bindir = os.path.dirname(sys.executable)
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, path]) if path else bindir
    pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if source_dir not in pythonpath:
        os.environ["PYTHONPATH"] = os.pathsep.join([source_dir, *pythonpath])


# Job settings that cannot change a number reach a job through its environment, not its command line:
# Snakemake reruns a finished job whose params changed, and lint wants every command-line value a param.
DEVICE_VAR, PROGRESS_VAR = "ROBUSTREPRO_DEVICE", "ROBUSTREPRO_PROGRESS"


def expose_settings(device: str, progress: bool) -> None:
    """The `device` and `progress` settings of config for every job (the CLI's defaults: robustrepro.cli).
    Cluster jobs re-run this when they parse the workflow, as they do expose_package."""
    os.environ[DEVICE_VAR] = device
    os.environ[PROGRESS_VAR] = "on" if progress else "off"


def recipe_flags(config: dict, training: bool = True) -> list[str]:
    """The command-line flags of config's recipe (robustrepro.compute.recipe) for a training job, or for an
    evaluation (`training` False: no precision, attacks run fp32). Params, since they change numbers."""
    layout = config.get("channels_last", "auto")
    flags = ["--channels-last", layout if isinstance(layout, str) else str(layout).lower()]
    if training:
        flags += ["--precision", config.get("precision", "auto")]
    return flags + (["--compile"] if config.get("compile") else [])


def visible_gpus() -> int:
    """NVIDIA GPUs this machine exposes, found without importing torch (the workflow parses often)."""
    return len(glob.glob("/dev/nvidia[0-9]*"))


def device_kind(setting: str) -> str:
    """The device that config's `device` means on this machine: cuda or cpu (auto: cuda where a GPU is)."""
    if setting == "auto":
        return "cuda" if visible_gpus() else "cpu"
    return setting


def gpus_per_job(setting: str) -> int:
    """The GPUs a training job asks for: `device: cuda` asks for one (set it on a cluster); auto asks
    only where one is visible here, so a CPU-only machine runs jobs side by side. The default profile
    caps the total at the GPUs the machine has."""
    return int(device_kind(setting) == "cuda")
