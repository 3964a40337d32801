"""transformers mask-classification models: MaskFormer and Mask2Former.

These predict N query masks, each with a class distribution; the per-pixel scores are the ones their
image processor's ``post_process_semantic_segmentation`` forms (softmax over the classes without the null
class, sigmoid masks, summed over queries), so the labels are the processor's.
"""

from __future__ import annotations

from segdash.models.families import hf, register_family
from segdash.models.families.transformers import TransformersFamily


@register_family
class MaskClassificationFamily(TransformersFamily):
    name = "mask_classification"
    summary = "transformers mask-classification models (MaskFormer, Mask2Former), as save_pretrained wrote them"
    mask_classification = True
    types = hf.MASK_TYPES
    suffixes = ("ForUniversalSegmentation", "ForInstanceSegmentation")
    auto_classes = ("AutoModelForUniversalSegmentation", "AutoModelForInstanceSegmentation")
