"""The README's "Adding a method" example works as written: the file registers its step, a run
trains with it, and the grid line puts it beside the baseline."""

import re
import subprocess
import sys

from conftest import ROOT

SECTION = ROOT.joinpath("README.md").read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, re.S)

CHECK = '''
import numpy as np, torch
from robustrepro.runs import resolve
from robustrepro.training import STEPS, Trainer
from robustrepro.papers.spec import RunGroup
from toydata import toy_data

assert "label_smoothing" in STEPS
prepared, view = toy_data(n_train=200, n_test=100, n_val=0)
histories = {}
for step in GRID["step"]:
    trainer = Trainer(resolve({"model": {"name": "mlp1", "width": 0.25}, "epochs": 2, "batch_size": 32,
                               "step": step}), prepared, view, torch.device("cpu"))
    while not trainer.finished:
        trainer.fit_epoch()
    histories[step["name"]] = trainer.history
assert histories["label_smoothing"][-1]["train_loss"] != histories["weighted"][-1]["train_loss"]
assert histories["label_smoothing"][-1]["train_acc"] > 0.2  # it learns
group = RunGroup("g", {"epochs": 1}, grid=GRID)
assert [run["step"]["name"] for _, run in group.points("paper", [0])] == ["weighted", "label_smoothing"]
print("ok")
'''


def test_the_adding_a_method_example_registers_and_trains():
    method, grid_line = BLOCKS
    program = method + "\nGRID = dict(" + grid_line.strip() + ")[\"grid\"]\n" + CHECK
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                          cwd=ROOT / "tests")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
