"""Training faults: divergence, a refused resume, the best/ swap cut short, a resume after kill -9.

Every JSON file a run writes is strict JSON (no NaN/Infinity), every checkpoint a reader finds
loads, and metrics.jsonl never holds a step or an epoch twice. Tiny runs: 8 brain-mri slices at
64 px, random-init Unet, one thread.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segdash.errors import SegdashError
from segdash.train.config import TrainConfig
from segdash.train.runs import read_run, start_run

TINY_ARGS = ["--preset", "smoke", "--img-size", "64", "--batch-size", "4", "--limit", "8", "--threads", "1",
             "--pretrained", "none", "--preview-images", "1"]


def tiny_config(**overrides) -> TrainConfig:
    values = {"dataset": "brain-mri", "img_size": 64, "batch_size": 4, "limit": 8, "threads": 1, "pretrained": "none",
                  "preview_images": 1, "keep_checkpoints": 0}
    return TrainConfig.from_preset("smoke", **{**values, **overrides})


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (which Python's json accepts and JSON does not)."""
    def refuse(name):
        raise AssertionError(f"non-JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def assert_strict_json_files(run_dir: Path) -> list[dict]:
    """run.json, config.json and every checkpoint's JSON parse strictly; metrics.jsonl's lines too."""
    for path in [run_dir / "run.json", run_dir / "config.json", *run_dir.glob("checkpoints/*/*.json")]:
        strict_json(path.read_text())
    data = (run_dir / "metrics.jsonl").read_text()
    assert data.endswith("\n")
    return [strict_json(line) for line in data.splitlines()]


def loadable(path: Path) -> int:
    from segdash.models.checkpoint import load_checkpoint

    _, meta = load_checkpoint(path)
    return meta.epoch


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segdash", "train", *args], check=False, capture_output=True,
                          text=True, timeout=300)


def assert_one_line_error(run: subprocess.CompletedProcess, words: str) -> None:
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().count("\n") == 0 and words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


# --- divergence --------------------------------------------------------------------------------


def test_divergence_in_validation_fails_the_run_and_keeps_the_earlier_checkpoints(tmp_path, monkeypatch):
    from segdash.train import trainer

    real, calls = trainer.validate, []

    def nan_from_epoch_2(*args, **kwargs):
        calls.append(1)
        result = real(*args, **kwargs)
        return {**result, "val_loss": float("nan")} if len(calls) >= 2 else result

    monkeypatch.setattr(trainer, "validate", nan_from_epoch_2)
    run_dir = tmp_path / "run"
    with pytest.raises(trainer.TrainingFailed, match=r"^diverged at epoch 2, step 4: the validation loss became nan"):
        trainer.train(tiny_config(epochs=3), run_dir, echo=False)
    state = read_run(run_dir)
    assert state.status == "failed" and state.error.startswith("diverged at epoch 2, step 4")
    assert state.info["phase"] is None and state.epoch == 1
    records = assert_strict_json_files(run_dir)
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1]  # the diverged epoch is not logged
    assert [p.name for p in state.checkpoints] == ["epoch_1", "best"]  # nothing saved from the broken weights
    assert [loadable(p) for p in state.checkpoints] == [1, 1]
    assert state.best["epoch"] == 1


def test_a_huge_learning_rate_ends_as_diverged_with_valid_json(tmp_path):
    run_dir = tmp_path / "lr"
    run = cli("brain-mri", *TINY_ARGS, "--epochs", "2", "--lr", "1e6", "--out", str(run_dir))
    assert_one_line_error(run, "diverged at epoch 1, step")
    state = read_run(run_dir)
    assert state.status == "failed" and state.error.startswith("diverged at epoch 1, step ")
    assert_strict_json_files(run_dir)


@pytest.mark.parametrize("flag, value, words", [("--lr", "inf", "--lr must be a positive number"),
                                                ("--lr", "nan", "--lr must be a positive number"),
                                                ("--max-minutes", "inf", "--max-minutes must be")])
def test_non_finite_options_are_refused_before_the_run_folder_exists(tmp_path, flag, value, words):
    assert_one_line_error(cli("brain-mri", *TINY_ARGS, flag, value, "--out", str(tmp_path / "x")), words)
    assert not (tmp_path / "x").exists()


def test_wrong_types_in_a_config_file_are_one_line_errors(tmp_path):
    for bad, words in [({"epochs": "ten"}, "--epochs must be a whole number"),
                       ({"lr": [1]}, "--lr must be a number"),
                       ({"augment": "yes"}, "--augment must be true or false"),
                       ({"options": ["a"]}, "--options must be an object")]:
        path = tmp_path / "config.json"
        path.write_text(json.dumps({**tiny_config().to_dict(), **bad}))
        with pytest.raises(SegdashError, match=words):
            TrainConfig.from_json_file(path)
    assert_one_line_error(cli("--config", str(path), "--out", str(tmp_path / "x")), "--options must be an object")


# --- a resume that is refused changes nothing ----------------------------------------------------


def test_resume_of_a_finished_run_leaves_the_folder_byte_identical(tmp_path):
    from segdash.train.trainer import train

    run_dir = tmp_path / "run"
    train(tiny_config(epochs=1), run_dir, echo=False)
    before = snapshot(run_dir)
    with pytest.raises(SegdashError, match="already completed"):
        train(tiny_config(epochs=1), run_dir, resume=True, echo=False)
    assert snapshot(run_dir) == before
    assert_one_line_error(cli("--resume", str(run_dir)), "already completed")
    assert snapshot(run_dir) == before
    assert read_run(run_dir).status == "finished" and not read_run(run_dir).can_resume


# --- the best/ swap ------------------------------------------------------------------------------


def finished_run_with_a_new_candidate(tmp_path) -> tuple[Path, Path]:
    """A finished 1-epoch run and a checkpoint folder that differs from its best (segdash.json epoch 7)."""
    import shutil

    from segdash.train.trainer import train

    run_dir = tmp_path / "run"
    train(tiny_config(epochs=1, preview_images=0), run_dir, echo=False)
    candidate = tmp_path / "candidate"
    shutil.copytree(run_dir / "checkpoints" / "epoch_1", candidate)
    meta = json.loads((candidate / "segdash.json").read_text())
    (candidate / "segdash.json").write_text(json.dumps({**meta, "epoch": 7}))
    return run_dir, candidate


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_best_swap_replaces_best_whole_in_one_step(tmp_path, monkeypatch):
    from segdash.train import rundir
    from segdash.train.trainer import _copy_checkpoint

    run_dir, candidate = finished_run_with_a_new_candidate(tmp_path)
    checkpoints = run_dir / "checkpoints"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        rundir.rename_exchange(tmp_path / "a", tmp_path / "b")
    except OSError:
        pass  # no atomic exchange on this file system: the two-rename fallback (tested below)
    else:  # one exchange, no rename: there is no instant without a best
        monkeypatch.setattr(rundir.os, "replace", lambda a, b: pytest.fail("best/ was renamed aside"))
    _copy_checkpoint(candidate, checkpoints / "best")
    assert loadable(checkpoints / "best") == 7 and hidden(checkpoints) == []


def fail_os_replace(monkeypatch, failing_calls: set[int]) -> None:
    """Make os.replace in segdash.train.rundir raise on the given calls (1-based), as a crash would."""
    from segdash.train import rundir

    real, count = os.replace, [0]

    def replace(a, b):
        count[0] += 1
        if count[0] in failing_calls:
            raise OSError(5, "simulated crash")
        return real(a, b)

    def no_exchange(a, b):
        raise OSError(22, "renameat2 not supported here")  # the two-rename fallback

    monkeypatch.setattr(rundir.os, "replace", replace)
    monkeypatch.setattr(rundir, "rename_exchange", no_exchange)


def test_a_failure_between_the_renames_of_the_best_swap_leaves_the_old_best(tmp_path, monkeypatch):
    from segdash.train.trainer import _copy_checkpoint

    run_dir, candidate = finished_run_with_a_new_candidate(tmp_path)
    checkpoints = run_dir / "checkpoints"
    fail_os_replace(monkeypatch, {2})  # best moved aside, then the new one fails to move in
    with pytest.raises(OSError, match="simulated crash"):
        _copy_checkpoint(candidate, checkpoints / "best")
    assert loadable(checkpoints / "best") == 1 and hidden(checkpoints) == []


def test_a_kill_between_the_renames_of_the_best_swap_still_finds_a_best_and_the_next_start_cleans(
    tmp_path, monkeypatch
):
    from segdash.train.trainer import _copy_checkpoint, train

    run_dir, candidate = finished_run_with_a_new_candidate(tmp_path)
    checkpoints = run_dir / "checkpoints"
    fail_os_replace(monkeypatch, {2, 3})  # as a kill -9: nothing runs after the first rename
    monkeypatch.setattr("shutil.rmtree", lambda *a, **k: None)  # nor the clean-up of the temporary folder
    with pytest.raises(OSError):
        _copy_checkpoint(candidate, checkpoints / "best")
    monkeypatch.undo()
    assert not (checkpoints / "best").exists()
    assert any(".best.old." in name for name in hidden(checkpoints))
    assert any(name.endswith(".tmp") for name in hidden(checkpoints))
    best = read_run(run_dir).best_checkpoint  # readers find the old copy meanwhile
    assert best is not None and loadable(best) == 1

    train(tiny_config(epochs=2, preview_images=0), run_dir, resume=True, echo=False)  # the next start
    assert hidden(checkpoints) == [] and loadable(checkpoints / "best") in (1, 2)


def test_starting_any_run_sweeps_what_a_killed_run_left(tmp_path):
    from segdash.train.runs import sweep_leftovers

    run_dir, _ = finished_run_with_a_new_candidate(tmp_path)
    checkpoints = run_dir / "checkpoints"
    os.replace(checkpoints / "best", checkpoints / ".best.old.99")  # killed between the two renames
    (checkpoints / ".best.abc.tmp").mkdir()
    (checkpoints / ".epoch_2.def.tmp").mkdir()
    (run_dir / ".run.json.xyz.tmp").write_text("{")
    sweep_leftovers(tmp_path)  # what start_run does first, for every run that is not alive
    assert hidden(checkpoints) == [] and hidden(run_dir) == [] and loadable(checkpoints / "best") == 1


# --- metrics after a resume ----------------------------------------------------------------------


def test_a_resume_drops_the_lines_a_killed_run_wrote_past_its_checkpoint(tmp_path):
    from segdash.train.trainer import train

    run_dir = tmp_path / "run"
    train(tiny_config(epochs=1), run_dir, echo=False)
    with open(run_dir / "metrics.jsonl", "a") as f:  # what a process killed during epoch 2 leaves
        f.write('{"kind": "step", "step": 3, "epoch": 2, "train_loss": 99.0, "lr": 0.1, "time": 0}\n')
        f.write('{"kind": "epoch", "epoch": 2, "step": 4, "train_loss": 99.0}\n{"kind": "st')
    train(tiny_config(epochs=2), run_dir, resume=True, echo=False)
    records = assert_strict_json_files(run_dir)
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert 99.0 not in [r["train_loss"] for r in records]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2]


@pytest.mark.slow  # two training processes, ~40 s on a busy 2-core machine
def test_kill_9_then_resume_logs_every_step_and_epoch_once(tmp_path):
    config = tiny_config(epochs=3, limit=40, preview_images=0)  # 10 steps an epoch
    run_dir = start_run(config, runs_root=tmp_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()] if (
            run_dir / "metrics.jsonl").exists() else []
        if any(r["kind"] == "epoch" for r in records) and max(r.get("step", 0) for r in records) >= 13:
            break
        time.sleep(0.1)
    pid = json.loads((run_dir / "launch.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    while read_run(run_dir).is_alive and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_run(run_dir).state == "died"

    start_run(config, resume_dir=run_dir)
    while read_run(run_dir).state in ("starting", "running") and time.monotonic() < deadline + 120:
        time.sleep(0.5)
    state = read_run(run_dir)
    assert state.status == "finished", state.log_tail()
    records = assert_strict_json_files(run_dir)
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(1, 31))
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2, 3]
    assert hidden(run_dir / "checkpoints") == []
