"""``segdash stats`` and ``segdash datasets`` through the real entry point ``segdash.cli.main``."""

import json
from pathlib import Path

import numpy as np
import pytest

import segdash.cli
from segdash.cli import main
from segdash.data.imageio import write_label_png


@pytest.fixture(autouse=True)
def only_these_commands(monkeypatch):
    """Parse with the data commands only, so these tests do not depend on the other commands' modules."""
    monkeypatch.setattr(segdash.cli, "COMMANDS", ("datasets", "stats"))


def _folder(root: Path) -> Path:
    masks = {"a": [[0, 0, 1], [1, 255, 0]], "b": [[0, 0, 0], [0, 0, 0]], "c": [[2, 2, 0], [255, 255, 1]]}
    for sub in ("images", "masks"):
        (root / "train" / sub).mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nzero,0,0,0\none,255,0,0\ntwo,0,255,0\nthree,0,0,255\n")
    for name, mask in masks.items():
        write_label_png(root / "train" / "images" / f"{name}.png", np.full((2, 3), 100, np.uint8))
        write_label_png(root / "train" / "masks" / f"{name}.png", np.asarray(mask, np.uint8))
    return root


def test_stats_json_for_a_folder_matches_hand_counts(tmp_path, capsys):
    root = _folder(tmp_path / "data")
    out = tmp_path / "out" / "stats.json"
    assert main(["stats", str(root), "--format", "folder", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"dataset", "classes", "splits"}
    assert result["dataset"] == str(root) and result["classes"] == ["zero", "one", "two", "three"]
    train = result["splits"]["train"]
    assert set(result["splits"]) == {"train"}
    assert train["images"] == 3 and train["pixels"] == [10, 3, 2, 0] and train["ignored_pixels"] == 3
    assert train["image_presence"] == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert train["frequency"] == pytest.approx([10 / 15, 3 / 15, 2 / 15, 0])
    assert train["weights_inverse"] == pytest.approx([0.5, 15 / 9, 2.5, 0])
    assert len(train["weights_median"]) == 4 and train["weights_median"][3] == 0
    table = capsys.readouterr().out
    assert "zero" in table and "w median" in table and "3 ignored" in table


def test_stats_builtin_split_and_stdout_json(capsys):
    assert main(["stats", "street-synth", "-o", "count=6", "--split", "val", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)  # nothing but JSON on stdout
    assert list(result["splits"]) == ["val"] and len(result["classes"]) == 13
    val = result["splits"]["val"]
    assert val["images"] == 1 and sum(val["pixels"]) == 192 * 256
    assert sum(val["frequency"]) == pytest.approx(1.0)
    for key in ("pixels", "frequency", "image_presence", "weights_inverse", "weights_median"):
        assert len(val[key]) == 13


@pytest.mark.parametrize(
    "argv, message",
    [
        (["stats", "/no/such/folder"], "neither a built-in dataset"),
        (["stats", "{tmp}", "--format", "nonsense"], "unknown format 'nonsense'"),
        (["stats", "/no/such/folder", "--format", "folder"], "does not exist"),
        (["stats", "street-synth", "-o", "count=6", "--split", "holdout"], "no split 'holdout'"),
        (["stats", "street-synth", "-o", "count=many"], "count must be a whole number"),
        (["stats", "brain-mri", "-o", "foo=1"], "has no option(s) foo; valid options: guard, orientations"),
        (["stats", "street-synth", "-o", "count=6", "-s", "val", "--json", "{tmp}"], "is a folder"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("segdash stats: error:")


def test_datasets_lists_formats_and_builtins(capsys):
    assert main(["datasets", "--json", "--no-open"]) == 0
    listing = json.loads(capsys.readouterr().out)
    formats = {f["name"]: f for f in listing["formats"]}
    assert {"folder", "carla", "voc"} <= set(formats)
    assert "label_map" in formats["kitti"]["options"] and "classes" in formats["folder"]["options"]
    builtins = {b["name"]: b for b in listing["builtins"]}
    assert builtins["brain-mri"]["default"] is True and "street-synth" in builtins


def test_datasets_describes_an_opened_builtin():
    from segdash.cli.datasets import describe_builtin, format_tables

    brain = describe_builtin("brain-mri")
    assert brain["available"] and brain["classes"] == ["background", "CSF", "grey matter", "white matter"]
    assert brain["splits"]["test"] > 0 and "nilearn" in brain["source"]
    text = format_tables({"formats": [], "builtins": [brain]})
    assert "brain-mri  (default)" in text and "size 192x192" in text


def _limited_memory(limit_bytes: int):
    """preexec_fn for a child process: at most ``limit_bytes`` of address space, so a test that would
    allocate tens of gigabytes on the old code fails in the child instead of taking the machine."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return limit


def test_a_label_beyond_any_class_count_is_one_line_before_any_class_table(tmp_path):
    """A 16-bit mask holding 60000 with no classes file: one line naming the mask and the label, exit 2,
    instead of a (60001, 60001) co-occurrence table (27 GiB) and a MemoryError traceback."""
    import os
    import subprocess
    import sys

    from PIL import Image

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.full((4, 6), 90, np.uint8)).save(root / "images" / f"{name}.png")
    labels = np.zeros((4, 6), np.uint16)
    labels[1, 2] = 1
    Image.fromarray(labels).save(root / "masks" / "a.png")
    labels[2, 3] = 60000
    Image.fromarray(labels).save(root / "masks" / "b.png")
    assert np.asarray(Image.open(root / "masks" / "b.png")).max() == 60000  # really 16-bit on disk
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "segdash", "stats", str(root), "--format", "folder", "--workers", "1"],
                          capture_output=True, text=True, env=env, timeout=300,
                          preexec_fn=_limited_memory(6 * 2**30))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("segdash stats: error: mask masks/b.png holds label 60000")
    assert "at most 1024" in lines[0] and "-o classes=FILE" in lines[0]
    # with the label declared as the ignore index, the same folder counts
    proc = subprocess.run([sys.executable, "-m", "segdash", "stats", str(root), "--format", "folder", "--workers", "1",
                           "-o", "ignore_index=60000", "--json", "-"], capture_output=True, text=True, env=env,
                          timeout=300, preexec_fn=_limited_memory(6 * 2**30))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["classes"] == ["class_0", "class_1"]


def test_one_progress_bar_for_every_command(monkeypatch, capsys):
    """The one CLI adapter of the one callback type: done of total (the total may change), and the stage."""
    import segdash.cli.common as common

    monkeypatch.setattr(common, "show_progress", lambda: True)  # as on a terminal
    with common.progress_bar("compare") as progress:
        progress(3, 10, "pixel changes")
        progress(4, 12)
    drawn = capsys.readouterr().err  # (tqdm draws at most every 0.1 s: the stage and total show at once)
    assert "compare: pixel changes" in drawn and "/10" in drawn
    with common.progress_bar("stats train", total=5, shown=False) as progress:
        progress(5, 5)
    assert capsys.readouterr().err == ""  # not rank 0: nothing drawn
