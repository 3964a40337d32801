"""Score a model (or a folder of predicted label PNGs) on a dataset split: the streaming pass.

    evaluation = evaluate(ds, "test", predictor=Predictor.from_checkpoint("runs/x/best"))
    evaluation = evaluate(ds, "test", pred_dir="preds/")     # <sample_id>.png label maps
    evaluation.scores.mean_dice, evaluation.per_image, evaluation.top_confusions(1, 2)

The result, its tables, JSON and files are ``segdash.infer.evaluation.Evaluation``; what the pass
needs of a model is the ``segdash.infer.protocol.Predictor`` protocol (labels, and optionally
probabilities), so any model family with an adapter that answers it is scored the same way.

Each family of metrics (``segdash.metrics.specs.FAMILIES``) has one hook here: overlap scores come
from the confusion matrices; ``_batch_cpu_metrics`` runs the label-map kernels (distances, Boundary
IoU, objects); ``ConfidenceStats.update`` counts what the probabilities give. A kernel's per-image
output, keyed by its metric's name, flows into the ``Evaluation`` with nothing else to change.

How the work is laid out so the model is never kept waiting: a background thread reads and decodes
the next batch of consecutive same-size images while the current one runs through the model; the
confusion matrix is accumulated on the model's device (one histogram per batch, no predictions
kept); the distance metrics, Boundary IoU and the object counts, which need the label maps on the CPU, run
in a small thread pool behind the model. With a model that gives probabilities, calibration sums
and entropy histograms are counted per batch on the model's device, where the probabilities are
(no second forward pass, no probability map kept). Only (C, C) counts and a few numbers per image
are kept, so memory stays flat however large the split.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from segdash.data.formats.skipping import warn_skipped_samples
from segdash.errors import SegdashError
from segdash.infer.evaluation import CONFIDENCE_METRICS, PER_IMAGE_OBJECT_COUNTS, Evaluation, merge_evaluations
from segdash.infer.protocol import Predictor, ProbabilityPredictor
from segdash.infer.reading import Batch, Prefetch, batches, check_pred_dir, split_ids
from segdash.metrics.boundary import DEFAULT_BOUNDARY_RATIO, batch_boundary_counts
from segdash.metrics.calibration import ConfidenceStats
from segdash.metrics.confusion import ConfusionMatrix
from segdash.metrics.distance import DISTANCE_METRICS, distance_metrics
from segdash.metrics.objects import OBJECT_COUNTS, SIZE_BUCKETS, batch_object_counts
from segdash.sharding import shard_of

__all__ = ["Evaluation", "check_boundary_ratio", "evaluate", "merge_evaluations"]  # the result re-exported

#: Batches whose distance metrics may wait in the pool before the model waits for them.
_PENDING_DISTANCE_BATCHES = 4


# --- label-map metrics in the background ----------------------------------------------------------


def _batch_distances(preds: np.ndarray, masks: np.ndarray, num_classes: int,
                     ignore_index: int | None) -> dict[str, np.ndarray]:
    """(N, H, W) label maps -> {"hd95", "hd95_max", "assd", "rad": (N, C)} (``DISTANCE_METRICS``)."""
    rows = [distance_metrics(p, m, num_classes, ignore_index) for p, m in zip(preds, masks)]
    return {k: np.stack([r[k] for r in rows]) for k in DISTANCE_METRICS}


def _batch_cpu_metrics(preds: np.ndarray, masks: np.ndarray, num_classes: int, ignore_index: int | None,
                       distances: bool, boundary_ratio: float | None) -> dict[str, np.ndarray]:
    """The label-map hook of the pass: what needs the (N, H, W) label maps on the CPU: distances
    {``DISTANCE_METRICS``: (N, C)} and, with a ``boundary_ratio``, {"boundary": (N, 2, C), "objects": (N, C, 3, 6)}."""
    out = _batch_distances(preds, masks, num_classes, ignore_index) if distances else {}
    if boundary_ratio is not None:
        out["boundary"] = batch_boundary_counts(preds, masks, num_classes, ignore_index, boundary_ratio)
        out["objects"] = batch_object_counts(preds, masks, num_classes, ignore_index)
    return out


class _PerImage:
    """Per-image results arriving out of order (pool, device), written at their images' offsets.

    ``rows[key]`` is an (N, ...) array made on first use; object counts are summed into ``objects``
    and kept per image without the size buckets, so each image keeps a small table only.
    """

    def __init__(self, images: int):
        self.images = images
        self.rows: dict[str, np.ndarray] = {}
        self.objects: np.ndarray | None = None

    def put(self, offset: int, key: str, values: np.ndarray) -> None:
        values = np.asarray(values)
        if key == "objects":  # (n, C, 3, 6)
            total = values.sum(axis=0)
            self.objects = total if self.objects is None else self.objects + total
            key, values = "per_image_objects", values[..., : len(PER_IMAGE_OBJECT_COUNTS)].sum(axis=2)
        if key not in self.rows:
            fill = np.nan if values.dtype.kind == "f" else 0
            self.rows[key] = np.full((self.images,) + values.shape[1:], fill, dtype=values.dtype)
        self.rows[key][offset : offset + len(values)] = values

    def get(self, key: str, done: int) -> np.ndarray | None:
        return self.rows[key][:done] if key in self.rows else None


def _narrow(labels: np.ndarray) -> np.ndarray:
    """Label maps in the smallest type that holds them (the distance queue holds a few batches)."""
    if labels.size and labels.min() >= 0 and labels.max() < 256:
        return labels.astype(np.uint8)
    return labels


# --- the loop -------------------------------------------------------------------------------------


def _check_predictor(predictor: Predictor, dataset) -> None:
    if not isinstance(predictor, Predictor):
        raise TypeError(f"{type(predictor).__name__} cannot be evaluated: it needs predict_labels(images) and a "
                        "device (segdash.infer.protocol.Predictor)")
    meta = getattr(predictor, "meta", None)
    classes = getattr(meta, "classes", None)
    if classes is not None and len(classes) != dataset.num_classes:
        raise SegdashError(
            f"the model predicts {len(classes)} classes but {dataset.name!r} has {dataset.num_classes}; "
            "pick a checkpoint trained on this dataset's classes"
        )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model_labels(predictor: Predictor, batch: Batch, confidence: ConfidenceStats | None):
    """Labels (N, H, W) of one batch on the model's device, the forward pass's seconds and, with
    ``confidence``, the per-image numbers its probabilities give (counted where they are, then dropped)."""
    tick = time.perf_counter()
    if confidence is None:
        labels = predictor.predict_labels(batch.images)
        _synchronize(labels.device)
        return labels, time.perf_counter() - tick, None
    probs, flip_changed = predictor.predict_probabilities(batch.images)
    top, labels = probs.max(dim=1)  # on a CPU several times faster than argmax over dim 1
    _synchronize(labels.device)
    seconds = time.perf_counter() - tick
    target = torch.from_numpy(batch.masks).to(probs.device, non_blocking=True)
    return labels, seconds, confidence.update(probs, target, labels, flip_changed, confidence=top)


def check_boundary_ratio(ratio: float) -> float:
    """The Boundary IoU band's share of the image diagonal, checked: in (0, 1]."""
    if not (math.isfinite(ratio) and 0 < ratio <= 1):
        raise SegdashError(f"the boundary ratio must be in (0, 1] (a share of the image diagonal), got {ratio}")
    return float(ratio)


def _prediction_source(dataset, ids: Sequence[str], predictor: Predictor | None,
                       pred_dir) -> tuple[torch.device, dict | None, str]:  # fmt: skip
    """(device the counts accumulate on, prediction files by id or None, what produced the predictions)."""
    if predictor is not None:
        _check_predictor(predictor, dataset)
        source = str(getattr(getattr(predictor, "meta", None), "arch", "") or type(predictor).__name__)
        return torch.device(getattr(predictor, "device", "cpu")), None, source
    pred_dir = Path(pred_dir).expanduser()
    return torch.device("cpu"), check_pred_dir(pred_dir, ids), str(pred_dir)


class _CpuMetrics:
    """The metrics that need label maps on the CPU (distances, Boundary IoU, objects), computed in a small
    thread pool behind the model: at most ``_PENDING_DISTANCE_BATCHES`` batches wait before the model does."""

    def __init__(self, rows: _PerImage, num_classes: int, ignore_index: int | None, distances: bool,
                 ratio: float | None, workers: int | None) -> None:  # fmt: skip
        self.rows, self.args = rows, (num_classes, ignore_index, distances, ratio)
        workers = workers or max(1, min(4, (os.cpu_count() or 2) // 2))
        wanted = distances or ratio is not None
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segdash-distances") if wanted else None
        self.pending: list[tuple[int, Future]] = []

    def submit(self, offset: int, labels: torch.Tensor, masks: np.ndarray) -> None:
        """Queue the batch whose first image is row ``offset``; collect what is ready."""
        if self.pool is None:
            return
        preds = _narrow(labels.cpu().numpy())
        self.pending.append((offset, self.pool.submit(_batch_cpu_metrics, preds, masks, *self.args)))
        self.collect(wait_all=False)

    def collect(self, wait_all: bool) -> None:
        pending = self.pending
        while pending and (wait_all or len(pending) > _PENDING_DISTANCE_BATCHES or pending[0][1].done()):
            offset, future = pending.pop(0)
            for key, values in future.result().items():
                self.rows.put(offset, key, values)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def evaluate(
    dataset,
    split: str,
    predictor: Predictor | None = None,
    pred_dir: str | Path | None = None,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    distances: bool = True,
    limit: int | None = None,
    distance_workers: int | None = None,
    failure_metrics: bool = True,
    boundary_ratio: float = DEFAULT_BOUNDARY_RATIO,
    strict: bool = False,
    shard: tuple[int, int] | None = None,
) -> Evaluation:
    """Score ``predictor`` (a ``segdash.infer.protocol.Predictor``: ``predict_labels(images) -> (N, H, W)
    tensor`` and ``device``), or the label PNGs ``<pred_dir>/<sample_id>.png``, on ``split`` of ``dataset``.

    ``progress(done, total)`` is called after every batch; ``should_stop()`` is checked between
    batches and, when true, ends the run early with ``cancelled=True`` and the images done so far.
    ``limit``: only ``limit`` images, evenly spaced over the split (``segdash.data.splits.evenly_spaced``). ``distances``: also HD95 / ASSD / area difference.
    ``failure_metrics``: also Boundary IoU (band ``boundary_ratio`` of the diagonal) and objects, and
    calibration and uncertainty when the predictor gives probabilities (``ProbabilityPredictor``).
    A sample that cannot be read or does not fit is left out with a warning naming it (listed in
    ``Evaluation.skipped``); ``strict=True`` stops at the first one instead.
    ``shard=(rank, world_size)``: only this process's contiguous share of the (limited) split, for
    ``merge_evaluations`` to put together (see ``segdash.sharding``).
    """
    if (predictor is None) == (pred_dir is None):
        raise SegdashError("give exactly one of a model (--checkpoint) and a prediction folder (--pred-dir)")
    if batch_size < 1:
        raise SegdashError(f"batch size must be at least 1, got {batch_size}")
    start = time.perf_counter()
    ratio = check_boundary_ratio(boundary_ratio) if failure_metrics else None
    ids = split_ids(dataset, split, limit)
    if shard is not None:
        ids = shard_of(ids, *shard)
    num_classes, ignore_index = dataset.num_classes, dataset.ignore_index
    device, pred_paths, source = _prediction_source(dataset, ids, predictor, pred_dir)
    confidence = None
    if predictor is not None and failure_metrics and isinstance(predictor, ProbabilityPredictor):
        confidence = ConfidenceStats(num_classes, ignore_index, device=device)

    accumulator = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=device)
    rows = _PerImage(len(ids))
    cpu = _CpuMetrics(rows, num_classes, ignore_index, distances, ratio, distance_workers)
    forward_seconds, done, cancelled = 0.0, 0, False
    skipped: list[tuple[str, str]] = []
    batch_stream = Prefetch(batches(dataset, split, ids, batch_size, pred_paths, None if strict else skipped), depth=2)
    try:
        if progress is not None:
            progress(0, len(ids))
        for batch in batch_stream:
            if should_stop is not None and should_stop():
                cancelled = True
                break
            if predictor is not None:
                labels, seconds, per_image = _model_labels(predictor, batch, confidence)
                forward_seconds += seconds
                for key, values in (per_image or {}).items():
                    rows.put(done, key, values)
            else:
                labels = torch.from_numpy(batch.preds)
            target = torch.from_numpy(batch.masks).to(labels.device, non_blocking=True)
            try:
                accumulator.update(labels, target, ids=batch.ids)
            except SegdashError as exc:
                raise SegdashError(f"images {', '.join(batch.ids[:3])}: {exc}") from None
            cpu.submit(done, labels, batch.masks)
            done += len(batch.ids)
            if progress is not None:
                progress(done + len(skipped), len(ids))
        cpu.collect(wait_all=True)
    finally:
        batch_stream.close()
        cpu.close()

    confidence_rows = {k: rows.get(k, done) for k in CONFIDENCE_METRICS} if confidence is not None else None
    warn_skipped_samples(skipped)
    return Evaluation(
        dataset=getattr(dataset, "name", ""), split=split, classes=tuple(dataset.classes),
        confusion=accumulator.compute(), sample_ids=[str(s) for s in accumulator.per_image_ids],
        per_image_confusion=accumulator.per_image_matrices(),
        per_image_distances=_distance_rows(rows, done, num_classes) if distances else None,
        ignore_index=ignore_index, seconds=time.perf_counter() - start, forward_seconds=forward_seconds,
        device=str(device), source=source, total_images=len(ids), cancelled=cancelled,
        boundary_ratio=ratio, per_image_boundary=_rows_or_empty(rows, "boundary", done, (2, num_classes), ratio),
        objects=_objects_total(rows, num_classes, ratio),
        per_image_objects=_rows_or_empty(rows, "per_image_objects", done, (num_classes, 4), ratio),
        calibration=confidence.calibration() if confidence is not None else None,
        entropy_histogram=confidence.entropy_histogram() if confidence is not None else None,
        per_image_confidence=confidence_rows,
        flip_changes=confidence.flip_counts() if confidence is not None else None, skipped=list(skipped),
    )  # fmt: skip


def _rows_or_empty(rows: _PerImage, key: str, done: int, shape: tuple[int, ...], wanted) -> np.ndarray | None:
    """The first ``done`` rows of ``key`` (zero rows when no batch ran), None when not ``wanted``."""
    if wanted is None:
        return None
    found = rows.get(key, done)
    return found if found is not None else np.zeros((0,) + shape, dtype=np.int64)


def _distance_rows(rows: _PerImage, done: int, num_classes: int) -> dict[str, np.ndarray]:
    return {k: _rows_or_empty(rows, k, done, (num_classes,), True).astype(np.float64) for k in DISTANCE_METRICS}


def _objects_total(rows: _PerImage, num_classes: int, ratio: float | None) -> np.ndarray | None:
    if ratio is None:
        return None
    empty = np.zeros((num_classes, len(SIZE_BUCKETS), len(OBJECT_COUNTS)), dtype=np.int64)
    return rows.objects if rows.objects is not None else empty
