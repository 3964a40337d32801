"""The ``nn.Module`` a transformers folder becomes: an image's values in, per-pixel class scores out.

    module = TransformersSegmenter(model, processor, mask_classification=False)
    scores = module(x)      # x (N, C, H, W): 0..255 values (with a processor) or normalised input; -> (N, K, H, W)

With the folder's image processor: the values are rounded to 8 bits (what the processor is given for a
photo), the processor resizes, crops, rescales and normalises them as it would any image, the model
runs, and the processor's ``post_process_semantic_segmentation`` gives the scores at (H, W). Without
one (a model segdash trained itself, on normalised input): the model runs on ``x`` and its output is
resized to (H, W) the same way.

Per-pixel models (SegFormer, UperNet, DPT, BEiT, MobileViT) return logits. Mask classification models
(MaskFormer, Mask2Former) give, per class, the sum over queries of the query's class probability
(softmax without the null class) times its sigmoid mask, as their post-processing forms it; the module
returns its logarithm, so the predictor's softmax turns the scores into shares that sum to 1 and the
argmax is the processor's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TransformersSegmenter(nn.Module):
    #: any input size (the processor or the model's own padding handles it): the predictor pads nothing
    output_stride = 1
    #: the predictor keeps PyTorch: the processor's resize and the library's code do not export to one ONNX graph
    runtime = ("torch", "PyTorch, as transformers runs the model (no ONNX export for transformers models)")

    def __init__(self, model: nn.Module, processor=None, mask_classification: bool = False):
        super().__init__()
        self.model = model
        self.processor = processor
        self.mask_classification = bool(mask_classification)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float32 -> (N, K, H, W) float32 scores at the input's size."""
        height, width = x.shape[-2:]
        if self.processor is None:
            return self._scores(self.model(pixel_values=x), (height, width))
        images = x.round().clamp_(0, 255).to(torch.uint8)
        inputs = self.processor(images=list(images), return_tensors="pt", input_data_format="channels_first",
                                do_convert_rgb=False, device=x.device)  # fmt: skip
        dtype = next(self.model.parameters()).dtype
        inputs = {k: v.to(x.device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()}
        outputs = self.model(**inputs)
        found = self.processor.post_process_semantic_segmentation(
            outputs, target_sizes=[(height, width)] * x.shape[0], return_segmentation_scores=True
        )
        scores = torch.stack([item.segmentation_scores for item in found]).float()
        return _log_scores(scores) if self.mask_classification else scores

    def _scores(self, outputs, size: tuple[int, int]) -> torch.Tensor:
        if not self.mask_classification:
            return F.interpolate(outputs.logits.float(), size=size, mode="bilinear", align_corners=False)
        classes = outputs.class_queries_logits.float().softmax(dim=-1)[..., :-1]  # (N, Q, K): the null class dropped
        masks = outputs.masks_queries_logits.float().sigmoid()  # (N, Q, h, w)
        scores = torch.einsum("bqc,bqhw->bchw", classes, masks)
        return _log_scores(F.interpolate(scores, size=size, mode="bilinear", align_corners=False))


def _log_scores(scores: torch.Tensor) -> torch.Tensor:
    """log of non-negative scores (the softmax of the result is scores / their sum; the argmax is unchanged).
    The floor is the smallest subnormal float, not the smallest normal one: scores of far-off masks are
    subnormal, and a higher floor would tie classes the processor's argmax tells apart."""
    return scores.clamp_min(torch.finfo(scores.dtype).smallest_normal * torch.finfo(scores.dtype).eps).log()
