"""Checkpoints: a folder that describes itself, loaded without pickle.

    runs/brain/checkpoints/best/
        config.json         smp's model config ("_model_class", encoder, classes, ...; encoder_weights null)
        model.safetensors   the weights (fp32, or fp16 with ``half=True``)
        segdash.json        CheckpointMeta: class names and colours, normalisation, dataset, metrics, ...

``smp.from_pretrained(folder)`` loads the model as it is; ``load_checkpoint``
adds the metadata and never runs pickle (safetensors only) nor downloads.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import inspect
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segdash.data.base import Normalization
from segdash.data.options import MAX_CLASSES
from segdash.data.pixels import InputRange, IntensityStats
from segdash.errors import SegdashError
from segdash.fsutil import atomic_dir

META_FILE = "segdash.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle")
#: Bounds checked before anything is allocated: a crafted checkpoint must not take the memory
#: (MAX_CLASSES, the data layer's, bounds datasets and checkpoints alike).
MAX_IN_CHANNELS = 16
MAX_INPUT_SIZE = 8192
#: Largest integer a config.json may hold anywhere (channels, depths, rates): far above real models.
MAX_CONFIG_INT = 8192
MAX_JSON_BYTES = 4 * 2**20
#: Encoder names are plain registry names; a ":" or "/" (``tu-hf-hub:org/name``) would make timm reach the network.
_ENCODER_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_FAMILY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _version() -> str:
    from segdash import __version__

    return __version__


@dataclasses.dataclass
class CheckpointMeta:
    """What a checkpoint needs besides its weights to be used and judged.

    ``input_size``: when set, images are resized to ``input_size x input_size`` before
    the model and the logits resized back; ``None`` runs images at their own size.
    ``metrics``: the validation scores at save time (e.g. ``{"val_mean_iou": 0.81}``).
    ``input_range``: the value range of the training inputs before normalisation (every input is mapped
    to it, see ``segdash.data.pixels``); checkpoints that did not record it get the one their
    normalisation's scale implies (1/255: 0..255, 1: 0..1).
    ``intensity``: intensity statistics of the training inputs, for the out-of-distribution hint (or None).
    ``family``: which model family builds the model (``segdash.models.families``: "smp", "transformers", ...);
    ``source``: where the model came from, in words ("hf:nvidia/segformer-b0-...", "imported from deeplab.pth");
    ``preprocessing``: what the family does to an image besides the normalisation (a transformers image
    processor's resize, in words under "fit"); empty for segdash's own checkpoints.
    """

    arch: str
    encoder: str
    classes: list[str]
    colors: list[tuple[int, int, int]]
    in_channels: int
    normalization: Normalization
    ignore_index: int | None = 255
    input_size: int | None = None
    dataset: str = ""
    family: str = "smp"
    source: str = ""
    preprocessing: dict[str, Any] = dataclasses.field(default_factory=dict)
    epoch: int | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    train_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    created: str = dataclasses.field(default_factory=_now)
    segdash_version: str = dataclasses.field(default_factory=_version)
    input_range: InputRange | None = None
    intensity: IntensityStats | None = None

    def __post_init__(self) -> None:
        try:
            self._coerce()
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            raise SegdashError(f"checkpoint metadata holds a value of the wrong kind ({exc}); re-save the checkpoint") from None
        _check_meta_bounds(self)

    def _coerce(self) -> None:
        """Fields from JSON into their types (raises TypeError/ValueError on wrong kinds)."""
        if not isinstance(self.classes, (list, tuple)) or not isinstance(self.colors, (list, tuple)):
            raise TypeError("classes and colors must be lists")
        if len(self.classes) > MAX_CLASSES:  # refuse before converting ten million names
            raise ValueError(f"{len(self.classes)} classes, more than the {MAX_CLASSES} segdash handles")
        self.arch, self.encoder = _text(self.arch, "arch"), _text(self.encoder, "encoder")
        self.classes = [_text(c, "class name") for c in self.classes]
        self.colors = [tuple(int(v) for v in c) for c in self.colors]
        self.in_channels = _integer(self.in_channels, "in_channels")
        if self.input_size is not None:
            self.input_size = _integer(self.input_size, "input_size")
        if self.ignore_index is not None:
            self.ignore_index = _integer(self.ignore_index, "ignore_index")
        if isinstance(self.normalization, dict):
            self.normalization = Normalization.from_dict(self.normalization)
        if not isinstance(self.normalization, Normalization):
            raise TypeError("normalization must be an object with mean, std and scale")
        self.normalization = Normalization(tuple(float(v) for v in self.normalization.mean),
                                           tuple(float(v) for v in self.normalization.std),
                                           float(self.normalization.scale))
        if isinstance(self.input_range, dict):
            self.input_range = InputRange.from_dict(self.input_range)
        if self.input_range is None:
            self.input_range = InputRange.from_scale(self.normalization.scale)
        if isinstance(self.intensity, dict):
            self.intensity = IntensityStats.from_dict(self.intensity)
        if not isinstance(self.metrics, dict) or not isinstance(self.train_config, dict):
            raise TypeError("metrics and train_config must be objects")
        self.family, self.source = _text(self.family, "family"), _text(self.source, "source")[:500]
        if not isinstance(self.preprocessing, dict):
            raise TypeError("preprocessing must be an object")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (normalisation, input range and intensity statistics as dicts, colours as lists)."""
        d = dataclasses.asdict(self)
        d["normalization"] = self.normalization.to_dict()
        d["colors"] = [list(c) for c in self.colors]
        d["input_range"] = self.input_range.to_dict() if self.input_range else None
        d["intensity"] = self.intensity.to_dict() if self.intensity else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckpointMeta:
        """Inverse of ``to_dict``; unknown keys (from newer versions) are ignored."""
        if not isinstance(d, dict):
            raise SegdashError(f"checkpoint metadata is a JSON {type(d).__name__}, not an object; re-save the checkpoint")
        known = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - d.keys())
        if missing:
            raise SegdashError(f"checkpoint metadata lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> CheckpointMeta:
        return cls.from_dict(json.loads(text))


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, got {type(value).__name__}")
    return value


def _integer(value: Any, what: str) -> int:
    """An int from JSON (``3`` or ``3.0``; not ``true``, not ``"3"``, not ``3.5``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise TypeError(f"{what} must be a whole number, got {value!r}"[:120])
    return int(value)


def _check_meta_bounds(meta: CheckpointMeta) -> None:
    """Refuse metadata that no real checkpoint has, before anything is built from it."""
    problem = None
    norm = meta.normalization
    if not 1 <= meta.num_classes <= MAX_CLASSES:
        problem = f"lists {meta.num_classes} classes; a checkpoint has 1 to {MAX_CLASSES}"
    elif meta.colors and len(meta.colors) != meta.num_classes:
        problem = f"has {meta.num_classes} classes but {len(meta.colors)} colours"
    elif any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in meta.colors):
        problem = "has a colour that is not three values 0..255"
    elif not 1 <= meta.in_channels <= MAX_IN_CHANNELS:
        problem = f"says in_channels {meta.in_channels}; a model takes 1 to {MAX_IN_CHANNELS} channels"
    elif meta.input_size is not None and not 1 <= meta.input_size <= MAX_INPUT_SIZE:
        problem = f"says input_size {meta.input_size}; it must be 1 to {MAX_INPUT_SIZE} (or null)"
    elif meta.ignore_index is not None and not -1 <= meta.ignore_index <= 65535:
        problem = f"says ignore_index {meta.ignore_index}; it must be -1..65535 or null"
    elif len(norm.std) not in (1, meta.in_channels) or len(norm.mean) not in (1, meta.in_channels):
        problem = f"has normalisation for {len(norm.mean)}/{len(norm.std)} channels but in_channels {meta.in_channels}"
    elif not all(math.isfinite(v) for v in (*norm.mean, *norm.std, norm.scale)):
        problem = "has a normalisation value that is not a finite number"
    elif any(v <= 0 for v in norm.std) or norm.scale <= 0:
        problem = "has a normalisation std or scale of 0 or below (every input would divide by it)"
    elif _FAMILY_NAME.fullmatch(meta.family) is None:
        problem = f"names model family {meta.family[:40]!r}, not a family name"
    elif _ENCODER_NAME.fullmatch(meta.encoder) is None:
        problem = f"names encoder {meta.encoder[:80]!r}, not a plain encoder name (hub names would use the network)"
    if problem:
        raise SegdashError(f"checkpoint metadata {problem}; re-save the checkpoint")


def _state_dict_for_saving(model: nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies (safetensors refuses shared storage); floats in fp16 if ``half``."""
    out = {}
    for key, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        if half and t.is_floating_point():
            t = t.half()
        out[key] = t.contiguous().clone()
    return out


def smp_config(model: nn.Module) -> dict[str, Any]:
    """The smp config ``smp.from_pretrained`` rebuilds ``model`` from, with ``encoder_weights`` null."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or not config:
        raise SegdashError(f"{type(model).__name__} is not an smp model; build it with segdash.models.create_model")
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config["encoder_weights"] = None
    config["_model_class"] = type(model).__name__
    return config


def save_checkpoint(model: nn.Module, meta: CheckpointMeta, directory: str | Path, half: bool = False) -> Path:
    """Write ``model`` and ``meta`` as a checkpoint folder, whole or not at all.

    ``half=True`` stores floating-point weights as fp16 (half the size); they load
    back as fp32. An existing folder at ``directory`` is replaced. A model of another family
    (``meta.family``, e.g. a transformers Mask2Former segdash trained) is saved by that family.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    if meta.family != "smp":
        from segdash.models.families import get_family

        return get_family(meta.family).save(model, meta, directory, half)
    config = smp_config(model)
    if meta.num_classes and int(config.get("classes", meta.num_classes)) != meta.num_classes:
        raise SegdashError(
            f"the model outputs {config['classes']} classes but the metadata lists {meta.num_classes} "
            f"({classes_preview(meta.classes)}); build the model with num_classes={meta.num_classes}"
        )
    if int(config.get("in_channels", meta.in_channels)) != meta.in_channels:
        raise SegdashError(
            f"the model takes {config['in_channels']} input channel(s) but the metadata says {meta.in_channels}"
        )
    weights = _state_dict_for_saving(model, half)
    with atomic_dir(directory) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        dtype = "float16" if half else "float32"
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": "pt", "dtype": dtype})
        (tmp / META_FILE).write_text(meta.to_json() + "\n", encoding="utf-8")
    return directory


def _checkpoint_dir(directory: str | Path) -> Path:
    path = Path(directory).expanduser()
    if path.is_file():
        if path.name in (META_FILE, CONFIG_FILE, WEIGHTS_FILE):
            return path.parent
        if path.suffix.lower() in (".onnx", *_PICKLE_SUFFIXES, ".safetensors"):
            raise SegdashError(
                f"{path} is a weights file, not a checkpoint folder; turn it into one with "
                f"'segdash import {path.name} --out DIR' (pickle files load as tensors only, never as code)"
            )
        raise SegdashError(
            f"{path} is a file; a checkpoint is a folder holding {META_FILE}, {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    if not path.exists():
        raise SegdashError(f"checkpoint {path} does not exist")
    return path


def read_meta(directory: str | Path) -> CheckpointMeta:
    """The ``CheckpointMeta`` of a checkpoint folder (no weights loaded): from its ``segdash.json``, or, for a
    folder of another family (a transformers model as ``save_pretrained`` wrote it), from that family's files."""
    path = _checkpoint_dir(directory)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        return _foreign_family(path).read_meta(path)
    try:
        return CheckpointMeta.from_json(_read_small_text(meta_path))
    except SegdashError as exc:
        raise SegdashError(f"{meta_path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError, RecursionError) as exc:
        raise SegdashError(f"{meta_path} is corrupt ({type(exc).__name__}); re-save the checkpoint") from None


def _read_small_text(path: Path) -> str:
    """A metadata file's text; one larger than any real one is refused unread."""
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise SegdashError(f"{path} is {size:,} bytes, far larger than checkpoint metadata; re-save the checkpoint")
    return path.read_text(encoding="utf-8")


def read_config(directory: str | Path, text: str | None = None) -> dict[str, Any]:
    """smp's ``config.json`` of a checkpoint folder (``text``: its content, already read by the caller)."""
    path = _checkpoint_dir(directory) / CONFIG_FILE
    if text is None and not path.is_file():
        raise SegdashError(f"{path.parent} lacks {CONFIG_FILE}; it is not a complete checkpoint")
    try:
        config = json.loads(_read_small_text(path) if text is None else text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise SegdashError(f"{path} is corrupt ({type(exc).__name__}); re-save the checkpoint") from None
    if not isinstance(config, dict) or not isinstance(config.get("_model_class"), str):
        raise SegdashError(f"{path} is not an smp model config (no _model_class)")
    problem = config_problem(config)
    if problem:
        raise SegdashError(f"{path} {problem}; re-save the checkpoint")
    return config


def config_problem(config: dict[str, Any]) -> str | None:
    """What makes an smp ``config.json`` unsafe to build (None when it is fine): a hub-style
    encoder name (timm would fetch it from the network), a class or channel count out of bounds,
    or a number large enough to allocate gigabytes."""
    encoder = config.get("encoder_name", "resnet34")
    if not isinstance(encoder, str) or _ENCODER_NAME.fullmatch(encoder) is None:
        return f"names encoder {str(encoder)[:80]!r}, not a plain encoder name (hub names would use the network)"
    for key, low, high in (("classes", 1, MAX_CLASSES), ("in_channels", 1, MAX_IN_CHANNELS)):
        value = config.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"says {key} {str(value)[:40]}; it must be a whole number {low} to {high}"
    for value in _numbers(config):
        if isinstance(value, float) and not math.isfinite(value):
            return "holds a number that is not finite"
        if abs(value) > MAX_CONFIG_INT:
            return f"holds the number {value:g}, larger than any real model's setting ({MAX_CONFIG_INT})"
    return None


def _numbers(value: Any) -> list[int | float]:
    """Every number inside a JSON value (nested lists and objects)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    return []


def build_from_config(config: dict[str, Any]) -> nn.Module:
    """An smp model with random weights from its config; never downloads (encoder_weights forced to null)."""
    import warnings

    import segmentation_models_pytorch as smp

    config = dict(config)
    class_name = config.pop("_model_class")
    model_class = getattr(smp, str(class_name), None)
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)):
        raise SegdashError(f"checkpoint names an unknown smp model class {str(class_name)[:80]!r}")
    problem = config_problem(config)
    if problem:
        raise SegdashError(f"the checkpoint config {problem}")
    # Extra keys would pass through **kwargs to timm.create_model (e.g. a pretrained_cfg naming a hub file).
    accepted = set(inspect.signature(model_class.__init__).parameters) - {"self", "kwargs"}
    unknown = sorted(str(k)[:40] for k in config if k not in accepted)
    if unknown:
        raise SegdashError(f"the checkpoint config has settings {class_name} does not take: {', '.join(unknown[:5])}")
    config["encoder_weights"] = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model_class(**config)
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as exc:
        raise SegdashError(f"cannot rebuild {class_name} from the checkpoint config: {str(exc)[:200]}") from None


def load_checkpoint(
    directory: str | Path, device: str | torch.device | None = None, files: dict[str, bytes] | None = None
) -> tuple[nn.Module, CheckpointMeta]:
    """Load a checkpoint folder: ``(model in eval mode, fp32, on device; meta)``.

    Weights come from ``model.safetensors`` only; a folder with only pickle files
    (``.pth``, ``.bin``) is refused. ``device=None`` keeps the model on the CPU.
    ``files``: the bytes of ``config.json`` and ``model.safetensors`` as the caller read them, so that
    the model is the one those bytes describe even if the folder changes meanwhile (the ONNX graph
    cache records a graph under the hash of exactly these bytes).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load, load_file

    path = _checkpoint_dir(directory)
    if not _is_smp_checkpoint(path):  # another family's folder builds its own model
        return _load_family_model(path, device)
    weights_path = path / WEIGHTS_FILE
    if files is None and not weights_path.is_file():
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in _PICKLE_SUFFIXES)
        if pickles:
            raise SegdashError(
                f"{path} holds only pickle weights ({', '.join(pickles)}); segdash loads safetensors only, "
                "because unpickling can run code. Re-save with segdash.models.save_checkpoint"
            )
        raise SegdashError(f"{path} lacks {WEIGHTS_FILE}; it is not a complete checkpoint")
    meta = read_meta(path)
    text = None
    if files is not None:
        if len(files[CONFIG_FILE]) > MAX_JSON_BYTES:
            raise SegdashError(f"{path / CONFIG_FILE} is far larger than a model config; re-save the checkpoint")
        try:
            text = files[CONFIG_FILE].decode("utf-8")
        except UnicodeDecodeError:
            raise SegdashError(f"{path / CONFIG_FILE} is corrupt (UnicodeDecodeError); re-save the checkpoint") from None
    model = build_from_config(read_config(path, text))
    try:
        state = load_file(str(weights_path), device="cpu") if files is None else load(files[WEIGHTS_FILE])
    except (SafetensorError, OSError, ValueError) as exc:
        raise SegdashError(f"{weights_path} is corrupt or truncated ({exc}); re-save the checkpoint") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:300]
        raise SegdashError(f"{weights_path} does not fit the model its config.json describes: {first}") from None
    check_head(meta, _head_classes(model), path)
    model.eval()
    if device is not None:
        from segdash.device import choose_device

        model.to(choose_device(device))
    return model, meta


def check_head(meta: CheckpointMeta, head_classes: int | None, folder: str | Path) -> None:
    """Refuse a checkpoint whose metadata names another number of classes than its model outputs
    (``head_classes``; None when unknown): every label it gave would be named wrongly."""
    if meta.num_classes and head_classes is not None and head_classes != meta.num_classes:
        raise SegdashError(
            f"checkpoint {folder}: the model outputs {head_classes} classes but segdash.json lists {meta.num_classes}"
        )

def _foreign_family(path: Path):
    """The family that claims a folder without segdash.json; ``SegdashError`` saying what opens when none does."""
    from segdash.models.families import family_of

    family = family_of(path)
    if family is None:
        raise SegdashError(
            f"{path} is not a checkpoint segdash opens: it has no {META_FILE} (segdash's own), no transformers "
            "config.json with weights, and no other known layout; other models come in with 'segdash import'"
        )
    return family


def _is_smp_checkpoint(path: Path) -> bool:
    """A folder segdash saved for an smp model (the format ``load_checkpoint`` itself reads)."""
    return (path / META_FILE).is_file() and read_meta(path).family == "smp"


def _load_family_model(path: Path, device) -> tuple[nn.Module, CheckpointMeta]:
    from segdash.models.families import get_family

    meta = read_meta(path)
    model = get_family(meta.family).build(path, meta).eval()
    if device is not None:
        from segdash.device import choose_device

        model.to(choose_device(device))
    return model, meta


def _head_classes(model: nn.Module) -> int | None:
    classes = getattr(model, "config", {}).get("classes") if isinstance(getattr(model, "config", None), dict) else None
    return int(classes) if classes is not None else None


def check_compatible(meta: CheckpointMeta, dataset, class_map: str | Path | None = None):
    """How the checkpoint's classes map onto the dataset's (``ClassMapping``: identical, from ``class_map``, or
    by name); ``SegdashError`` naming both sides when none of them match, or when the channels do not fit
    (a 1-channel dataset fits a 3-channel model: the predictor replicates gray to RGB)."""
    from segdash.models.class_mapping import class_mapping

    ds_classes = [str(c) for c in dataset.classes]
    ds_name = getattr(dataset, "name", "dataset")
    try:
        mapping = class_mapping(meta.classes, ds_classes, class_map)
    except SegdashError:
        if class_map is not None:
            raise
        advice = "pick a checkpoint trained on this dataset, or map the classes with --class-map FILE"
        if len(ds_classes) == meta.num_classes and all(re.fullmatch(r"class_\d+", c) for c in ds_classes):
            advice += " or, if it is one, name the classes: a classes.txt beside the data, one name a line"
        raise SegdashError(
            f"checkpoint classes ({meta.num_classes}: {classes_preview(meta.classes)}) differ from dataset "
            f"{ds_name!r} classes ({len(ds_classes)}: {classes_preview(ds_classes)}); {advice}"
        ) from None
    if int(meta.in_channels) != int(dataset.in_channels) and channel_note(meta.in_channels, dataset.in_channels) is None:
        raise SegdashError(
            f"checkpoint expects {meta.in_channels} input channel(s) but dataset {ds_name!r} has "
            f"{dataset.in_channels}; pick a checkpoint trained on this kind of image"
        )
    return mapping


def channel_note(model_channels: int, data_channels: int) -> str | None:
    """How images of ``data_channels`` reach a model of ``model_channels``: "" when they are the model's own,
    a sentence when the predictor converts them, None when they do not fit."""
    if int(model_channels) == int(data_channels):
        return ""
    if (int(data_channels), int(model_channels)) == (1, 3):
        return "a 3-channel model takes this 1-channel data as gray replicated to R, G and B"
    if (int(data_channels), int(model_channels)) == (4, 3):
        return "a 3-channel model takes this RGBA data without its alpha channel"
    return None


def find_checkpoints(*roots: str | Path) -> list[Path]:
    """Checkpoint folders under ``roots``, recursively, sorted: those holding ``segdash.json`` and those another
    family opens as they are (a transformers ``save_pretrained`` folder: ``config.json`` and its weights).

    Missing roots are skipped; folders being written (hidden ``.name.tmp``) are not listed.
    """
    from segdash.models.families import family_of

    found: set[Path] = set()
    for root in roots:
        root = Path(root).expanduser()
        if (root / META_FILE).is_file():
            found.add(root)
        if not root.is_dir():
            continue
        for name in (META_FILE, CONFIG_FILE):
            for file in root.rglob(name):
                folder = file.parent
                if folder in found or any(part.startswith(".") for part in folder.relative_to(root).parts):
                    continue
                if name == META_FILE:
                    found.add(folder)
                elif not (folder / META_FILE).exists():
                    try:
                        family = family_of(folder)
                    except (SegdashError, OSError):
                        continue
                    if family is not None and family.opens_directly:
                        found.add(folder)
    return sorted(found)


def checkpoint_summary(directory: str | Path) -> dict[str, Any]:
    """A short JSON-ready description for lists in the UI: path, arch, encoder, classes, dataset, epoch, metrics."""
    meta = read_meta(directory)
    return {
        "path": str(directory),
        "arch": meta.arch,
        "encoder": meta.encoder,
        "classes": meta.classes,
        "in_channels": meta.in_channels,
        "dataset": meta.dataset,
        "epoch": meta.epoch,
        "metrics": meta.metrics,
        "created": meta.created,
    }


def classes_preview(classes: Sequence[str], limit: int = 40) -> str:
    """``a, b, c, ... (+5 more)`` for messages."""
    classes = list(classes)
    head = ", ".join(classes[:limit])
    return head if len(classes) <= limit else f"{head}, ... (+{len(classes) - limit} more)"
