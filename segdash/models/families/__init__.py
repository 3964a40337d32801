"""Model families: every kind of checkpoint folder segdash opens, one short file each.

    from segdash.models.families import family_of, get_family, list_families
    family_of(Path("runs/x/best")).name          # "smp"; a transformers folder: "transformers"
    [f.name for f in list_families()]            # smp, transformers, mask_classification, torchvision, onnx

``segdash.models.checkpoint`` (``read_meta``, ``load_checkpoint``, ``find_checkpoints``) dispatches through
here, so the predictor, evaluation, Compare, the pages and torchrun treat every family alike. A folder with
``segdash.json`` names its family there ("smp" when it does not say); other folders are asked of each
family in turn (``ModelFamily.claims``). A new family is one file with a ``@register_family`` class,
imported below.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from segdash.errors import SegdashError
from segdash.models.families.base import ModelFamily

_FAMILIES: dict[str, ModelFamily] = {}


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: make the family known under ``cls.name`` (asked in registration order)."""
    if not cls.name or cls.name in _FAMILIES:
        raise ValueError(f"a model family needs a new name, got {cls.name!r}")
    _FAMILIES[cls.name] = cls()
    return cls


def list_families() -> list[ModelFamily]:
    return list(_FAMILIES.values())


def is_family(name: str) -> bool:
    return name in _FAMILIES


def get_family(name: str) -> ModelFamily:
    """The family called ``name``; ``SegdashError`` listing the valid ones otherwise."""
    try:
        return _FAMILIES[str(name)]
    except KeyError:
        raise SegdashError(f"unknown model family {str(name)[:40]!r}; segdash knows {', '.join(_FAMILIES)}") from None


def family_of(folder: Path) -> ModelFamily | None:
    """The family of a checkpoint folder: the one segdash.json names, else the first that claims the folder
    (None when none does)."""
    from segdash.models.checkpoint import META_FILE, read_meta

    if (folder / META_FILE).is_file():
        return get_family(read_meta(folder).family)
    for family in _FAMILIES.values():
        if family.claims(folder):
            return family
    return None


#: The families, in the order folders are asked (the specific before the general); each module registers its own.
FAMILY_MODULES = ("smp", "transformers", "mask_classification", "torchvision", "onnx")
for _module in FAMILY_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ModelFamily", "family_of", "get_family", "is_family", "list_families", "register_family"]
