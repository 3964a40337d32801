"""What the two transformers families share: reading a ``save_pretrained`` folder safely, and running it.

    folder/  config.json (model_type, id2label, ...)  preprocessor_config.json  model.safetensors

Nothing here imports transformers until a model is built (the catalogue and the sidebar read the JSON
files only). Building never resolves a file name through the Hub: the config object is made from the
checked JSON, the weights are read by segdash (safetensors after checking its header; a
``pytorch_model.bin`` only with ``torch.load(weights_only=True)``, which unpickles tensors and nothing
else), and ``from_pretrained(None, config=..., state_dict=...)`` only puts them in place, with the
library's own renaming of old checkpoints' keys. A config or image processor that names its own code
(``auto_map``) is refused: segdash never runs ``trust_remote_code``.

An image becomes input exactly as the folder's image processor makes it: the predictor hands the module
the image's 0..255 values (the checkpoint's normalisation is the identity; the processor's mean, std and
rescale are in ``meta.preprocessing``), and the module rounds them to 8 bits and calls the processor
itself, resize and crop included, then its ``post_process_semantic_segmentation`` for the scores at the
image's size. So labels equal what ``processor(image)`` -> model -> post-processing gives.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from segdash.errors import SegdashError
from segdash.models.families.base import (
    MAX_PARAMETERS,
    class_names_from_index,
    format_parameters,
    modified,
    read_json_object,
    safetensors_parameters,
)

CONFIG_FILE = "config.json"
PROCESSOR_FILE = "preprocessor_config.json"
SOURCE_FILE = "segdash-source.json"  # written by ``segdash pull``: where the folder came from
SAFETENSORS = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"
PICKLED = "pytorch_model.bin"

#: model_type -> the image processor it is saved with (old folders name a "FeatureExtractor" or nothing)
PER_PIXEL_TYPES = {
    "segformer": "SegformerImageProcessor",
    "upernet": "SegformerImageProcessor",
    "dpt": "DPTImageProcessor",
    "beit": "BeitImageProcessor",
    "data2vec-vision": "BeitImageProcessor",
    "mobilevit": "MobileViTImageProcessor",
    "mobilevitv2": "MobileViTImageProcessor",
    "mobilenet_v2": "MobileNetV2ImageProcessor",
}
MASK_TYPES = {
    "mask2former": "Mask2FormerImageProcessor",
    "maskformer": "MaskFormerImageProcessor",
}
#: transformers types that segment but are refused, with why
REFUSED_TYPES = {
    "oneformer": "OneFormer needs a text tokenizer for its task input and its image processor fetches a class "
                 "file from the Hub; segdash opens MaskFormer and Mask2Former folders",
}  # fmt: skip
PROCESSORS = set(PER_PIXEL_TYPES.values()) | set(MASK_TYPES.values())
#: The largest whole number a transformers config may hold (point counts, vocabularies, image sizes).
MAX_CONFIG_NUMBER = 10_000_000
MAX_LAYERS = 1000
_LAYER_KEY = re.compile(r"(num_\w*layers|depths?|num_hidden_layers)$")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


# --- reading the folder ---------------------------------------------------------------------------------


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json``, checked: no custom code, bounded numbers and class counts (nothing allocated yet)."""
    config = read_json_object(folder / CONFIG_FILE, "config")
    _refuse_custom_code(config, folder / CONFIG_FILE)
    problem = _config_problem(config)
    if problem:
        raise SegdashError(f"{folder / CONFIG_FILE} {problem}; it is not a model segdash loads")
    return config


def model_type(config: dict[str, Any]) -> str:
    value = config.get("model_type")
    return value if isinstance(value, str) else ""


def architecture(config: dict[str, Any]) -> str:
    names = config.get("architectures")
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], str) else ""
    return name if _PLAIN_NAME.fullmatch(name or "-") else ""


def is_segmentation_config(config: dict[str, Any], types: dict[str, str], suffixes: tuple[str, ...]) -> bool:
    """The config is one of ``types`` and, when it names its class, a segmentation head (a DPT saved for depth
    estimation has model_type "dpt" too)."""
    name = architecture(config)
    return model_type(config) in types and (not name or name.endswith(suffixes))


def weights_file(folder: Path) -> Path | None:
    for name in (SAFETENSORS, SHARD_INDEX, PICKLED):
        if (folder / name).is_file():
            return folder / name
    return None


def _refuse_custom_code(data: dict[str, Any], path: Path) -> None:
    if "auto_map" in data or data.get("trust_remote_code"):
        raise SegdashError(
            f"{path} names the model's own code (auto_map): running it would need trust_remote_code, which segdash "
            "never does; use a model whose classes ship with transformers"
        )


def _config_problem(config: dict[str, Any]) -> str | None:
    """What makes a config unsafe to build (None when it is fine): a number or a layer count no real model has,
    a class table out of bounds, or a backbone name that would reach the network."""
    from segdash.models.checkpoint import MAX_CLASSES, MAX_IN_CHANNELS

    labels = config.get("id2label")
    count = len(labels) if isinstance(labels, (dict, list)) else config.get("num_labels", 0)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CLASSES:
        return f"names {count if isinstance(count, int) else '?'} classes; segdash takes 1 to {MAX_CLASSES}"
    if isinstance(config.get("num_labels"), int) and not 1 <= config["num_labels"] <= MAX_CLASSES:
        return f"says num_labels {config['num_labels']}; segdash takes 1 to {MAX_CLASSES}"
    channels = in_channels(config)
    if not 1 <= channels <= MAX_IN_CHANNELS:
        return f"says num_channels {channels}; a model takes 1 to {MAX_IN_CHANNELS}"
    layers = 0
    for key, value in _items(config):
        if isinstance(value, float) and value != value:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_CONFIG_NUMBER:
            return f"holds the number {value:g} ({key}), larger than any real model's setting"
        if _LAYER_KEY.search(key):
            layers += sum(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int))
        if key in ("backbone", "timm_backbone") and isinstance(value, str) and not _PLAIN_NAME.fullmatch(value):
            return f"names backbone {value[:60]!r}, not a plain name (hub names would use the network)"
    if layers > MAX_LAYERS:
        return f"asks for {layers} layers in all, more than any real model"
    return None


def _items(value: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every (key, value) inside a JSON value, the key being the nearest object key (lists keep their key)."""
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in [(str(k), v), *_items(v, str(k))]]
    if isinstance(value, list) and len(value) <= 100_000:
        return [item for v in value for item in ([(key, v)] if not isinstance(v, (dict, list)) else _items(v, key))]
    return []


def in_channels(config: dict[str, Any]) -> int:
    backbone = config.get("backbone_config")
    source = backbone if isinstance(backbone, dict) and "num_channels" not in config else config
    value = source.get("num_channels", 3)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def class_names(config: dict[str, Any], folder: Path) -> list[str]:
    from segdash.models.checkpoint import MAX_CLASSES

    labels = config.get("id2label")
    if labels is None:
        return [f"LABEL_{i}" for i in range(int(config.get("num_labels", 2)))]  # what transformers names them
    return class_names_from_index(labels, f"{folder / CONFIG_FILE} id2label", MAX_CLASSES)


def read_processor(folder: Path, config: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """``preprocessor_config.json`` with its class name settled (old folders: a FeatureExtractor, or none)."""
    path = folder / PROCESSOR_FILE
    if not path.is_file():
        raise SegdashError(
            f"{folder} has no {PROCESSOR_FILE}: it does not say how images were resized and normalised for this "
            "model; save the image processor beside it (processor.save_pretrained(folder))"
        )
    processor = read_json_object(path, "image processor config")
    _refuse_custom_code(processor, path)
    name = str(processor.get("image_processor_type") or processor.get("feature_extractor_type") or "")
    name = name.replace("FeatureExtractor", "ImageProcessor").removesuffix("Fast")
    name = name or types[model_type(config)]
    if name not in PROCESSORS:
        raise SegdashError(f"{path} names image processor {name[:60]!r}; segdash runs {', '.join(sorted(PROCESSORS))}")
    processor["image_processor_type"] = name
    problem = _processor_problem(processor)
    if problem:
        raise SegdashError(f"{path} {problem}")
    return processor


def _processor_problem(processor: dict[str, Any]) -> str | None:
    from segdash.models.checkpoint import MAX_INPUT_SIZE

    for key in ("size", "crop_size"):
        size = processor.get(key)
        values = list(size.values()) if isinstance(size, dict) else [size] if size is not None else []
        if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_INPUT_SIZE for v in values if v is not None):
            return f"sets {key} {str(size)[:60]}; sizes must be whole numbers 1 to {MAX_INPUT_SIZE}"
    for key in ("image_mean", "image_std"):
        values = processor.get(key)
        values = values if isinstance(values, list) else [values] if values is not None else []
        if len(values) > 16 or not all(isinstance(v, (int, float)) and v == v and abs(v) < 1e6 for v in values):
            return f"sets {key} to something other than a few finite numbers"
        if key == "image_std" and any(v <= 0 for v in values):
            return "has an image_std of 0 or below (every input would divide by it)"
    return None


def preprocessing(processor: dict[str, Any], reduce_labels_key: str = "do_reduce_labels") -> dict[str, Any]:
    """What the image processor does, for the model card and the predictor's note ("fit")."""
    facts = {
        "processor": processor["image_processor_type"],
        "fit": describe_fit(processor),
        "rescale": float(processor.get("rescale_factor", 1 / 255)) if processor.get("do_rescale", True) else 1.0,
        "mean": processor.get("image_mean") if processor.get("do_normalize", True) else None,
        "std": processor.get("image_std") if processor.get("do_normalize", True) else None,
        "reduce_labels": bool(processor.get(reduce_labels_key, processor.get("reduce_labels", False))),
        "bgr": bool(processor.get("do_flip_channel_order", False)),
    }
    return {k: v for k, v in facts.items() if v is not None}


def describe_fit(processor: dict[str, Any]) -> str:
    """How the processor fits an image, in words, as the predictor notes it."""
    size = processor.get("size") or {}
    resample = _RESAMPLE.get(processor.get("resample"), "")
    how = f" ({resample})" if resample else ""
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if not processor.get("do_resize", True) or not size:
        text = "run at its own size"
    elif "height" in size and "width" in size:
        verb = "resized to fit" if processor.get("keep_aspect_ratio") else "resized to"
        text = f"{verb} {size['height']}x{size['width']}{how}"
        if processor.get("keep_aspect_ratio"):
            text += " keeping its aspect ratio"
    elif "shortest_edge" in size:
        text = f"resized so its shorter side is {size['shortest_edge']}{how}"
        if size.get("longest_edge"):
            text += f" and its longer side at most {size['longest_edge']}"
    elif "max_height" in size:
        text = f"resized to fit {size['max_height']}x{size['max_width']}{how}"
    else:
        text = f"resized ({', '.join(f'{k} {v}' for k, v in size.items())}){how}"
    multiple = processor.get("size_divisor") or (processor.get("ensure_multiple_of") if processor.get("ensure_multiple_of", 1) > 1 else None)
    if multiple and processor.get("do_resize", True):
        text += f", sides made multiples of {multiple}"
    crop = processor.get("crop_size") or {}
    if processor.get("do_center_crop") and crop:
        text += (f", centre-cropped to {crop.get('height')}x{crop.get('width')} (the labels of the crop are stretched "
                 "over the whole image, as transformers does)")  # fmt: skip
    if processor.get("do_flip_channel_order"):
        text += ", channels in BGR order"
    return f"{text} as the model's image processor does; scores resized back to the image"


def source_of(folder: Path, fallback: str) -> str:
    """Where the folder came from: the Hub id ``segdash pull`` recorded, else ``fallback``."""
    path = folder / SOURCE_FILE
    if path.is_file():
        try:
            record = read_json_object(path, "source record")
        except SegdashError:
            return fallback
        hub = record.get("hub")
        if isinstance(hub, str) and _PLAIN_NAME.fullmatch(hub.replace("/", "")):
            revision = record.get("revision")
            return f"hf:{hub}" + (f"@{str(revision)[:12]}" if isinstance(revision, str) else "")
    return fallback


def folder_meta(folder: Path, family: str, types: dict[str, str], reduce_key: str = "do_reduce_labels"):
    """The ``CheckpointMeta`` of a transformers folder without segdash.json, from its own files."""
    from segdash.data.base import Normalization
    from segdash.data.formats.colors import default_colors
    from segdash.data.pixels import EIGHT_BIT
    from segdash.models.checkpoint import CheckpointMeta

    config = read_config(folder)
    if model_type(config) in REFUSED_TYPES:
        raise SegdashError(f"{folder}: {REFUSED_TYPES[model_type(config)]}")
    classes = class_names(config, folder)
    processor = read_processor(folder, config, types)
    channels = in_channels(config)
    backbone = config.get("backbone_config")
    encoder = backbone.get("model_type") if isinstance(backbone, dict) else None
    encoder = encoder if isinstance(encoder, str) and _PLAIN_NAME.fullmatch(encoder) else model_type(config)
    return CheckpointMeta(
        arch=architecture(config) or model_type(config), encoder=encoder, classes=classes,
        colors=list(default_colors(len(classes))), in_channels=channels,
        # the module applies the processor's own rescale and normalisation to the image's 0..255 values
        normalization=Normalization.identity(channels), input_range=EIGHT_BIT, ignore_index=255, input_size=None,
        family=family, source=source_of(folder, f"transformers folder {folder.name}"),
        preprocessing=preprocessing(processor, reduce_key), created=modified(folder / CONFIG_FILE),
    )  # fmt: skip


def weights_facts(folder: Path) -> dict[str, str]:
    weights = weights_file(folder)
    if weights is None:
        return {}
    if weights.name == SAFETENSORS:
        try:
            return {"weights": f"{SAFETENSORS}, {format_parameters(safetensors_parameters(weights))}"}
        except SegdashError:
            return {"weights": f"{SAFETENSORS} (unreadable)"}
    return {"weights": weights.name}


# --- building the model -----------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_transformers():
    """transformers' loading messages and progress bars off (they would reach the dashboard's log and the CLI)."""
    import warnings

    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _state_dict(folder: Path) -> tuple[dict, int]:
    """The folder's weights as tensors (and how many values they hold), read by segdash, never as code."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = weights_file(folder)
    if weights is None:
        raise SegdashError(f"{folder} has a transformers config but no weights ({SAFETENSORS} or {PICKLED})")
    try:
        if weights.name == SAFETENSORS:
            count = safetensors_parameters(weights)
            return load_file(str(weights), device="cpu"), count
        if weights.name == SHARD_INDEX:
            index = read_json_object(weights, "weights index").get("weight_map")
            shards = sorted(set(index.values())) if isinstance(index, dict) else []
            if not shards or not all(isinstance(s, str) and Path(s).name == s and s.endswith(".safetensors") for s in shards):
                raise SegdashError(f"{weights} does not list safetensors shards in this folder")
            state, count = {}, 0
            for shard in shards:
                count += safetensors_parameters(folder / shard)
                state.update(load_file(str(folder / shard), device="cpu"))
            return state, count
        # pytorch_model.bin: the restricted unpickler rebuilds tensors and refuses any other object
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except SafetensorError as exc:
        raise SegdashError(f"{weights} is corrupt or truncated ({str(exc)[:120]}); re-save or re-download it") from None
    except (OSError, EOFError, RuntimeError, ValueError) as exc:
        raise SegdashError(f"{weights} is not a plain file of tensors ({type(exc).__name__}); segdash unpickles "
                           "tensors only, never code: save the model with save_pretrained (safetensors)") from None
    except Exception as exc:  # pickle.UnpicklingError and what a crafted pickle raises
        raise SegdashError(f"{weights} holds more than tensors ({type(exc).__name__}); segdash unpickles tensors "
                           "only, never code: save the model with save_pretrained (safetensors)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SegdashError(f"{weights} is not a dictionary of tensors (a state dict); save the model with save_pretrained")
    return state, sum(v.numel() for v in state.values())


def build_model(folder: Path, config_dict: dict[str, Any], auto_classes: tuple[str, ...]):
    """The transformers model of a folder, its weights in place; refused when the config asks for more
    parameters than the weights hold, or when any weight is missing (a half-random model answers wrongly)."""
    import transformers

    with quiet_transformers():
        config_class = transformers.CONFIG_MAPPING[model_type(config_dict)]
        settings = {k: v for k, v in config_dict.items() if k not in ("model_type", "transformers_version")}
        if "use_pretrained_backbone" in settings or "backbone" in settings:
            settings["use_pretrained_backbone"] = False  # never fetch backbone weights
        try:
            config = config_class.from_dict(settings)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise SegdashError(f"{folder / CONFIG_FILE} does not describe a {model_type(config_dict)} model: "
                               f"{str(exc)[:160]}") from None  # fmt: skip
        model_class = _model_class(config, auto_classes)
        state, stored = _state_dict(folder)
        wanted = _parameters_on_meta(model_class, config)
        if wanted is not None and (wanted > MAX_PARAMETERS or wanted > 1.25 * stored + 100_000):
            raise SegdashError(f"{folder / CONFIG_FILE} describes a model of {wanted:,} parameters but its weights "
                               f"hold {stored:,} values; the config and the weights do not belong together")  # fmt: skip
        try:
            model, info = model_class.from_pretrained(None, config=config, state_dict=state, output_loading_info=True)
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise SegdashError(f"{folder}: the weights do not fit the model its config describes ({first})") from None
    missing = sorted(info.get("missing_keys") or []) + sorted(str(k[0] if isinstance(k, tuple) else k)
                                                            for k in info.get("mismatched_keys") or [])  # fmt: skip
    if missing:
        raise SegdashError(f"{folder}: the weights lack or misshape {len(missing)} tensor(s) of the model "
                           f"({', '.join(missing[:3])}); it would predict with random parts")  # fmt: skip
    return model.eval().float()


def _model_class(config, auto_classes: tuple[str, ...]):
    import transformers

    for auto_name in auto_classes:
        mapping = getattr(transformers, auto_name)._model_mapping
        if type(config) in mapping:
            return mapping[type(config)]
    raise SegdashError(f"transformers has no segmentation model for model type {config.model_type!r}")


def _parameters_on_meta(model_class, config) -> int | None:
    """How many parameters the config asks for, counted on torch's meta device (no memory); None when the
    model cannot be built there."""
    import torch

    try:
        with torch.device("meta"):
            probe = model_class(config)
    except Exception:  # some models compute buffers with numpy at build time; the weights check still runs
        return None
    return sum(p.numel() for p in probe.parameters())


def make_processor(processor: dict[str, Any]):
    """The folder's image processor, made from its checked settings (no file is read, nothing fetched)."""
    import transformers

    with quiet_transformers():
        cls = getattr(transformers, processor["image_processor_type"])
        settings = {k: v for k, v in processor.items() if k not in ("image_processor_type", "processor_class",
                                                                    "feature_extractor_type")}  # fmt: skip
        try:
            return cls.from_dict(settings)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise SegdashError(f"the image processor's settings do not make a {cls.__name__}: {str(exc)[:160]}") from None
