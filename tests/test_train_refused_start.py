"""A training start that is refused says why in one line and leaves no run folder behind; under torchrun the
user error is printed once and ``segdash torchrun`` exits 2 without the launcher's traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
