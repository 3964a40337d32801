"""The seven public layouts together (cityscapes, ade20k, coco, camvid, cvat, mapillary, labelme): what every
format owes, checked the same way for each.

- per-class pixel counts equal the counts ``tests/_layouts.py`` computed from the values it wrote;
- a second open reads no file header (the index cache) and gives the same ids in the same order
  (what each torchrun process relies on), and shards put together equal one pass;
- a sample that cannot be read is left out with a warning naming it; ``strict`` stops with its name;
- ``segdash stats`` and ``segdash evaluate`` (with a checkpoint trained on that data for one epoch) run
  on each, and the evaluation's ground truth is the counted one;
- ``segdash convert`` writes each as the folder layout, which reads back with the same counts.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import _layouts as layouts
import numpy as np
import pytest
from PIL import Image

import segdash.data.formats._index_cache as index_cache
import segdash.data.formats.labelme as labelme_format
from segdash.cli import main
from segdash.data import open_dataset
from segdash.data.stats import class_statistics, merge_stats
from segdash.errors import SegdashError
from segdash.sharding import shard_of

FORMATS = ("cityscapes", "ade20k", "coco", "camvid", "cvat", "mapillary", "labelme")


def build(name: str, root: Path) -> tuple[Path, dict]:
    folder, expected = getattr(layouts, f"make_{name}")(root)
    if name == "coco":  # the COCO reference gives counts and ignored pixels together
        expected = {k: v for split, ref in expected.items()
                    for k, v in ((split, ref["counts"]), (f"{split}:ignored", ref["ignored"]))}
    return folder, expected


def quiet_open(folder: Path, name: str, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_dataset(folder, format=name, **options)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    root = tmp_path_factory.mktemp("layouts")
    return {name: build(name, root) for name in FORMATS}


def labelled_splits(expected: dict) -> list[str]:
    return [k for k in expected if ":" not in k]


@pytest.mark.parametrize("name", FORMATS)
def test_counts_are_the_written_ones(built, name):
    folder, expected = built[name]
    ds = quiet_open(folder, name)
    for split in labelled_splits(expected):
        stats = class_statistics(ds, split, use_cache=False)
        np.testing.assert_array_equal(stats.pixels, expected[split], err_msg=f"{name}/{split}")
        assert stats.ignored_pixels == expected[f"{split}:ignored"] and not stats.skipped


@pytest.mark.parametrize("name", FORMATS)
def test_second_open_reads_no_header_and_keeps_the_order(tmp_path, monkeypatch, name):
    folder, _ = build(name, tmp_path)
    scans = []
    real_scan, real_file = index_cache.readable_by_stem, labelme_format.scan_file
    monkeypatch.setattr(index_cache, "readable_by_stem", lambda f, *a, **k: scans.append(f) or real_scan(f, *a, **k))
    monkeypatch.setattr(labelme_format, "scan_file", lambda p, r: scans.append(p) or real_file(p, r))
    first = quiet_open(folder, name)
    assert scans, "the first open scans the folders"
    scans.clear()
    second = quiet_open(folder, name)
    assert scans == []
    assert {s: first.ids(s) for s in first.splits()} == {s: second.ids(s) for s in second.splits()}


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("world", [2, 3])
def test_shards_put_together_equal_one_pass(built, name, world):
    folder, _ = built[name]
    ds = quiet_open(folder, name)
    split = labelled_splits(built[name][1])[0]
    assert [i for rank in range(world) for i in shard_of(ds.ids(split), rank, world)] == ds.ids(split)
    parts = [class_statistics(ds, split, use_cache=False, shard=(rank, world)) for rank in range(world)]
    np.testing.assert_array_equal(merge_stats(parts).pixels, class_statistics(ds, split, use_cache=False).pixels)


# --- one bad sample per layout ----------------------------------------------------------------------------------
def _break(name: str, folder: Path) -> tuple[str, str, str]:
    """Spoil one sample the way it happens in that format; ``(split, sample id, words of the reason)``."""
    bad = np.full((layouts.H, layouts.W), 200, np.uint8)
    if name == "cityscapes":
        Image.fromarray(bad).save(folder / "gtFine/train/aachen/aachen_000000_000001_gtFine_labelIds.png")
        return "train", "aachen_000000_000001", "not Cityscapes label ids"
    if name == "ade20k":
        Image.fromarray(bad).save(folder / "annotations/training/ADE_train_00000002.png")
        return "train", "ADE_train_00000002", "above 150"
    if name == "camvid":
        Image.fromarray(bad).save(folder / "trainannot/0001TP_006720.png")
        return "train", "0001TP_006720", "above 11"
    if name == "cvat":
        off_map = np.full((layouts.H, layouts.W, 3), 9, np.uint8)
        Image.fromarray(off_map).save(folder / "SegmentationClass/frame_000001.png")
        return "train", "frame_000001", "not in the classes file"
    if name == "mapillary":
        layouts._palette_png(folder / "training/v2.0/labels/tr00000000000000000001.png", bad // 200 * 9,
                             [(i, i, i) for i in range(10)])
        return "train", "tr00000000000000000001", "label ids above 4"
    if name == "labelme":
        (folder / "train" / "street_2.json").write_text('{"shapes": [ {"label": "car",')
        return "train", "street_2", "not valid JSON"
    path = folder / "annotations/instances_train2017.json"
    doc = json.loads(path.read_text())
    doc["annotations"][3]["category_id"] = 7  # image 000000000025's dog: a category the file does not list
    path.write_text(json.dumps(doc))
    return "train", "000000000025", "category id 7"


@pytest.mark.parametrize("name", FORMATS)
def test_a_bad_sample_is_skipped_by_name_and_strict_stops(tmp_path, name):
    folder, _ = build(name, tmp_path)
    split, sample_id, reason = _break(name, folder)
    ds = quiet_open(folder, name)
    with pytest.warns(UserWarning, match=f"1 sample.*skipped.*{sample_id}"):
        stats = class_statistics(ds, split, use_cache=False)
    assert [sid for sid, _ in stats.skipped] == [sample_id] and reason in stats.skipped[0][1]
    assert stats.images == len(ds.ids(split)) - 1
    with pytest.raises(SegdashError, match=reason) as caught:
        class_statistics(ds, split, use_cache=False, strict=True)
    assert sample_id in str(caught.value)


# --- the commands ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FORMATS)
def test_stats_and_evaluate_commands_with_a_checkpoint_trained_on_it(built, name, tmp_path, capsys):
    from segdash.train.config import TrainConfig
    from segdash.train.trainer import train

    folder, expected = built[name]
    assert main(["stats", str(folder), "-f", name, "--no-cache", "--json", str(tmp_path / "stats.json")]) == 0
    doc = json.loads((tmp_path / "stats.json").read_text())
    for split in labelled_splits(expected):
        assert doc["splits"][split]["pixels"] == expected[split].tolist()

    config = TrainConfig.from_preset("smoke", dataset=str(folder), format=name, img_size=32, batch_size=2, epochs=1,
                                     pretrained="none", threads=1, preview_images=1, keep_checkpoints=0,
                                     arch="FPN", encoder="mobilenet_v2")
    assert train(config, tmp_path / "run", echo=False).status == "finished"
    out = tmp_path / "eval.json"
    checkpoint = str(tmp_path / "run/checkpoints/best")
    code = main(["evaluate", str(folder), "-f", name, "-s", "val", "--checkpoint", checkpoint,
                 "--device", "cpu", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    confusion = np.asarray(json.loads(out.read_text())["confusion_matrix"])
    np.testing.assert_array_equal(confusion.sum(axis=1), expected["val"])  # rows: the ground truth


@pytest.mark.parametrize("name", FORMATS)
def test_convert_reads_back_as_folder_with_the_same_counts(built, name, tmp_path, capsys):
    folder, expected = built[name]
    out = tmp_path / f"{name}-as-folder"
    assert main(["convert", str(folder), "-f", name, "--out", str(out)]) == 0
    assert "open it with" in capsys.readouterr().out
    source, converted = quiet_open(folder, name), open_dataset(out, format="folder")
    assert converted.classes == source.classes and converted.splits() == source.splits()
    for split in source.splits():
        assert converted.ids(split) == source.ids(split)
        assert converted.has_masks(split) == source.has_masks(split)
    for split in labelled_splits(expected):
        stats = class_statistics(converted, split, use_cache=False)
        np.testing.assert_array_equal(stats.pixels, expected[split])
        assert stats.ignored_pixels == expected[f"{split}:ignored"]
