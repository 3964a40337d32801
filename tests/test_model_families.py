"""Other frameworks' checkpoints open, predict, evaluate and compare like segdash's own.

Each tiny model is built with random weights by its own library (``tests/builders.py``); its reference
output is that library's (transformers: image processor -> model -> ``post_process_semantic_segmentation``;
torchvision, smp, an exported ONNX graph: the torch module's argmax), and ``segdash predict`` must give the
same labels on at least 99.5% of the pixels. Then each evaluates and compares against a segdash checkpoint
on brain-mri, whose 1-channel slices a 3-channel model takes as gray replicated to RGB.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segdash.cli import main
from segdash.errors import SegdashError

import builders

pytest.importorskip("transformers")

#: smp, timm, torchvision and transformers warn about deprecations the tests do not exercise
pytestmark = pytest.mark.filterwarnings("ignore")

TRANSFORMERS_BUILDERS = {
    "segformer": builders.segformer_folder,
    "upernet": builders.upernet_folder,
    "dpt": builders.dpt_folder,
    "mask2former": builders.mask2former_folder,
}
AGREEMENT = 0.995  # the bar; these tiny models agree on every pixel


def photo(height: int = 45, width: int = 70, seed: int = 0) -> np.ndarray:
    """An 8-bit RGB image with smooth structure (random noise averaged along rows) at an odd size."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3)).astype(np.float32)
    return np.clip(np.cumsum(noise, axis=1) / np.arange(1, width + 1)[None, :, None], 0, 255).astype(np.uint8)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def predicted_labels(capsys, checkpoint: Path, image: np.ndarray, tmp_path: Path) -> np.ndarray:
    """``segdash predict`` on ``image`` saved as a PNG; the label map it wrote."""
    from segdash.data.imageio import read_label_image

    source = tmp_path / "photo.png"
    Image.fromarray(image).save(source)
    code, _, err = cli(capsys, "predict", "--checkpoint", checkpoint, source, "--out", tmp_path / "preds", "--no-overlay")
    assert code == 0, err
    return read_label_image(tmp_path / "preds" / "photo.png")


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {name: build(root / name) for name, build in TRANSFORMERS_BUILDERS.items()}


@pytest.mark.parametrize("name", list(TRANSFORMERS_BUILDERS))
def test_transformers_folder_opens_and_predicts_as_transformers_does(name, hf_folders, capsys, tmp_path):
    from segdash.models.checkpoint import find_checkpoints, read_meta

    folder = hf_folders[name]
    meta = read_meta(folder)
    assert meta.family == ("mask_classification" if name == "mask2former" else "transformers")
    assert meta.classes == list(builders.BRAIN_CLASSES) and meta.in_channels == 3
    assert "as the model's image processor does" in meta.preprocessing["fit"]
    assert folder in find_checkpoints(folder.parent)  # the picker lists it as it is
    image = photo()
    labels = predicted_labels(capsys, folder, image, tmp_path)
    reference = builders.transformers_reference(folder, image).numpy()
    assert labels.shape == reference.shape == image.shape[:2]
    assert len(np.unique(reference)) >= 2  # a test of something: the reference is not one class
    assert (labels == reference).mean() >= AGREEMENT


def test_transformers_scores_are_the_processors_at_every_size(hf_folders):
    """The module's per-pixel scores are exactly post_process_semantic_segmentation's segmentation scores
    (for Mask2Former their log), for images smaller and larger than the processor's size."""
    from transformers import AutoImageProcessor, AutoModelForUniversalSegmentation

    from segdash.models.checkpoint import load_checkpoint

    folder = hf_folders["mask2former"]
    module, _ = load_checkpoint(folder)
    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    model = AutoModelForUniversalSegmentation.from_pretrained(folder, local_files_only=True).eval()
    for height, width in ((30, 41), (130, 97)):
        image = photo(height, width, seed=height)
        with torch.no_grad():
            found = module(torch.from_numpy(image).permute(2, 0, 1)[None].float())
            outputs = model(**processor(images=image, return_tensors="pt"))
        expected = processor.post_process_semantic_segmentation(outputs, target_sizes=[(height, width)],
                                                                return_segmentation_scores=True)[0]  # fmt: skip
        assert found.shape == (1, 4, height, width)
        torch.testing.assert_close(found[0].exp(), expected.segmentation_scores, rtol=1e-4, atol=1e-30)


def test_family_registry_lists_and_refuses_by_name():
    from segdash.models.families import get_family, list_families

    names = [f.name for f in list_families()]
    assert names == ["smp", "transformers", "mask_classification", "torchvision", "onnx"]
    with pytest.raises(SegdashError, match="unknown model family 'nope'; segdash knows smp, transformers"):
        get_family("nope")


@pytest.mark.parametrize("family", ["smp", "transformers", "mask_classification", "torchvision", "onnx"])
def test_no_family_claims_an_empty_folder(family, tmp_path):
    from segdash.models.families import get_family

    assert get_family(family).claims(tmp_path) is False


# --- every family on brain-mri, against a segdash checkpoint ------------------------------------------------
SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "brain-mri_unet_lite0_best"


@pytest.fixture(scope="module")
def every_family(hf_folders, tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """One checkpoint folder of each family with brain-mri's classes (the non-transformers ones via import), and
    the labels its own library gives on an 8-bit RGB image (``reference(rgb8)``)."""
    from segdash.models.importing import ImportFacts, import_model

    root = tmp_path_factory.mktemp("families")
    classes = builders.classes_file(root / "classes.txt")
    state_dict, lraspp = builders.lraspp_state_dict(root / "lraspp.pth")
    smp_folder, unet = builders.smp_plain_folder(root / "smp_plain")
    graph, net = builders.onnx_export(root / "net.onnx")
    unit = ImportFacts(classes=classes, mean=(0.5,), std=(0.25,))
    imagenet = (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))  # torchvision's convention
    return {
        "segformer": (hf_folders["segformer"], lambda rgb8: builders.transformers_reference(hf_folders["segformer"], rgb8)),
        "mask2former": (hf_folders["mask2former"],
                        lambda rgb8: builders.transformers_reference(hf_folders["mask2former"], rgb8)),
        "torchvision": (import_model(state_dict, root / "lraspp", ImportFacts(classes=classes,
                                                                             arch="lraspp_mobilenet_v3_large")).folder,
                        lambda rgb8: _argmax(lambda x: lraspp(x)["out"], (rgb8 / 255 - imagenet[0]) / imagenet[1])),
        "smp": (import_model(smp_folder, root / "smp", unit).folder, lambda rgb8: _argmax(unet, (rgb8 / 255 - 0.5) / 0.25)),
        "onnx": (import_model(graph, root / "onnx", unit).folder, lambda rgb8: _argmax(net, (rgb8 / 255 - 0.5) / 0.25)),
    }  # fmt: skip


def _argmax(module, image: np.ndarray) -> torch.Tensor:
    """The torch module's labels of one normalised HxWxC image."""
    with torch.no_grad():
        return module(torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]).argmax(1)[0]


@pytest.mark.parametrize("name", ["torchvision", "smp", "onnx"])
def test_imported_models_predict_as_their_torch_module(name, every_family, capsys, tmp_path):
    folder, reference = every_family[name]
    image = photo(64, 96, seed=3)  # a multiple of the smp encoder's stride: no padding in either
    labels = predicted_labels(capsys, folder, image, tmp_path)
    expected = reference(image).numpy()
    assert len(np.unique(expected)) >= 2
    assert (labels == expected).mean() >= AGREEMENT


@pytest.mark.parametrize("name", ["segformer", "mask2former", "torchvision", "smp", "onnx"])
def test_each_family_evaluates_and_compares_on_brain_mri(name, every_family, capsys):
    """The evaluation's confusion matrix is scikit-learn's of the ground truth against the labels the model's
    own library gives on the same slices (gray replicated to RGB, 0..1 to 8 bits), and Compare pairs it with the
    shipped U-Net with the same statistics as any pair."""
    from sklearn.metrics import confusion_matrix

    from segdash.data import open_dataset
    from segdash.data.splits import evenly_spaced

    folder, reference = every_family[name]
    code, out, err = cli(capsys, "evaluate", "brain-mri", "--split", "test", "--checkpoint", folder, "--limit", 2,
                         "--no-distances", "--json", "-")  # fmt: skip
    assert code == 0, err
    assert "gray replicated to R, G and B" in err
    doc = json.loads(out)
    ds = open_dataset("brain-mri")
    truth, labels = [], []
    for sample_id in evenly_spaced(ds.ids("test"), 2):
        image, mask, _ = ds.load("test", sample_id)
        rgb8 = np.repeat(np.rint(image.astype(np.float32) * np.float32(255)).clip(0, 255).astype(np.uint8), 3, axis=2)
        truth.append(mask.ravel())
        labels.append(np.asarray(reference(rgb8)).ravel())
    expected = confusion_matrix(np.concatenate(truth), np.concatenate(labels), labels=range(4))
    found = np.asarray(doc["confusion_matrix"])
    assert found.sum() == expected.sum()
    assert np.abs(found - expected).sum() / 2 <= (1 - AGREEMENT) * expected.sum()

    code, out, err = cli(capsys, "compare", "brain-mri", "--split", "test", "-c", SHIPPED, "-c", folder, "--limit", 2,
                         "--bootstrap", 200, "--json", "-")  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert [m["kind"] for m in doc["models"]] == ["checkpoint", "checkpoint"] and len(doc["pairs"]) == 1
    assert doc["pairs"][0]["overall"]["images"] == 2


def test_a_transformers_model_segdash_trained_saves_and_reloads_without_a_processor(tmp_path):
    """A Mask2Former as segdash would train it (normalised input, no image processor): save_checkpoint writes
    save_pretrained's files and segdash.json; the predictor's labels are the mask-classification argmax of the
    model's own outputs (softmax without the null class times sigmoid masks, summed over queries)."""
    from transformers import AutoModelForUniversalSegmentation

    from segdash.data.base import Normalization
    from segdash.infer.predictor import Predictor
    from segdash.models.checkpoint import CheckpointMeta, read_meta, save_checkpoint

    source = builders.mask2former_folder(tmp_path / "source")
    model = AutoModelForUniversalSegmentation.from_pretrained(source, local_files_only=True).eval()
    meta = CheckpointMeta(arch="Mask2Former", encoder="swin", classes=list(builders.BRAIN_CLASSES), colors=[],
                          in_channels=3, normalization=Normalization.imagenet(), family="mask_classification",
                          dataset="brain-mri")  # fmt: skip
    folder = save_checkpoint(model, meta, tmp_path / "trained")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "segdash.json"]
    assert read_meta(folder).family == "mask_classification" and not read_meta(folder).preprocessing
    image = photo(64, 96, seed=5)
    labels = Predictor.from_checkpoint(folder, device="cpu").predict(image).labels
    x = torch.from_numpy(Normalization.imagenet().apply(image)).permute(2, 0, 1)[None]
    with torch.no_grad():
        outputs = model(pixel_values=x)
    scores = torch.einsum("bqc,bqhw->bchw", outputs.class_queries_logits.softmax(-1)[..., :-1],
                          outputs.masks_queries_logits.sigmoid())  # fmt: skip
    expected = torch.nn.functional.interpolate(scores, size=(64, 96), mode="bilinear", align_corners=False).argmax(1)[0]
    assert len(np.unique(expected)) >= 2
    assert (labels == expected.numpy()).mean() >= AGREEMENT
