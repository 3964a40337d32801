"""The same training command under torchrun: two CPU processes, gloo, DistributedDataParallel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segdash.train.runs import read_run

from test_train_cli import TINY_ARGS, assert_checkpoints_load


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_one_run(tmp_path):
    """Both processes train; only rank 0 writes the run folder; loss and confusion are reduced across ranks."""
    run_dir = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "segdash", "train", "brain-mri", *TINY_ARGS, "--epochs", "2", "--device", "cpu", "--out", str(run_dir)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    state = read_run(run_dir)
    assert state.status == "finished" and state.info["world_size"] == 2
    # 8 images, 2 processes, batch 4: one step per epoch, each step line written once.
    assert state.steps["step"].tolist() == [1, 2] and state.steps_per_epoch == 1
    assert state.epochs["epoch"].tolist() == [1, 2]
    assert state.info["val_images"] == 8
    assert run.stdout.count("epoch 1/2") == 1  # only rank 0 reports
    assert assert_checkpoints_load(run_dir) == ["epoch_2", "best"]  # --keep-checkpoints 1
