"""Models: the registry of buildable smp models and the checkpoint format.

    from segdash.models import create_model, save_checkpoint, load_checkpoint
"""

from segdash.models.checkpoint import (
    CheckpointMeta,
    check_compatible,
    find_checkpoints,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from segdash.models.registry import ARCHITECTURES, ENCODERS, create_model, describe_models

__all__ = [
    "ARCHITECTURES",
    "ENCODERS",
    "CheckpointMeta",
    "check_compatible",
    "create_model",
    "describe_models",
    "find_checkpoints",
    "load_checkpoint",
    "read_meta",
    "save_checkpoint",
]
