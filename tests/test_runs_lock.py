"""One process per run folder, and liveness that a reused pid cannot fool.

A run's process holds ``run.lock`` (flock) for its whole life; ``start_run`` takes it before it
spawns and hands it over, so a second start or resume is refused at once (the page's double
click, the command line on a live folder). ``max_runs`` caps runs alive under one root. The
Train page disables Start / Resume while a start is pending and never spawns twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segdash.errors import SegdashError
from segdash.train.config import TrainConfig
from segdash.train.rundir import RunBusy, lock_run, process_start_time
from segdash.train.runs import RunsFull, read_run, start_run


def tiny_config(**overrides) -> TrainConfig:
    return TrainConfig.from_preset("smoke", dataset="brain-mri", img_size=64, batch_size=4, limit=8, threads=1,
                                   pretrained="none", preview_images=0, **overrides)


def fake_run(run_dir: Path, pid: int, pid_start: int | None, **fields) -> Path:
    """A run.json as a live run writes it, naming process ``pid`` (the test's own by default)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"format": 1, "name": run_dir.name, "status": "running", "pid": pid, "host": None,
            "started": "2026-01-01T00:00:00+00:00", "updated": "2026-01-01T00:00:00+00:00",
            "epoch": 1, "epochs": 4, "step": 10, "steps_per_epoch": 10, "seconds": 60.0,
            "config": tiny_config(epochs=4).to_dict(), **fields}
    if pid_start is not None:
        info["pid_start"] = pid_start
    (run_dir / "run.json").write_text(json.dumps(info))
    return run_dir


# --- liveness --------------------------------------------------------------------------------


def test_a_pid_with_another_start_time_is_not_the_run(tmp_path):
    me = os.getpid()
    right = process_start_time(me)
    assert isinstance(right, int) and right > 0
    assert read_run(fake_run(tmp_path / "live", me, right)).state == "running"
    stale = read_run(fake_run(tmp_path / "stale", me, right - 1))  # the number went to another process
    assert not stale.is_alive and stale.state == "died"


def test_an_older_run_json_without_start_time_needs_a_segdash_process(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        state = read_run(fake_run(tmp_path / "old", sleeper.pid, None))
        assert state.state == "died"  # a live pid, but not running segdash
    finally:
        sleeper.kill()
        sleeper.wait()


# --- the lock --------------------------------------------------------------------------------


def stopped_run(run_dir: Path) -> Path:
    """A real run stopped after its first step: checkpoints/last and resume.pt, ready to resume."""
    from segdash.train.trainer import train

    run_dir.mkdir(parents=True)
    (run_dir / "STOP").write_text("now")
    assert train(tiny_config(epochs=1), run_dir, echo=False).status == "stopped"
    return run_dir


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_locked_run_refuses_a_second_start_from_the_cli_and_start_run(tmp_path):
    run_dir = stopped_run(tmp_path / "run")
    before = snapshot(run_dir)
    fd = lock_run(run_dir)  # what a live training process holds
    try:
        with pytest.raises(RunBusy, match="already running"):
            lock_run(run_dir)
        with pytest.raises(RunBusy, match="already running"):
            start_run(tiny_config(epochs=1), resume_dir=run_dir)
        cli = subprocess.run([sys.executable, "-m", "segdash", "train", "--resume", str(run_dir)],
                             check=False, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2, cli.stderr
        assert cli.stderr.strip().count("\n") == 0 and "already running" in cli.stderr
        assert "Traceback" not in cli.stderr
    finally:
        os.close(fd)
    assert snapshot(run_dir) == before  # refused: nothing written
    lock_run(run_dir)  # free again once the holder let go (closing the descriptor, or the process ending)


@pytest.mark.slow  # spawns one training process (~10 s to import torch on a busy machine)
def test_start_run_hands_its_lock_to_the_process_so_a_second_resume_is_refused(tmp_path):
    run_dir = stopped_run(tmp_path / "run")
    start_run(tiny_config(epochs=1), resume_dir=run_dir)
    launch = json.loads((run_dir / "launch.json").read_text())
    try:
        # At once, before the new process has written anything, the run reads as starting and is locked.
        state = read_run(run_dir)
        assert state.state == "starting" and state.is_alive and not state.can_resume
        with pytest.raises(RunBusy):
            start_run(tiny_config(epochs=1), resume_dir=run_dir)
        deadline = time.monotonic() + 120
        while read_run(run_dir).state in ("starting", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
        state = read_run(run_dir)
        assert state.status == "finished", state.log_tail()
    finally:
        if read_run(run_dir).is_alive:
            os.kill(launch["pid"], 9)
    steps = [r["step"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if r["kind"] == "step"]
    assert steps == [1, 2]  # one process resumed: no step twice
    lock_run(run_dir)  # the finished process let go of the lock


def test_a_resume_keeps_a_stop_asked_while_it_was_starting_and_drops_an_older_one(tmp_path):
    from segdash.train.rundir import RunWriter, utc_now

    writer = RunWriter(tmp_path)
    (tmp_path / "launch.json").write_text(json.dumps({"pid": os.getpid(), "started": utc_now()}))
    stop = tmp_path / "STOP"
    stop.write_text("old")
    os.utime(stop, (time.time() - 60, time.time() - 60))  # left by the process before
    writer.start({"epochs": 1}, clear_stop=True)
    assert not stop.exists()
    stop.write_text("now")  # the page's Stop, clicked while the resume was starting
    writer.start({"epochs": 1}, clear_stop=True)
    assert stop.exists()


def test_max_runs_refuses_a_start_and_says_when_the_slot_frees(tmp_path):
    me = os.getpid()
    fake_run(tmp_path / "busy", me, process_start_time(me))  # 10 of 40 steps in 60 s: 180 s left
    with pytest.raises(RunsFull, match=r"at most 1 .*frees in about 3 min \(when run busy ends\)"):
        start_run(tiny_config(), runs_root=tmp_path, max_runs=1)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["busy"]  # nothing started


def test_resume_needs_a_resume_state(tmp_path):
    fake_run(tmp_path / "r", 1, 1, status="stopped")
    with pytest.raises(SegdashError, match="no checkpoint to resume from"):
        start_run(tiny_config(), resume_dir=tmp_path / "r")


# --- the Train page ------------------------------------------------------------------------------

from test_app import _navigation_mode, app, assert_clean, texts, weights_dir  # noqa: E402, F401 (fixtures, for the Train page tests below)


class FakeSpawner:
    """``start_run`` as the page calls it, counting calls; each 'run' is a live ``sleep`` still starting."""

    def __init__(self):
        self.calls, self.processes = [], []

    def __call__(self, config, runs_root=None, name=None, resume_dir=None, max_runs=None, **_):
        import socket

        from segdash.train.rundir import utc_now

        self.calls.append(config)
        process = subprocess.Popen(["sleep", "60"])
        self.processes.append(process)
        run_dir = Path(resume_dir) if resume_dir else Path(runs_root) / f"fake-{len(self.calls)}"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(config.to_json())
        (run_dir / "launch.json").write_text(json.dumps({
            "pid": process.pid, "pid_start": process_start_time(process.pid), "host": socket.gethostname(),
            "started": utc_now()}))
        return run_dir

    def stop(self):
        for process in self.processes:
            process.kill()
            process.wait()


@pytest.fixture
def spawner(monkeypatch):
    import segdash.train.runs

    fake = FakeSpawner()
    monkeypatch.setattr(segdash.train.runs, "start_run", fake)
    yield fake
    fake.stop()


@pytest.fixture
def page(app, spawner):  # noqa: F811 (the app fixture of test_app)
    """The app on the Train page, with ``start_run`` replaced by the counting spawner."""
    app.switch_page("pages/train.py").run()
    return app


def start_button(at):
    return next(b for b in at.button if b.label == "Start training")


def test_start_is_disabled_while_pending_and_a_second_click_spawns_nothing(page, spawner):
    assert_clean(page)
    assert "No training run yet" in texts(page) and not page.dataframe  # no empty table before any run
    page.number_input(key="train.epochs").set_value(3)
    start_button(page).click().run()
    assert_clean(page)
    assert len(spawner.calls) == 1 and spawner.calls[0].epochs == 3
    assert start_button(page).disabled and "A run is starting" in texts(page)
    assert "starting" in texts(page) and "epoch 1/3" in texts(page)  # the epoch in progress, not 0/3

    # A second click that reaches the server anyway: a double click sent before the page redrew
    # (the browser still showed the button enabled), simulated by clearing the disabled flag.
    stale = start_button(page)
    stale.proto.disabled = False
    stale.click().run()
    assert len(spawner.calls) == 1  # ignored (a disabled widget) or refused by the pending check
    assert not page.exception

    spawner.stop()  # the process ends without running: the start is no longer pending
    page.run()
    assert not start_button(page).disabled
    assert page.number_input(key="train.epochs").value == 3  # the form kept its values
    page.switch_page("pages/dataset.py").run()
    page.switch_page("pages/train.py").run()
    assert page.number_input(key="train.epochs").value == 3  # also over a page switch


def test_previews_are_shown_at_the_images_aspect_ratio():
    import numpy as np

    from segdash.ui.train_page import PREVIEW_HEIGHT, _at_true_size

    square = np.zeros((64, 64, 3), dtype=np.uint8)  # how the model sees a 100 x 200 (H x W) image
    assert _at_true_size(square, (100, 200)).shape == (PREVIEW_HEIGHT, 2 * PREVIEW_HEIGHT, 3)
    assert _at_true_size(square, None).shape == (PREVIEW_HEIGHT, PREVIEW_HEIGHT, 3)


def test_public_mode_shows_only_this_sessions_runs_and_caps_runs(page, spawner, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    me = os.getpid()
    fake_run(tmp_path / "runs" / "someone-else", me, process_start_time(me))  # another visitor's live run
    page.run()
    assert not page.exception
    assert "someone-else" not in texts(page) and "No training run yet" in texts(page)
    assert start_button(page).disabled and "This demo is busy: it trains one run at a time" in texts(page)
    assert "frees in about 3 min" in texts(page) and "SEGDASH_MAX_RUNS" not in texts(page)
    assert page.number_input(key="train.epochs").max == 5

    import shutil

    shutil.rmtree(tmp_path / "runs" / "someone-else")  # the slot frees
    page.run()
    start_button(page).click().run()
    assert not page.exception
    assert [(c.epochs, c.max_minutes) for c in spawner.calls] == [(5, 10.0)]  # the demo's caps
    assert "fake-1" in texts(page) or page.selectbox(key="train.shown").value == "fake-1"  # its own run is shown


def test_resume_is_offered_from_resume_pt_and_the_page_follows_the_resumed_run(page, spawner, tmp_path):
    run_dir = fake_run(tmp_path / "runs" / "early-stop", 1, 1, status="stopped", epoch=0, step=3,
                       stop_reason="stop requested")  # stopped before its first epoch ended
    (run_dir / "checkpoints" / "last").mkdir(parents=True)
    (run_dir / "checkpoints" / "resume.pt").write_bytes(b"state")
    page.run()
    assert "stopped" in texts(page) and "epoch 0/4" in texts(page)
    page.button(key="train.resume.early-stop").click().run()
    assert not page.exception and len(spawner.calls) == 1
    assert "**starting**" in texts(page) and "epoch 1/4" in texts(page)  # followed at once, no reload
    assert not [b for b in page.button if b.key == "train.resume.early-stop"]  # no second Resume
    assert start_button(page).disabled
