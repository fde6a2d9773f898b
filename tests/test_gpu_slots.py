"""GPU slots: concurrent training processes on one machine each get a GPU of their own."""

import os
import signal
import subprocess
import sys

import pytest

from robustrepro.errors import UserError
from robustrepro.compute.gpu_slots import claim, default_lock_dir, visible_ids


def test_as_many_claims_as_gpus_get_distinct_gpus_and_more_spread_evenly(tmp_path):
    claims = [claim(["0", "1", "2"], tmp_path) for _ in range(7)]
    assert [index for index, _ in claims] == [0, 1, 2, 0, 1, 2, 0]


def test_a_released_slot_is_taken_again(tmp_path):
    first, second = claim(["0", "1"], tmp_path), claim(["0", "1"], tmp_path)
    assert (first[0], second[0]) == (0, 1)
    os.close(first[1])
    assert claim(["0", "1"], tmp_path)[0] == 0


def test_a_killed_process_leaves_no_claim_behind(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from robustrepro.compute.gpu_slots import claim; "
         "print(claim(['a', 'b'], sys.argv[1])[0], flush=True); time.sleep(600)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "0"
        probe, fd = claim(["a", "b"], tmp_path)
        assert probe == 1  # GPU a is held by the other process
        os.close(fd)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert claim(["a", "b"], tmp_path)[0] == 0


def test_gpu_names_come_from_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,GPU-8f3e/x")
    assert visible_ids(2) == ["2", "GPU-8f3e/x"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_ids(3) == ["0", "1", "2"]


def test_lock_names_are_safe_file_names(tmp_path):
    index, _ = claim(["GPU-8f3e/x"], tmp_path)
    assert index == 0 and [p.name for p in tmp_path.iterdir()] == ["gpu-GPU-8f3e_x.0.lock"]


def test_slurm_jobs_keep_their_own_locks(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    local = default_lock_dir()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert default_lock_dir() != local and default_lock_dir().name == "slurm-42"


def test_no_gpu_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="no GPU to claim"):
        claim([], tmp_path)
