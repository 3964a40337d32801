"""A training start that is refused says why in one line and leaves no run folder behind; under torchrun the
user error is printed once and ``segdash torchrun`` exits 2 without the launcher's traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from segdash.errors import SegdashError
from segdash.train.config import TrainConfig

TINY = ["--preset", "smoke", "--img-size", "64", "--batch-size", "4", "--limit", "8", "--threads", "1",
        "--pretrained", "none"]  # fmt: skip


def _segdash(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "segdash", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def _train(*args: str) -> subprocess.CompletedProcess:
    return _segdash("train", *args)


def _one_line(run: subprocess.CompletedProcess, words: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stderr[-3000:])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], run.stderr[-3000:]


@pytest.mark.parametrize("flags", [("--class-weights", "inverse", "--weight-floor", "nan"),
                                   ("--class-weights", "inverse", "--weight-floor", "inf"),
                                   ("--rare-oversample", "nan"), ("--rare-oversample=inf",)])  # fmt: skip
def test_non_finite_float_options_are_refused_and_leave_no_folder(tmp_path, flags):
    run = _train("brain-mri", *TINY, *flags, "--out", str(tmp_path / "x"))
    flag, value = flags[-1].split("=") if "=" in flags[-1] else flags[-2:]
    _one_line(run, f"{flag} must be a finite number; got {float(value)}")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", ["weight_floor", "rare_oversample", "weight_decay", "warmup", "lr", "max_minutes"])
def test_every_float_option_is_finite_checked_where_the_form_builds_its_config(name):
    """The Train form builds its TrainConfig with from_preset, as the command line does."""
    for bad in (float("nan"), float("inf")):
        with pytest.raises(SegdashError, match=f"{name.replace('_', '-')} must be"):
            TrainConfig.from_preset("quick", class_weights="inverse", **{name: bad})


def test_a_start_refused_after_the_folder_was_made_removes_it(tmp_path):
    """The dataset does not open: the error says so, and the same --out can be used again at once."""
    run = _train(str(tmp_path / "missing"), "--format", "folder", *TINY, "--out", str(tmp_path / "x"))
    _one_line(run, "missing")
    assert not (tmp_path / "x").exists()


def test_a_folder_that_was_there_before_is_kept(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    run = _train(str(tmp_path / "missing"), "--format", "folder", *TINY, "--out", str(tmp_path / "x"))
    assert run.returncode == 2
    assert (tmp_path / "x" / "notes.txt").read_text() == "mine"


# --- under torchrun, two gloo processes ------------------------------------------------------------------
LAUNCH = ["--standalone", "--nproc_per_node=2"]


@pytest.mark.slow
@pytest.mark.parametrize("error", ["options", "dataset"])
def test_segdash_torchrun_prints_a_user_error_once_and_exits_2(tmp_path, error):
    """A refused option (before the process group) or a dataset that does not open (after it: the other
    rank's collective then fails as its peer is gone): one line, status 2, no traceback, no folder."""
    if error == "options":
        args, words = ["brain-mri", "--weight-floor", "2"], "--weight-floor raises class weights"
    else:
        args, words = [str(tmp_path / "missing"), "--format", "folder"], "does not exist"
    run = _segdash("torchrun", *LAUNCH, "train", *args, *TINY, "--device", "cpu", "--out", str(tmp_path / "x"))
    _one_line(run, words)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_under_plain_torchrun_only_rank_0_prints_the_user_error(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", *LAUNCH, "-m", "segdash", "train",
                          "brain-mri", "--weight-floor", "2", *TINY, "--device", "cpu", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode != 0
    printed = [line for line in run.stderr.splitlines() if line.startswith("segdash train: error:")]
    assert len(printed) == 1, run.stderr  # torch's own report follows (its launcher): quoting it, not repeating it


@pytest.mark.slow
def test_segdash_torchrun_runs_a_command_that_succeeds(tmp_path):
    root = tmp_path / "data"
    for sub in ("images", "masks"):
        (root / "test" / sub).mkdir(parents=True)
    for stem in "abcd":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "test" / "images" / f"{stem}.png")
        Image.fromarray(np.eye(8, dtype=np.uint8)).save(root / "test" / "masks" / f"{stem}.png")
    run = _segdash("torchrun", *LAUNCH, "stats", str(root), "--format", "folder", "--no-cache",
                   "--json", str(tmp_path / "s.json"))  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((tmp_path / "s.json").read_text())["splits"]["test"]["images"] == 4


def _failure(exitcode: int, line: str | None = None, printed: bool = False, local_rank: int = 0):
    message = "" if line is None else {"message": line, "extraInfo": {
        "segdash_user_error": "printed" if printed else "not printed"}}  # what report_user_error writes
    return SimpleNamespace(exitcode=exitcode, message=message, local_rank=local_rank,
                           signal_name=lambda: "SIGTERM" if exitcode == -15 else "<N/A>")  # fmt: skip


def _failed(**failures) -> SimpleNamespace:
    by_rank = {int(rank[1:]): failure for rank, failure in failures.items()}
    first = min(by_rank)
    return SimpleNamespace(failures=by_rank, get_first_failure=lambda: (first, by_rank[first]))


def test_the_launcher_says_a_user_error_once_whichever_rank_had_it(capsys):
    from segdash.cli.torchrun import _failure_status

    line = "segdash train: error: the file of rank 1 is missing"
    assert _failure_status(_failed(r0=_failure(-15), r1=_failure(2, line, local_rank=1)), "train") == 2
    assert capsys.readouterr().err.strip() == line  # rank 0 had nothing to say: the launcher says rank 1's line
    printed = _failure(2, "segdash train: error: x", printed=True)
    assert _failure_status(_failed(r0=printed, r1=_failure(2, "segdash train: error: x", local_rank=1)), "train") == 2
    assert capsys.readouterr().err == ""  # rank 0 said it already
    assert _failure_status(_failed(r1=_failure(1, local_rank=1)), "train") == 1
    assert capsys.readouterr().err.strip() == "segdash train: rank 1 failed (exit status 1); its output is above"
