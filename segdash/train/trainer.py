"""The training loop, as a few named steps that read top to bottom (nanoGPT's habit).

    python -m segdash train brain-mri --out runs/brain            # the quick preset
    torchrun --nproc_per_node=2 -m segdash train brain-mri --device cpu --out runs/ddp

    from segdash.train import TrainConfig, train
    result = train(TrainConfig(epochs=3), "runs/brain")

What one run does (``_train``): ``prepare_run`` opens the dataset, decodes and resizes it once
into memory and builds the model (smp via ``segdash.models``), loss and AdamW; then per epoch
``train_one_epoch`` (a per-step learning-rate schedule), ``validate`` (one confusion matrix ->
Dice/IoU per class), ``save_checkpoints`` (``checkpoints/epoch_K``, and ``best/`` for the highest
val mean Dice, not accuracy: background-heavy images give a high accuracy to a model that has not
learnt the small classes) and ``report_epoch``; everything streams to the run directory
(``segdash.train.rundir``). The run's state travels in one ``Run`` object.

Ends: ``finished`` (all epochs, the time limit, or early stopping), ``stopped``
(a STOP file or SIGTERM/SIGINT: after the current step, with a checkpoint),
``failed`` (NaN/inf loss, out of memory, or any error: the reason in run.json). A NaN/inf
loss in training or validation ends the run as "diverged at epoch E, step S" before anything
is saved from the broken weights, so every earlier checkpoint stays as it was.

One process per run folder: the main process holds ``run.lock`` (``rundir.lock_run``) from
before its first write to its end; a second start or resume of a live run is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from segdash.data.splits import evenly_spaced_indices
from segdash.errors import SegdashError
from segdash.jsonsafe import finite_or_none, json_tree
from segdash.models.outputs import class_labels
from segdash.train import distributed as D
from segdash.train.config import TrainConfig
from segdash.train.data import (
    InMemorySplit,
    LazySplit,
    WeightedShardSampler,
    estimated_cache_mb,
    image_class_pixels,
    loader_workers,
    normalize_batch,
    rare_class_weights,
    training_intensity,
)
from segdash.train.rundir import (
    BEST_NAME,
    CHECKPOINTS_DIR,
    LAST_NAME,
    PREVIEWS_DIR,
    RESUME_FILE,
    RUN_FILE,
    RunWriter,
    adopt_or_lock_run,
    clean_leftovers,
    drop_metrics_after,
    epoch_dir_name,
    swap_dir,
)


class TrainingFailed(SegdashError):
    """The run could not go on (NaN loss, out of memory); the reason is also in run.json."""


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    status: str  # finished | stopped | failed
    epochs_done: int
    best_epoch: int | None
    best_val_mean_dice: float | None
    stop_reason: str | None = None
    error: str | None = None
    seconds: float = 0.0


class _StopSignal:
    """SIGTERM/SIGINT set a flag the loop checks after each step; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.reason is not None:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, echo: bool = True) -> RunResult:
    """Run (or, with ``resume``, continue) training into ``run_dir``; see the module docstring.

    Returns how the run ended. User errors raise ``SegdashError`` after run.json
    records them (status failed); a stop is not an error.
    """
    run_dir = Path(run_dir)
    # Checked before anything is written: a refused resume (finished run, no checkpoint) changes nothing.
    resume_state = _read_resume_state(run_dir, config.epochs) if resume else None
    if config.threads:
        torch.set_num_threads(int(config.threads))  # this process only (a training run is its own process)
    info = D.setup(config.device)
    writer, lock_fd = None, None
    try:
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            lock_fd = adopt_or_lock_run(run_dir)  # a live run's folder: RunBusy, and nothing written
            writer = RunWriter(run_dir)
        with _StopSignal() as stop_signal:
            return _train(config, run_dir, resume_state, info, writer, stop_signal, echo)
    except torch.OutOfMemoryError:
        message = (
            f"out of GPU memory at batch size {config.batch_size} and image size {config.img_size}: "
            "try a smaller --batch-size or --img-size"
        )
        _record_failure(writer, message)
        raise TrainingFailed(message) from None
    except SegdashError as exc:
        _record_failure(writer, str(exc))
        raise
    except BaseException as exc:
        _record_failure(writer, f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise
    finally:
        D.teardown(info)
        if lock_fd is not None:
            os.close(lock_fd)  # releases run.lock (the kernel does the same if the process is killed)


def _record_failure(writer: RunWriter | None, message: str) -> None:
    if writer is not None and writer.state:
        writer.finish("failed", error=message)


def _say(echo: bool, info: D.DistInfo, message: str) -> None:
    if echo and info.is_main:
        print(message, flush=True)


# --- the run's state ---------------------------------------------------------------------


@dataclasses.dataclass
class RunCounters:
    """Where the run stands: what each step and epoch move on, and what a resume restores."""

    global_step: int = 0
    best_dice: float = -1.0
    best_epoch: int | None = None
    stale_epochs: int = 0
    #: training time of this run's earlier processes (a resumed run counts on from there)
    seconds_before: float = 0.0
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def note_val_dice(self, epoch: int, dice: float | None) -> bool:
        """Count an epoch's val mean Dice; True when it is the best so far."""
        improved = dice is not None and dice > self.best_dice + 1e-6
        if improved:
            self.best_dice, self.best_epoch, self.stale_epochs = dice, epoch, 0
        else:
            self.stale_epochs += 1
        return improved


@dataclasses.dataclass
class RunData:
    """The dataset, its splits decoded once, and the loaders that feed this process."""

    ds: Any
    train_set: Any
    val_set: Any
    preview_set: InMemorySplit | None
    in_memory: bool
    workers: int
    sampler: Any
    #: reseeded every epoch: worker seeds, so a resumed epoch draws what the first attempt drew
    loader_rng: torch.Generator
    train_loader: DataLoader
    val_loader: DataLoader
    normalization: Any
    input_range: Any
    intensity: Any


@dataclasses.dataclass
class Run:
    """Everything one training process works with: options, data, model, optimiser, counters."""

    config: TrainConfig
    run_dir: Path
    info: D.DistInfo
    writer: RunWriter | None  # None on every process but the main one
    stop_signal: _StopSignal
    echo: bool
    data: RunData
    model: nn.Module  # what the step calls (DDP-wrapped under torchrun)
    raw_model: nn.Module  # what is validated and saved
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    autocast_dtype: torch.dtype | None
    memory_format: torch.memory_format
    class_weights: list[float] | None
    trainable: list[nn.Parameter]
    counters: RunCounters

    @property
    def device(self) -> torch.device:
        return self.info.device

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data.train_loader)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    def say(self, message: str) -> None:
        _say(self.echo, self.info, message)

    def forward(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Stored (N, C, S, S) images -> (N, classes, S, S) logits, normalised and in the run's precision."""
        device = self.device
        images = normalize_batch(images.to(device, non_blocking=True), self.data.normalization)
        images = images.contiguous(memory_format=self.memory_format)
        with torch.autocast(device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            return model(images)


@dataclasses.dataclass
class EpochRun:
    """How one epoch's training went: its losses, and why it ended early ("stop", "time") if it did."""

    losses: list[float]
    step_in_epoch: int
    interrupted: str | None = None
    stop_reason: str | None = None


# --- the loop, top to bottom ------------------------------------------------------------


def _train(config: TrainConfig, run_dir: Path, resume_state: dict[str, Any] | None, info: D.DistInfo,
           writer: RunWriter | None, stop_signal: _StopSignal, echo: bool) -> RunResult:
    counters = RunCounters()
    start_epoch, skip_steps = _resume_point(resume_state)
    if resume_state is not None:
        counters.global_step = int(resume_state["global_step"])
    begin_run(config, run_dir, resume_state, info, writer, start_epoch, counters.global_step)
    run = prepare_run(config, run_dir, info, writer, stop_signal, echo, counters, resume_state)
    if resume_state is not None:
        restore(run, resume_state, start_epoch)
    announce(run)

    deadline = counters.started + 60 * config.max_minutes if config.max_minutes else math.inf
    status, stop_reason, epochs_done = "finished", None, start_epoch - 1
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        done = train_one_epoch(run, epoch, skip_steps, deadline)
        skip_steps = 0
        stop_reason = done.stop_reason
        if done.interrupted == "stop":  # quick exit: weights and optimiser state, no validation
            status = "stopped"
            save_stopped(run, epoch, done.step_in_epoch)
            run.say(f"stopped at epoch {epoch}, step {counters.global_step} ({stop_reason}); checkpoint saved")
            break
        val = validate(run)
        if val["val_loss"] is not None and not math.isfinite(val["val_loss"]):
            raise _diverged(epoch, counters.global_step, f"the validation loss became {val['val_loss']}",
                            run.scheduler.get_last_lr()[0])
        epochs_done = epoch
        improved = counters.note_val_dice(epoch, val["val_mean_dice"])
        record = epoch_record(run, epoch, done, val, time.perf_counter() - started)
        log_epoch(run, record)
        save_checkpoints(run, epoch, record, improved, done.step_in_epoch)
        report_epoch(run, record, improved)
        if done.interrupted == "time":
            break
        if config.patience and counters.stale_epochs >= config.patience:
            stop_reason = f"early stopping (no val Dice gain in {config.patience} epochs)"
            run.say(stop_reason)
            break
    return finish_run(run, status, stop_reason, epochs_done)


# --- the steps ------------------------------------------------------------------------------


def begin_run(config: TrainConfig, run_dir: Path, resume_state: dict[str, Any] | None, info: D.DistInfo,
              writer: RunWriter | None, start_epoch: int, global_step: int) -> None:
    """Tidy the run folder after a killed process and say in run.json that the run is loading its data."""
    from segdash.device import describe_device

    if writer is None:
        return
    for folder in (run_dir, run_dir / CHECKPOINTS_DIR, run_dir / PREVIEWS_DIR):
        clean_leftovers(folder)  # a killed run's temporaries and half-done swaps
    if resume_state is not None:
        drop_metrics_after(run_dir, global_step, start_epoch)  # what comes next would repeat them
    writer.start(config.to_dict(), phase="loading data", device=describe_device(info.device),
                 world_size=info.world_size, resumed_from=resume_state and resume_state["checkpoint"],
                 clear_stop=resume_state is not None, epoch=start_epoch - 1, step=global_step)


def prepare_run(config: TrainConfig, run_dir: Path, info: D.DistInfo, writer: RunWriter | None,
                stop_signal: _StopSignal, echo: bool, counters: RunCounters,
                resume_state: dict[str, Any] | None) -> Run:
    """Seed, load the data, build the model, loss and optimiser (in this order: the seeds depend on it)."""
    from segdash.models.registry import create_model
    from segdash.train.losses import build_loss

    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    data = prepare_data(config, info, echo)
    ds, device = data.ds, info.device
    model = create_model(config.arch, config.encoder, ds.in_channels, ds.num_classes, pretrained=config.pretrained)
    if resume_state is not None:
        _load_weights(model, run_dir / "checkpoints" / resume_state["checkpoint"])
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)
    channels_last = device.type in ("cpu", "cuda")  # 3-4x faster convolutions on CPU (oneDNN), tensor cores on GPU
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    stepped = model
    if info.distributed:
        stepped = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    class_weights = _class_weights(config, ds)
    criterion = build_loss(config.loss, ds.num_classes, ds.ignore_index, class_weights).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _make_scheduler(optimizer, config, len(data.train_loader) * config.epochs)
    autocast_dtype = _autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return Run(config, run_dir, info, writer, stop_signal, echo, data, stepped, model, criterion, optimizer,
               scheduler, scaler, autocast_dtype, memory_format, class_weights, trainable, counters)


def prepare_data(config: TrainConfig, info: D.DistInfo, echo: bool) -> RunData:
    """Open the dataset, decode and resize its splits (once, into memory when they fit), and build the loaders."""
    from segdash.data import open_dataset
    from segdash.models.registry import recommended_normalization

    ds = open_dataset(config.dataset, format=config.format, **config.options)
    for split in (config.train_split, config.val_split):
        ds.check_split(split)
        if not ds.has_masks(split):
            raise SegdashError(f"split {split!r} of {ds.name!r} has no masks; training and validation need masks")
    in_memory = config.cache == "on" or (
        config.cache == "auto"
        and estimated_cache_mb(ds, [config.train_split, config.val_split], config.img_size, config.limit)
        <= config.cache_mb
    )
    t0 = time.perf_counter()
    train_set, val_set, preview_set = _load_splits(config, ds, in_memory)
    _say(echo, info, f"data: {ds.name} train={len(train_set)} val={len(val_set)} at {config.img_size}px, "
         f"{'in memory' if in_memory else 'read per step'} ({time.perf_counter() - t0:.1f}s)")
    if config.augment:
        from segdash.train.augment import build_augmentation

        train_set = train_set.with_transform(build_augmentation(ds.ignore_index, config.augment_orientation))
    input_range, intensity = training_intensity(ds, config.train_split)
    normalization = ds.normalization
    if config.pretrained and ds.in_channels == 3:  # ImageNet weights expect their own input statistics
        normalization = recommended_normalization(config.encoder, 3) or normalization
    sampler = _train_sampler(config, train_set, ds.num_classes, info, echo)
    workers = config.workers if config.workers is not None else loader_workers(info.device, in_memory)
    loader_rng = torch.Generator()
    pin = info.device.type == "cuda"
    # A last batch of one image can break BatchNorm in training mode: drop the remainder when a full batch exists.
    train_loader = DataLoader(
        train_set, batch_size=config.batch_size, sampler=sampler, num_workers=workers, pin_memory=pin,
        drop_last=len(sampler) > config.batch_size, generator=loader_rng,
    )
    # Validation: each process takes every world_size-th image (no padding, so no image counts twice).
    val_shard = Subset(val_set, range(info.rank, len(val_set), info.world_size))
    val_loader = DataLoader(val_shard, batch_size=config.batch_size, num_workers=workers, pin_memory=pin)
    return RunData(ds, train_set, val_set, preview_set, in_memory, workers, sampler, loader_rng, train_loader,
                   val_loader, normalization, input_range, intensity)


def _load_splits(config: TrainConfig, ds, in_memory: bool) -> tuple[Any, Any, InMemorySplit | None]:
    """(train, val, preview) sets: at most ``limit`` evenly spaced images each, previews fixed val images."""
    train_indices = _subset(len(ds.ids(config.train_split)), config.limit)
    val_indices = _subset(len(ds.ids(config.val_split)), config.limit)
    split_type = InMemorySplit.load if in_memory else LazySplit
    train_set = split_type(ds, config.train_split, config.img_size, indices=train_indices)
    val_set = split_type(ds, config.val_split, config.img_size, indices=val_indices)
    preview_set = None
    if config.preview_images > 0:
        chosen = evenly_spaced_indices(len(val_set), config.preview_images)
        preview_set = InMemorySplit.load(ds, config.val_split, config.img_size,
                                         indices=[val_indices[i] for i in chosen] if val_indices else chosen)
    return train_set, val_set, preview_set


def _subset(n_images: int, limit: int | None) -> list[int] | None:
    """The indices of at most ``limit`` evenly spaced images of a split, None for all of them."""
    return None if limit is None or limit >= n_images else evenly_spaced_indices(n_images, limit)


def _train_sampler(config: TrainConfig, train_set, num_classes: int, info: D.DistInfo, echo: bool):
    """Each process's share of a shuffled epoch; with ``rare_oversample``, images rich in rare classes drawn
    more often (the same draw in every process)."""
    if config.rare_oversample > 0:
        weights = rare_class_weights(image_class_pixels(train_set, num_classes), config.rare_oversample)
        _say(echo, info, f"rare-class oversampling: image weights {weights.min():.2f} to {weights.max():.2f}")
        return WeightedShardSampler(weights, num_replicas=info.world_size, rank=info.rank, seed=config.seed)
    return DistributedSampler(
        train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=config.seed, drop_last=False
    )


def _class_weights(config: TrainConfig, ds) -> list[float] | None:
    """The cross-entropy's class weights from the training split's pixel counts (None: unweighted)."""
    if config.class_weights == "none":
        return None
    from segdash.data.stats import class_statistics

    stats = class_statistics(ds, config.train_split)
    return [float(w) for w in stats.class_weights(config.class_weights, floor=config.weight_floor)]


def restore(run: Run, resume_state: dict[str, Any], start_epoch: int) -> None:
    """Optimiser, schedule, scaler and counters as the resumed run left them (its weights are already loaded)."""
    if resume_state.get("schedule_steps") not in (None, run.total_steps) and run.config.schedule == "onecycle":
        raise SegdashError("a one-cycle schedule cannot change length: resume with the run's original --epochs")
    run.optimizer.load_state_dict(resume_state["optimizer"])
    run.scheduler.load_state_dict(resume_state["scheduler"])
    run.scaler.load_state_dict(resume_state["scaler"])
    counters = run.counters
    counters.best_dice, counters.stale_epochs = float(resume_state["best_dice"]), int(resume_state["stale_epochs"])
    best_epoch = resume_state["best_epoch"]
    counters.best_epoch = int(best_epoch) if best_epoch is not None and int(best_epoch) > 0 else None
    counters.seconds_before = float(resume_state["seconds"])
    run.say(f"resuming from {resume_state['checkpoint']}: epoch {start_epoch}, step {counters.global_step}")


def announce(run: Run) -> None:
    """run.json's description of the training about to start, the previews' inputs, and a line to the console."""
    from segdash.device import describe_device

    config, data, ds = run.config, run.data, run.data.ds
    if run.writer is not None:
        precision = str(run.autocast_dtype).replace("torch.", "") if run.autocast_dtype else "fp32"
        run.writer.update(
            phase="training", epochs=config.epochs, steps_per_epoch=run.steps_per_epoch, classes=list(ds.classes),
            colors=[list(c) for c in ds.colors], train_images=len(data.train_set), val_images=len(data.val_set),
            in_memory=data.in_memory, workers=data.workers, precision=precision,
            class_weights=run.class_weights, normalization=data.normalization.to_dict(),
        )
        previews = data.preview_set
        if previews is not None and config.preview_images:
            sizes = [ds.load(config.val_split, sample_id)[0].shape[:2] for sample_id in previews.ids]
            run.writer.write_preview_inputs(previews.images.numpy(), previews.masks.numpy(), previews.ids, sizes)
    run.say(f"model: {config.arch} + {config.encoder} ({sum(p.numel() for p in run.trainable) / 1e6:.1f}M "
            f"trainable) on {describe_device(run.device)} x{run.info.world_size}, {run.steps_per_epoch} steps/epoch")


def train_one_epoch(run: Run, epoch: int, skip_steps: int, deadline: float) -> EpochRun:
    """One pass over this process's share of the training split (the first ``skip_steps`` were done before a
    resume); ends early on a stop request or the time limit. Raises ``TrainingFailed`` on a NaN/inf loss."""
    config, data, info = run.config, run.data, run.info
    data.sampler.set_epoch(epoch)
    # Augmentation draws from the global RNG (in-process) or worker seeds from loader_rng: seeding both
    # per epoch makes a resumed run repeat exactly what the uninterrupted one would have done.
    torch.manual_seed(config.seed * 100_003 + epoch * 1009 + info.rank)
    data.loader_rng.manual_seed(config.seed * 100_003 + epoch)
    run.model.train()
    if config.freeze_encoder:
        run.raw_model.encoder.eval()  # frozen BatchNorm statistics too
    done = EpochRun(losses=[], step_in_epoch=skip_steps)
    show_bar = run.echo and info.is_main and sys.stderr.isatty()
    with tqdm(total=run.steps_per_epoch, initial=skip_steps, desc=f"epoch {epoch}/{config.epochs}", unit="step",
              file=sys.stderr, leave=False, disable=not show_bar) as bar:
        for i, (images, masks) in enumerate(data.train_loader):
            if i < skip_steps:
                continue
            loss = train_step(run, images, masks)
            loss_value, stop_asked, over_time = _agree(run, loss, deadline)
            if not math.isfinite(loss_value):
                raise _diverged(epoch, run.counters.global_step, f"loss became {loss_value}",
                                run.scheduler.get_last_lr()[0])
            done.losses.append(loss_value)
            done.step_in_epoch = i + 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            log_step(run, epoch, loss_value)
            if stop_asked:
                done.interrupted = "stop"
                done.stop_reason = "stop requested" if run.stop_signal.reason is None else run.stop_signal.reason
                break
            if over_time:
                done.interrupted, done.stop_reason = "time", f"time limit ({config.max_minutes:g} min)"
                break
    return done


def train_step(run: Run, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """One optimisation step on a batch; returns this process's loss (a 0-d tensor)."""
    logits = run.forward(run.model, images)
    loss = run.criterion(logits.float(), masks.to(run.device, non_blocking=True))
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    run.counters.global_step += 1
    return loss


def _agree(run: Run, loss: torch.Tensor, deadline: float) -> tuple[float, bool, bool]:
    """(mean loss over processes, stop asked, over time): one all-reduce carries them so all processes agree."""
    device, info = run.device, run.info
    want_stop = float(run.stop_signal.reason is not None or (run.writer is not None and run.writer.stop_requested()))
    over_time = float(time.perf_counter() > deadline)
    flags = torch.stack([loss.detach().float(), torch.tensor(want_stop, device=device),
                         torch.tensor(over_time, device=device)])
    flags = D.all_sum(flags, info)
    return float(flags[0]) / info.world_size, bool(flags[1] > 0), bool(flags[2] > 0)


def log_step(run: Run, epoch: int, loss_value: float) -> None:
    """A step line in metrics.jsonl every ``log_every`` steps (and the step count in run.json, throttled)."""
    step = run.counters.global_step
    if run.writer is None or step % run.config.log_every:
        return
    run.writer.log({"kind": "step", "step": step, "epoch": epoch, "train_loss": loss_value,
                    "lr": run.scheduler.get_last_lr()[0], "time": time.time()})
    run.writer.update(throttle_seconds=5.0, step=step, seconds=run.counters.seconds())


@torch.inference_mode()
def validate(run: Run) -> dict[str, Any]:
    """Val loss and scores from one confusion matrix accumulated over batches (and summed over processes)."""
    from segdash.metrics.confusion import ConfusionMatrix
    from segdash.metrics.scores import scores_from_confusion

    ds, device, model = run.data.ds, run.device, run.raw_model
    was_training = model.training
    model.eval()
    confusion = ConfusionMatrix(ds.num_classes, ds.ignore_index, per_image=False)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss * images, images
    for images, masks in run.data.val_loader:
        masks = masks.to(device, non_blocking=True)
        logits = run.forward(model, images).float()
        totals[0] += float(run.criterion(logits, masks)) * len(images)
        totals[1] += len(images)
        confusion.update(class_labels(logits), masks)
    cm = torch.as_tensor(confusion.compute(), device=device)
    D.all_sum(cm, run.info)
    D.all_sum(totals, run.info)
    model.train(was_training)
    scores = scores_from_confusion(cm.cpu().numpy(), list(ds.classes))
    return {
        "val_loss": float(totals[0] / totals[1]) if totals[1] else None,
        "val_mean_dice": finite_or_none(scores.mean_dice),
        "val_mean_iou": finite_or_none(scores.mean_iou),
        "val_pixel_accuracy": finite_or_none(scores.pixel_accuracy),
        "val_dice": [finite_or_none(v) for v in np.asarray(scores.dice, dtype=float)],
        "val_iou": [finite_or_none(v) for v in np.asarray(scores.iou, dtype=float)],
    }


def epoch_record(run: Run, epoch: int, done: EpochRun, val: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The epoch line of metrics.jsonl (``partial`` when the time limit cut the epoch short)."""
    record = {"kind": "epoch", "epoch": epoch, "step": run.counters.global_step,
              "train_loss": float(np.mean(done.losses)) if done.losses else None, **val,
              "lr": run.scheduler.get_last_lr()[0], "seconds": seconds, "time": time.time()}
    if done.interrupted == "time" and done.step_in_epoch < run.steps_per_epoch:
        record["partial"] = True
    return record


def log_epoch(run: Run, record: dict[str, Any]) -> None:
    if run.writer is not None:
        run.writer.update(phase="saving")
        run.writer.log(record)


def save_checkpoints(run: Run, epoch: int, record: dict[str, Any], improved: bool, step_in_epoch: int) -> None:
    """``epoch_K`` (and ``best`` when it improved), the resume state, old epochs pruned, the previews."""
    writer = run.writer
    if writer is None:
        return
    metrics = {k: v for k, v in record.items() if k.startswith("val_") or k == "train_loss"}
    name = epoch_dir_name(epoch)
    save_model(run, name, epoch, metrics)
    if improved:
        _copy_checkpoint(writer.checkpoints / name, writer.checkpoints / BEST_NAME)
    save_resume_state(run, name, epoch, step_in_epoch)
    _prune_checkpoints(writer.checkpoints, run.config.keep_checkpoints)
    previews = run.data.preview_set
    if previews is not None:
        writer.write_preview(epoch, _predict_labels(run, previews.images), previews.ids)


def save_stopped(run: Run, epoch: int, step_in_epoch: int) -> None:
    """A stopped run's weights as ``checkpoints/last`` and its resume state (no validation: a quick exit)."""
    if run.writer is None:
        return
    run.writer.update(phase="saving")
    save_model(run, LAST_NAME, epoch, {"stopped_at_step": run.counters.global_step, "step_in_epoch": step_in_epoch})
    save_resume_state(run, LAST_NAME, epoch, step_in_epoch)


def save_model(run: Run, name: str, epoch: int, metrics: dict[str, Any]) -> None:
    """Checkpoint the model as ``checkpoints/<name>`` (whole folder or nothing), with what rebuilds it."""
    from segdash.models.checkpoint import CheckpointMeta, save_checkpoint

    config, data, ds = run.config, run.data, run.data.ds
    meta = CheckpointMeta(
        arch=config.arch, encoder=config.encoder, classes=list(ds.classes), colors=list(ds.colors),
        in_channels=ds.in_channels, normalization=data.normalization, ignore_index=ds.ignore_index,
        input_size=config.img_size, dataset=ds.name, epoch=epoch,
        metrics=json_tree(metrics), train_config=config.to_dict(),
        input_range=data.input_range, intensity=data.intensity,
    )
    save_checkpoint(run.raw_model, meta, run.writer.checkpoints / name)


def save_resume_state(run: Run, checkpoint: str, epoch: int, step_in_epoch: int) -> None:
    """``resume.pt``: which checkpoint to load, where in the schedule the run is, the optimiser's state."""
    from segdash.fsutil import atomic_write_bytes

    counters = run.counters
    state = {
        "checkpoint": checkpoint, "epoch": epoch, "epoch_complete": step_in_epoch >= run.steps_per_epoch,
        "step_in_epoch": step_in_epoch, "global_step": counters.global_step, "best_dice": counters.best_dice,
        "best_epoch": counters.best_epoch if counters.best_epoch is not None else -1,
        "stale_epochs": counters.stale_epochs, "seconds": counters.seconds(), "schedule_steps": run.total_steps,
        "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(run.writer.checkpoints / RESUME_FILE, buffer.getvalue())


def report_epoch(run: Run, record: dict[str, Any], improved: bool) -> None:
    """run.json's progress and best checkpoint after an epoch, and the epoch's line on the console."""
    counters = run.counters
    if run.writer is not None:
        best = counters.best_epoch
        run.writer.update(
            phase="training", epoch=record["epoch"], step=counters.global_step,
            best={"epoch": best, "val_mean_dice": counters.best_dice,
                  "path": f"checkpoints/{BEST_NAME}"} if best else None,
            seconds=counters.seconds(),
        )
    run.say(_epoch_line(record, run.config.epochs, improved))


def finish_run(run: Run, status: str, stop_reason: str | None, epochs_done: int) -> RunResult:
    """Record how the run ended in run.json; a served stop request's STOP file goes."""
    counters = run.counters
    seconds = counters.seconds()
    if run.writer is not None:
        run.writer.update(seconds=seconds, phase=None)
        run.writer.finish(status, stop_reason=stop_reason)
        if status == "stopped":
            run.writer.stop_file.unlink(missing_ok=True)  # the request is served; a resume must not stop at once
    best = counters.best_dice if counters.best_epoch else None
    return RunResult(run.run_dir, status, epochs_done, counters.best_epoch, best, stop_reason, None, seconds)


# --- small helpers ----------------------------------------------------------------------------


@torch.inference_mode()
def _predict_labels(run: Run, images: torch.Tensor) -> np.ndarray:
    """(N,C,S,S) stored images -> (N,S,S) int64 argmax labels, numpy."""
    model = run.raw_model
    was_training = model.training
    model.eval()
    labels = class_labels(run.forward(model, images))
    model.train(was_training)
    return labels.cpu().numpy()


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None for fp32; bf16 where supported, else fp16 (with a GradScaler) for ``auto`` on CUDA."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise SegdashError("--precision fp16 needs a CUDA GPU; on the CPU use fp32 or bf16")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def _make_scheduler(optimizer, config: TrainConfig, total_steps: int):
    """Per-step learning rate: linear warm-up then cosine decay to 1% (``cosine``), one-cycle, or constant."""
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(total_steps, 1),
                                                   pct_start=max(config.warmup, 0.1))
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    warmup_steps = int(config.warmup * total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _diverged(epoch: int, step: int, what: str, lr: float) -> TrainingFailed:
    """The error that ends a run whose loss is NaN/inf (nothing from these weights is saved)."""
    return TrainingFailed(
        f"diverged at epoch {epoch}, step {step}: {what} (lr {lr:.3g}); "
        "try a lower --lr, another --loss, or check the data for bad values"
    )


def _resume_point(resume_state: dict[str, Any] | None) -> tuple[int, int]:
    """(epoch to start at, steps of it already done) for a resume state (None: a new run)."""
    if resume_state is None:
        return 1, 0
    if resume_state["epoch_complete"]:
        return int(resume_state["epoch"]) + 1, 0
    return int(resume_state["epoch"]), int(resume_state["step_in_epoch"])


def _read_resume_state(run_dir: Path, epochs: int) -> dict[str, Any]:
    """``resume.pt``, checked: it exists, names a checkpoint there, and leaves epochs to run (of ``epochs``)."""
    path = run_dir / "checkpoints" / RESUME_FILE
    if not (run_dir / RUN_FILE).is_file():
        raise SegdashError(f"{run_dir} is not a training run (no {RUN_FILE}); start a new run with --out")
    if not path.is_file():
        raise SegdashError(f"{run_dir} has no checkpoint to resume from yet (no checkpoints/{RESUME_FILE}); start it again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (a truncated or foreign file: explain, do not trace)
        raise SegdashError(f"{path} cannot be read ({type(exc).__name__}); start the run again") from None
    needed = {"checkpoint", "epoch", "epoch_complete", "step_in_epoch", "global_step", "optimizer", "scheduler"}
    if not isinstance(state, dict) or not needed <= state.keys() or not isinstance(state["checkpoint"], str):
        raise SegdashError(f"{path} is not a segdash resume state; start the run again")
    if not (run_dir / "checkpoints" / state["checkpoint"]).is_dir():
        raise SegdashError(f"{path} names checkpoint {state['checkpoint']!r}, which is missing; start the run again")
    if _resume_point(state)[0] > epochs:
        raise SegdashError(f"this run already completed its {epochs} epochs; resume with a larger --epochs to go on")
    return state


def _load_weights(model: nn.Module, checkpoint_dir: Path) -> None:
    from segdash.models.checkpoint import load_checkpoint

    loaded, _ = load_checkpoint(checkpoint_dir)
    model.load_state_dict(loaded.state_dict())


def _copy_checkpoint(source: Path, target: Path) -> None:
    """Copy checkpoint folder ``source`` to ``target`` (``best``), swapped in whole: readers always find one."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        for item in source.iterdir():
            shutil.copy2(item, tmp / item.name)
        os.chmod(tmp, source.stat().st_mode & 0o777)
        swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _prune_checkpoints(folder: Path, keep: int) -> None:
    """Keep the ``keep`` newest ``epoch_K`` folders (0: all); a stale ``last`` goes once an epoch is saved."""
    shutil.rmtree(folder / LAST_NAME, ignore_errors=True)
    if keep <= 0:
        return
    epochs = sorted((p for p in folder.glob("epoch_*") if p.name[6:].isdigit()), key=lambda p: int(p.name[6:]))
    for old in epochs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _epoch_line(record: dict[str, Any], epochs: int, improved: bool) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4f}"

    per_class = " ".join(f(v) for v in record["val_dice"])
    return (
        f"epoch {record['epoch']}/{epochs}  train_loss {f(record['train_loss'])}  val_loss {f(record['val_loss'])}  "
        f"val_dice {f(record['val_mean_dice'])} [{per_class}]  val_iou {f(record['val_mean_iou'])}  "
        f"{record['seconds']:.1f}s{'  *best' if improved else ''}"
    )
