"""What a training run is asked to do: one dataclass, presets, and JSON round-trip.

    config = TrainConfig.from_preset("quick", dataset="brain-mri", epochs=12)
    config.to_dict()                       # -> run.json["config"], CheckpointMeta.train_config
    TrainConfig.from_dict(config.to_dict()) == config

Every command-line option of ``segdash train`` is a field here, so the dashboard
builds the same object the command line does and ``start_run`` hands it over as
JSON (``segdash train --config run_dir/config.json``).
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


@dataclasses.dataclass
class TrainConfig:
    """All options of one training run (the defaults are the ``quick`` preset).

    Sizes: ``img_size`` is the side of the square the images and masks are
    resized to for training and validation (and the checkpoint's ``input_size``,
    so prediction resizes the same way). ``batch_size`` is per process (per GPU
    under torchrun).
    """

    dataset: str = "brain-mri"
    format: str | None = None
    #: dataset options (``--option KEY=VALUE``), e.g. ``{"label_map": "cityscapes-19"}``
    options: dict[str, str] = dataclasses.field(default_factory=dict)
    train_split: str = "train"
    val_split: str = "val"
    #: use at most this many images of each split (evenly spaced), to try a setup out fast
    limit: int | None = None

    arch: str = "Unet"
    encoder: str = "tu-tf_efficientnet_lite0"
    #: None (random init), "offline" (ImageNet weights shipped in a package), "imagenet" (download)
    pretrained: str | None = "offline"
    freeze_encoder: bool = False

    epochs: int = 12
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    #: share of all steps spent warming the learning rate up linearly (cosine schedule)
    warmup: float = 0.05
    img_size: int = 128
    loss: str = "ce+dice"
    class_weights: str = "none"
    #: oversample images by their rare-class content (classes under 1% of the training pixels): an image is
    #: drawn with weight 1 + this x its rare content relative to the average image's (0: plain shuffling)
    rare_oversample: float = 0.0
    augment: bool = False
    #: also vertical flips and 90-degree rotations (images with no up/down: cells, satellite tiles)
    augment_orientation: bool = False
    #: stop when val mean Dice has not improved for this many epochs (0: never)
    patience: int = 0
    max_minutes: float | None = None
    seed: int = 0

    device: str = "auto"
    #: CPU threads for this process (None: torch's default, one per core); 1 is fastest on a busy machine
    threads: int | None = None
    precision: str = "auto"
    #: DataLoader worker processes; None picks (0 for in-memory data on a CPU)
    workers: int | None = None
    #: keep decoded, resized samples in memory: auto (when they fit in ``cache_mb``), on, off
    cache: str = "auto"
    cache_mb: int = 2048
    #: write a step line to metrics.jsonl every this many steps
    log_every: int = 1
    #: how many ``checkpoints/epoch_K`` folders to keep (the newest); 0 keeps all; ``best`` is always kept
    keep_checkpoints: int = 3
    #: fixed val images whose predictions are saved each epoch (``previews/``)
    preview_images: int = 4
    preset: str | None = "quick"

    def __post_init__(self) -> None:
        if self.pretrained in ("none", ""):  # the command line's word for random init
            self.pretrained = None
        for field in dataclasses.fields(self):
            setattr(self, field.name, _checked_type(field, getattr(self, field.name)))
        self.validate()

    def validate(self) -> TrainConfig:
        """Raise ``SegdashError`` naming the bad option and the valid values."""
        checks = [
            (self.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}; got {self.loss!r}"),
            (
                self.class_weights in CLASS_WEIGHTS,
                f"--class-weights must be one of {', '.join(CLASS_WEIGHTS)}; got {self.class_weights!r}",
            ),
            (self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}"),
            (self.pretrained in PRETRAINED, f"--pretrained must be offline or imagenet; got {self.pretrained!r}"),
            (self.cache in CACHE_MODES, f"--cache must be one of {', '.join(CACHE_MODES)}; got {self.cache!r}"),
            (int(self.epochs) >= 1, f"--epochs must be at least 1; got {self.epochs}"),
            (int(self.batch_size) >= 1, f"--batch-size must be at least 1; got {self.batch_size}"),
            (math.isfinite(self.lr) and self.lr > 0, f"--lr must be a positive number; got {self.lr}"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             f"--weight-decay must be 0 or a positive number; got {self.weight_decay}"),
            (self.epochs <= MAX_EPOCHS, f"--epochs must be at most {MAX_EPOCHS}; got {self.epochs}"),
            (self.batch_size <= MAX_BATCH, f"--batch-size must be at most {MAX_BATCH}; got {self.batch_size}"),
            (self.img_size <= MAX_IMG_SIZE, f"--img-size must be at most {MAX_IMG_SIZE}; got {self.img_size}"),
            (0 <= self.preview_images <= MAX_PREVIEWS,
             f"--preview-images must be 0 to {MAX_PREVIEWS}; got {self.preview_images}"),
            (self.cache_mb >= 0, f"cache_mb must be 0 or more; got {self.cache_mb}"),
            (int(self.img_size) >= 32 and int(self.img_size) % 32 == 0,
             f"--img-size must be a multiple of 32 (the encoders' stride), at least 32; got {self.img_size}"),
            (self.max_minutes is None or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
             f"--max-minutes must be a positive number; got {self.max_minutes}"),
            (int(self.patience) >= 0, f"--patience must be 0 (off) or more; got {self.patience}"),
            (float(self.rare_oversample) >= 0, f"--rare-oversample must be 0 (off) or more; got {self.rare_oversample}"),
            (0 <= self.warmup < 1, f"warmup must be a share of the steps in [0, 1); got {self.warmup}"),
            (self.limit is None or int(self.limit) >= 1, f"--limit must be at least 1; got {self.limit}"),
            (self.threads is None or 1 <= self.threads <= MAX_THREADS,
             f"--threads must be 1 to {MAX_THREADS}; got {self.threads}"),
            (self.workers is None or 0 <= self.workers <= MAX_WORKERS,
             f"--workers must be 0 to {MAX_WORKERS}; got {self.workers}"),
            (int(self.log_every) >= 1, f"--log-every must be at least 1; got {self.log_every}"),
            (int(self.keep_checkpoints) >= 0, f"--keep-checkpoints must be 0 (all) or more; got {self.keep_checkpoints}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SegdashError(message)
        if self.class_weights != "none" and self.loss in ("dice", "focal"):
            raise SegdashError(
                f"--class-weights {self.class_weights} weights the cross-entropy term; use --loss ce or ce+dice "
                f"(the {self.loss} loss takes no class weights)"
            )
        return self

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
    flag = "--" + field.name.replace("_", "-")
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
