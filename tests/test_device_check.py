"""bench/device-check.sh: its reduced mode on the CPU writes every row, and a failing row does not stop the rest."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def device_check(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import device_check

    return device_check


def read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.slow
def test_quick_run_on_the_cpu_writes_every_row(tmp_path, device_check):
    out = tmp_path / "table.csv"
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "PYTHONPATH": str(ROOT / "src")}
    env.pop("OUT", None)
    start = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "bench" / "device-check.sh"), "--quick", str(out)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seconds = time.monotonic() - start
    rows = read(out)
    expected = device_check.checks(device_check.Context(torch.device("cpu"), device_check.QUICK))
    assert [r["what"] for r in rows] == [c.what for c in expected]
    assert done.stdout.startswith("| " + " | ".join(device_check.COLUMNS) + " |")
    assert done.stdout.count("\n| ") == len(rows) + 1  # the header's rule, then one line a row
    for row, check in zip(rows, expected):
        assert list(row) == list(device_check.COLUMNS)
        assert row["device"].startswith("cpu"), row
        if check.cuda_only:
            assert row["value"] == "skipped: needs CUDA", row
        elif row["value"] == "skipped: torchattacks is not importable":
            assert row["what"].startswith("attack:")
        else:
            assert is_number(row["value"]), row  # no row fails on the CPU
            assert row["ratio"] == "" or is_number(row["ratio"]), row
    assert "[1/" in done.stderr and f"[{len(rows)}/{len(rows)}]" in done.stderr  # progress, row by row
    print(f"device-check.sh --quick on the CPU: {seconds:.0f} s")


def test_a_failing_or_slow_row_becomes_its_value_and_the_rest_run(device_check):
    ctx = device_check.Context(torch.device("cpu"), device_check.QUICK)
    result = device_check.Result(2.0, "fine", 4.0)

    def broken():
        raise ValueError("no such\nmodel")

    def slow():
        time.sleep(30)

    rows = [device_check.Check("broken", "s", broken, "b"), device_check.Check("slow", "s", slow, "c", cap=1),
            device_check.Check("fine", "s", lambda: result, "a", "< 3 s", lambda r: r.value < 3),
            device_check.Check("cuda", "%", lambda: result, "d", cuda_only=True)]
    start = time.monotonic()
    table = device_check.run_checks(rows, ctx, budget=60, default_cap=10, judge=True)
    assert time.monotonic() - start < 10
    assert [r["value"] for r in table] == ["failed: ValueError: no such model", "failed: OverCap: over its 1 s cap",
                                           "2", "skipped: needs CUDA"]
    assert table[2]["ratio"] == "4" and table[2]["goal"] == "< 3 s; met" and table[2]["setting"] == "fine"
    assert table[0]["setting"] == "b"
    # Out of budget: what is left is skipped, not started.
    assert device_check.run_checks(rows[2:3], ctx, budget=1, default_cap=10, judge=False)[0]["value"] == \
        "skipped: out of time (the 1 s budget)"


def test_the_csv_goes_under_OUT_by_default(tmp_path, monkeypatch, capsys, device_check):
    monkeypatch.setenv("OUT", str(tmp_path))
    monkeypatch.delenv("DEVICE", raising=False)
    device_check.main(["--device", "cpu", "--only", "GPU busy share"])
    rows = read(tmp_path / "device-check.csv")
    assert [r["what"] for r in rows] == ["GPU busy share: resnet32", "GPU busy share: resnet18"]
    assert "| GPU busy share: resnet32 |" in capsys.readouterr().out


def test_busy_fraction_counts_overlapping_kernels_once(device_check):
    assert device_check.busy_fraction([(0, 2), (1, 3), (5, 6), (5.5, 5.7)], 10) == pytest.approx(0.4)
    assert device_check.busy_fraction([], 10) == 0
