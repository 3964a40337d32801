"""Runs started as separate processes, the way the dashboard starts them: a reader watches
metrics.jsonl grow, STOP and SIGTERM end the run cleanly with loadable checkpoints, resume goes on.
(torchrun: tests/test_train_ddp.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segdash.train.config import TrainConfig
from segdash.train.runs import list_runs, read_run, request_stop, start_run

TINY_ARGS = ["--preset", "smoke", "--img-size", "64", "--batch-size", "4", "--limit", "8", "--threads", "1",
             "--pretrained", "none", "--keep-checkpoints", "1"]


def tiny_config(**overrides) -> TrainConfig:
    return TrainConfig.from_preset("smoke", dataset="brain-mri", img_size=64, batch_size=4, limit=8, threads=1,
                                   pretrained="none", keep_checkpoints=1, **overrides)


def wait_for(predicate, timeout: float, what: str, run_dir: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    log = (run_dir / "train.log").read_text(errors="replace")[-2000:] if run_dir and (run_dir / "train.log").exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def whole_lines(run_dir: Path) -> list[dict]:
    """Every complete line of metrics.jsonl must be valid JSON, whenever it is read."""
    data = (run_dir / "metrics.jsonl").read_bytes() if (run_dir / "metrics.jsonl").exists() else b""
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def assert_checkpoints_load(run_dir: Path) -> list[str]:
    from segdash.models.checkpoint import load_checkpoint

    names = []
    for path in read_run(run_dir).checkpoints:
        model, meta = load_checkpoint(path)
        assert meta.input_size == 64 and meta.dataset == "brain-mri"
        names.append(path.name)
    return names


@pytest.mark.slow  # two process starts: ~30 s on a busy 2-core machine
def test_started_run_streams_metrics_stops_on_request_and_resumes(tmp_path):
    run_dir = start_run(tiny_config(epochs=200), runs_root=tmp_path)
    assert run_dir.parent == tmp_path
    assert read_run(run_dir).state in ("starting", "running")

    # A reader in this process sees the step lines grow while the run is alive.
    seen = []
    def grew() -> bool:
        records = whole_lines(run_dir)
        seen.append(len(records))
        return len(set(seen)) >= 3 and any(r["kind"] == "epoch" for r in records)
    wait_for(grew, 120, "metrics.jsonl to grow", run_dir)
    state = read_run(run_dir)
    assert state.is_alive and state.status == "running" and state.step > 0
    assert [r.name for r in list_runs(tmp_path)] == [run_dir.name]

    request_stop(run_dir)
    state = wait_for(lambda: (s := read_run(run_dir)).state != "running" and s, 60, "the run to stop", run_dir)
    assert state.status == "stopped" and state.stop_reason == "stop requested" and state.error is None
    wait_for(lambda: not read_run(run_dir).is_alive, 30, "the process to exit", run_dir)
    assert not (run_dir / "STOP").exists()
    names = assert_checkpoints_load(run_dir)
    assert "last" in names and "best" in names
    steps_before = [r["step"] for r in whole_lines(run_dir) if r["kind"] == "step"]

    # Resume: the same folder goes on from the stop, up to 2 more epochs' worth.
    target = state.epoch + 2
    start_run(tiny_config(epochs=target), resume_dir=run_dir)
    state = wait_for(lambda: (s := read_run(run_dir)).state in ("finished", "failed", "died") and s, 120,
                     "the resumed run to finish", run_dir)
    assert state.status == "finished", state.error
    assert state.info["resumed_from"] == "last" and state.epoch == target
    steps = [r["step"] for r in whole_lines(run_dir) if r["kind"] == "step"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > len(steps_before)
    assert "last" not in assert_checkpoints_load(run_dir)  # superseded by the epochs after it


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "segdash", "train", "brain-mri", *TINY_ARGS, "--epochs", "200", "--out", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    try:
        wait_for(lambda: any(r["kind"] == "epoch" for r in whole_lines(run_dir)), 120, "a first epoch")
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped" in output and "Traceback" not in output
    state = read_run(run_dir)
    assert state.status == "stopped" and state.stop_reason == "SIGTERM" and not state.is_alive
    assert "last" in assert_checkpoints_load(run_dir)


def test_cli_user_errors_are_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "segdash", "train", "brain-mri", "--img-size", "100", "--out", str(tmp_path / "x")],
        capture_output=True, text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "multiple of 32" in run.stderr
    run = subprocess.run([sys.executable, "-m", "segdash", "train", "--resume", str(tmp_path / "nothing")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "not a training run" in run.stderr and "Traceback" not in run.stderr
