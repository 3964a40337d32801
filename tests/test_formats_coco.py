"""coco: instances JSON (polygons, RLE, crowd, non-contiguous category ids, an empty image) against pycocotools'
own masks; panoptic PNGs through segments_info; the other exports' layouts; and hostile annotations, each a line
naming the sample (or the file) without echoing it."""

import copy
import json

import numpy as np
import pytest
from _layouts import (
    H,
    W,
    _image,
    box_polygon,
    coco_annotations,
    coco_reference,
    compressed_rle,
    make_coco,
    uncompressed_rle,
)
from PIL import Image

from segdash.cli import main
from segdash.data import open_dataset
from segdash.data.formats.coco_masks import rle_mask
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError


def quiet(root, **options):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_dataset(root, format="coco", **options)


def test_classes_follow_category_ids_and_counts_are_pycocotools(tmp_path):
    root, expected = make_coco(tmp_path)
    ds = open_dataset(root, format="coco")  # the captions files beside the instances are not read
    assert ds.classes == ("background", "person", "car", "dog", "toothbrush")  # ids 1, 3, 18, 90
    assert ds.splits() == ["train", "val"] and ds.ids("train") == ["000000000009", "000000000025", "000000000030"]
    for split in ("train", "val"):
        stats = class_statistics(ds, split, use_cache=False)
        np.testing.assert_array_equal(stats.pixels, expected[split]["counts"])
        assert stats.ignored_pixels == expected[split]["ignored"]
    assert (ds.load_mask("train", "000000000030") == 0).all()  # listed without annotations: all background
    mask = ds.load_mask("train", "000000000009")
    assert mask[8, 7] == 1 and mask[8, 15] == 2  # the small person painted over the large car


def test_crowd_as_class(tmp_path):
    root, _ = make_coco(tmp_path)
    ds = open_dataset(root, format="coco", crowd="class")
    reference = coco_reference(root / "annotations" / "instances_train2017.json", crowd="class")
    stats = class_statistics(ds, "train", use_cache=False)
    np.testing.assert_array_equal(stats.pixels, reference["counts"])
    assert stats.ignored_pixels == 0


@pytest.mark.parametrize("seed", range(4))
def test_rle_decoding_equals_pycocotools(seed):
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 40, 2))
    mask = rng.random(shape) < rng.random()
    for rle in (compressed_rle(mask), uncompressed_rle(mask)):
        reference = mask_utils.decode(mask_utils.frPyObjects(rle, *shape) if isinstance(rle["counts"], list)
                                      else {"size": rle["size"], "counts": rle["counts"].encode()})
        np.testing.assert_array_equal(rle_mask(rle, *shape, "test"), reference.astype(bool))


# --- other layouts ------------------------------------------------------------------------------------------
def test_roboflow_export_with_images_beside_each_json(tmp_path):
    train, val = coco_annotations()
    for folder, doc in (("train", train), ("valid", val)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "_annotations.coco.json").write_text(json.dumps(doc))
        for i, image in enumerate(doc["images"]):
            _image(tmp_path / folder / image["file_name"], i)
    ds = open_dataset(tmp_path, format="coco")
    assert ds.splits() == ["train", "val"]
    reference = coco_reference(tmp_path / "train" / "_annotations.coco.json")
    np.testing.assert_array_equal(class_statistics(ds, "train", use_cache=False).pixels, reference["counts"])


def test_one_file_by_option_and_an_image_info_file_is_predict_only(tmp_path):
    root, expected = make_coco(tmp_path)
    ds = open_dataset(root, format="coco", annotations="annotations/instances_val2017.json")
    assert ds.splits() == ["val"]
    info = {"images": [{"id": 1, "file_name": "000000000001.jpg", "height": H, "width": W}], "categories": []}
    info["categories"] = coco_annotations()[0]["categories"]
    (root / "annotations" / "image_info_test2017.json").write_text(json.dumps(info))
    _image(root / "test2017" / "000000000001.jpg", 3)
    ds = open_dataset(root, format="coco")
    assert ds.splits() == ["train", "val", "test"] and not ds.has_masks("test")


def test_panoptic_pngs_through_segments_info(tmp_path):
    root = tmp_path / "coco"
    categories = [{"id": 1, "name": "person", "isthing": 1, "color": [220, 20, 60]},
                  {"id": 184, "name": "tree-merged", "isthing": 0, "color": [107, 142, 35]},
                  {"id": 17, "name": "cat", "isthing": 1, "color": [255, 0, 0]}]
    ids = np.zeros((H, W), np.int64)  # 0: unlabelled
    ids[:10] = 5 + 256 * 3  # tree (segment id 773)
    ids[10:16, :8] = 42  # person
    ids[16:, 20:] = 7 * 65536 + 1  # a crowd of cats
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    (root / "annotations" / "panoptic_val2017").mkdir(parents=True)
    Image.fromarray(rgb).save(root / "annotations" / "panoptic_val2017" / "000000000139.png")
    _image(root / "val2017" / "000000000139.jpg", 1)
    doc = {"images": [{"id": 139, "file_name": "000000000139.jpg", "height": H, "width": W}], "categories": categories,
           "annotations": [{"image_id": 139, "file_name": "000000000139.png", "segments_info": [
               {"id": 773, "category_id": 184, "iscrowd": 0}, {"id": 42, "category_id": 1, "iscrowd": 0},
               {"id": 7 * 65536 + 1, "category_id": 17, "iscrowd": 1}]}]}
    (root / "annotations" / "panoptic_val2017.json").write_text(json.dumps(doc))
    ds = open_dataset(root, format="coco")
    assert ds.classes == ("person", "cat", "tree-merged") and ds.colors[0] == (220, 20, 60)
    stats = class_statistics(ds, "val", use_cache=False)
    assert stats.pixels.tolist() == [6 * 8, 0, 10 * W]
    assert stats.ignored_pixels == H * W - 6 * 8 - 10 * W  # unlabelled and the crowd
    assert class_statistics(open_dataset(root, format="coco", crowd="class"), "val").pixels[1] == 8 * (W - 20)
    doc["annotations"][0]["segments_info"].pop(1)  # the person's segment no longer listed
    (root / "annotations" / "panoptic_val2017.json").write_text(json.dumps(doc))
    with pytest.raises(SegdashError, match="sample '000000000139'.*segment id.*42.*does not list"):
        open_dataset(root, format="coco").load_mask("val", "000000000139")


# --- hostile annotations -----------------------------------------------------------------------------------------
def spoiled(tmp_path, change):
    train, val = coco_annotations()
    change(train)
    return make_coco(tmp_path, train, copy.deepcopy(val), reference=False)[0]


def test_a_polygon_of_ten_million_points_is_refused_by_count(tmp_path):
    def marked(doc):
        doc["annotations"][0]["segmentation"] = "HUGE"

    root = spoiled(tmp_path, marked)
    path = root / "annotations" / "instances_train2017.json"
    coordinates = "0," * (20_000_000 - 1) + "0"  # written as text: json.dumps of 2 x 10^7 numbers is slow
    path.write_text(path.read_text().replace('"HUGE"', f"[[{coordinates}]]"))
    ds = quiet(root)
    with pytest.raises(SegdashError, match=r"sample '000000000009': annotation 1: a polygon of 10,000,000 points"):
        ds.load_mask("train", "000000000009")
    assert ds.load_mask("train", "000000000025") is not None  # the others are unaffected


@pytest.mark.parametrize(("rle", "words"), [
    ({"size": [H * 10, W * 10], "counts": [H * W * 100]}, "the RLE is 320x240 but its image is 32x24"),
    ({"size": [H, W], "counts": [H * W + 10 ** 6]}, "longer than the image"),
    ({"size": [H, W], "counts": [10, 20]}, "covers 30 pixels"),
    ({"size": [H, W], "counts": "0" * 10}, "covers 0 pixels"),
    ({"size": [H, W], "counts": "\x7f"}, "outside COCO's alphabet"),
    ({"size": [H, W], "counts": "9" * 40}, "covers 3,609 pixels"),
    ({"size": [H, W], "counts": "ooo"}, "cut off or malformed"),
])
def test_an_rle_that_is_not_its_images_is_refused(tmp_path, rle, words):
    def bad(doc):
        doc["annotations"][2]["segmentation"] = rle

    ds = quiet(spoiled(tmp_path, bad))
    with pytest.raises(SegdashError, match=f"sample '000000000025': annotation 3: .*({words})"):
        ds.load_mask("train", "000000000025")


def test_bad_json_is_one_line_with_its_position_and_no_content(tmp_path, capsys):
    root, _ = make_coco(tmp_path)
    (root / "annotations" / "instances_val2017.json").write_text('{"images": [], "categories": [SECRET-TEXT')
    assert main(["stats", str(root), "-f", "coco"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "instances_val2017.json' is not valid JSON" in err and "line 1" in err
    assert "SECRET" not in err


def test_stats_skips_a_hostile_sample_by_name_and_strict_stops(tmp_path, capsys):
    def unknown(doc):
        doc["annotations"][1]["category_id"] = 2  # no category 2 in the file

    root = spoiled(tmp_path, unknown)
    assert main(["stats", str(root), "-f", "coco", "-s", "train", "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert "1 sample(s) skipped" in err and "000000000009 (sample '000000000009': annotation 2 has category id 2" in err
    assert main(["stats", str(root), "-f", "coco", "-s", "train", "--no-cache", "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sample '000000000009': annotation 2 has category id 2" in err[0]


def test_image_names_outside_the_image_folder_are_not_followed(tmp_path):
    def escape(doc):
        doc["images"][1]["file_name"] = "../secret.jpg"

    root = spoiled(tmp_path, escape)
    (root / "train2017" / "secret.jpg").rename(root / "secret.jpg")  # beside the image folder, not in it
    with pytest.warns(UserWarning, match=r"1 image\(s\) listed in instances_train2017.json not found.*: ../secret.jpg"):
        ds = open_dataset(root, format="coco")
    assert ds.ids("train") == ["000000000009", "000000000030"]


def test_a_listed_path_from_another_machine_is_found_by_its_name(tmp_path):
    def elsewhere(doc):
        doc["images"][1]["file_name"] = "/data/upload/1/000000000025.jpg"  # as Label Studio writes them

    ds = open_dataset(spoiled(tmp_path, elsewhere), format="coco")
    assert ds.ids("train") == ["000000000009", "000000000025", "000000000030"]


def test_an_incomplete_image_entry_is_skipped_by_number(tmp_path):
    def incomplete(doc):
        del doc["images"][2]["height"]
        doc["images"][1]["width"] = 10**9

    message = r"2 image\(s\) in instances_train2017.json without a whole .*: image 1, image 2"
    with pytest.warns(UserWarning, match=message):
        ds = open_dataset(spoiled(tmp_path, incomplete), format="coco")
    assert ds.ids("train") == ["000000000009"]


def test_a_point_far_outside_the_image_is_refused(tmp_path):
    def far(doc):
        doc["annotations"][0]["segmentation"] = [box_polygon(0, 0, 1e9, 5)]

    ds = quiet(spoiled(tmp_path, far))
    with pytest.raises(SegdashError, match="far outside the 32x24 image"):
        ds.load_mask("train", "000000000009")
