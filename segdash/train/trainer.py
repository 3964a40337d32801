"""The training loop: one flat function that reads top to bottom (nanoGPT's habit).

    python -m segdash train brain-mri --out runs/brain            # the quick preset
    torchrun --nproc_per_node=2 -m segdash train brain-mri --device cpu --out runs/ddp

    from segdash.train import TrainConfig, train
    result = train(TrainConfig(epochs=3), "runs/brain")

What one run does: open the dataset, decode and resize it once into memory,
build the model (smp via ``segdash.models``), then per epoch: train with AdamW
and a per-step learning-rate schedule, validate (confusion matrix -> Dice/IoU
per class), save ``checkpoints/epoch_K`` and ``best/`` (highest val mean Dice,
not accuracy: seed 000 shows accuracy hiding a model that has not converged),
and stream everything to the run directory (``segdash.train.rundir``).

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

from segdash.errors import SegdashError
from segdash.train import distributed as D
from segdash.train.config import TrainConfig
from segdash.train.data import (
    InMemorySplit,
    LazySplit,
    WeightedShardSampler,
    default_workers,
    estimated_cache_mb,
    image_class_pixels,
    limited_indices,
    normalize_batch,
    preview_indices,
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
    json_number_tree,
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


def _train(
    config: TrainConfig,
    run_dir: Path,
    resume_state: dict[str, Any] | None,
    info: D.DistInfo,
    writer: RunWriter | None,
    stop_signal: _StopSignal,
    echo: bool,
) -> RunResult:
    from segdash.data import open_dataset
    from segdash.device import describe_device
    from segdash.models.registry import create_model, recommended_normalization

    t_start = time.perf_counter()
    device = info.device
    start_epoch, skip_steps = _resume_point(resume_state)
    global_step = int(resume_state["global_step"]) if resume_state else 0
    if writer is not None:
        for folder in (run_dir, run_dir / CHECKPOINTS_DIR, run_dir / PREVIEWS_DIR):
            clean_leftovers(folder)  # a killed run's temporaries and half-done swaps
        if resume_state is not None:
            drop_metrics_after(run_dir, global_step, start_epoch)  # what comes next would repeat them
        writer.start(config.to_dict(), phase="loading data", device=describe_device(device),
                     world_size=info.world_size, resumed_from=resume_state and resume_state["checkpoint"],
                     clear_stop=resume_state is not None, epoch=start_epoch - 1, step=global_step)

    # --- data: decoded and resized once ---------------------------------------------------
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
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
    train_indices = limited_indices(len(ds.ids(config.train_split)), config.limit)
    val_indices = limited_indices(len(ds.ids(config.val_split)), config.limit)
    if in_memory:
        train_set = InMemorySplit.load(ds, config.train_split, config.img_size, indices=train_indices)
        val_set = InMemorySplit.load(ds, config.val_split, config.img_size, indices=val_indices)
    else:
        train_set = LazySplit(ds, config.train_split, config.img_size, indices=train_indices)
        val_set = LazySplit(ds, config.val_split, config.img_size, indices=val_indices)
    preview_set = None
    if config.preview_images > 0:
        chosen = preview_indices(len(val_set), config.preview_images)
        preview_set = InMemorySplit.load(ds, config.val_split, config.img_size,
                                         indices=[val_indices[i] for i in chosen] if val_indices else chosen)
    _say(echo, info, f"data: {ds.name} train={len(train_set)} val={len(val_set)} at {config.img_size}px, "
         f"{'in memory' if in_memory else 'read per step'} ({time.perf_counter() - t0:.1f}s)")
    if config.augment:
        from segdash.train.augment import build_augmentation

        train_set = train_set.with_transform(build_augmentation(ds.ignore_index, config.augment_orientation))

    input_range, intensity = training_intensity(ds, config.train_split)
    normalization = ds.normalization
    if config.pretrained and ds.in_channels == 3:  # ImageNet weights expect their own input statistics
        normalization = recommended_normalization(config.encoder, 3) or normalization
    num_classes, ignore_index = ds.num_classes, ds.ignore_index

    if config.rare_oversample > 0:  # images rich in rare classes drawn more often (same draw in every process)
        weights = rare_class_weights(image_class_pixels(train_set, num_classes), config.rare_oversample)
        sampler = WeightedShardSampler(weights, num_replicas=info.world_size, rank=info.rank, seed=config.seed)
        _say(echo, info, f"rare-class oversampling: image weights {weights.min():.2f} to {weights.max():.2f}")
    else:
        sampler = DistributedSampler(
            train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=config.seed, drop_last=False
        )
    workers = config.workers if config.workers is not None else default_workers(device, in_memory)
    loader_rng = torch.Generator()
    pin = device.type == "cuda"
    # A last batch of one image can break BatchNorm in training mode: drop the remainder when a full batch exists.
    train_loader = DataLoader(
        train_set, batch_size=config.batch_size, sampler=sampler, num_workers=workers, pin_memory=pin,
        drop_last=len(sampler) > config.batch_size, generator=loader_rng,
    )
    # Validation: each process takes every world_size-th image (no padding, so no image counts twice).
    val_shard = Subset(val_set, range(info.rank, len(val_set), info.world_size))
    val_loader = DataLoader(val_shard, batch_size=config.batch_size, num_workers=workers, pin_memory=pin)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * config.epochs

    # --- model, loss, optimiser ---------------------------------------------------------
    model = create_model(config.arch, config.encoder, ds.in_channels, num_classes, pretrained=config.pretrained)
    if resume_state is not None:
        _load_weights(model, run_dir / "checkpoints" / resume_state["checkpoint"])
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)
    channels_last = device.type in ("cpu", "cuda")  # 3-4x faster convolutions on CPU (oneDNN), tensor cores on GPU
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    raw_model = model
    if info.distributed:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    class_weights = None
    if config.class_weights != "none":
        from segdash.data.stats import class_statistics

        class_weights = [float(w) for w in class_statistics(ds, config.train_split).class_weights(config.class_weights)]
    from segdash.train.losses import build_loss

    criterion = build_loss(config.loss, num_classes, ignore_index, class_weights).to(device)
    trainable = [p for p in raw_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _make_scheduler(optimizer, config, total_steps)
    autocast_dtype = _autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    # --- where we start ---------------------------------------------------------------
    best_dice, best_epoch, stale_epochs, seconds_before = -1.0, None, 0, 0.0
    if resume_state is not None:
        if resume_state.get("schedule_steps") not in (None, total_steps) and config.schedule == "onecycle":
            raise SegdashError("a one-cycle schedule cannot change length: resume with the run's original --epochs")
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        scaler.load_state_dict(resume_state["scaler"])
        best_dice, stale_epochs = float(resume_state["best_dice"]), int(resume_state["stale_epochs"])
        best_epoch = resume_state["best_epoch"]
        best_epoch = int(best_epoch) if best_epoch is not None and int(best_epoch) > 0 else None
        seconds_before = float(resume_state["seconds"])
        _say(echo, info, f"resuming from {resume_state['checkpoint']}: epoch {start_epoch}, step {global_step}")

    if writer is not None:
        writer.update(
            phase="training", epochs=config.epochs, steps_per_epoch=steps_per_epoch, classes=list(ds.classes),
            colors=[list(c) for c in ds.colors], train_images=len(train_set), val_images=len(val_set),
            in_memory=in_memory, workers=workers, precision=str(autocast_dtype).replace("torch.", "") if autocast_dtype else "fp32",
            class_weights=class_weights, normalization=normalization.to_dict(),
        )
        if preview_set is not None and config.preview_images:
            sizes = [ds.load(config.val_split, sample_id)[0].shape[:2] for sample_id in preview_set.ids]
            writer.write_preview_inputs(preview_set.images.numpy(), preview_set.masks.numpy(), preview_set.ids, sizes)
    _say(echo, info, f"model: {config.arch} + {config.encoder} ({sum(p.numel() for p in trainable) / 1e6:.1f}M "
         f"trainable) on {describe_device(device)} x{info.world_size}, {steps_per_epoch} steps/epoch")

    def save(name: str, epoch: int, metrics: dict[str, Any]) -> None:
        """Checkpoint ``raw_model`` as ``checkpoints/<name>`` (whole folder or nothing)."""
        from segdash.models.checkpoint import CheckpointMeta, save_checkpoint

        meta = CheckpointMeta(
            arch=config.arch, encoder=config.encoder, classes=list(ds.classes), colors=list(ds.colors),
            in_channels=ds.in_channels, normalization=normalization, ignore_index=ignore_index,
            input_size=config.img_size, dataset=ds.name, epoch=epoch,
            metrics=json_number_tree(metrics), train_config=config.to_dict(),
            input_range=input_range, intensity=intensity,
        )
        save_checkpoint(raw_model, meta, writer.checkpoints / name)

    def save_resume_state(checkpoint: str, epoch: int, epoch_complete: bool, step_in_epoch: int) -> None:
        from segdash.fsutil import atomic_write_bytes

        state = {
            "checkpoint": checkpoint, "epoch": epoch, "epoch_complete": epoch_complete,
            "step_in_epoch": step_in_epoch, "global_step": global_step, "best_dice": best_dice,
            "best_epoch": best_epoch if best_epoch is not None else -1, "stale_epochs": stale_epochs,
            "seconds": seconds_before + time.perf_counter() - t_start, "schedule_steps": total_steps,
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(writer.checkpoints / RESUME_FILE, buffer.getvalue())

    # --- the loop -------------------------------------------------------------------------
    deadline = t_start + 60 * config.max_minutes if config.max_minutes else math.inf
    status, stop_reason, epoch, epochs_done = "finished", None, start_epoch - 1, start_epoch - 1
    for epoch in range(start_epoch, config.epochs + 1):
        t_epoch = time.perf_counter()
        sampler.set_epoch(epoch)
        # Augmentation draws from the global RNG (in-process) or worker seeds from loader_rng: seeding both
        # per epoch makes a resumed run repeat exactly what the uninterrupted one would have done.
        torch.manual_seed(config.seed * 100_003 + epoch * 1009 + info.rank)
        loader_rng.manual_seed(config.seed * 100_003 + epoch)
        model.train()
        if config.freeze_encoder:
            raw_model.encoder.eval()  # frozen BatchNorm statistics too
        losses, interrupted = [], None
        bar = tqdm(total=steps_per_epoch, initial=skip_steps, desc=f"epoch {epoch}/{config.epochs}", unit="step",
                   file=sys.stderr, leave=False, disable=not (echo and info.is_main and sys.stderr.isatty()))
        for i, (images, masks) in enumerate(train_loader):
            if i < skip_steps:
                continue
            images = normalize_batch(images.to(device, non_blocking=True), normalization)
            images = images.contiguous(memory_format=memory_format)
            masks = masks.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                logits = model(images)
            loss = criterion(logits.float(), masks)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            global_step += 1

            # One all-reduce carries the loss and every reason to stop, so all processes agree.
            want_stop = float(stop_signal.reason is not None or (writer is not None and writer.stop_requested()))
            over_time = float(time.perf_counter() > deadline)
            flags = torch.stack([loss.detach().float(), torch.tensor(want_stop, device=device),
                                 torch.tensor(over_time, device=device)])
            flags = D.all_sum(flags, info)
            loss_value = float(flags[0]) / info.world_size
            if not math.isfinite(loss_value):
                raise _diverged(epoch, global_step, f"loss became {loss_value}", scheduler.get_last_lr()[0])
            losses.append(loss_value)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            if writer is not None and global_step % config.log_every == 0:
                writer.log({"kind": "step", "step": global_step, "epoch": epoch, "train_loss": loss_value,
                            "lr": scheduler.get_last_lr()[0], "time": time.time()})
                writer.update(throttle_seconds=5.0, step=global_step,
                              seconds=seconds_before + time.perf_counter() - t_start)
            if flags[1] > 0:
                interrupted = "stop"
                stop_reason = "stop requested" if stop_signal.reason is None else stop_signal.reason
                break
            if flags[2] > 0:
                interrupted = "time"
                stop_reason = f"time limit ({config.max_minutes:g} min)"
                break
        bar.close()
        step_in_epoch = (i + 1) if losses else skip_steps
        skip_steps = 0

        if interrupted == "stop":  # quick exit: weights and optimizer state, no validation
            status = "stopped"
            if writer is not None:
                writer.update(phase="saving")
                save(LAST_NAME, epoch, {"stopped_at_step": global_step, "step_in_epoch": step_in_epoch})
                save_resume_state(LAST_NAME, epoch, step_in_epoch >= steps_per_epoch, step_in_epoch)
            _say(echo, info, f"stopped at epoch {epoch}, step {global_step} ({stop_reason}); checkpoint saved")
            break

        # --- validate, log, checkpoint -----------------------------------------------------
        if writer is not None:
            writer.update(phase="validating")
        val = _validate(raw_model, val_loader, criterion, num_classes, ignore_index, device, normalization,
                        memory_format, autocast_dtype, info, list(ds.classes))
        if val["val_loss"] is not None and not math.isfinite(val["val_loss"]):
            raise _diverged(epoch, global_step, f"the validation loss became {val['val_loss']}",
                            scheduler.get_last_lr()[0])
        epochs_done = epoch
        improved = val["val_mean_dice"] is not None and val["val_mean_dice"] > best_dice + 1e-6
        if improved:
            best_dice, best_epoch, stale_epochs = val["val_mean_dice"], epoch, 0
        else:
            stale_epochs += 1
        epoch_seconds = time.perf_counter() - t_epoch
        record = {"kind": "epoch", "epoch": epoch, "step": global_step,
                  "train_loss": float(np.mean(losses)) if losses else None, **val,
                  "lr": scheduler.get_last_lr()[0], "seconds": epoch_seconds, "time": time.time()}
        if interrupted == "time" and step_in_epoch < steps_per_epoch:
            record["partial"] = True
        if writer is not None:
            writer.update(phase="saving")
            writer.log(record)
            metrics = {k: v for k, v in record.items() if k.startswith("val_") or k == "train_loss"}
            name = epoch_dir_name(epoch)
            save(name, epoch, metrics)
            if improved:
                _copy_checkpoint(writer.checkpoints / name, writer.checkpoints / BEST_NAME)
            save_resume_state(name, epoch, step_in_epoch >= steps_per_epoch, step_in_epoch)
            _prune_checkpoints(writer.checkpoints, config.keep_checkpoints)
            if preview_set is not None:
                writer.write_preview(epoch, _predict_labels(raw_model, preview_set.images, device, normalization,
                                                            memory_format, autocast_dtype), preview_set.ids)
            writer.update(
                phase="training", epoch=epoch, step=global_step,
                best={"epoch": best_epoch, "val_mean_dice": best_dice,
                      "path": f"checkpoints/{BEST_NAME}"} if best_epoch else None,
                seconds=seconds_before + time.perf_counter() - t_start,
            )
        _say(echo, info, _epoch_line(record, config.epochs, improved))
        if interrupted == "time":
            break
        if config.patience and stale_epochs >= config.patience:
            stop_reason = f"early stopping (no val Dice gain in {config.patience} epochs)"
            _say(echo, info, stop_reason)
            break

    seconds = seconds_before + time.perf_counter() - t_start
    if writer is not None:
        writer.update(seconds=seconds, phase=None)
        writer.finish(status, stop_reason=stop_reason)
        if status == "stopped":
            writer.stop_file.unlink(missing_ok=True)  # the request is served; a resume must not stop at once
    return RunResult(run_dir, status, epochs_done, best_epoch, best_dice if best_epoch else None, stop_reason,
                     None, seconds)


# --- pieces of the loop ----------------------------------------------------------------


@torch.inference_mode()
def _validate(model, loader, criterion, num_classes, ignore_index, device, normalization, memory_format,
              autocast_dtype, info, class_names) -> dict[str, Any]:
    """Val loss and scores from one confusion matrix summed over batches (and processes)."""
    from segdash.metrics.confusion import confusion_matrix
    from segdash.metrics.scores import scores_from_confusion

    was_training = model.training
    model.eval()
    cm = torch.zeros((num_classes, num_classes), dtype=torch.int64, device=device)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss * images, images
    for images, masks in loader:
        images = normalize_batch(images.to(device, non_blocking=True), normalization).contiguous(memory_format=memory_format)
        masks = masks.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            logits = model(images)
        logits = logits.float()
        totals[0] += float(criterion(logits, masks)) * len(images)
        totals[1] += len(images)
        cm += torch.as_tensor(confusion_matrix(logits.argmax(1), masks, num_classes, ignore_index), device=device)
    D.all_sum(cm, info)
    D.all_sum(totals, info)
    model.train(was_training)
    scores = scores_from_confusion(cm.cpu().numpy(), class_names)
    return {
        "val_loss": float(totals[0] / totals[1]) if totals[1] else None,
        "val_mean_dice": _finite(scores.mean_dice),
        "val_mean_iou": _finite(scores.mean_iou),
        "val_pixel_accuracy": _finite(scores.pixel_accuracy),
        "val_dice": [_finite(v) for v in np.asarray(scores.dice, dtype=float)],
        "val_iou": [_finite(v) for v in np.asarray(scores.iou, dtype=float)],
    }


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@torch.inference_mode()
def _predict_labels(model, images: torch.Tensor, device, normalization, memory_format, autocast_dtype) -> np.ndarray:
    """(N,C,S,S) stored images -> (N,S,S) int64 argmax labels, numpy."""
    was_training = model.training
    model.eval()
    x = normalize_batch(images.to(device), normalization).contiguous(memory_format=memory_format)
    with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
        labels = model(x).argmax(1)
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
