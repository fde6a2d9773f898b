"""The three places that list dependencies agree, and the Makefile installs a working torch pair."""

import tomllib

import yaml

from conftest import ROOT


def test_workflow_env_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    runtime = {d for d in deps if not d.startswith("snakemake")}
    env = yaml.safe_load((ROOT / "workflow" / "envs" / "robustrepro.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert set(pip) == runtime


def test_torch_and_torchvision_load_together():
    import torch
    import torchvision

    assert torch.__version__.split("+")[0].startswith("2.13")
    assert torchvision.__version__.startswith("0.28")
    # The C++ ops of torchvision load only beside the torch build they were made for.
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]
