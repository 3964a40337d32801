"""transformers per-pixel models (``AutoModelForSemanticSegmentation``): SegFormer, UperNet, DPT, BEiT, MobileViT.

    nvidia-segformer-b0/  config.json  preprocessor_config.json  model.safetensors    (as save_pretrained wrote it)

Opens as it is: the classes from ``id2label``, the image processor's resize, rescale and mean/std applied
by the processor itself (``segdash.models.families.hf``). A folder with segdash.json naming this family
(a model segdash trained) takes its facts from there and runs without a processor.
"""

from __future__ import annotations

from pathlib import Path

from segdash.errors import SegdashError
from segdash.models.families import hf, register_family
from segdash.models.families.base import ModelFamily

_SEGMENTATION_CLASS = ("ForSemanticSegmentation",)


@register_family
class TransformersFamily(ModelFamily):
    name = "transformers"
    summary = "transformers per-pixel models (SegFormer, UperNet, DPT, BEiT, MobileViT), as save_pretrained wrote them"
    mask_classification = False
    types = hf.PER_PIXEL_TYPES
    suffixes = _SEGMENTATION_CLASS
    auto_classes = ("AutoModelForSemanticSegmentation",)

    def claims(self, folder: Path) -> bool:
        if not (folder / hf.CONFIG_FILE).is_file() or hf.weights_file(folder) is None:
            return False
        try:
            config = hf.read_json_object(folder / hf.CONFIG_FILE, "config")
        except SegdashError:  # a config and weights, but an unreadable config: claimed, to say why it is refused
            return not self.mask_classification
        kind = hf.model_type(config)
        return hf.is_segmentation_config(config, self.types, self.suffixes) or (
            kind in hf.REFUSED_TYPES and self.mask_classification)  # claimed, to be refused with the reason

    def read_meta(self, folder: Path):
        return hf.folder_meta(folder, self.name, self.types)

    def build(self, folder: Path, meta):
        from segdash.models.families.hf_module import TransformersSegmenter

        config = hf.read_config(folder)
        model = hf.build_model(folder, config, self.auto_classes)
        processor = None
        if meta.preprocessing.get("processor"):  # a folder opened as it is: its own image processor
            processor = hf.make_processor(hf.read_processor(folder, config, self.types))
        return TransformersSegmenter(model, processor, mask_classification=self.mask_classification).eval()

    def save(self, model, meta, folder: Path, half: bool = False) -> Path:
        """A transformers model segdash trained (bare, or inside its ``TransformersSegmenter``): ``save_pretrained``
        (config.json + model.safetensors) and segdash.json, written whole or not at all. It reloads without an
        image processor: the normalisation in ``meta`` is what it was trained with."""
        from segdash.fsutil import atomic_dir
        from segdash.models.checkpoint import META_FILE

        model = getattr(model, "model", model) if not hasattr(model, "save_pretrained") else model
        if not hasattr(model, "save_pretrained"):
            raise SegdashError(f"{type(model).__name__} is not a transformers model; the {self.name} family saves those")
        labels = getattr(model.config, "num_labels", meta.num_classes)
        if labels != meta.num_classes:
            raise SegdashError(f"the model outputs {labels} classes but the metadata lists {meta.num_classes}")
        state = {k: v.detach().half() if half and v.is_floating_point() else v.detach() for k, v in model.state_dict().items()}
        with atomic_dir(folder) as tmp, hf.quiet_transformers():
            model.save_pretrained(tmp, state_dict=state)  # safetensors: transformers' default
            (tmp / META_FILE).write_text(meta.to_json() + "\n", encoding="utf-8")
        return folder

    def facts(self, folder: Path, meta) -> dict[str, str]:
        return hf.weights_facts(folder)
