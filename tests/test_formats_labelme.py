"""labelme: LabelMe JSON files with the image embedded (imageData) or beside them (imagePath), polygons,
rectangles and circles drawn as LabelMe draws them, classes found or from labelme2voc's labels.txt, and the
files that cannot be used named one by one."""

import json

import numpy as np
import pytest
from _layouts import H, W, labelme_doc, make_labelme, shape

from segdash.data import open_dataset
from segdash.data.formats.shapes import MAX_POLYGON_POINTS
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError


def quiet(root, **options):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_dataset(root, format="labelme", **options)


def test_shapes_images_and_classes_found(tmp_path):
    root, expected = make_labelme(tmp_path)
    ds = open_dataset(root, format="labelme")
    assert ds.classes == ("background", "car", "person", "sign") and ds.splits() == ["train", "val"]
    for split in ("train", "val"):
        np.testing.assert_array_equal(class_statistics(ds, split, use_cache=False).pixels, expected[split])
    embedded = np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8)
    np.testing.assert_array_equal(ds.load("train", "street_1").image, embedded)  # imageData, not street_1.jpg
    assert ds.entry("val", "street_3").image == root / "images" / "street_3.jpg"  # ../images/ from val/


def test_labelme2voc_labels_file_with_ignore_and_background(tmp_path):
    root, expected = make_labelme(tmp_path)
    (root / "labels.txt").write_text("__ignore__\n_background_\nperson\ncar\nsign\ntruck\n")
    doc = json.loads((root / "val" / "street_3.json").read_text())
    doc["shapes"].append(shape("__ignore__", "rectangle", [[10, 10], [11, 11]]))
    (root / "val" / "street_3.json").write_text(json.dumps(doc))
    ds = open_dataset(root, format="labelme", classes="labels.txt")
    assert ds.classes == ("background", "person", "car", "sign", "truck")
    stats = class_statistics(ds, "val", use_cache=False)
    assert stats.ignored_pixels == 4 and stats.pixels.tolist() == [H * W - 80 - 4, 80, 0, 0, 0]
    (root / "labels.txt").write_text("person\ncar\n")  # no sign, no background: uncovered pixels are ignored
    ds = quiet(root, classes="labels.txt")
    assert class_statistics(ds, "val", use_cache=False).ignored_pixels == H * W - 80
    with pytest.raises(SegdashError, match=r"sample 'street_2' \(street_2.json\), shape 0: the label 'sign' is not"):
        ds.load_mask("train", "street_2")


@pytest.mark.parametrize(("spoil", "words"), [
    (lambda path: path.write_text('{"shapes": [{"label": "car", "points": [[1, 2], [3,'),
     r"LabelMe file '.*street_2.json' is not valid JSON \(Expecting value at line 1"),
    (lambda path: path.write_text(json.dumps(labelme_doc(
        [shape("car", "polygon", [[1, 1]] * (MAX_POLYGON_POINTS + 1))], "street_2.jpg", None))),
     r"sample 'street_2' \(street_2.json\), shape 0: a polygon of 100,001 points"),
    (lambda path: path.write_text(json.dumps(labelme_doc([], "/etc/hostname", None))),
     "imagePath points outside the dataset folder"),
    (lambda path: path.write_text(json.dumps({**labelme_doc([], "street_2.jpg", None), "imageHeight": "24"})),
     "the field 'imageHeight' has the wrong type"),
])
def test_a_file_that_cannot_be_used_is_named_and_the_rest_is_read(tmp_path, spoil, words):
    root, expected = make_labelme(tmp_path)
    spoil(root / "train" / "street_2.json")
    ds = quiet(root)
    with pytest.warns(UserWarning, match="1 sample.*skipped.*street_2"):
        stats = class_statistics(ds, "train", use_cache=False)
    assert stats.images == 1 and stats.skipped[0][0] == "street_2"
    with pytest.raises(SegdashError, match=words):
        class_statistics(ds, "train", use_cache=False, strict=True)


def test_mask_shapes_and_unknown_shape_types(tmp_path):
    import base64
    import io

    from PIL import Image

    root, _ = make_labelme(tmp_path)
    box = np.zeros((5, 7), np.uint8)
    box[1:4, 2:6] = 1  # 3 x 4 of the 5 x 7 box
    buffer = io.BytesIO()
    Image.fromarray(box * 255).save(buffer, format="PNG")
    mask_shape = {**shape("car", "mask", [[10, 2], [16, 6]]), "mask": base64.b64encode(buffer.getvalue()).decode()}
    (root / "val" / "street_3.json").write_text(json.dumps(labelme_doc([mask_shape], "../images/street_3.jpg", None)))
    mask = open_dataset(root, format="labelme").load_mask("val", "street_3")
    assert (mask == 1).sum() == 12 and (mask[3:6, 12:16] == 1).all()
    (root / "val" / "street_3.json").write_text(json.dumps(labelme_doc(
        [shape("car", "ellipse", [[1, 1], [3, 3]])], "../images/street_3.jpg", None)))
    with pytest.raises(SegdashError, match=r"sample 'street_3' \(street_3.json\), shape 0: a shape of type 'ellipse'"):
        open_dataset(root, format="labelme").load_mask("val", "street_3")
