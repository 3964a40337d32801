"""Classes across models and datasets: ADE20K-style names mapped onto a street dataset's by name or by a CSV file;
probabilities summed per dataset class; pixels of unmapped classes counted apart; Evaluate and Compare say so."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from segdash.cli import main
from segdash.errors import SegdashError
from segdash.infer.mapped import MappedPredictor, for_dataset
from segdash.models.class_mapping import class_mapping, synonyms

import builders

#: smp, timm, torchvision and transformers warn about deprecations the tests do not exercise
pytestmark = pytest.mark.filterwarnings("ignore")

ADE_LIKE = ("wall", "building;edifice", "sky", "floor;flooring", "tree", "road;route", "person;individual;someone",
            "car;auto;automobile")  # fmt: skip
STREET = ("unlabeled", "building", "Road", "sidewalk", "Person", "vehicle", "wall")


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Traffic Light", "traffic_light", True), ("building;edifice", "building", True), ("sky", "Sky.", True),
    ("grey matter", "gray matter", False), ("person;individual", "individual", True),
])  # fmt: skip
def test_names_match_ignoring_case_punctuation_and_per_synonym(a, b, same):
    assert bool(synonyms(a) & synonyms(b)) is same


def test_by_name_hand_computed():
    mapping = class_mapping(ADE_LIKE, STREET)
    # wall, building, sky, floor, tree, road, person, car  ->  dataset indices (-1: unmapped)
    assert mapping.target == (6, 1, -1, -1, -1, 2, 4, -1)
    assert mapping.how == "by name" and not mapping.identity
    assert mapping.unmapped == ["sky", "floor;flooring", "tree", "car;auto;automobile"]
    assert mapping.unpredicted == ["unlabeled", "sidewalk", "vehicle"]
    assert "4 unmapped model classes are counted apart" in mapping.describe()


def test_identical_classes_need_no_mapping():
    assert class_mapping(["Background", "CSF"], ["background", "csf"]).identity


def test_nothing_in_common_is_one_line():
    with pytest.raises(SegdashError, match="no class of the model .* matches a dataset class .* --class-map FILE"):
        class_mapping(["cat", "dog"], ["road", "car"])


def test_class_map_file(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("model,dataset\ncar;auto;automobile,vehicle\n# a comment\n2,ignore\ntree,unlabeled\nRoute,road\n")
    mapping = class_mapping(ADE_LIKE, STREET, path)
    assert mapping.target == (-1, -1, -1, -1, 0, 2, -1, 5)  # unlisted classes are unmapped
    assert mapping.how == "from map.csv"


@pytest.mark.parametrize(("text", "match"), [
    ("carpet,road\n", "row 1: no model class is called 'carpet'"),
    ("car,vehicle\ncar,road\n", "row 2 maps model class 'car;auto;automobile' a second time"),
    ("car,vehicle,extra\n", "row 1 has 3 cells"),
    ("99,road\n", "model class index 99 is beyond its 8 classes"),
    ("car,lorry\n", "row 1: no dataset class is called 'lorry'"),
])  # fmt: skip
def test_class_map_file_errors_name_the_row(tmp_path, text, match):
    path = tmp_path / "map.csv"
    path.write_text(text)
    with pytest.raises(SegdashError, match=match):
        class_mapping(ADE_LIKE, STREET, path)


def test_class_map_file_is_size_limited(tmp_path):
    path = tmp_path / "map.csv"
    path.write_bytes(b"a,b\n" * 300_000)
    with pytest.raises(SegdashError, match="far larger than a class map"):
        class_mapping(ADE_LIKE, STREET, path)


class _FixedPredictor:
    """Gives the same (K, H, W) probabilities for every image (a stand-in with known numbers)."""

    def __init__(self, probs: np.ndarray, classes):
        from segdash.data.base import Normalization
        from segdash.models.checkpoint import CheckpointMeta

        self.probs = torch.from_numpy(probs)
        self.device = torch.device("cpu")
        self.meta = CheckpointMeta(arch="x", encoder="y", classes=list(classes), colors=[], in_channels=3,
                                   normalization=Normalization.imagenet())  # fmt: skip
        self.notes: list[str] = []

    def predict_probabilities(self, images):
        return self.probs[None].repeat(len(images), 1, 1, 1), None


def test_mapped_probabilities_hand_computed():
    """Three model classes onto two dataset classes: a and b -> A, c unmapped. One pixel each:
    p = (.5, .3, .2) -> A gets .8 of the mapped .8: (1, 0); p = (.1, .1, .8) -> c wins: counted unmapped,
    label A (the only mapped class with mass)."""
    from segdash.models.class_mapping import ClassMapping

    probs = np.array([[[0.5, 0.1]], [[0.3, 0.1]], [[0.2, 0.8]]], np.float32)  # (3, 1, 2)
    mapping = ClassMapping(("a", "b", "c"), ("A", "B"), (0, 0, -1), "by name")
    predictor = MappedPredictor(_FixedPredictor(probs, ["a", "b", "c"]), mapping)
    mapped, _ = predictor.predict_probabilities([np.zeros((1, 2, 3))])
    torch.testing.assert_close(mapped[0, :, 0, :], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    assert predictor.predict_labels([np.zeros((1, 2, 3))]).tolist() == [[[0, 0]]]
    summary = predictor.summary()
    assert summary["predicted_pixels"] == 4 and summary["unmapped_pixels"] == 2
    assert summary["unmapped_by_class"] == {"c": 2} and predictor.meta.classes == ["A", "B"]


def test_for_dataset_keeps_a_predictor_of_the_same_classes():
    inner = _FixedPredictor(np.ones((2, 1, 1), np.float32) / 2, ["x", "y"])
    assert for_dataset(inner, SimpleNamespace(name="d", classes=("X", "Y"), in_channels=3)) is inner


# --- through the command line, on a street-like folder dataset -------------------------------------------


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> tuple[Path, Path]:
    """A folder dataset of four 40x56 photos with random street labels, and a tiny SegFormer of ADE-like classes."""
    root = tmp_path_factory.mktemp("street")
    rng = np.random.default_rng(7)
    for split in ("train", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(4):
            image = np.clip(np.cumsum(rng.integers(0, 256, (40, 56, 3)), axis=1) / np.arange(1, 57)[None, :, None],
                            0, 255).astype(np.uint8)  # fmt: skip
            Image.fromarray(image).save(root / split / "images" / f"s{i}.png")
            Image.fromarray(rng.integers(0, len(STREET), (40, 56)).astype(np.uint8)).save(root / split / "masks" / f"s{i}.png")
    (root / "classes.txt").write_text("\n".join(STREET) + "\n")
    model = builders.segformer_folder(tmp_path_factory.mktemp("ade") / "segformer", classes=ADE_LIKE, size=32)
    return root, model


def _expected_confusion(street_root: Path, model: Path, target) -> np.ndarray:
    """scikit-learn's confusion matrix of the masks against the model's mapped labels, computed from transformers'
    own scores: softmax over the model's classes, summed per dataset class by ``target``, argmax."""
    from sklearn.metrics import confusion_matrix
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    processor = AutoImageProcessor.from_pretrained(model, local_files_only=True)
    net = AutoModelForSemanticSegmentation.from_pretrained(model, local_files_only=True).eval()
    truth, labels = [], []
    for i in range(4):
        image = np.asarray(Image.open(street_root / "test" / "images" / f"s{i}.png").convert("RGB"))
        with torch.no_grad():
            out = net(**processor(images=image, return_tensors="pt"))
        scores = processor.post_process_semantic_segmentation(out, target_sizes=[image.shape[:2]],
                                                              return_segmentation_scores=True)[0].segmentation_scores
        probs = scores.softmax(0).numpy()
        mapped = np.zeros((len(STREET), *image.shape[:2]))
        for m, d in enumerate(target):
            if d >= 0:
                mapped[d] += probs[m]
        labels.append(mapped.argmax(0).ravel())
        truth.append(np.asarray(Image.open(street_root / "test" / "masks" / f"s{i}.png")).ravel())
    return confusion_matrix(np.concatenate(truth), np.concatenate(labels), labels=range(len(STREET)))


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("by_file", [False, True])
def test_evaluate_maps_classes_and_counts_unmapped_pixels_apart(street, tmp_path, capsys, by_file):
    root, model = street
    args = ["evaluate", root, "--format", "folder", "--split", "test", "--checkpoint", model, "--no-distances",
            "--json", "-"]  # fmt: skip
    target = (6, 1, -1, -1, -1, 2, 4, -1)
    if by_file:
        path = tmp_path / "map.csv"
        path.write_text("car,vehicle\ntree,ignore\nfloor,sidewalk\n")
        args += ["--class-map", path]
        target = (-1, -1, -1, 3, -1, -1, -1, 5)
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    doc = json.loads(out)
    mapping = doc["class_mapping"]
    assert mapping["how"] == ("from map.csv" if by_file else "by name") and tuple(mapping["target"]) == target
    assert mapping["predicted_pixels"] == 4 * 40 * 56
    assert 0 < mapping["unmapped_pixels"] < mapping["predicted_pixels"]
    assert "counted apart" in err and "classes mapped" in err
    np.testing.assert_array_equal(np.asarray(doc["confusion_matrix"]), _expected_confusion(root, model, target))


def test_compare_a_mapped_transformers_model_with_a_model_of_the_dataset_classes(street, tmp_path, capsys):
    from segdash.models.importing import ImportFacts, import_model

    root, model = street
    graph, _ = builders.onnx_export(tmp_path / "net.onnx", builders.TinyNet(classes=len(STREET)))
    own = import_model(graph, tmp_path / "onnx", ImportFacts(classes=root / "classes.txt", mean=(0.5,), std=(0.2,)))
    code, out, err = cli(capsys, "compare", root, "--format", "folder", "--split", "test", "-c", own.folder, "-c", model,
                         "--bootstrap", 100, "--json", "-")  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert "class_mapping" not in doc["models"][0] and doc["models"][1]["class_mapping"]["how"] == "by name"
    assert doc["classes"] == list(STREET) and doc["pairs"][0]["overall"]["images"] == 4
    assert "segformer: classes mapped by name" in err


def test_a_model_with_nothing_in_common_still_refuses(street, tmp_path, capsys):
    root, _ = street
    model = builders.segformer_folder(tmp_path / "brain")
    code, _, err = cli(capsys, "evaluate", root, "--format", "folder", "--split", "test", "--checkpoint", model)
    assert code == 2 and "differ from dataset" in err and "--class-map FILE" in err
