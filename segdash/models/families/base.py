"""What a model family is, and the careful file readers every family shares.

A family is one short class that says what differs between kinds of checkpoint folder:

    claims(folder)       is this folder (without segdash.json) one of mine?  (reads a small JSON at most)
    read_meta(folder)    its facts as the one ``CheckpointMeta``: classes, channels, normalisation, ...
    build(folder, meta)  an ``nn.Module`` in eval mode: (N, C, H, W) normalised -> (N, K, H, W) class scores

The module a family builds is used like any segdash model: the predictor softmaxes its scores, upsamples
nothing (they come at the input's size) and takes the argmax. Two optional attributes tell the predictor
more: ``output_stride`` (inputs are padded to multiples of it; 1 for models that take any size) and
``runtime`` (``(backend, note)``: the module picks its own runtime, e.g. an ONNX graph on ONNX Runtime,
instead of the predictor trying an ONNX export).

Every reader here has a size limit before it allocates: a crafted folder gets one line, not the memory.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from segdash.errors import SegdashError

if TYPE_CHECKING:
    from torch import nn

    from segdash.models.checkpoint import CheckpointMeta

#: A JSON file of a model folder (config, preprocessing) larger than this is not one.
MAX_JSON_BYTES = 4 * 2**20
#: A safetensors header larger than this describes no real model.
MAX_SAFETENSORS_HEADER = 64 * 2**20
#: Parameters a model may have (4 GB of fp16 weights): far above any segmentation model.
MAX_PARAMETERS = 2_000_000_000
#: Weight files segdash refuses to unpickle outright (transformers' pytorch_model.bin is read with
#: ``torch.load(weights_only=True)`` by the transformers family, which unpickles tensors only).
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle")
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}  # fmt: skip


class ModelFamily:
    """One kind of model folder. Subclasses set ``name`` and ``summary`` and override what differs."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: False for kinds that need ``segdash import`` first (their files cannot say the classes or the normalisation)
    opens_directly: ClassVar[bool] = True

    def claims(self, folder: Path) -> bool:
        """True when ``folder``, which has no segdash.json, holds a model of this family."""
        return False

    def read_meta(self, folder: Path) -> CheckpointMeta:
        """The folder's facts (no weights read)."""
        raise NotImplementedError

    def build(self, folder: Path, meta: CheckpointMeta) -> nn.Module:
        """The model in eval mode on the CPU, fp32: (N, C, H, W) normalised -> (N, K, H, W) scores."""
        raise NotImplementedError

    def save(self, model: nn.Module, meta: CheckpointMeta, folder: Path, half: bool = False) -> Path:
        """Write a model of this family and ``meta`` as a checkpoint folder, whole or not at all."""
        raise SegdashError(f"segdash does not save {self.name} models; it opens them")

    def facts(self, folder: Path, meta: CheckpointMeta) -> dict[str, str]:
        """Extra lines for the model card ({"weights": "model.safetensors, 3.7 M parameters"}); cheap, no model built."""
        return {}

    def __repr__(self) -> str:
        return f"<model family {self.name}>"


# --- careful readers ------------------------------------------------------------------------------------


def file_size(path: Path) -> int:
    """``path``'s size in bytes; a one-line error when it cannot be read."""
    try:
        return path.stat().st_size
    except OSError as exc:
        raise SegdashError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_json(path: Path, what: str = "file") -> Any:
    """A model folder's JSON file, refused unread when larger than ``MAX_JSON_BYTES``; one-line errors."""
    size = file_size(path)
    if size > MAX_JSON_BYTES:
        raise SegdashError(f"{path} is {size:,} bytes, far larger than a model's {what}; it is not one")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise SegdashError(f"{path} is not valid JSON ({type(exc).__name__}); re-save or re-download it") from None
    except OSError as exc:
        raise SegdashError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_json_object(path: Path, what: str = "file") -> dict[str, Any]:
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise SegdashError(f"{path} holds a JSON {type(data).__name__}, not the object a {what} is")
    return data


def safetensors_parameters(path: Path) -> int:
    """The number of values in a safetensors file, from its header alone, after checking that every tensor
    lies inside the file: a truncated or crafted file is refused before anything is loaded."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(8)
            if len(head) < 8:
                raise SegdashError(f"{path} is truncated ({size} bytes, not even a safetensors header); "
                                   "re-save or re-download it")  # fmt: skip
            (length,) = struct.unpack("<Q", head)
            if length > MAX_SAFETENSORS_HEADER or length > size - 8:
                raise SegdashError(f"{path} is truncated or not a safetensors file (its header claims {length:,} "
                                   f"bytes of {size:,}); re-save or re-download it")  # fmt: skip
            header = json.loads(file.read(length).decode("utf-8"))
    except OSError as exc:
        raise SegdashError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise SegdashError(f"{path} has a corrupt safetensors header ({type(exc).__name__}); re-save it") from None
    if not isinstance(header, dict):
        raise SegdashError(f"{path} has a corrupt safetensors header; re-save it")
    data_bytes, total = size - 8 - length, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shape, (start, end) = [int(d) for d in entry["shape"]], entry["data_offsets"]
            width = _DTYPE_BYTES[entry["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise SegdashError(f"{path}: tensor {str(name)[:60]!r} has a corrupt header entry; re-save it") from None
        count = math.prod(shape)
        if min(shape, default=1) < 0 or not 0 <= int(start) <= int(end) <= data_bytes or int(end) - int(start) != count * width:
            raise SegdashError(f"{path} is truncated or corrupt: tensor {str(name)[:60]!r} lies outside the file's "
                               f"{data_bytes:,} data bytes; re-save or re-download it")  # fmt: skip
        total += count
    if total > MAX_PARAMETERS:
        raise SegdashError(f"{path} holds {total:,} values, more than the {MAX_PARAMETERS:,} segdash loads")
    return total


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def format_parameters(count: int) -> str:
    """3_700_000 -> "3.7 M parameters"."""
    if count >= 10**6:
        return f"{count / 1e6:.1f} M parameters"
    return f"{count / 1e3:.0f} k parameters" if count >= 1000 else f"{count} parameters"


def pickle_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES) if folder.is_dir() else []


def modified(path: Path) -> str:
    """A file's modification time as ISO text (the ``created`` of a folder segdash did not write)."""
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return ""
    return _dt.datetime.fromtimestamp(stamp, _dt.timezone.utc).replace(microsecond=0).isoformat()


def class_names_from_index(mapping: Any, where: str, max_classes: int) -> list[str]:
    """``{"0": "wall", "1": "building"}`` (or a list) -> names in index order; the count is checked against
    ``max_classes`` before any name is converted, and the indices must be 0..K-1 with none missing."""
    if isinstance(mapping, list):
        items = list(enumerate(mapping))
    elif isinstance(mapping, dict):
        items = list(mapping.items())
    else:
        raise SegdashError(f"{where} is not a list or an object of class names")
    if not 1 <= len(items) <= max_classes:
        raise SegdashError(f"{where} names {len(items):,} classes; segdash takes 1 to {max_classes}")
    names: dict[int, str] = {}
    for key, value in items:
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise SegdashError(f"{where} has a class index {str(key)[:20]!r} that is not a number") from None
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise SegdashError(f"{where}: class {index} has no usable name")
        names[index] = value.strip()
    if sorted(names) != list(range(len(names))):
        raise SegdashError(f"{where} numbers its classes with gaps; they must be 0 to {len(names) - 1}")
    return [names[i] for i in range(len(names))]
