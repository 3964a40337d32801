"""``segdash import``: another framework's model files become a segdash checkpoint folder.

    folder = import_model("unet_folder/", "runs/imported/unet", ImportFacts(classes="classes.txt"))
    folder = import_model("deeplab.pth", "runs/imported/deeplab", ImportFacts(arch="deeplabv3_resnet50"))
    folder = import_model("model.onnx", "runs/imported/mmseg", ImportFacts(classes=..., mean=..., std=...))

What it takes (``detect_source``):

- a plain segmentation-models-pytorch folder (``save_pretrained``: config.json + model.safetensors);
- a torchvision segmentation state dict (``.pth``/``.pt``/``.bin`` read with ``torch.load(weights_only=True)``,
  which rebuilds tensors and nothing else, or ``.safetensors``), with ``--arch``;
- an ONNX graph from any producer (run on ONNX Runtime afterwards).

What the files cannot say comes from ``ImportFacts`` (the command's flags), and a fact that is needed and
missing is a one-line error naming its flag: the class names (``--classes``, one name a line or the
classes.csv/json a dataset format reads), how the inputs were normalised (``--mean``/``--std``, known for
smp's ImageNet encoder weights and torchvision's convention), their value range (``--input-range``,
0..255 for 8-bit photos when not given) and a fixed input size (``--input-size``). The new folder is
written whole or not at all, and loaded once before it is put in place.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from segdash.data.base import Normalization
from segdash.data.pixels import EIGHT_BIT, InputRange
from segdash.errors import SegdashError
from segdash.fsutil import atomic_dir

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: smp encoder weights that were trained on ImageNet statistics
_IMAGENET_WEIGHTS = {"imagenet", "ssl", "swsl", "instagram", "imagenet+background"}
STATE_DICT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
KINDS = ("smp", "torchvision", "onnx")


@dataclasses.dataclass(frozen=True)
class ImportFacts:
    """What the files cannot say. ``mean``/``std`` are for inputs scaled to 0..1 from ``input_range`` (ImageNet's
    0.485 style); values above 1 are taken in the input's own units (MMSegmentation's 123.675 style)."""

    classes: str | Path | None = None
    arch: str | None = None
    input_range: InputRange | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    input_size: int | None = None
    dataset: str = ""


@dataclasses.dataclass(frozen=True)
class ImportResult:
    folder: Path
    kind: str
    notes: tuple[str, ...]


def parse_range(text: str) -> InputRange:
    """``"0..255"`` -> InputRange(0, 255); a one-line error naming ``--input-range`` otherwise."""
    low, sep, high = str(text).partition("..")
    try:
        return InputRange(float(low), float(high)) if sep else _bad_range(text)
    except ValueError:
        return _bad_range(text)


def _bad_range(text: str):
    raise SegdashError(f"--input-range takes LOW..HIGH with LOW < HIGH (0..255 for 8-bit images, 0..1 for floats), "
                       f"got {str(text)[:40]!r}")  # fmt: skip


def parse_numbers(text: str, flag: str) -> tuple[float, ...]:
    """``"0.485,0.456,0.406"`` -> a tuple; a one-line error naming ``flag`` otherwise."""
    try:
        values = tuple(float(v) for v in str(text).replace(" ", ",").split(",") if v.strip())
    except ValueError:
        raise SegdashError(f"{flag} takes numbers separated by commas, got {str(text)[:60]!r}") from None
    if not 1 <= len(values) <= 16 or not all(v == v and abs(v) < 1e6 for v in values):
        raise SegdashError(f"{flag} takes 1 to 16 finite numbers, got {str(text)[:60]!r}")
    return values


def detect_source(src: Path) -> str:
    """Which kind of model ``src`` is ("smp", "torchvision", "onnx"); a one-line error for anything else."""
    from segdash.models.checkpoint import META_FILE
    from segdash.models.families import family_of
    from segdash.models.families.smp import smp_model_class

    if not src.exists():
        raise SegdashError(f"{src} does not exist")
    if src.is_file():
        if src.suffix.lower() == ".onnx":
            return "onnx"
        if src.suffix.lower() in STATE_DICT_SUFFIXES:
            return "torchvision"
        raise SegdashError(f"{src.name}: segdash imports ONNX graphs (.onnx), torchvision state dicts "
                           f"({', '.join(STATE_DICT_SUFFIXES)}) and smp folders")  # fmt: skip
    if (src / META_FILE).is_file():
        raise SegdashError(f"{src} is a segdash checkpoint already; open it as it is")
    if smp_model_class(src) is not None:
        return "smp"
    if (src / "model.onnx").is_file():
        return "onnx"
    family = family_of(src)
    if family is not None and family.opens_directly:
        raise SegdashError(f"{src} is a {family.name} folder, which segdash opens as it is (--checkpoint {src}); "
                           "no import needed")  # fmt: skip
    raise SegdashError(f"{src} is not an smp folder (config.json with _model_class and model.safetensors), an ONNX "
                       "graph or a state dict")  # fmt: skip


def import_model(src: str | Path, out: str | Path, facts: ImportFacts, replace: bool = False) -> ImportResult:
    """Turn ``src`` into a segdash checkpoint folder at ``out`` (see the module docstring)."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    kind = detect_source(src)
    if out.exists() and not replace:
        raise SegdashError(f"{out} exists; choose another --out or replace it with --force")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise SegdashError(f"--out {out} is inside the source {src}; write the checkpoint elsewhere")
    notes: list[str] = []
    with atomic_dir(out) as tmp:
        meta = {"smp": _import_smp, "torchvision": _import_torchvision, "onnx": _import_onnx}[kind](src, tmp, facts, notes)
        from segdash.models.checkpoint import META_FILE, load_checkpoint

        (tmp / META_FILE).write_text(meta.to_json() + "\n", encoding="utf-8")
        load_checkpoint(tmp)  # the folder opens, or nothing is put in place
    return ImportResult(out, kind, tuple(notes))


# --- the facts ------------------------------------------------------------------------------------------


def _classes(facts: ImportFacts, count: int | None, default: list[str] | None = None):
    """(names, colours) from ``--classes``; ``default`` (with a note by the caller) when absent."""
    from segdash.data.formats.classes import read_classes_file
    from segdash.data.formats.colors import default_colors

    if facts.classes is None:
        if default is not None and (count is None or len(default) == count):
            return list(default), list(default_colors(len(default)))
        need = f"its {count} classes" if count else "its classes"
        raise SegdashError(f"say {need}' names with --classes FILE (one name a line, or a classes.csv/json)")
    table = read_classes_file(Path(facts.classes).expanduser(), ignore_index=None)
    names = list(table.names)
    if count is not None and len(names) != count:
        raise SegdashError(f"--classes {Path(facts.classes).name} names {len(names)} classes but the model has {count}")
    colors = list(table.colors) if table.colors else list(default_colors(len(names)))
    return names, colors


def _normalization(facts: ImportFacts, channels: int, default: tuple | None, notes: list[str],
                   why: str) -> tuple[Normalization, InputRange]:  # fmt: skip
    """The checkpoint's normalisation and input range from ``--mean/--std/--input-range``, or ``default``
    ((mean, std), with a note saying ``why``); a one-line error naming the flags when neither is there."""
    value_range = facts.input_range
    if value_range is None:
        value_range = EIGHT_BIT
        notes.append("inputs taken as 8-bit images (0..255); give --input-range if the model was trained otherwise")
    mean, std = facts.mean, facts.std
    if (mean is None) != (std is None):
        raise SegdashError("give --mean and --std together")
    if mean is None:
        if default is None:
            raise SegdashError(f"say how the inputs were normalised with --mean and --std ({why}); e.g. --mean "
                               "0.485,0.456,0.406 --std 0.229,0.224,0.225 for ImageNet, --mean 0 --std 1 for none")  # fmt: skip
        mean, std = default
        notes.append(f"normalisation: mean {', '.join(f'{v:g}' for v in mean)}, std {', '.join(f'{v:g}' for v in std)} "
                     f"({why}); give --mean and --std if it was trained otherwise")  # fmt: skip
    for values, flag in ((mean, "--mean"), (std, "--std")):
        if len(values) not in (1, channels):
            raise SegdashError(f"{flag} gives {len(values)} values; the model takes {channels} channel(s): give 1 or {channels}")
    if any(v <= 0 for v in std):
        raise SegdashError("--std values must be above 0")
    span = value_range.high - value_range.low
    if max(abs(v) for v in (*mean, *std)) > 1.0 + 1e-9 and span > 1.0:  # given in the input's units
        return Normalization(tuple(mean), tuple(std), 1.0), value_range
    scale = 1.0 / span  # (x - low) / span is 0..1; the offset goes into the mean
    shifted = tuple(m + value_range.low * scale for m in mean)
    return Normalization(shifted, tuple(std), scale), value_range


def _meta(arch: str, encoder: str, classes, colors, channels: int, normalization, value_range, facts: ImportFacts,
          family: str, source: Path, input_size: int | None = None):  # fmt: skip
    from segdash.models.checkpoint import CheckpointMeta

    return CheckpointMeta(arch=arch, encoder=encoder, classes=classes, colors=colors, in_channels=channels,
                          normalization=normalization, input_range=value_range, ignore_index=255,
                          input_size=facts.input_size or input_size, dataset=facts.dataset, family=family,
                          source=f"imported from {source.name}")  # fmt: skip


# --- smp --------------------------------------------------------------------------------------------------


def _import_smp(src: Path, tmp: Path, facts: ImportFacts, notes: list[str]):
    from segdash.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_config
    from segdash.models.families.base import safetensors_parameters

    if not (src / WEIGHTS_FILE).is_file():
        raise SegdashError(f"{src} has no {WEIGHTS_FILE}; save the model with smp's save_pretrained (safetensors)")
    config = read_config(src)
    safetensors_parameters(src / WEIGHTS_FILE)
    channels, count = int(config.get("in_channels", 3)), int(config.get("classes", 1))
    classes, colors = _classes(facts, count)
    weights = config.get("encoder_weights")
    known = str(weights).lower() in _IMAGENET_WEIGHTS and channels == 3
    normalization, value_range = _normalization(
        facts, channels, (IMAGENET_MEAN, IMAGENET_STD) if known else None, notes,
        f"ImageNet statistics, as smp's {weights} encoder weights expect" if known else
        f"the config says encoder_weights {weights!r}, whose normalisation segdash does not know",
    )  # fmt: skip
    shutil.copyfile(src / CONFIG_FILE, tmp / CONFIG_FILE)
    shutil.copyfile(src / WEIGHTS_FILE, tmp / WEIGHTS_FILE)
    return _meta(str(config["_model_class"]), str(config.get("encoder_name", "resnet34")), classes, colors, channels,
                 normalization, value_range, facts, "smp", src)  # fmt: skip


# --- torchvision --------------------------------------------------------------------------------------------


def _read_state_dict(path: Path) -> dict:
    """A state dict from ``.safetensors`` or, for pickle files, ``torch.load(weights_only=True)`` (tensors only);
    a training checkpoint's ``{"model": ...}`` or ``{"state_dict": ...}`` is unwrapped, DataParallel's "module."
    prefix dropped."""
    import torch

    from segdash.models.families.base import MAX_PARAMETERS, safetensors_parameters

    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        safetensors_parameters(path)
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise SegdashError(f"{path.name} is corrupt or truncated ({str(exc)[:120]})") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle.UnpicklingError, EOFError, RuntimeError for a truncated zip, ...
            raise SegdashError(f"{path.name} cannot be read as tensors only ({type(exc).__name__}: "
                               f"{(str(exc).splitlines() or [''])[0][:120]}); segdash never unpickles code: save "
                               "model.state_dict() alone, or as safetensors") from None  # fmt: skip
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SegdashError(f"{path.name} is not a state dict (a dictionary of tensors)")
    if sum(v.numel() for v in state.values()) > MAX_PARAMETERS:
        raise SegdashError(f"{path.name} holds more than {MAX_PARAMETERS:,} values")
    if all(str(k).startswith("module.") for k in state):
        state = {str(k)[len("module."):]: v for k, v in state.items()}
    return state


def _import_torchvision(src: Path, tmp: Path, facts: ImportFacts, notes: list[str]):
    from safetensors.torch import save_file

    from segdash.models.families.torchvision import ARCHITECTURES, architecture_name, build_module, head_of, load_state

    if not facts.arch:
        raise SegdashError(f"say which torchvision model {src.name} holds with --arch ({', '.join(ARCHITECTURES)})")
    arch = architecture_name(facts.arch)
    state = _read_state_dict(src)
    count, aux = head_of(state)
    module = build_module(arch, count, aux and not arch.startswith("lraspp"))
    load_state(module, state, src.name)
    default = None
    if count == 21 and facts.classes is None:
        default = _voc_classes(arch)
        notes.append("classes: the 21 PASCAL VOC classes of torchvision's pretrained weights (give --classes if not)")
    classes, colors = _classes(facts, count, default)
    normalization, value_range = _normalization(facts, 3, (IMAGENET_MEAN, IMAGENET_STD), notes,
                                                "ImageNet statistics, torchvision's convention")  # fmt: skip
    state = {k: v.detach().contiguous().clone() for k, v in module.model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    config = {"torchvision_model": arch, "num_classes": count, "aux_loss": bool(aux)}
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return _meta(arch, arch.split("_", 1)[1], classes, colors, 3, normalization, value_range, facts, "torchvision", src)


def _voc_classes(arch: str) -> list[str]:
    import torchvision.models.segmentation as segmentation

    weights = segmentation.LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1  # all share the VOC names
    return [str(name) for name in weights.meta["categories"]]


# --- ONNX -----------------------------------------------------------------------------------------------------


def _import_onnx(src: Path, tmp: Path, facts: ImportFacts, notes: list[str]):
    from segdash.models.families.onnx import GRAPH_FILE, check_graph, graph_shape, open_session

    path = src / GRAPH_FILE if src.is_dir() else src
    session = open_session(path)
    shape = graph_shape(session, path)
    channels = shape.channels or (len(facts.mean) if facts.mean and len(facts.mean) > 1 else 3)
    classes, colors = _classes(facts, shape.classes)
    normalization, value_range = _normalization(facts, channels, None, notes, "an ONNX graph does not say")
    size = shape.height if shape.height else None
    if size and facts.input_size and facts.input_size != size:
        raise SegdashError(f"{path.name} takes a fixed {size}x{size} input; --input-size {facts.input_size} cannot change that")
    check_graph(session, path, len(classes), channels, facts.input_size or size)
    if size:
        notes.append(f"the graph takes a fixed {size}x{size} input: images are fitted to it and the labels back")
    notes.append(f"runs on ONNX Runtime{' (produced by ' + shape.producer + ')' if shape.producer else ''}")
    shutil.copyfile(path, tmp / GRAPH_FILE)
    return _meta("ONNX", "graph", classes, colors, channels, normalization, value_range, facts, "onnx", path, size)
