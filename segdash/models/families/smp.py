"""segmentation-models-pytorch: segdash's own checkpoints, and plain smp folders.

    runs/x/best/  config.json (smp's, "_model_class") + model.safetensors + segdash.json

A folder ``model.save_pretrained(dir)`` wrote has smp's config and weights but not the classes' names or
how the inputs were normalised: ``segdash import DIR --out NEW --classes FILE`` adds them (``--mean``/``--std``
unless the config says ImageNet encoder weights, whose normalisation smp knows).
"""

from __future__ import annotations

from pathlib import Path

from segdash.errors import SegdashError
from segdash.models.families import register_family
from segdash.models.families.base import ModelFamily, format_parameters, read_json, safetensors_parameters


def smp_model_class(folder: Path) -> str | None:
    """The ``_model_class`` of an smp ``config.json`` in ``folder``, or None when it is not one."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return None
    try:
        config = read_json(config_path, "config")
    except SegdashError:
        return None
    name = config.get("_model_class") if isinstance(config, dict) else None
    return name if isinstance(name, str) else None


@register_family
class SmpFamily(ModelFamily):
    name = "smp"
    summary = "segmentation-models-pytorch (segdash's own checkpoints; plain smp folders via segdash import)"
    opens_directly = False  # a plain smp folder lacks the class names and normalisation

    def claims(self, folder: Path) -> bool:
        return smp_model_class(folder) is not None

    def read_meta(self, folder: Path):
        raise SegdashError(
            f"{folder} is not a segdash checkpoint: segdash.json is missing; as a plain segmentation-models-pytorch "
            f"folder ({smp_model_class(folder)}) it does not say its class names or how its inputs were normalised: "
            f"run 'segdash import {folder} --out DIR --classes FILE' (and --mean/--std unless it used ImageNet "
            "encoder weights)"
        )

    def build(self, folder: Path, meta):
        from segdash.models.checkpoint import load_checkpoint

        return load_checkpoint(folder)[0]  # segdash's own format: the checkpoint loader itself

    def facts(self, folder: Path, meta) -> dict[str, str]:
        weights = folder / "model.safetensors"
        if not weights.is_file():
            return {}
        try:
            return {"weights": f"model.safetensors, {format_parameters(safetensors_parameters(weights))}"}
        except SegdashError:
            return {}
