"""torchvision segmentation models (DeepLabV3, FCN, LR-ASPP), from a state dict turned into a checkpoint folder.

    segdash import deeplab.pth --arch deeplabv3_resnet50 --classes classes.txt --out runs/imported/deeplab
    runs/imported/deeplab/  config.json {"torchvision_model", "num_classes", "aux_loss"}  model.safetensors  segdash.json

A state dict does not say which architecture it is nor what its classes are called, hence ``segdash
import``. The model is built with random weights and no download (``weights=None, weights_backbone=None``),
the state dict loaded strictly, and the module returns the model's ``out`` head (already at the input's
size, as torchvision upsamples it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from segdash.errors import SegdashError
from segdash.models.families import register_family
from segdash.models.families.base import ModelFamily, format_parameters, read_json_object, safetensors_parameters

ARCHITECTURES = {
    "deeplabv3_resnet50": "DeepLabV3, ResNet-50 backbone",
    "deeplabv3_resnet101": "DeepLabV3, ResNet-101 backbone",
    "deeplabv3_mobilenet_v3_large": "DeepLabV3, MobileNetV3-Large backbone",
    "fcn_resnet50": "FCN, ResNet-50 backbone",
    "fcn_resnet101": "FCN, ResNet-101 backbone",
    "lraspp_mobilenet_v3_large": "LR-ASPP, MobileNetV3-Large backbone",
}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def architecture_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in ARCHITECTURES:
        raise SegdashError(f"unknown torchvision architecture {str(name)[:60]!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return key


def head_of(state: dict[str, Any]) -> tuple[int, bool]:
    """(number of classes, has an auxiliary head) of a torchvision segmentation state dict."""
    for key in ("classifier.4.weight", "classifier.high_classifier.weight"):
        if key in state:
            return int(state[key].shape[0]), any(k.startswith("aux_classifier.") for k in state)
    raise SegdashError("the state dict has no torchvision segmentation head (classifier.4 or classifier.high_classifier); "
                       "is it the state dict of a deeplabv3_*, fcn_* or lraspp_* model?")  # fmt: skip


def build_module(arch: str, num_classes: int, aux_loss: bool):
    """The torchvision model with random weights (nothing downloaded), wrapped to return its ``out`` head."""
    import torchvision.models.segmentation as segmentation

    from segdash.models.checkpoint import MAX_CLASSES

    if not 1 <= int(num_classes) <= MAX_CLASSES:
        raise SegdashError(f"a torchvision model with {num_classes} classes; segdash takes 1 to {MAX_CLASSES}")
    builder = getattr(segmentation, architecture_name(arch))
    options = {"weights": None, "weights_backbone": None, "num_classes": int(num_classes)}
    if not arch.startswith("lraspp"):
        options["aux_loss"] = bool(aux_loss)
    return TorchvisionSegmenter(builder(**options))


def load_state(module, state: dict[str, Any], where: str) -> None:
    try:
        module.model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:300]
        raise SegdashError(f"{where} does not fit the torchvision model: {first}") from None


class TorchvisionSegmenter(nn.Module):
    """(N, 3, H, W) normalised -> (N, K, H, W): torchvision's ``out`` head, at the input's size."""

    output_stride = 1  # torchvision upsamples to the input's size: any size runs, no padding

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


@register_family
class TorchvisionFamily(ModelFamily):
    name = "torchvision"
    summary = "torchvision segmentation models (deeplabv3_*, fcn_*, lraspp_*), via segdash import of a state dict"
    opens_directly = False

    def read_meta(self, folder: Path):
        raise SegdashError(f"{folder}: a torchvision state dict becomes a checkpoint with 'segdash import FILE --arch "
                           "ARCH --out DIR'")  # fmt: skip

    def build(self, folder: Path, meta):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        config = read_json_object(folder / CONFIG_FILE, "config")
        arch, classes = config.get("torchvision_model"), config.get("num_classes")
        if not isinstance(arch, str) or isinstance(classes, bool) or not isinstance(classes, int):
            raise SegdashError(f"{folder / CONFIG_FILE} is not a torchvision model config; import the state dict again")
        if classes != meta.num_classes:
            raise SegdashError(f"checkpoint {folder}: the model outputs {classes} classes but segdash.json lists "
                               f"{meta.num_classes}")  # fmt: skip
        weights = folder / WEIGHTS_FILE
        safetensors_parameters(weights)
        module = build_module(arch, classes, bool(config.get("aux_loss", False)))
        try:
            state = load_file(str(weights), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise SegdashError(f"{weights} is corrupt or truncated ({exc}); import the state dict again") from None
        load_state(module, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(weights))
        return module.eval()

    def facts(self, folder: Path, meta) -> dict[str, str]:
        try:
            config = read_json_object(folder / CONFIG_FILE, "config")
            count = safetensors_parameters(folder / WEIGHTS_FILE)
        except SegdashError:
            return {}
        arch = str(config.get("torchvision_model", ""))
        return {"architecture": ARCHITECTURES.get(arch, arch), "weights": f"{WEIGHTS_FILE}, {format_parameters(count)}"}
