"""How long a training run will take, from a quick measured step before it starts.

    estimate = estimate_training_time(config, dataset)      # a few seconds on a CPU
    estimate.total_seconds, estimate.describe()             # "about 6 min on this machine (...)"

The model is built as the trainer builds it (architecture, encoder, channels-last, precision,
loss, AdamW) and timed on a random batch of the configured batch size and image size on the
chosen device: one untimed step first (memory allocation and kernel selection make it slow),
then the median of a few timed ones. Validation is timed as one forward pass per batch. Data
loading and augmentation are not measured, so the estimate is a lower bound on a busy machine.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

import torch

from segdash.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class TimeEstimate:
    """Measured seconds per optimisation step and per validation batch, and how many of each a run has."""

    step_seconds: float
    steps_per_epoch: int
    val_batch_seconds: float
    val_batches: int
    epochs: int

    @property
    def epoch_seconds(self) -> float:
        return self.step_seconds * self.steps_per_epoch + self.val_batch_seconds * self.val_batches

    @property
    def total_seconds(self) -> float:
        return self.epoch_seconds * self.epochs

    def describe(self) -> str:
        """'about 6 min on this machine (step 1.2 s x 13 steps x 12 epochs + validation)'."""
        minutes = self.total_seconds / 60
        about = f"about {minutes:.0f} min" if minutes >= 1.5 else f"about {self.total_seconds:.0f} s"
        return (f"{about} on this machine (step {self.step_seconds:.2g} s x {self.steps_per_epoch} steps "
                f"x {self.epochs} epochs + validation)")


def steps_per_epoch(train_images: int, batch_size: int) -> int:
    """The trainer's steps per epoch in one process: the last partial batch is dropped when a full one exists."""
    if train_images > batch_size:
        return train_images // batch_size
    return 1 if train_images else 0


def split_size(dataset, split: str, limit: int | None) -> int:
    """Images of ``split`` a run uses (at most ``limit``)."""
    count = len(dataset.ids(split))
    return count if limit is None else min(count, int(limit))


def measure_step(config: TrainConfig, in_channels: int, num_classes: int, device: str | torch.device | None = None,
                 steps: int = 3) -> tuple[float, float]:
    """(seconds per optimisation step, seconds per validation forward pass) of ``config``'s model.

    Random weights: the weights do not change the time, and loading pretrained ones would.
    """
    from segdash.device import choose_device
    from segdash.models.registry import create_model
    from segdash.train.losses import build_loss
    from segdash.train.trainer import _autocast_dtype

    device = choose_device(device if device is not None else config.device)
    model = create_model(config.arch, config.encoder, in_channels, num_classes, pretrained=None)
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)
    memory_format = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
    model.to(device=device, memory_format=memory_format).train()
    weights = None if config.class_weights == "none" else [1.0] * num_classes  # same loss path, any weights
    criterion = build_loss(config.loss, num_classes, None, weights).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    autocast_dtype = _autocast_dtype(config.precision, device)
    generator = torch.Generator().manual_seed(0)
    shape = (config.batch_size, in_channels, config.img_size, config.img_size)
    images = torch.randn(shape, generator=generator).to(device).contiguous(memory_format=memory_format)
    masks = torch.randint(0, num_classes, (shape[0], *shape[2:]), generator=generator).to(device)

    def forward() -> torch.Tensor:
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            return model(images)

    def step() -> None:
        loss = criterion(forward().float(), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # untimed: the first step allocates memory and picks kernels
    step_seconds = _median_seconds(step, steps, device)
    model.eval()
    with torch.inference_mode():
        val_seconds = _median_seconds(forward, 1, device)
    return step_seconds, val_seconds


def _median_seconds(work, repeats: int, device: torch.device) -> float:
    """The median time of ``repeats`` calls: one step slowed by another process does not skew it."""
    times = []
    for _ in range(max(1, repeats)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def estimate_training_time(config: TrainConfig, dataset, device: str | torch.device | None = None,
                           steps: int = 3) -> TimeEstimate:
    """A ``TimeEstimate`` for training ``config`` on ``dataset`` (its train and val split sizes, classes)."""
    step_seconds, val_seconds = measure_step(config, dataset.in_channels, dataset.num_classes, device, steps)
    train_images = split_size(dataset, config.train_split, config.limit)
    val_images = split_size(dataset, config.val_split, config.limit)
    return TimeEstimate(step_seconds, steps_per_epoch(train_images, config.batch_size), val_seconds,
                        math.ceil(val_images / config.batch_size), config.epochs)
