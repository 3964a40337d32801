"""The model registry: every architecture builds offline, names are checked, offline weights are real."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segdash.errors import SegdashError
from segdash.models import registry
from segdash.models.registry import ARCHITECTURES, ENCODERS, create_model, describe_models, required_stride

SMALL_ENCODER = "mobilenet_v2"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model build tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("in_channels", [1, 3])
def test_every_architecture_builds_offline_and_runs(arch, in_channels, no_network):
    model = create_model(arch, SMALL_ENCODER, in_channels=in_channels, num_classes=5).eval()
    assert model.config["encoder_weights"] is None
    assert 64 % required_stride(model) == 0
    with torch.no_grad():
        logits = model(torch.randn(1, in_channels, 64, 64))
    assert logits.shape == (1, 5, 64, 64)
    assert logits.dtype == torch.float32


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_every_encoder_builds_offline_with_unet(encoder, no_network):
    arch = "FPN" if encoder == "resnet50" else "Unet"  # FPN keeps resnet50 quick
    model = create_model(arch, encoder, in_channels=1, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3, 64, 64)


def test_names_are_case_insensitive():
    model = create_model("deeplabv3plus", "MOBILENET_V2", in_channels=3, num_classes=2)
    assert type(model).__name__ == "DeepLabV3Plus"
    assert registry.architecture_name("unet++") == "UnetPlusPlus"
    assert registry.architecture_name("DeepLabV3+") == "DeepLabV3Plus"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(SegdashError, match="Unet, UnetPlusPlus, FPN"):
        create_model("Unett", "resnet18")
    with pytest.raises(SegdashError, match="resnet34"):
        create_model("Unet", "resnet19")


def test_incompatible_pair_is_explained():
    with pytest.raises(SegdashError, match="UnetPlusPlus cannot use encoder mit_b0"):
        create_model("UnetPlusPlus", "mit_b0")


def test_bad_pretrained_and_counts():
    with pytest.raises(SegdashError, match="no offline ImageNet weights"):
        create_model("Unet", "resnet18", pretrained="offline")
    with pytest.raises(SegdashError, match="pretrained must be"):
        create_model("Unet", "resnet18", pretrained="yes")
    with pytest.raises(SegdashError, match="num_classes"):
        create_model("Unet", "resnet18", num_classes=0)


def test_imagenet_download_offline_gives_clear_error(no_network):
    with pytest.raises(SegdashError, match="download ImageNet weights"):
        create_model("Unet", "resnet18", pretrained="imagenet")


def test_describe_models_lists_everything():
    info = describe_models()
    assert [a["name"] for a in info["architectures"]] == list(ARCHITECTURES)
    assert info["offline_weights"] == ["tu-tf_efficientnet_lite0"]
    assert {"Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus", "PSPNet", "Segformer"} <= set(ARCHITECTURES)


# --- offline EfficientNet-Lite0 weights ---------------------------------------------------------


def test_lite0_mapping_is_positional_and_value_exact():
    source = torch.load(registry.lite0_weights_file(), map_location="cpu", weights_only=True)
    source = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    mapped = registry.lite0_timm_state_dict()
    assert len(mapped) == len(source) == 247
    for (src_key, src), (dst_key, dst) in zip(source, mapped.items()):
        assert torch.equal(src, dst), (src_key, dst_key)
    # spot-check that names line up semantically, not only by position
    pairs = dict(zip([k for k, _ in source], mapped))
    assert pairs["_conv_stem.weight"] == "conv_stem.weight"
    assert pairs["_blocks.0._depthwise_conv.weight"] == "blocks.0.0.conv_dw.weight"
    assert pairs["_fc.weight"] == "classifier.weight"


def test_lite0_encoder_gets_the_weights(no_network):
    model = create_model("Unet", "tu-tf_efficientnet_lite0", in_channels=3, num_classes=2, pretrained="offline")
    mapped = registry.lite0_timm_state_dict()
    encoder_state = model.encoder.model.state_dict()
    shared = [k for k in encoder_state if k in mapped]
    assert len(shared) > 200
    for key in shared:
        assert torch.equal(encoder_state[key], mapped[key]), key
    assert model.config["encoder_weights"] is None  # reloading never downloads


def test_lite0_single_channel_stem_is_the_rgb_sum(no_network):
    model = create_model("Unet", "tu-tf_efficientnet_lite0", in_channels=1, num_classes=2, pretrained="offline")
    rgb = registry.lite0_timm_state_dict()["conv_stem.weight"]
    torch.testing.assert_close(model.encoder.model.conv_stem.weight, rgb.sum(dim=1, keepdim=True))


def _sklearn_photo(name: str) -> np.ndarray:
    """A real photo shipped inside scikit-learn (no download): 'flower.jpg' or 'china.jpg', 224x224 RGB."""
    import sklearn
    from PIL import Image

    image = Image.open(Path(sklearn.__file__).parent / "datasets" / "images" / name).convert("RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BICUBIC))


def test_lite0_mapped_weights_classify_real_photos():
    """With the mapped weights the full timm classifier recognises real photos: the mapping is right."""
    import timm

    classifier = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    classifier.load_state_dict(registry.lite0_timm_state_dict(), strict=False)
    norm = registry.ENCODERS["tu-tf_efficientnet_lite0"].normalization
    batch = np.stack([norm.apply(_sklearn_photo(n)) for n in ("flower.jpg", "china.jpg")])
    with torch.no_grad():
        top5 = classifier(torch.from_numpy(batch).permute(0, 3, 1, 2)).topk(5, dim=1).indices.tolist()
    assert top5[0][0] == 985  # daisy
    assert {698, 442, 663} & set(top5[1][:2])  # palace / bell cote / monastery for the Chinese temple


def test_model_build_imports_no_streamlit():
    """Building a model pulls in neither segdash.ui nor streamlit (checked in a fresh interpreter)."""
    code = (
        "import sys; from segdash.models.registry import create_model; "
        "create_model('Segformer', 'mit_b0', in_channels=3, num_classes=2); "
        "print(sorted(m for m in sys.modules if m.startswith(('segdash.ui', 'streamlit'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
