"""What a training run is asked to do: one dataclass, presets, and JSON round-trip.

    config = TrainConfig.from_preset("quick", dataset="brain-mri", epochs=12)
    config.to_dict()                       # -> run.json["config"], CheckpointMeta.train_config
    TrainConfig.from_dict(config.to_dict()) == config

Every option is declared once, here: a dataclass field whose ``Option`` metadata holds its help
text, choices, bounds and command-line flag. ``segdash train``'s parser is built from these
fields (``segdash.cli.train``), the dashboard's Train form takes its labels, help and bounds from
them, and ``validate`` checks the choices and bounds they state. The dashboard builds the same
object the command line does and ``start_run`` hands it over as JSON
(``segdash train --config run_dir/config.json``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from segdash.errors import SegdashError

LOSSES = ("ce", "dice", "ce+dice", "focal")
CLASS_WEIGHTS = ("none", "inverse", "median")
SCHEDULES = ("cosine", "onecycle", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRETRAINED = (None, "offline", "imagenet")
CACHE_MODES = ("auto", "on", "off")
#: Upper bounds checked before anything is allocated (far above any run this tool is for).
MAX_EPOCHS, MAX_BATCH, MAX_IMG_SIZE, MAX_PREVIEWS, MAX_THREADS, MAX_WORKERS = 100_000, 4096, 4096, 64, 1024, 64


@dataclasses.dataclass(frozen=True)
class Option:
    """How one training option is described and checked (the metadata of a ``TrainConfig`` field).

    ``flag``: the command-line flag (default ``--field-name``); a name without dashes is a
    positional argument; ``""`` means the option is set only through ``--config`` JSON.
    ``group``: the ``--help`` section (None: the top). ``minimum``/``maximum`` are hard limits that
    ``validate`` enforces; ``form_max`` is the form's sensible upper end, below the hard limit.
    ``resumable``: a resumed run may change it. ``show_default``: ``--help`` adds the quick preset's value.
    """

    help: str
    label: str = ""
    group: str | None = "optimisation"
    flag: str | None = None
    short: str | None = None
    metavar: str | None = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    form_max: float | None = None
    resumable: bool = False
    show_default: bool = True


def option(default: Any, **described: Any) -> Any:
    """A dataclass field with this default, carrying its ``Option`` (help text, choices, bounds, flag)."""
    return dataclasses.field(default=default, metadata={"option": Option(**described)})


@dataclasses.dataclass
class TrainConfig:
    """All options of one training run (the defaults are the ``quick`` preset).

    Sizes: ``img_size`` is the side of the square the images and masks are
    resized to for training and validation (and the checkpoint's ``input_size``,
    so prediction resizes the same way). ``batch_size`` is per process (per GPU
    under torchrun).
    """

    dataset: str = option("brain-mri", flag="dataset", group=None, show_default=False,
                          help="built-in dataset name or folder (with --format); default brain-mri")
    format: str | None = option(None, short="-f", group=None,
                                help="the folder's layout when DATASET is a path (see 'segdash datasets')")
    options: dict[str, str] = dataclasses.field(default_factory=dict, metadata={"option": Option(
        flag="--option", short="-o", metavar="KEY=VALUE", group=None, show_default=False, help="a dataset format option, repeatable")})
    train_split: str = option("train", flag="", help="the split to train on")
    val_split: str = option("val", flag="", help="the split to validate on")
    limit: int | None = option(None, minimum=1, group=None,
                               help="use at most N images of each split (evenly spaced), to try a setup")

    arch: str = option("Unet", group="model", label="Architecture",
                       help="architecture, e.g. Unet, FPN, DeepLabV3Plus, Segformer")
    encoder: str = option("tu-tf_efficientnet_lite0", group="model", label="Encoder",
                          help="encoder, e.g. tu-tf_efficientnet_lite0, resnet34")
    pretrained: str | None = option(
        "offline", group="model", choices=("offline", "imagenet", "none"), show_default=False,
        label="Offline ImageNet weights",
        help="ImageNet encoder weights: offline (shipped in a package; EfficientNet-Lite0 only), "
             "imagenet (download), none (random init). Default: offline for the quick preset")
    freeze_encoder: bool = option(False, group="model", help="train the decoder only")

    epochs: int = option(12, minimum=1, maximum=MAX_EPOCHS, form_max=500, resumable=True, label="Epochs",
                         help="passes over the training split")
    batch_size: int = option(16, minimum=1, maximum=MAX_BATCH, form_max=256, label="Batch size",
                             help="images per step (per process under torchrun)")
    lr: float = option(3e-3, label="Learning rate", help="peak learning rate of AdamW")
    weight_decay: float = option(1e-4, help="AdamW weight decay")
    schedule: str = option("cosine", choices=SCHEDULES, help="learning-rate schedule per step (cosine has a warm-up)")
    warmup: float = option(0.05, flag="",
                           help="share of all steps spent warming the learning rate up linearly (cosine schedule)")
    img_size: int = option(128, minimum=32, maximum=MAX_IMG_SIZE, form_max=512, label="Image size",
                           help="train on SxS resized images (multiple of 32)")
    loss: str = option("ce+dice", choices=LOSSES, label="Loss", help="training loss")
    class_weights: str = option("none", choices=CLASS_WEIGHTS, label="Class weights", show_default=False,
                                help="weight the cross-entropy by inverse or median class frequency (losses ce, ce+dice)")
    weight_floor: float = option(0.0, minimum=0, form_max=10, show_default=False, label="Class-weight floor",
                                 help="with --class-weights: raise every class's weight to at least this (e.g. 0.25), "
                                      "so the frequent classes are damped less (0: off)")
    rare_oversample: float = option(
        0.0, minimum=0, form_max=10, metavar="STRENGTH", show_default=False, label="Rare-class oversampling",
        help="draw images holding classes under 1% of the training pixels more often: weight 1 + "
             "STRENGTH x the image's rare content relative to the average image's (0: off)")
    augment: bool = option(False, label="Augmentation (flips, scale/crop, brightness/contrast, blur)",
                           help="flips, small affine scale/rotate, brightness/contrast, blur (same geometry for the mask)")
    augment_orientation: bool = option(
        False, help="with --augment: also vertical flips and 90-degree turns (no natural up/down)")
    patience: int = option(0, minimum=0, resumable=True, show_default=False,
                           help="early stopping: epochs without val Dice gain (0: off)")
    max_minutes: float | None = option(None, resumable=True, label="Time limit (min)",
                                       help="stop after this much training time (validates and saves first)")
    seed: int = option(0, help="seed for weights init, shuffling and augmentation")

    device: str = option("auto", group="machine", resumable=True, show_default=False,
                         help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    # one thread is fastest on a busy machine; None keeps torch's default of one per core
    threads: int | None = option(None, group="machine", minimum=1, maximum=MAX_THREADS, resumable=True,
                                 help="CPU threads for the model (default: one per core)")
    precision: str = option("auto", group="machine", choices=PRECISIONS, resumable=True, show_default=False,
                            help="auto: mixed precision on CUDA, fp32 on CPU")
    workers: int | None = option(None, group="machine", minimum=0, maximum=MAX_WORKERS, resumable=True,
                                 help="DataLoader worker processes (default: chosen for the device)")
    cache: str = option("auto", group="machine", choices=CACHE_MODES, show_default=False,
                        help="keep resized samples in memory (auto: when they fit in 2 GB)")
    cache_mb: int = option(2048, flag="", minimum=0, help="memory the sample cache may use, in MB")
    log_every: int = option(1, group="machine", minimum=1, show_default=False,
                            help="write a step line every N steps")
    keep_checkpoints: int = option(3, group="machine", minimum=0, resumable=True, show_default=False,
                                   help="newest epoch checkpoints to keep (0: all; best is always kept)")
    preview_images: int = option(4, group="machine", minimum=0, maximum=MAX_PREVIEWS, show_default=False,
                                 help="val images whose predictions are saved each epoch")
    preset: str | None = option("quick", flag="", help="the option set this run started from")

    def __post_init__(self) -> None:
        if self.pretrained in ("none", ""):  # the command line's word for random init
            self.pretrained = None
        for field in dataclasses.fields(self):
            setattr(self, field.name, _checked_type(field, getattr(self, field.name)))
        self.validate()

    def validate(self) -> TrainConfig:
        """Raise ``SegdashError`` naming the bad option and the valid values."""
        for field in dataclasses.fields(self):
            message = _out_of_bounds(field, getattr(self, field.name))
            if message:
                raise SegdashError(message)
        checks = [
            (self.pretrained in PRETRAINED, f"--pretrained must be offline or imagenet; got {self.pretrained!r}"),
            (math.isfinite(self.lr) and self.lr > 0, f"--lr must be a positive number; got {self.lr}"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             f"--weight-decay must be 0 or a positive number; got {self.weight_decay}"),
            (self.img_size % 32 == 0, f"--img-size must be a multiple of 32 (the encoders' stride); got {self.img_size}"),
            (self.max_minutes is None or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
             f"--max-minutes must be a positive number; got {self.max_minutes}"),
            (0 <= self.warmup < 1, f"warmup must be a share of the steps in [0, 1); got {self.warmup}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SegdashError(message)
        for field in dataclasses.fields(self):  # nan passes every bound (each comparison is false) and breaks run.json
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SegdashError(f"{flag_name(field)} must be a finite number; got {value}")
        if self.weight_floor > 0 and self.class_weights == "none":
            raise SegdashError("--weight-floor raises class weights: add --class-weights inverse or median")
        if self.class_weights != "none" and self.loss in ("dice", "focal"):
            raise SegdashError(
                f"--class-weights {self.class_weights} weights the cross-entropy term; use --loss ce or ce+dice "
                f"(the {self.loss} loss takes no class weights)"
            )
        return self

    @staticmethod
    def option(name: str) -> Option:
        """The ``Option`` (help, label, choices, bounds, flag) of the field ``name``."""
        return _FIELDS[name].metadata["option"]

    # --- JSON round-trip -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SegdashError(f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_json_file(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SegdashError(f"config file {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SegdashError(f"config file {path} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict):  # a run.json works too
            data = data["config"]
        if not isinstance(data, dict):
            raise SegdashError(f"config file {path} must hold a JSON object of training options")
        return cls.from_dict(data)

    @classmethod
    def from_preset(cls, preset: str | None = "quick", **overrides: Any) -> TrainConfig:
        """The preset's values, then ``overrides`` (options left as None are not overrides)."""
        name = preset or "quick"
        if name not in PRESETS:
            raise SegdashError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
        values = {**PRESETS[name], "preset": name}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)


def _checked_type(field: dataclasses.Field, value: Any) -> Any:
    """``value`` as the field's type (an int given as 3.0 becomes 3), or a one-line SegdashError.

    A config.json is user input: ``"epochs": "ten"`` must say which option is wrong, not trace.
    """
    kind = str(field.type).split(" | ")[0]
    optional = "None" in str(field.type)
    flag = "--" + field.name.replace("_", "-")  # a config.json's key, as a flag
    if value is None and optional:
        return None
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "str" and isinstance(value, str):
        return value
    if kind.startswith("dict") and isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in value.items()
    ):
        return {k: str(v) for k, v in value.items()}
    wanted = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a string"}.get(
        kind, "an object of KEY: VALUE strings"
    )
    raise SegdashError(f"{flag} must be {wanted}{' or null' if optional else ''}; got {json.dumps(value, default=str)[:60]}")


def flag_name(field: dataclasses.Field) -> str:
    """How messages name an option: its command-line flag, ``--field-name`` for JSON-only ones."""
    flag = field.metadata["option"].flag
    return flag if flag and flag.startswith("-") else "--" + field.name.replace("_", "-")


def _out_of_bounds(field: dataclasses.Field, value: Any) -> str | None:
    """Why ``value`` breaks the field's stated choices or bounds, or None (None values are "not set")."""
    described: Option = field.metadata["option"]
    flag = flag_name(field)
    if value is None or field.name == "pretrained":  # pretrained's CLI word "none" is the value None
        return None
    if described.choices and value not in described.choices:
        return f"{flag} must be one of {', '.join(described.choices)}; got {value!r}"
    low, high = described.minimum, described.maximum
    if low is not None and high is not None and not low <= value <= high:
        return f"{flag} must be {low:g} to {high:g}; got {value}"
    if low is not None and value < low:
        return f"{flag} must be at least {low:g}{' (0: off)' if low == 0 else ''}; got {value}"
    return None


#: Named option sets; each is applied on top of the dataclass defaults.
#:
#: ``quick``: Unet + offline-pretrained EfficientNet-Lite0 at 128 px, 12 epochs of
#: the 220 brain-mri training slices: about 2 minutes on a 2-core CPU, test mean
#: Dice over CSF/GM/WM above 0.80 (figures in weights/README.md).
#: ``full``: the shipped brain-mri quality run (native 192 px, 20 epochs, early stopping).
#: ``smoke``: the smallest useful run, for tests and trying a setup out.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {},
    "full": {"img_size": 192, "epochs": 20, "batch_size": 8, "lr": 2e-3, "patience": 8},
    "smoke": {"img_size": 64, "epochs": 1, "batch_size": 4, "preview_images": 2, "keep_checkpoints": 2},
}

PRESET_SUMMARIES: dict[str, str] = {
    "quick": "Unet + EfficientNet-Lite0 (offline ImageNet), 128 px, 12 epochs: a few CPU minutes on brain-mri",
    "full": "same model at 192 px (brain-mri's native size), 20 epochs, early stopping: the shipped quality",
    "smoke": "64 px, 1 epoch: checks that a setup runs",
}

_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}
