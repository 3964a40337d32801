"""The Predictor: any image size in, same size out; windows, TTA, channel fitting, ONNX backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segdash.data.base import Normalization
from segdash.errors import SegdashError
from segdash.infer.predictor import Predictor, _blend_weight, _softmax, _window_starts
from segdash.models import ARCHITECTURES, CheckpointMeta, create_model, save_checkpoint

K = 4


def meta_for(in_channels: int, **changes) -> CheckpointMeta:
    norm = Normalization.imagenet() if in_channels == 3 else Normalization.identity(in_channels)
    fields = dict(
        arch="Unet",
        encoder="mobilenet_v2",
        classes=[f"class {i}" for i in range(K)],
        colors=[(60 * i, 0, 255 - 60 * i) for i in range(K)],
        in_channels=in_channels,
        normalization=norm,
        ignore_index=None,
    )
    fields.update(changes)
    return CheckpointMeta(**fields)


@pytest.fixture(scope="module")
def unet() -> nn.Module:
    torch.manual_seed(0)
    return create_model("Unet", "mobilenet_v2", in_channels=3, num_classes=K).eval()


class TinyFCN(nn.Module):
    """A fully-convolutional model with a 5x5 receptive field: windows see all the context it uses."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, K, 3, padding=1))

    def forward(self, x):
        return self.body(x)


def rgb_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def reference_logits(model: nn.Module, image: np.ndarray, meta: CheckpointMeta, stride: int = 32) -> torch.Tensor:
    """What the predictor should compute: normalise, reflect-pad bottom/right to the stride, run, crop."""
    x = torch.from_numpy(meta.normalization.apply(image)).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    x = F.pad(x, (0, (-w) % stride, 0, (-h) % stride), mode="reflect")
    with torch.no_grad():
        return model(x)[..., :h, :w]


def test_odd_size_gives_same_size_output(unet):
    meta = meta_for(3)
    predictor = Predictor(unet, meta, device="cpu", backend="torch")
    image = rgb_image(97, 131)
    prediction = predictor.predict(image)
    assert prediction.labels.shape == (97, 131) and prediction.labels.dtype == np.int64
    assert prediction.probs.shape == (K, 97, 131) and prediction.probs.dtype == np.float32
    np.testing.assert_allclose(prediction.probs.sum(axis=0), 1.0, atol=1e-5)
    expected = reference_logits(unet, image, meta)
    np.testing.assert_array_equal(prediction.labels, expected.argmax(1)[0].numpy())
    assert prediction.device == "cpu" and prediction.seconds > 0


def test_predict_batch_mixed_sizes_and_predict_labels(unet):
    predictor = Predictor(unet, meta_for(3), device="cpu", backend="torch")
    images = [rgb_image(64, 64, 1), rgb_image(40, 70, 2), rgb_image(64, 64, 3)]
    predictions = predictor.predict_batch(images)
    assert [p.labels.shape for p in predictions] == [(64, 64), (40, 70), (64, 64)]
    labels = predictor.predict_labels([images[0], images[2]])
    assert labels.shape == (2, 64, 64) and labels.dtype == torch.int64 and labels.device == predictor.device
    np.testing.assert_array_equal(labels[1].numpy(), predictions[2].labels)
    with pytest.raises(SegdashError, match="one size"):
        predictor.predict_labels(images[:2])


def test_input_size_resizes_and_returns_the_original_size(unet):
    predictor = Predictor(unet, meta_for(3, input_size=64), device="cpu", backend="torch")
    prediction = predictor.predict(rgb_image(100, 150))
    assert prediction.labels.shape == (100, 150)
    assert any("input size 64x64" in n for n in prediction.notes)


def test_sliding_windows_agree_with_the_whole_image():
    model = TinyFCN().eval()
    meta = meta_for(3)
    image = rgb_image(150, 230)
    whole = Predictor(model, meta, device="cpu", backend="torch").predict(image)
    tiled = Predictor(model, meta, device="cpu", backend="torch", tile_size=64, tile_overlap=0.25).predict(image)
    assert any("windows" in n for n in tiled.notes) and not whole.notes
    assert tiled.labels.shape == (150, 230)
    assert (tiled.labels == whole.labels).mean() > 0.99
    np.testing.assert_allclose(tiled.probs.sum(axis=0), 1.0, atol=1e-5)


def test_window_layout_covers_everything():
    assert _window_starts(100, 100, 0.25, 32) == [0]
    starts = _window_starts(300, 128, 0.25, 32)
    assert starts[0] == 0 and starts[-1] == 300 - 128
    assert all(b - a <= 128 for a, b in zip(starts, starts[1:]))
    weight = _blend_weight(64, 64, torch.device("cpu"))
    assert weight.min() > 0 and weight[32, 32] > weight[0, 0]


def test_flip_tta_averages_softmax(unet):
    meta = meta_for(3)
    image = rgb_image(64, 96)
    prediction = Predictor(unet, meta, device="cpu", backend="torch", tta=True).predict(image)
    x = torch.from_numpy(meta.normalization.apply(image)).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = (unet(x).softmax(1) + unet(x.flip(-1)).softmax(1).flip(-1)) / 2
    np.testing.assert_allclose(prediction.probs, expected[0].numpy(), atol=1e-5)
    assert any("test-time augmentation (2 runs" in n for n in prediction.notes)
    both = Predictor(unet, meta, device="cpu", backend="torch", tta=True, flips="hv").predict(image)
    assert any("(4 runs" in n for n in both.notes)


def test_channel_fitting_with_notes():
    rgb_model = Predictor(TinyFCN(3).eval(), meta_for(3), device="cpu", backend="torch")
    gray = np.random.default_rng(0).integers(0, 256, (32, 40), dtype=np.uint8)
    assert "replicated" in rgb_model.predict(gray).notes[0]
    assert "replicated" in rgb_model.predict(gray[:, :, None]).notes[0]
    rgba = np.dstack([rgb_image(32, 40), np.full((32, 40), 255, np.uint8)])
    rgba_pred = rgb_model.predict(rgba)
    assert "alpha channel dropped" in rgba_pred.notes[0]
    np.testing.assert_array_equal(rgba_pred.labels, rgb_model.predict(rgba[:, :, :3]).labels)

    gray_model = Predictor(TinyFCN(1).eval(), meta_for(1), device="cpu", backend="torch")
    assert "luminance" in gray_model.predict(rgb_image(32, 40)).notes[0]
    # identity normalisation with scale 1 means 0..1 inputs: an 8-bit image is mapped to them, with a note
    assert gray_model.predict(gray).notes == ["8-bit image: values 0..255 mapped to the model's 0..1"]
    eight_bit_model = Predictor(TinyFCN(1).eval(), meta_for(1, input_range={"low": 0, "high": 255}), device="cpu",
                                backend="torch")
    assert eight_bit_model.predict(gray).notes == []
    with pytest.raises(SegdashError, match="2 channel.*expects 1"):
        gray_model.predict(np.zeros((8, 8, 2), np.float32))


def test_sigmoid_head_gives_two_class_probabilities():
    model = nn.Conv2d(3, 1, 1).eval()
    predictor = Predictor(model, meta_for(3, classes=["bg", "fg"], colors=[(0, 0, 0), (255, 0, 0)]), backend="torch")
    prediction = predictor.predict(rgb_image(20, 20))
    assert prediction.probs.shape == (2, 20, 20)
    np.testing.assert_allclose(prediction.probs.sum(axis=0), 1.0, atol=1e-6)


def test_onnx_backend_is_default_on_cpu_and_exact(unet, tmp_path, monkeypatch):
    meta = meta_for(3)
    onnx_predictor = Predictor(unet, meta, device="cpu", onnx_cache=tmp_path)
    assert onnx_predictor.backend == "onnx", onnx_predictor.notes
    assert len(list(tmp_path.glob("*.onnx"))) == 1
    torch_predictor = Predictor(unet, meta, device="cpu", backend="torch")
    for image in (rgb_image(57, 75), rgb_image(40, 130, 5)):
        a, b = onnx_predictor.predict(image), torch_predictor.predict(image)
        assert a.backend == "onnx" and b.backend == "torch"
        assert (a.labels == b.labels).mean() >= 0.999
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-3)
    # the second predictor reuses the cached export and the check's result: no export, no second check
    import segdash.infer.onnx as onnx_module

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cached export and check should have been reused")

    monkeypatch.setattr(onnx_module, "export_onnx_bytes", must_not_run)
    monkeypatch.setattr(onnx_module, "verify_onnx", must_not_run)
    again = Predictor(unet, meta, device="cpu", onnx_cache=tmp_path)
    assert again.backend == "onnx" and again.notes == onnx_predictor.notes
    assert len(list(tmp_path.glob("*.onnx"))) == 1 and len(list(tmp_path.glob("*.check.json"))) == 1


class SizeBakedIn(nn.Module):
    """Uses the width as a Python number: tracing freezes the traced width into the ONNX graph."""

    def forward(self, x):
        threshold = float(x.detach().numpy().shape[-1]) / 100
        return torch.cat([x[:, :1] - threshold, -x[:, :1]], dim=1)


def test_unexportable_model_falls_back_to_torch(tmp_path):
    meta = meta_for(3, classes=["a", "b"], colors=[(0, 0, 0), (1, 1, 1)])
    predictor = Predictor(SizeBakedIn(), meta, device="cpu", onnx_cache=tmp_path)
    assert predictor.backend == "torch"
    assert any("disagrees with PyTorch" in n for n in predictor.notes), predictor.notes
    assert predictor.predict(rgb_image(20, 20)).labels.shape == (20, 20)


def test_from_checkpoint(unet, tmp_path):
    folder = save_checkpoint(unet, meta_for(3), tmp_path / "ck")
    predictor = Predictor.from_checkpoint(folder, device="cpu", backend="torch")
    image = rgb_image(64, 64)
    np.testing.assert_array_equal(
        predictor.predict(image).labels, Predictor(unet, meta_for(3), backend="torch").predict(image).labels
    )
    assert "Unet / mobilenet_v2" in predictor.describe()


def test_bad_options(unet):
    with pytest.raises(SegdashError, match="backend"):
        Predictor(unet, meta_for(3), backend="tensorrt")
    with pytest.raises(SegdashError, match="empty"):
        Predictor(unet, meta_for(3), backend="torch").predict(np.zeros((0, 5, 3), np.uint8))


def test_pspnet_cannot_export_so_torch_runs_and_the_failure_is_remembered(tmp_path):
    model = create_model("PSPNet", "mobilenet_v2", in_channels=3, num_classes=K).eval()
    first = Predictor(model, meta_for(3, arch="PSPNet"), device="cpu", onnx_cache=tmp_path)
    assert first.backend == "torch" and any("cannot export PSPNet" in n for n in first.notes)
    assert len(list(tmp_path.glob("*.failed"))) == 1
    second = Predictor(model, meta_for(3, arch="PSPNet"), device="cpu", onnx_cache=tmp_path)
    assert second.notes == first.notes
    assert second.predict(rgb_image(40, 48)).labels.shape == (40, 48)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_predicts_odd_sizes(arch):
    """Padding follows each model's stride (32, 16 for DeepLabV3+, 8 for PSPNet/DeepLabV3)."""
    model = create_model(arch, "mobilenet_v2", in_channels=3, num_classes=3)
    meta = meta_for(3, arch=arch, classes=["a", "b", "c"], colors=[(0, 0, 0)] * 3)
    prediction = Predictor(model, meta, device="cpu", backend="torch").predict(rgb_image(45, 67))
    assert prediction.labels.shape == (45, 67) and prediction.probs.shape == (3, 45, 67)


def test_in_place_softmax_equals_torch():
    logits = torch.randn(2, 5, 7, 9) * 30
    torch.testing.assert_close(_softmax(logits.clone()), torch.softmax(logits, dim=1))
    single = torch.randn(2, 1, 4, 4)
    p = torch.sigmoid(single)
    torch.testing.assert_close(_softmax(single.clone()), torch.cat([1 - p, p], dim=1))
