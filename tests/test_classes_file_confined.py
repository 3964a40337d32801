"""``classes=FILE`` names the dataset's own classes file: inside its folder, a regular file that parses as
one, never echoed. The CLI's ``--classes-outside`` lifts the folder rule, never the others."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats import option_files
from segdash.errors import SegdashError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "ds"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for stem in ("a", "b"):
            Image.fromarray(np.full((16, 16), 1, np.uint8)).save(root / sub / f"{stem}.png")
    return root


@pytest.fixture
def outside_allowed():
    option_files.allow_files_outside(True)
    yield
    option_files.allow_files_outside(False)


def _refused(root: Path, value: str, expected: str) -> str:
    with pytest.raises(SegdashError, match=expected) as caught:
        open_dataset(str(root), format="folder", classes=value)
    return str(caught.value)


def test_a_classes_file_inside_the_folder_is_read(folder):
    (folder / "labels").mkdir()
    (folder / "labels" / "names.txt").write_text("background\nlesion\n")
    for value in ("labels/names.txt", str(folder / "labels" / "names.txt")):
        assert open_dataset(str(folder), format="folder", classes=value).classes == ("background", "lesion")


def test_a_classes_file_outside_the_folder_is_refused_unless_allowed(folder, tmp_path, outside_allowed):
    elsewhere = tmp_path / "names.txt"
    elsewhere.write_text("background\nlesion\n")
    option_files.allow_files_outside(False)
    _refused(folder, str(elsewhere), "outside the dataset folder")
    (folder / "link.txt").symlink_to(elsewhere)  # a link inside that leads out is outside
    _refused(folder, "link.txt", "outside the dataset folder")
    option_files.allow_files_outside(True)
    assert open_dataset(str(folder), format="folder", classes=str(elsewhere)).classes == ("background", "lesion")


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="needs /etc/passwd")
def test_etc_passwd_is_neither_read_from_outside_nor_taken_for_class_names(folder, outside_allowed):
    option_files.allow_files_outside(False)
    _refused(folder, "/etc/passwd", "outside the dataset folder")
    option_files.allow_files_outside(True)
    message = _refused(folder, "/etc/passwd", "cannot be read")
    assert "root" not in message.replace("'/etc/passwd'", "")  # nothing of the file is quoted


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_proc_and_device_files_are_refused_even_when_outside_is_allowed(folder, outside_allowed, monkeypatch):
    monkeypatch.setenv("SEGDASH_TEST_SECRET", "hunter2")
    for value in ("/proc/self/environ", "/dev/zero", "/dev/null"):
        message = _refused(folder, value, "is a system file")
        assert "hunter2" not in message
    (folder / "env.txt").symlink_to("/proc/self/environ")  # inside the folder by name only
    assert "hunter2" not in _refused(folder, "env.txt", "system file")


def test_a_fifo_or_a_folder_is_refused_without_blocking(folder):
    os.mkfifo(folder / "classes.txt")  # the name the folder format would also find by itself
    _refused(folder, "classes.txt", "not a regular file")
    assert open_dataset(str(folder), format="folder").num_classes == 2  # not taken for the folder's classes file
    (folder / "classes.txt").unlink()
    (folder / "names").mkdir()
    _refused(folder, "names", "not a regular file")


@pytest.mark.parametrize("content, expected", [
    ("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", "CVAT"),
    ("a\n" + "x" * 500 + "\n", "not a class name"),
    ("a\x00b\nc\n", "NUL bytes"),
    ('{"classes": [{"name": "a", "index": "secret"}]}', "not a whole number"),
    ('{"classes": [{"name": "a", "color": ["s3cret", 0, 0]}]}', "not a whole number"),
])  # fmt: skip
def test_text_that_is_not_a_classes_file_is_refused_without_being_quoted(folder, content, expected):
    name = "classes.json" if content.startswith("{") else "classes.txt"
    (folder / name).write_text(content)
    message = _refused(folder, name, expected)
    assert not {"root", "daemon", "secret", "s3cret", "xxxx"} & set(message.replace("'", " ").split())


def test_the_command_line_flag_lifts_the_folder_rule(folder, tmp_path):
    elsewhere = tmp_path / "names.txt"
    elsewhere.write_text("background\nlesion\n")
    run = [sys.executable, "-m", "segdash", "stats", str(folder), "--format", "folder", "-o", f"classes={elsewhere}"]
    refused = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert refused.returncode == 2 and "outside the dataset folder" in refused.stderr
    allowed = subprocess.run([*run, "--classes-outside", "--no-cache"], capture_output=True, text=True, cwd=ROOT,
                             timeout=120)  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert "lesion" in allowed.stdout


def test_every_option_that_names_a_file_is_confined_the_same_way(folder, tmp_path, outside_allowed):
    """resolve_option_file is what each format calls for -o KEY=FILE (classes, class maps, annotations)."""
    from segdash.data.formats.option_files import resolve_option_file

    option_files.allow_files_outside(False)
    (folder / "map.csv").write_text("source,target\n")
    assert resolve_option_file("map.csv", folder, "class_map") == (folder / "map.csv").resolve()
    elsewhere = tmp_path / "map.csv"
    elsewhere.write_text("source,target\n")
    with pytest.raises(SegdashError, match="option class_map: file .* is outside the dataset folder"):
        resolve_option_file(str(elsewhere), folder, "class_map")
    with pytest.raises(SegdashError, match="does not exist"):
        resolve_option_file("nope.json", folder, "annotations")
    with pytest.raises(SegdashError, match="not a regular file"):
        resolve_option_file("images", folder, "annotations")
    option_files.allow_files_outside(True)
    assert resolve_option_file(str(elsewhere), folder, "class_map") == elsewhere.resolve()
    with pytest.raises(SegdashError, match="is a system file"):
        resolve_option_file("/proc/self/environ", folder, "annotations")
