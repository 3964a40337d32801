"""``segdash import``: smp folders, torchvision state dicts and ONNX graphs become checkpoints; what their files
cannot say is a flag, and a missing one is one line naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segdash.cli import main
from segdash.errors import SegdashError
from segdash.models.checkpoint import find_checkpoints, load_checkpoint, read_meta
from segdash.models.importing import ImportFacts, import_model

import builders

#: smp, timm, torchvision and transformers warn about deprecations the tests do not exercise
pytestmark = pytest.mark.filterwarnings("ignore")

def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> str:
    assert text.count("\n") <= 1, text
    return text


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    return {
        "classes": builders.classes_file(root / "classes.txt"),
        "smp": builders.smp_plain_folder(root / "smp_plain")[0],
        "pth": builders.lraspp_state_dict(root / "lraspp.pth")[0],
        "onnx": builders.onnx_export(root / "net.onnx")[0],
        "static": builders.onnx_export(root / "static.onnx", dynamic=False, size=32)[0],
    }


def test_plain_smp_folder_says_to_import_it(sources, capsys, tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    code, _, err = cli(capsys, "predict", "--checkpoint", sources["smp"], tmp_path / "a.png", "--out", tmp_path / "o")
    assert code == 2 and "segdash import" in one_line(err) and "segdash.json is missing" in err


@pytest.mark.parametrize(("source", "flags", "named"), [
    ("smp", [], "--classes"),
    ("smp", ["--classes", "{classes}"], "--mean and --std"),
    ("pth", ["--classes", "{classes}"], "--arch"),
    ("onnx", ["--classes", "{classes}"], "--mean and --std"),
    ("onnx", ["--mean", "0.5", "--std", "0.2"], "--classes"),
    ("onnx", ["--classes", "{classes}", "--mean", "0.5"], "--mean and --std together"),
    ("onnx", ["--classes", "{classes}", "--mean", "0.5", "--std", "0.2", "--input-range", "9..1"], "--input-range"),
])  # fmt: skip
def test_a_missing_fact_is_one_line_naming_its_flag(source, flags, named, sources, capsys, tmp_path):
    out = tmp_path / "out"
    args = [f.format(classes=sources["classes"]) for f in flags]
    code, _, err = cli(capsys, "import", sources[source], "--out", out, *args)
    assert code == 2 and named in one_line(err)
    assert not out.exists() and not [p for p in tmp_path.iterdir()]  # nothing half-written, no temporary left


def test_imported_smp_folder_uses_imagenet_statistics_of_its_encoder_weights(tmp_path):
    import segmentation_models_pytorch as smp

    model = smp.Unet("tu-mobilenetv3_small_050", encoder_weights=None, encoder_depth=3, decoder_channels=(16, 8, 4),
                     classes=4)  # fmt: skip
    model.save_pretrained(str(tmp_path / "src"))
    config = json.loads((tmp_path / "src" / "config.json").read_text())
    config["encoder_weights"] = "imagenet"  # as a model trained from smp's ImageNet encoder says
    (tmp_path / "src" / "config.json").write_text(json.dumps(config))
    classes = builders.classes_file(tmp_path / "classes.txt")
    result = import_model(tmp_path / "src", tmp_path / "ck", ImportFacts(classes=classes))
    meta = read_meta(result.folder)
    assert meta.normalization.mean == (0.485, 0.456, 0.406) and meta.normalization.scale == pytest.approx(1 / 255)
    assert any("ImageNet" in note for note in result.notes)


def test_torchvision_state_dict_in_a_training_checkpoint_and_safetensors(tmp_path):
    """{"model": state_dict} with DataParallel's "module." prefix, and the same weights as safetensors, import to
    the same model."""
    from safetensors.torch import save_file

    model = builders.lraspp_model()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"model": state, "epoch": 3}, tmp_path / "train.pth")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "weights.safetensors"))
    classes = builders.classes_file(tmp_path / "classes.txt")
    facts = ImportFacts(classes=classes, arch="lraspp_mobilenet_v3_large")
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        expected = model(x)["out"]
        for name in ("train.pth", "weights.safetensors"):
            module, meta = load_checkpoint(import_model(tmp_path / name, tmp_path / name.split(".")[0], facts).folder)
            assert meta.family == "torchvision" and meta.classes == list(builders.BRAIN_CLASSES)
            torch.testing.assert_close(module(x), expected)


def test_torchvision_21_classes_default_to_voc_names(tmp_path):
    model = builders.lraspp_model(classes=[f"c{i}" for i in range(21)])
    torch.save(model.state_dict(), tmp_path / "voc.pth")
    result = import_model(tmp_path / "voc.pth", tmp_path / "ck", ImportFacts(arch="lraspp_mobilenet_v3_large"))
    meta = read_meta(result.folder)
    assert meta.classes[:3] == ["__background__", "aeroplane", "bicycle"] and len(meta.classes) == 21


def test_imported_onnx_runs_on_onnx_runtime_and_says_so(sources, capsys, tmp_path):
    from segdash.infer.predictor import Predictor

    code, out, err = cli(capsys, "import", sources["onnx"], "--out", tmp_path / "ck", "--classes", sources["classes"],
                         "--mean", "123.675,116.28,103.53", "--std", "58.395,57.12,57.375")  # fmt: skip
    assert code == 0, err
    assert "runs on ONNX Runtime (produced by pytorch)" in err
    meta = read_meta(tmp_path / "ck")
    assert meta.family == "onnx" and meta.normalization.scale == 1.0  # MMSegmentation-style means: input units
    predictor = Predictor.from_checkpoint(tmp_path / "ck", device="cpu")
    assert predictor.backend == "onnx" and "ONNX Runtime on CPU (the checkpoint is an ONNX graph" in predictor.notes[0]
    assert predictor.predict(np.zeros((20, 30, 3), np.uint8)).labels.shape == (20, 30)


def test_onnx_with_a_fixed_input_size_records_it(sources, tmp_path):
    result = import_model(sources["static"], tmp_path / "ck", ImportFacts(classes=sources["classes"], mean=(0.5,),
                                                                          std=(0.2,)))  # fmt: skip
    assert read_meta(result.folder).input_size == 32
    assert any("fixed 32x32 input" in note for note in result.notes)


def test_onnx_with_a_wrong_output_shape_is_one_line_and_loads_nothing(sources, tmp_path):
    five = builders.classes_file(tmp_path / "five.txt", ("a", "b", "c", "d", "e"))
    with pytest.raises(SegdashError, match=r"output of shape \(1, 4, 64, 64\).*not \(1, 5, H, W\)") as info:
        import_model(sources["onnx"], tmp_path / "ck", ImportFacts(classes=five, mean=(0.5,), std=(0.2,)))
    one_line(str(info.value))
    assert not (tmp_path / "ck").exists()


def test_onnx_that_outputs_labels_is_refused(tmp_path):
    class Labels(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = builders.TinyNet()

        def forward(self, x):
            return self.net(x).argmax(1, keepdim=True)

    graph, _ = builders.onnx_export(tmp_path / "labels.onnx", Labels())
    classes = builders.classes_file(tmp_path / "classes.txt")
    with pytest.raises(SegdashError, match="export the logits, not the labels") as info:
        import_model(graph, tmp_path / "ck", ImportFacts(classes=classes, mean=(0.5,), std=(0.2,)))
    one_line(str(info.value))


def test_an_existing_folder_is_kept_unless_forced(sources, tmp_path, capsys):
    (tmp_path / "ck").mkdir()
    args = ["import", sources["onnx"], "--out", tmp_path / "ck", "--classes", sources["classes"], "--mean", "0.5",
            "--std", "0.2"]  # fmt: skip
    code, _, err = cli(capsys, *args)
    assert code == 2 and "--force" in err
    code, _, err = cli(capsys, *args, "--force")
    assert code == 0 and read_meta(tmp_path / "ck").family == "onnx"


def test_imports_go_under_the_runs_folder_that_the_picker_scans(sources, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    code, out, err = cli(capsys, "import", sources["onnx"], "--classes", sources["classes"], "--mean", "0.5", "--std",
                         "0.2", "--dataset", "brain-mri")  # fmt: skip
    assert code == 0, err
    folder = tmp_path / "runs" / "imported" / "net"
    assert find_checkpoints(tmp_path / "runs") == [folder]
    assert read_meta(folder).dataset == "brain-mri" and read_meta(folder).source == "imported from net.onnx"


def test_a_transformers_folder_needs_no_import(tmp_path):
    folder = builders.segformer_folder(tmp_path / "segformer")
    with pytest.raises(SegdashError, match="opens as it is"):
        import_model(folder, tmp_path / "ck", ImportFacts())


def test_export_says_what_to_do_for_models_it_does_not_export(sources, capsys, tmp_path):
    folder = import_model(sources["onnx"], tmp_path / "ck", ImportFacts(classes=sources["classes"], mean=(0.5,),
                                                                        std=(0.2,))).folder  # fmt: skip
    code, _, err = cli(capsys, "export", "--checkpoint", folder, "--onnx", tmp_path / "out.onnx")
    assert code == 2 and "is an ONNX graph already" in one_line(err)
