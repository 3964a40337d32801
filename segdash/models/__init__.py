"""Models: the registry of buildable smp models, the checkpoint format and the model families it opens.

    from segdash.models import create_model, save_checkpoint, load_checkpoint
    [f.name for f in list_families()]     # smp, transformers, mask_classification, torchvision, onnx
"""

from segdash.models.checkpoint import (
    CheckpointMeta,
    check_compatible,
    find_checkpoints,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from segdash.models.families import get_family, list_families
from segdash.models.registry import ARCHITECTURES, ENCODERS, create_model, describe_models

__all__ = [
    "ARCHITECTURES",
    "ENCODERS",
    "CheckpointMeta",
    "check_compatible",
    "create_model",
    "describe_models",
    "find_checkpoints",
    "get_family",
    "list_families",
    "load_checkpoint",
    "read_meta",
    "save_checkpoint",
]
