"""folder: images/ + masks/ by stem; index, palette and RGB-coded masks; classes files; split folders."""

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats.classes import read_classes_file
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.imageio import write_label_png
from segdash.errors import SegdashError

H, W = 4, 6
LABELS = np.zeros((H, W), np.uint8)  # class 0: 24 - 8 - 3 - 2 = 11
LABELS[:2, :4] = 1  # 8
LABELS[3, :3] = 2  # 3
LABELS[2, 5] = 255  # ignored: 2
LABELS[3, 5] = 255
COLORS = {0: (0, 0, 0), 1: (128, 64, 128), 2: (220, 20, 60), 255: (255, 255, 255)}
RGB = np.random.default_rng(3).integers(0, 255, (H, W, 3), dtype=np.uint8)


def save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def colour_coded(labels):
    out = np.zeros(labels.shape + (3,), np.uint8)
    for value, colour in COLORS.items():
        out[labels == value] = colour
    return out


def open_folder(root, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(root, format="folder", **options)
    return ds, " | ".join(str(w.message) for w in caught if issubclass(w.category, DatasetWarning))


def test_flat_index_masks_numbered_classes_and_seeded_split(tmp_path):
    for i in range(10):
        save(tmp_path / "images" / f"img{i}.jpg", RGB)
        save(tmp_path / "masks" / (f"img{i}.png" if i % 2 else f"img{i}_mask.png"), LABELS)
    save(tmp_path / "images" / "lonely.png", RGB)
    (tmp_path / "images" / "._img1.jpg").write_bytes(b"\x00\x05")
    (tmp_path / "images" / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "images" / "notes.txt").write_text("hello")
    ds, messages = open_folder(tmp_path)
    assert "lonely" in messages and "broken.jpg" in messages
    assert ds.classes == ("class_0", "class_1", "class_2") and ds.ignore_index == 255
    assert [len(ds.ids(s)) for s in ds.splits()] == [8, 1, 1] and ds.splits() == ["train", "val", "test"]
    assert sorted(i for s in ds.splits() for i in ds.ids(s)) == [f"img{i}" for i in range(10)]
    image, mask, _ = ds.load("val", ds.ids("val")[0])
    assert image.shape == (H, W, 3)
    assert [(mask == v).sum() for v in (0, 1, 2, 255)] == [11, 8, 3, 2]
    # a second open uses the cached label scan and gives the same answer
    assert open_folder(tmp_path)[0].classes == ds.classes


def test_split_folders_palette_masks_and_predict_only_test(tmp_path):
    palette = [0, 0, 0, 10, 200, 30, 250, 0, 250] + [0] * (3 * 253)
    for split in ("train", "val"):
        for stem in ("a", "b"):
            save(tmp_path / split / "images" / f"{stem}.png", RGB)
            mask = Image.frombytes("P", (W, H), LABELS.tobytes())
            mask.putpalette(palette)
            (tmp_path / split / "masks").mkdir(parents=True, exist_ok=True)
            mask.save(tmp_path / split / "masks" / f"{stem}.png")
    save(tmp_path / "test" / "images" / "c.png", RGB)
    ds, _ = open_folder(tmp_path)
    assert ds.splits() == ["train", "val", "test"]
    assert ds.has_masks("train") and not ds.has_masks("test")
    assert ds.colors == ((0, 0, 0), (10, 200, 30), (250, 0, 250))
    assert ds.load("test", "c").mask is None
    np.testing.assert_array_equal(ds.load("train", "b").mask, LABELS)


def test_rgb_masks_through_classes_csv(tmp_path):
    save(tmp_path / "images" / "a.png", RGB)
    save(tmp_path / "masks" / "a.png", colour_coded(LABELS))
    (tmp_path / "classes.csv").write_text("name,r,g,b\nbackground,0,0,0\nroad,128,64,128\nperson,220,20,60\n")
    ds, _ = open_folder(tmp_path, val_fraction=0, test_fraction=0)
    assert ds.classes == ("background", "road", "person") and ds.colors[1] == (128, 64, 128)
    with pytest.raises(SegdashError, match=r"a.png.*\(255, 255, 255\)"):  # white is not in the file
        ds.load("train", "a")
    (tmp_path / "classes.csv").unlink()
    (tmp_path / "masks" / "classes.json").write_text(
        json.dumps(
            [
                {"name": "background", "color": "#000000", "index": 0},
                {"name": "road", "color": [128, 64, 128], "index": 1},
                {"name": "person", "color": [220, 20, 60], "index": 2},
                {"name": "ignore", "color": [255, 255, 255], "index": 255},
            ]
        )
    )
    ds, _ = open_folder(tmp_path, val_fraction=0, test_fraction=0)
    assert ds.classes == ("background", "road", "person")
    np.testing.assert_array_equal(ds.load("train", "a").mask, LABELS)


def test_rgb_masks_without_classes_file_say_what_to_do(tmp_path):
    save(tmp_path / "images" / "a.png", RGB)
    save(tmp_path / "masks" / "a.png", colour_coded(LABELS))
    with pytest.raises(SegdashError, match="a.png.*classes file"):
        open_folder(tmp_path)


def test_binary_0_255_masks_are_background_foreground(tmp_path):
    binary = np.where(LABELS == 1, 255, 0).astype(np.uint8)
    save(tmp_path / "images" / "a.jpg", RGB)
    save(tmp_path / "masks" / "a_segmentation.png", binary)  # ISIC naming
    ds, _ = open_folder(tmp_path, val_fraction=0, test_fraction=0)
    assert ds.classes == ("background", "foreground")
    assert (ds.load("train", "a").mask == 1).sum() == 8


def test_classes_option_names_only_and_out_of_range_labels(tmp_path):
    save(tmp_path / "images" / "a.png", RGB)
    write_label_png(tmp_path / "masks" / "a.png", LABELS)
    (tmp_path / "names.txt").write_text("# my classes\nsky\nroad line\n")
    ds, _ = open_folder(tmp_path, classes=str(tmp_path / "names.txt"), val_fraction=0, test_fraction=0)
    assert ds.classes == ("sky", "road line") and len(ds.colors) == 2
    with pytest.raises(SegdashError, match=r"'a'.*\[2\].*2 classes"):
        ds.load("train", "a")
    ds, _ = open_folder(tmp_path, ignore_index="none", num_classes="3", val_fraction=0, test_fraction=0)
    with pytest.raises(SegdashError, match=r"\[255\]"):
        ds.load("train", "a")


def test_wrong_layout_and_bad_options(tmp_path):
    save(tmp_path / "pictures" / "a.png", RGB)
    with pytest.raises(SegdashError, match="images/ and masks/"):
        open_folder(tmp_path)
    save(tmp_path / "images" / "a.png", RGB)
    write_label_png(tmp_path / "masks" / "a.png", LABELS)
    with pytest.raises(SegdashError, match="val_fraction"):
        open_folder(tmp_path, val_fraction="lots")
    with pytest.raises(SegdashError, match="does not exist"):
        open_folder(tmp_path, classes="nope.csv")


SKY_TREE = (("sky", "tree"), ((70, 130, 180), (107, 142, 35)))
ANIMAL_SKY = (("Animal", "Sky"), ((64, 128, 64), (128, 128, 128)))
CLASSES_FILES = [
    ("class_dict.csv", "name,r,g,b\nAnimal,64,128,64\nSky,128,128,128\n", *ANIMAL_SKY),  # CamVid (Kaggle)
    ("label_colors.txt", "64 128 64\tAnimal\n128 128 128\tSky\n", *ANIMAL_SKY),  # CamVid (original)
    (
        "labelmap.txt",  # CVAT export
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\ntraffic sign:220,220,0::\n",
        ("background", "traffic sign"),
        ((0, 0, 0), (220, 220, 0)),
    ),
    (
        "classes.txt",
        "0 background 0 0 0\n1 road line 157 234 50\n",
        ("background", "road line"),
        ((0, 0, 0), (157, 234, 50)),
    ),
    ("classes.txt", "sky #4682b4\ntree #6b8e23\n", *SKY_TREE),
    ("classes.json", '{"sky": [70, 130, 180], "tree": "#6b8e23"}', *SKY_TREE),
    ("dataset.json", '{"labels": {"0": "background", "1": "tumour"}}', ("background", "tumour"), None),
    ("classes.txt", "cat\ndog\n", ("cat", "dog"), None),
]


@pytest.mark.parametrize("name, text, names, colors", CLASSES_FILES)
def test_classes_file_flavours(tmp_path, name, text, names, colors):
    (tmp_path / name).write_text(text)
    table = read_classes_file(tmp_path / name)
    assert table.names == names and table.colors == colors


def test_classes_file_errors(tmp_path):
    (tmp_path / "gap.csv").write_text("0,a,0,0,0\n2,b,1,1,1\n")
    with pytest.raises(SegdashError, match="without gaps"):
        read_classes_file(tmp_path / "gap.csv")
    (tmp_path / "dup.csv").write_text("a,1,1,1\nb,1,1,1\n")
    with pytest.raises(SegdashError, match="share a colour"):
        read_classes_file(tmp_path / "dup.csv")


def test_two_images_with_one_stem_warn_which_is_kept(tmp_path):
    save(tmp_path / "images" / "a.jpg", RGB)
    save(tmp_path / "images" / "a.png", RGB)
    save(tmp_path / "masks" / "a.png", LABELS)
    ds, warned = open_folder(tmp_path)
    assert "a.png (kept a.jpg)" in warned and sum(len(ds.ids(s)) for s in ds.splits()) == 1


def test_jpeg_masks_warn_that_compression_changed_the_labels(tmp_path):
    save(tmp_path / "images" / "a.png", RGB)
    save(tmp_path / "masks" / "a.jpg", (LABELS == 1).astype(np.uint8) * 255)
    _, warned = open_folder(tmp_path)
    assert "JPEG files (a.jpg, ...)" in warned and "save masks as PNG" in warned


def test_single_channel_images_make_a_one_channel_dataset(tmp_path):
    """Grey PNGs and H x W .npy images give in_channels 1 (so 1-channel checkpoints fit); -o channels overrides."""
    from PIL import Image

    from segdash.data import open_dataset
    from segdash.data.imageio import write_label_png

    for kind in ("png", "npy"):
        root = tmp_path / kind
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir()
        for i in range(3):
            pixels = np.full((6, 5), 40 * i, np.uint8)
            if kind == "png":
                Image.fromarray(pixels).save(root / "images" / f"s{i}.png")
            else:
                np.save(root / "images" / f"s{i}.npy", pixels.astype(np.float32) / 255)
            write_label_png(root / "masks" / f"s{i}.png", np.zeros((6, 5), np.int64))
        ds = open_dataset(root, format="folder")
        split = ds.splits()[0]
        assert ds.in_channels == 1
        assert ds.load(split, ds.ids(split)[0]).image.shape == (6, 5, 1)
    forced = open_dataset(tmp_path / "png", format="folder", channels="3")
    split = forced.splits()[0]
    assert forced.in_channels == 3 and forced.load(split, forced.ids(split)[0]).image.shape == (6, 5, 3)


def test_images_without_masks_are_refused_not_opened_as_one_class(tmp_path):
    (tmp_path / "scans" / "images").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(tmp_path / "scans" / "images" / f"s{i}.png")
    with pytest.raises(SegdashError, match="no masks/.*segdash predict") as caught:
        open_dataset(str(tmp_path / "scans"), format="folder")
    assert "\n" not in str(caught.value)
    # with class names it opens, predict-only
    ds = open_dataset(str(tmp_path / "scans"), format="folder", num_classes="2")
    assert ds.num_classes == 2 and not any(ds.has_masks(s) for s in ds.splits())
