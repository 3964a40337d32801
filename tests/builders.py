"""Tiny models of other frameworks, written as their own libraries write them (random weights, a few hundred KB).

    folder = segformer_folder(tmp_path / "segformer")             # save_pretrained: config, processor, safetensors
    path = lraspp_state_dict(tmp_path / "lraspp.pth")               # torch.save(model.state_dict())
    path = onnx_export(tmp_path / "net.onnx")                       # torch.onnx.export of a plain torch module

Every builder perturbs the random weights so that the class scores differ clearly between classes and
pixels: freshly initialised heads give scores a few 1e-9 apart, whose argmax is decided by rounding.
The classes are brain-mri's, so each model can be evaluated and compared there.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

BRAIN_CLASSES = ("background", "CSF", "grey matter", "white matter")


def perturbed(model: nn.Module, seed: int = 0, std: float = 0.3) -> nn.Module:
    """Add N(0, std) noise to every floating-point parameter (deterministic)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * std)
    return model.eval()


def _labels(classes) -> dict:
    id2label = {i: name for i, name in enumerate(classes)}
    return {"id2label": id2label, "label2id": {name: i for i, name in id2label.items()}}


def _save(model, processor, folder: Path) -> Path:
    from transformers.utils import logging

    logging.disable_progress_bar()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def segformer_folder(folder: Path, classes=BRAIN_CLASSES, size: int = 64, seed: int = 0) -> Path:
    """A two-stage SegFormer (7 k parameters) with a SegformerImageProcessor resizing to ``size`` x ``size``."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(seed)
    config = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                             patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                             decoder_hidden_size=16, **_labels(classes))  # fmt: skip
    model = perturbed(SegformerForSemanticSegmentation(config), seed)
    return _save(model, SegformerImageProcessor(size={"height": size, "width": size}), folder)


def upernet_folder(folder: Path, classes=BRAIN_CLASSES, size: int = 64, seed: int = 1) -> Path:
    """UperNet on a four-stage ConvNeXt (60 k parameters), with SegFormer's image processor as its hub models have."""
    from transformers import ConvNextConfig, SegformerImageProcessor, UperNetConfig, UperNetForSemanticSegmentation

    torch.manual_seed(seed)
    backbone = ConvNextConfig(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                              out_features=["stage1", "stage2", "stage3", "stage4"])  # fmt: skip
    config = UperNetConfig(backbone_config=backbone, hidden_size=16, auxiliary_in_channels=24, auxiliary_channels=8,
                           **_labels(classes))  # fmt: skip
    model = perturbed(UperNetForSemanticSegmentation(config), seed, std=0.2)
    return _save(model, SegformerImageProcessor(size={"height": size, "width": size}), folder)


def dpt_folder(folder: Path, classes=BRAIN_CLASSES, size: int = 32, seed: int = 2) -> Path:
    """DPT on a four-layer ViT with 8x8 patches (70 k parameters); its processor resizes bicubically to ``size``."""
    from transformers import DPTConfig, DPTForSemanticSegmentation, DPTImageProcessor

    torch.manual_seed(seed)
    config = DPTConfig(image_size=size, patch_size=8, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                       intermediate_size=32, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                       fusion_hidden_size=16, auxiliary_loss=False, **_labels(classes))  # fmt: skip
    model = perturbed(DPTForSemanticSegmentation(config), seed, std=0.2)
    return _save(model, DPTImageProcessor(size={"height": size, "width": size}), folder)


def mask2former_folder(folder: Path, classes=BRAIN_CLASSES, seed: int = 3) -> Path:
    """Mask2Former on a tiny Swin (115 k parameters, 8 queries); the processor resizes the shorter side to 64."""
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    torch.manual_seed(seed)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                          window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"])  # fmt: skip
    config = Mask2FormerConfig(backbone_config=backbone, num_queries=8, hidden_dim=32, mask_feature_size=32,
                               feature_size=32, encoder_feedforward_dim=32, dim_feedforward=32, encoder_layers=1,
                               decoder_layers=2, num_attention_heads=2, common_stride=4, **_labels(classes))  # fmt: skip
    model = perturbed(Mask2FormerForUniversalSegmentation(config), seed, std=0.5)
    processor = Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    return _save(model, processor, folder)


def transformers_reference(folder: Path, image) -> torch.Tensor:
    """The labels transformers itself gives: ``AutoImageProcessor`` -> the model -> ``post_process_semantic_segmentation``."""
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation, AutoModelForUniversalSegmentation

    config = json.loads((folder / "config.json").read_text())
    auto = AutoModelForUniversalSegmentation if config["model_type"] in ("mask2former", "maskformer") else (
        AutoModelForSemanticSegmentation)  # fmt: skip
    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    model = auto.from_pretrained(folder, local_files_only=True).eval()
    with torch.no_grad():
        outputs = model(**processor(images=image, return_tensors="pt"))
    return processor.post_process_semantic_segmentation(outputs, target_sizes=[image.shape[:2]])[0]


def lraspp_model(classes=BRAIN_CLASSES, seed: int = 4) -> nn.Module:
    """torchvision's LR-ASPP MobileNetV3-Large with random weights (no download; 3.2 M parameters, the smallest
    torchvision segmentation model), perturbed."""
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    torch.manual_seed(seed)
    model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=len(classes)).eval()
    return perturbed(model, seed, std=0.5)


def lraspp_state_dict(path: Path, classes=BRAIN_CLASSES, seed: int = 4) -> tuple[Path, nn.Module]:
    """``torch.save(model.state_dict(), path)``, as torchvision's training references save; and the model."""
    model = lraspp_model(classes, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path, model


def smp_plain_folder(folder: Path, classes: int = len(BRAIN_CLASSES), seed: int = 5) -> tuple[Path, nn.Module]:
    """A small smp Unet (280 k parameters) saved with smp's own ``save_pretrained`` (no segdash.json): config.json
    + model.safetensors."""
    import segmentation_models_pytorch as smp

    torch.manual_seed(seed)
    model = smp.Unet("tu-mobilenetv3_small_050", encoder_weights=None, encoder_depth=3, decoder_channels=(16, 8, 4),
                     in_channels=3, classes=classes)  # fmt: skip
    perturbed(model.segmentation_head, seed, std=0.5)
    model.save_pretrained(str(folder))
    return folder, model.eval()


class TinyNet(nn.Module):
    """A plain torch CNN (not smp, not segdash): three convolutions, any input size, scores at the input's size."""

    def __init__(self, in_channels: int = 3, classes: int = len(BRAIN_CLASSES)):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, classes, 1))  # fmt: skip

    def forward(self, x):
        return nn.functional.interpolate(self.body(x), size=x.shape[-2:], mode="bilinear", align_corners=False)


def onnx_export(path: Path, module: nn.Module | None = None, in_channels: int = 3, size: int = 32,
                dynamic: bool = True, seed: int = 6) -> tuple[Path, nn.Module]:  # fmt: skip
    """``torch.onnx.export`` of ``module`` (default a perturbed ``TinyNet``), input "input", output "scores"."""
    torch.manual_seed(seed)
    module = perturbed(module if module is not None else TinyNet(in_channels), seed, std=0.3)
    sample = torch.randn(1, in_channels, size, size)
    axes = {"input": {0: "n", 2: "h", 3: "w"}, "scores": {0: "n", 2: "h", 3: "w"}} if dynamic else None
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, (sample,), str(path), dynamo=False, input_names=["input"], output_names=["scores"],
                      dynamic_axes=axes, opset_version=17)  # fmt: skip
    return path, module


def classes_file(path: Path, classes=BRAIN_CLASSES) -> Path:
    path.write_text("\n".join(classes) + "\n", encoding="utf-8")
    return path
