"""segdash convert: the folder layout written whole or not at all; what it does with samples it cannot read,
an existing target, datasets of more than 255 classes and images that are not files (the per-format round
trips are in test_formats_layouts.py)."""

import numpy as np
import pytest
from _layouts import make_camvid
from PIL import Image

from segdash.cli import main
from segdash.data import open_dataset
from segdash.data.base import Sample, SegDataset
from segdash.data.formats.folder_export import distinct_colors, write_folder_dataset
from segdash.data.stats import class_statistics


def spoil_one(root):
    Image.fromarray(np.full((24, 32), 99, np.uint8)).save(root / "trainannot" / "0001TP_006720.png")


def test_an_existing_target_is_kept_unless_forced(tmp_path, capsys):
    root, _ = make_camvid(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["convert", str(root), "-f", "camvid", "--out", str(out)]) == 2
    assert "exists and is not empty; give --force" in capsys.readouterr().err and (out / "keep.txt").exists()
    assert main(["convert", str(root), "-f", "camvid", "--out", str(out), "--force", "-s", "val"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["classes.csv", "val"]


def test_strict_writes_nothing_and_the_default_leaves_the_sample_out(tmp_path, capsys):
    root, _ = make_camvid(tmp_path)
    spoil_one(root)
    out = tmp_path / "out"
    assert main(["convert", str(root), "-f", "camvid", "--out", str(out), "--strict"]) == 2
    assert "0001TP_006720.png: holds values above 11" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    assert main(["convert", str(root), "-f", "camvid", "--out", str(out)]) == 0
    assert "1 sample(s) skipped" in capsys.readouterr().err
    assert open_dataset(out, format="folder").ids("train") == ["0001TP_006690"]


class Floats(SegDataset):
    """Float images without files and 300 classes, ids with a slash."""

    name, in_channels, ignore_index = "floats", 1, 65535
    classes = tuple(f"c{i}" for i in range(300))
    colors = tuple((i % 256, i // 256, 0) for i in range(300))

    def splits(self):
        return ["train"]

    def ids(self, split):
        return ["a/1", "b"]

    def load(self, split, sample_id):
        mask = np.full((4, 5), 299 if sample_id == "b" else 7, np.int64)
        mask[0] = 65535
        return Sample(np.full((4, 5, 1), 0.25, np.float32), mask, sample_id)


def test_more_than_255_classes_and_decoded_images(tmp_path):
    result = write_folder_dataset(Floats(), tmp_path / "out")
    assert result.ignore_value == 65535 and result.images == {"train": 2}
    assert sorted(p.name for p in (tmp_path / "out/train/images").iterdir()) == ["a__1.npy", "b.npy"]
    ds = open_dataset(tmp_path / "out", format="folder", ignore_index="65535")
    assert len(ds.classes) == 300 and ds.in_channels == 1
    stats = class_statistics(ds, "train", use_cache=False)
    assert stats.pixels[7] == 15 and stats.pixels[299] == 15 and stats.ignored_pixels == 5 * 2
    np.testing.assert_array_equal(ds.load("train", "b").image, np.full((4, 5, 1), 0.25, np.float32))


def test_colours_two_classes_share_are_told_apart():
    assert distinct_colors([(0, 0, 0), (9, 9, 9), (0, 0, 0), (0, 0, 0), (255, 255, 255), (255, 255, 255)]) == [
        (0, 0, 0), (9, 9, 9), (0, 0, 1), (0, 1, 0), (255, 255, 255), (255, 255, 254)]


def test_the_dataset_folder_itself_is_refused(tmp_path, capsys):
    root, _ = make_camvid(tmp_path)
    assert main(["convert", str(root), "-f", "camvid", "--out", str(root), "--force"]) == 2
    assert "dataset's own folder" in capsys.readouterr().err and (root / "train").is_dir()


@pytest.mark.parametrize("target", ["file"])
def test_a_file_as_target_is_refused(tmp_path, capsys, target):
    root, _ = make_camvid(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["convert", str(root), "-f", "camvid", "--out", str(tmp_path / target)]) == 2
    assert "is a file" in capsys.readouterr().err
