"""Score a model (or a folder of predicted label PNGs) on a dataset split.

    evaluation = evaluate(ds, "test", predictor=Predictor.from_checkpoint("runs/x/best"))
    evaluation = evaluate(ds, "test", pred_dir="preds/")     # <sample_id>.png label maps
    evaluation.scores.mean_dice, evaluation.per_image, evaluation.top_confusions(1, 2)
    evaluation.save("cache/eval"); Evaluation.load("cache/eval")

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

import dataclasses
import io
import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from segdash.data.formats.skipping import warn_skipped_samples
from segdash.data.splits import evenly_spaced
from segdash.errors import SegdashError
from segdash.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json
from segdash.jsonsafe import finite_or_none
from segdash.metrics.boundary import DEFAULT_BOUNDARY_RATIO, batch_boundary_counts, boundary_iou
from segdash.metrics.calibration import ConfidenceStats, calibration_bins, calibration_error, histogram_auroc
from segdash.metrics.confusion import ConfusionMatrix
from segdash.metrics.distance import DISTANCE_METRICS, aggregate_distances, distance_metrics
from segdash.metrics.objects import OBJECT_COUNTS, SIZE_BUCKETS, batch_object_counts, object_scores
from segdash.metrics.scores import UNDEFINED_NOTE, Scores, per_image_scores, scores_from_confusion
from segdash.sharding import shard_of

#: Metrics where a larger value is worse (``Evaluation.worst`` ranks them largest first).
LOWER_IS_BETTER = ("hd95", "assd", "abs_rad", "ece", "overconfidence")
#: Batches whose distance metrics may wait in the pool before the model waits for them.
_PENDING_DISTANCE_BATCHES = 4
#: 2: Boundary IoU, objects, calibration and uncertainty (version 1 files load without them).
_FORMAT_VERSION = 2
#: Per-image object counts kept (the split's totals keep the size buckets and pixel counts too).
PER_IMAGE_OBJECT_COUNTS = ("gt", "detected", "predicted", "false")
#: Per-image numbers from the probabilities.
CONFIDENCE_METRICS = ("ece", "auroc", "overconfidence")
#: Added to the note on undefined values when distance metrics were computed.
DISTANCE_NOTE = (
    " Distances (hd95, assd, in pixels) are averaged over the images where the class is in both masks;"
    " images where it is in the ground truth but not predicted are counted in missed, those where it is"
    " predicted but not in the ground truth in spurious (one_sided_images: both). A null hd95/assd with"
    " missed > 0 means the model never found the class where it is: a failure, not 'not applicable'."
    " rad is the split's relative area difference, (predicted - true pixels) / true pixels over all images."
)


#: Array fields of ``Evaluation`` saved under their own name when present.
_OPTIONAL_ARRAYS = ("per_image_boundary", "objects", "per_image_objects", "calibration", "entropy_histogram",
                    "flip_changes")  # fmt: skip


@dataclasses.dataclass
class Evaluation:
    """The result of ``evaluate``: counts, scores, per-image rows, distances, timings.

    confusion: (C, C) int64, rows = ground truth; per_image_confusion: (N, C, C) int64 in the
    order of ``sample_ids``; per_image_distances: {"hd95", "assd", "rad": (N, C) float64} or
    None when distances were not computed. Derived on construction: ``scores`` (``Scores``),
    ``per_image`` (DataFrame, one row per image) and ``distances`` (DataFrame, one row per class,
    columns hd95, assd, rad; empty without distances).

    Where the model fails (None when not computed): per_image_boundary (N, 2, C) int64 boundary
    intersection and union at ``boundary_ratio``; objects (C, 3, 6) int64 split totals per class and
    size bucket (``segdash.metrics.objects.OBJECT_COUNTS``); per_image_objects (N, C, 4) int64
    (``PER_IMAGE_OBJECT_COUNTS``); with probabilities, calibration (C, 15, 3) float64 sums per
    predicted class and confidence bin, entropy_histogram (2, 1000) int64 (right, wrong pixels),
    per_image_confidence {"ece", "auroc", "overconfidence": (N,)}, flip_changes (2,) int64 [pixels
    whose label changed between the TTA flips, pixels] with flip TTA.
    """

    dataset: str
    split: str
    classes: tuple[str, ...]
    confusion: np.ndarray
    sample_ids: list[str]
    per_image_confusion: np.ndarray
    per_image_distances: dict[str, np.ndarray] | None = None
    ignore_index: int | None = None
    seconds: float = 0.0
    forward_seconds: float = 0.0
    device: str = "cpu"
    source: str = ""
    total_images: int | None = None
    cancelled: bool = False
    boundary_ratio: float | None = None
    per_image_boundary: np.ndarray | None = None
    objects: np.ndarray | None = None
    per_image_objects: np.ndarray | None = None
    calibration: np.ndarray | None = None
    entropy_histogram: np.ndarray | None = None
    per_image_confidence: dict[str, np.ndarray] | None = None
    flip_changes: np.ndarray | None = None
    #: samples left out because they could not be read or did not fit: (sample id, why)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        self.confusion = np.asarray(self.confusion, dtype=np.int64)
        self.per_image_confusion = np.asarray(self.per_image_confusion, dtype=np.int64).reshape(
            -1, len(self.classes), len(self.classes)
        )
        self.sample_ids = [str(s) for s in self.sample_ids]
        if self.total_images is None:
            self.total_images = len(self.sample_ids)
        self.scores: Scores = scores_from_confusion(self.confusion, self.classes)
        self.distance_summary = (
            aggregate_distances(self.per_image_distances, self.confusion) if self.per_image_distances is not None
            else None
        )
        #: (C,) Boundary IoU over the split (NaN where no band on either side), None when not computed
        self.boundary_iou = (
            boundary_iou(np.asarray(self.per_image_boundary).sum(axis=0)) if self.per_image_boundary is not None
            else None
        )
        self.per_image = self._per_image_frame()
        self.distances = self._distance_frame()

    # --- derived tables ---------------------------------------------------------------------

    @property
    def images(self) -> int:
        return len(self.sample_ids)

    @property
    def per_image_ids(self) -> list[str]:
        return list(self.sample_ids)

    def _per_image_frame(self):
        """sample_id, pixel_accuracy, mean_iou, mean_dice[, mean_hd95], then dice/<class>, iou/<class>[, rad/<class>]."""
        import pandas as pd

        per_image = per_image_scores(self.per_image_confusion)
        columns = {
            "sample_id": self.sample_ids,
            "pixel_accuracy": per_image["pixel_accuracy"],
            "mean_iou": per_image["mean_iou"],
            "mean_dice": per_image["mean_dice"],
        }
        if self.per_image_distances is not None:
            hd95 = np.asarray(self.per_image_distances["hd95"], dtype=np.float64).reshape(self.images, len(self.classes))
            finite = np.isfinite(hd95)
            with np.errstate(invalid="ignore", divide="ignore"):
                columns["mean_hd95"] = np.where(finite.any(1), np.where(finite, hd95, 0).sum(1) / finite.sum(1), np.nan)
        columns.update(self._per_image_failure_columns())
        for c, name in enumerate(self.classes):
            columns[f"dice/{name}"] = per_image["dice"][:, c]
        for c, name in enumerate(self.classes):
            columns[f"iou/{name}"] = per_image["iou"][:, c]
        if self.per_image_distances is not None:  # the split's rad is from total areas; each image's is here
            rad = np.asarray(self.per_image_distances["rad"], dtype=np.float64).reshape(self.images, len(self.classes))
            for c, name in enumerate(self.classes):
                columns[f"rad/{name}"] = rad[:, c]
        return pd.DataFrame(columns)

    def _per_image_failure_columns(self) -> dict[str, np.ndarray]:
        """boundary_iou (mean over classes with a band), object_recall (all classes' objects), ece, auroc,
        overconfidence (mean confidence minus accuracy), where they were computed."""
        columns = {}
        if self.per_image_boundary is not None:
            values = boundary_iou(self.per_image_boundary)
            defined = ~np.isnan(values)
            with np.errstate(invalid="ignore", divide="ignore"):
                columns["boundary_iou"] = np.where(defined.any(1), np.nansum(values, 1) / defined.sum(1), np.nan)
        if self.per_image_objects is not None:
            counts = np.asarray(self.per_image_objects).sum(axis=1)  # (N, 4) over classes
            gt, detected = counts[:, 0], counts[:, 1]
            columns["object_recall"] = np.where(gt > 0, detected / np.maximum(gt, 1), np.nan)
        if self.per_image_confidence is not None:
            columns.update({k: np.asarray(self.per_image_confidence[k], np.float64) for k in CONFIDENCE_METRICS})
        return columns

    def _distance_frame(self):
        """One row per class (index = class name): hd95, assd, rad (mean over images where defined)."""
        import pandas as pd

        if self.distance_summary is None:
            return pd.DataFrame(columns=list(DISTANCE_METRICS), index=pd.Index([], name="class"), dtype=float)
        columns = (*DISTANCE_METRICS, "missed", "spurious", "one_sided")
        frame = pd.DataFrame({m: self.distance_summary[m] for m in columns if m in self.distance_summary},
                             index=pd.Index(list(self.classes), name="class"))
        return frame

    # --- questions the dashboard asks -------------------------------------------------------

    def class_index(self, name_or_index: str | int) -> int:
        return self.scores.class_index(name_or_index)

    def top_confusions(self, gt_class: str | int, pred_class: str | int, k: int = 8) -> list[tuple[str, int]]:
        """The ``k`` images with the most pixels of ``gt_class`` predicted as ``pred_class``.

        Returns [(sample_id, pixels)], most pixels first, only images with at least one such pixel.
        """
        gt, pred = self.class_index(gt_class), self.class_index(pred_class)
        counts = self.per_image_confusion[:, gt, pred]
        order = np.argsort(-counts, kind="stable")[: max(int(k), 0)]
        return [(self.sample_ids[i], int(counts[i])) for i in order if counts[i] > 0]

    def worst(self, k: int = 8, by: str = "mean_dice"):
        """The ``k`` worst images by a ``per_image`` column (undefined values last), as a DataFrame."""
        if by not in self.per_image.columns:
            raise KeyError(f"no per-image column {by!r}; choose one of {', '.join(self.per_image.columns[1:])}")
        descending = by == "mean_hd95" or by.split("/")[0] in LOWER_IS_BETTER
        return self.per_image.sort_values(by, ascending=not descending, na_position="last", kind="stable").head(k)

    # --- JSON and files ---------------------------------------------------------------------

    def to_json_dict(self) -> dict:
        """The ``segdash evaluate --json`` document; undefined values are null."""
        doc = {
            "dataset": self.dataset,
            "split": self.split,
            "classes": list(self.classes),
            "images": self.images,
            "total_images": self.total_images,
            "cancelled": self.cancelled,
            "ignore_index": self.ignore_index,
            "skipped": [{"sample_id": sid, "reason": why} for sid, why in self.skipped],
        }
        scores = self.scores.to_dict()
        per_class = scores.pop("per_class")
        if self.distance_summary is not None:
            for c, row in enumerate(per_class):
                for metric in (*DISTANCE_METRICS, "abs_rad"):
                    row[metric] = finite_or_none(self.distance_summary[metric][c])
                row["distance_images"] = int(self.distance_summary["images"][c])
                row["one_sided_images"] = int(self.distance_summary["one_sided"][c])
                row["missed"] = int(self.distance_summary["missed"][c])
                row["spurious"] = int(self.distance_summary["spurious"][c])
        doc.update(scores)
        self._add_failure_json(doc, per_class)
        doc["per_class"] = per_class
        if self.distance_summary is not None:
            for metric in ("hd95", "assd"):
                values = self.distance_summary[metric]
                doc[f"mean_{metric}"] = finite_or_none(np.nanmean(values)) if np.isfinite(values).any() else None
        doc.update(
            seconds=round(self.seconds, 4),
            forward_seconds=round(self.forward_seconds, 4),
            device=self.device,
            source=self.source,
            note=UNDEFINED_NOTE + (DISTANCE_NOTE if self.distance_summary is not None else ""),
        )
        keys = [k for k in ("pixel_accuracy", "mean_iou", "mean_dice", "boundary_iou", "object_recall",
                            *CONFIDENCE_METRICS) if k in self.per_image]  # fmt: skip
        doc["per_image"] = [
            {"sample_id": sid, **{key: finite_or_none(row[key]) for key in keys}}
            for sid, (_, row) in zip(self.sample_ids, self.per_image.iterrows())
        ]
        return doc

    def object_table(self, class_index: int) -> dict | None:
        """One class's objects as JSON: {"gt", "detected", "predicted", "false", "recall", "precision",
        "by_size": {"small" | "medium" | "large": {the same keys and "iou"}}}; None without object counts."""
        if self.objects is None:
            return None
        counts = np.asarray(self.objects[class_index])  # (3, 6)

        def entry(row: np.ndarray, with_iou: bool) -> dict:
            scores = object_scores(row)
            out = {key: int(row[i]) for i, key in enumerate(PER_IMAGE_OBJECT_COUNTS)}
            out.update(recall=finite_or_none(scores["recall"]), precision=finite_or_none(scores["precision"]))
            if with_iou:
                out["iou"] = finite_or_none(scores["iou"])
            return out

        table = entry(counts.sum(axis=0), with_iou=False)
        table["by_size"] = {bucket: entry(counts[b], with_iou=True) for b, bucket in enumerate(SIZE_BUCKETS)}
        return table

    def calibration_summary(self) -> dict | None:
        """{"ece", "bins": [{"low", "high", "pixels", "confidence", "accuracy"} x 15], "per_class_ece"}, or None."""
        if self.calibration is None:
            return None
        sums = np.asarray(self.calibration)
        return {
            "ece": finite_or_none(calibration_error(sums.sum(axis=0))),
            "bins": calibration_bins(sums.sum(axis=0)),
            "per_class_ece": [finite_or_none(v) for v in calibration_error(sums)],
        }

    def uncertainty_summary(self) -> dict | None:
        """{"auroc": normalised-entropy ROC AUC for wrong pixels, "flip_label_change": share or None}, or None."""
        if self.entropy_histogram is None:
            return None
        flips = self.flip_changes
        change = float(flips[0] / flips[1]) if flips is not None and flips[1] > 0 else None
        return {"auroc": finite_or_none(histogram_auroc(self.entropy_histogram)), "flip_label_change": change}

    def _add_failure_json(self, doc: dict, per_class: list[dict]) -> None:
        """Boundary IoU and objects per class; boundary_ratio, calibration and uncertainty at the top (null when
        not computed)."""
        for c, row in enumerate(per_class):
            row["boundary_iou"] = finite_or_none(self.boundary_iou[c]) if self.boundary_iou is not None else None
            row["objects"] = self.object_table(c)
        mean = self.boundary_iou is not None and not np.isnan(self.boundary_iou).all()
        doc["mean_boundary_iou"] = finite_or_none(np.nanmean(self.boundary_iou)) if mean else None
        doc["boundary_ratio"] = self.boundary_ratio if self.per_image_boundary is not None else None
        doc["calibration"] = self.calibration_summary()
        doc["uncertainty"] = self.uncertainty_summary()

    def save(self, path: str | Path) -> Path:
        """Write a folder (atomically): ``evaluation.json`` (the JSON document) and ``arrays.npz``."""
        path = Path(path)
        arrays = {"confusion": self.confusion, "per_image_confusion": self.per_image_confusion}
        if self.per_image_distances is not None:
            arrays.update({f"distance_{k}": np.asarray(v) for k, v in self.per_image_distances.items()})
        for key in _OPTIONAL_ARRAYS:
            if getattr(self, key) is not None:
                arrays[key] = np.asarray(getattr(self, key))
        if self.per_image_confidence is not None:
            arrays.update({f"confidence_{k}": np.asarray(v) for k, v in self.per_image_confidence.items()})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        doc = self.to_json_dict()
        doc["sample_ids"] = self.sample_ids
        doc["format_version"] = _FORMAT_VERSION
        with atomic_dir(path) as tmp:
            atomic_write_bytes(tmp / "arrays.npz", buffer.getvalue())
            atomic_write_json(tmp / "evaluation.json", doc)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Evaluation:
        """Read a folder written by ``save``."""
        path = Path(path)
        try:
            doc = json.loads((path / "evaluation.json").read_text(encoding="utf-8"))
            with np.load(path / "arrays.npz", allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError, KeyError) as exc:
            raise SegdashError(f"cannot read the saved evaluation in {str(path)!r}: {exc}") from None
        distances = {k[len("distance_"):]: v for k, v in arrays.items() if k.startswith("distance_")} or None
        confidence = {k[len("confidence_"):]: v for k, v in arrays.items() if k.startswith("confidence_")} or None
        return cls(
            dataset=doc.get("dataset", ""), split=doc.get("split", ""), classes=tuple(doc["classes"]),
            confusion=arrays["confusion"], sample_ids=doc["sample_ids"],
            per_image_confusion=arrays["per_image_confusion"], per_image_distances=distances,
            ignore_index=doc.get("ignore_index"), seconds=float(doc.get("seconds", 0.0)),
            forward_seconds=float(doc.get("forward_seconds", 0.0)), device=doc.get("device", ""),
            source=doc.get("source", ""), total_images=doc.get("total_images"),
            cancelled=bool(doc.get("cancelled", False)), boundary_ratio=doc.get("boundary_ratio"),
            per_image_confidence=confidence, **{key: arrays.get(key) for key in _OPTIONAL_ARRAYS},
            skipped=[(str(s["sample_id"]), str(s["reason"])) for s in doc.get("skipped", [])],
        )  # fmt: skip

    def __repr__(self) -> str:
        state = ", cancelled" if self.cancelled else ""
        return (f"<Evaluation {self.dataset}/{self.split}: {self.images} images, mean IoU "
                f"{self.scores.mean_iou:.3f}, mean Dice {self.scores.mean_dice:.3f}{state}>")


# --- reading batches in the background ------------------------------------------------------------


@dataclasses.dataclass
class _Batch:
    """Consecutive same-size samples: images (list of HxWxC), masks (N, H, W), optional predictions."""

    ids: list[str]
    images: list[np.ndarray]
    masks: np.ndarray
    preds: np.ndarray | None = None


class _Prefetch:
    """Runs an iterator in a daemon thread, ``depth`` items ahead; errors surface in the consumer."""

    _DONE = object()

    def __init__(self, items: Iterable, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(items),), daemon=True, name="segdash-prefetch")
        self._thread.start()

    def _run(self, items: Iterator) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(exc)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _prediction_path(pred_dir: Path, sample_id: str) -> Path | None:
    """``<pred_dir>/<sample_id>.png``, or by the id's last path part (what ``segdash predict`` writes)."""
    for candidate in (pred_dir / f"{sample_id}.png", pred_dir / f"{Path(sample_id).name}.png"):
        if candidate.is_file():
            return candidate
    return None


def _check_pred_dir(pred_dir: Path, ids: Sequence[str]) -> dict[str, Path]:
    if not pred_dir.is_dir():
        raise SegdashError(f"prediction folder {str(pred_dir)!r} does not exist")
    paths = {sid: _prediction_path(pred_dir, sid) for sid in ids}
    missing = [sid for sid, p in paths.items() if p is None]
    if missing:
        shown = ", ".join(f"{Path(s).name}.png" for s in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SegdashError(
            f"{len(missing)} of {len(ids)} predictions are missing in {str(pred_dir)!r} ({shown}); "
            "write them with 'segdash predict' or point --pred-dir at the folder that holds <sample_id>.png"
        )
    return paths  # type: ignore[return-value]


def _read_prediction(path: Path, mask: np.ndarray, num_classes: int, sample_id: str) -> np.ndarray:
    from segdash.data.imageio import read_label_image

    pred = read_label_image(path)
    if pred.shape != mask.shape:
        raise SegdashError(
            f"prediction {path.name} is {pred.shape[1]}x{pred.shape[0]} but the mask of {sample_id!r} is "
            f"{mask.shape[1]}x{mask.shape[0]}; predictions must have the image's size"
        )
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        bad = np.unique(pred[(pred < 0) | (pred >= num_classes)])[:10].tolist()
        raise SegdashError(
            f"prediction {path.name} holds label(s) {bad} outside the {num_classes} classes 0..{num_classes - 1}"
        )
    return pred


def _batches(dataset, split: str, ids: Sequence[str], batch_size: int,
             pred_paths: dict[str, Path] | None = None, skipped: list | None = None) -> Iterator[_Batch]:
    """Load samples in order, grouping consecutive same-size ones into batches of up to ``batch_size``.

    A sample that cannot be read or does not fit (``SegdashError``) is appended to ``skipped`` as
    ``(sample_id, why)`` and left out; with ``skipped=None`` it ends the run instead (``--strict``).
    """
    group: list = []

    def flush() -> _Batch:
        masks = np.stack([m for _, m, _, _ in group])
        preds = np.stack([p for _, _, _, p in group]) if pred_paths is not None else None
        return _Batch(ids=[s for _, _, s, _ in group], images=[i for i, _, _, _ in group], masks=masks, preds=preds)

    for sample_id in ids:
        try:
            image, mask = _load_for_scoring(dataset, split, sample_id, masks_only=pred_paths is not None)
        except SegdashError as exc:
            if skipped is None:
                raise
            skipped.append((str(sample_id), str(exc)))
            continue
        pred = None
        if pred_paths is not None:  # a prediction that does not fit its mask is the user's to fix: it stops the run
            pred = _read_prediction(pred_paths[sample_id], mask, dataset.num_classes, sample_id)
        if group and (len(group) >= batch_size or group[0][1].shape != mask.shape):
            yield flush()
            group = []
        group.append((image, mask, sample_id, pred))
    if group:
        yield flush()


# --- label-map metrics in the background ----------------------------------------------------------


def _load_for_scoring(dataset, split: str, sample_id: str, masks_only: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """(image, or None with ``masks_only``; mask) of one sample; ``SegdashError`` when it cannot be scored."""
    if masks_only:
        image, mask = None, dataset.load_mask(split, sample_id)
    else:
        image, mask, _ = dataset.load(split, sample_id)
    if mask is None:
        raise SegdashError(f"sample {sample_id!r} of split {split!r} has no mask: nothing to evaluate against")
    return image, mask


def _batch_distances(preds: np.ndarray, masks: np.ndarray, num_classes: int,
                     ignore_index: int | None) -> dict[str, np.ndarray]:
    """(N, H, W) label maps -> {"hd95", "assd", "rad": (N, C)}."""
    rows = [distance_metrics(p, m, num_classes, ignore_index) for p, m in zip(preds, masks)]
    return {k: np.stack([r[k] for r in rows]) for k in DISTANCE_METRICS}


def _batch_cpu_metrics(preds: np.ndarray, masks: np.ndarray, num_classes: int, ignore_index: int | None,
                       distances: bool, boundary_ratio: float | None) -> dict[str, np.ndarray]:
    """What needs the (N, H, W) label maps on the CPU: distances {"hd95", "assd", "rad": (N, C)} and, with a
    ``boundary_ratio``, {"boundary": (N, 2, C), "objects": (N, C, 3, 6)}."""
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


def _split_ids(dataset, split: str, limit: int | None) -> list[str]:
    dataset.check_split(split)
    if not dataset.has_masks(split):
        raise SegdashError(f"split {split!r} of {dataset.name!r} has no masks: evaluate needs ground truth")
    ids = list(dataset.ids(split))
    if limit is not None:
        if limit < 1:
            raise SegdashError(f"--limit must be at least 1, got {limit}")
        ids = evenly_spaced(ids, limit)
    if not ids:
        raise SegdashError(f"split {split!r} of {dataset.name!r} is empty")
    return ids


def _check_predictor(predictor, dataset) -> None:
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


def _model_labels(predictor, batch: _Batch, confidence: ConfidenceStats | None):
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


def _prediction_source(dataset, ids: Sequence[str], predictor, pred_dir) -> tuple[torch.device, dict | None, str]:
    """(device the counts accumulate on, prediction files by id or None, what produced the predictions)."""
    if predictor is not None:
        _check_predictor(predictor, dataset)
        source = str(getattr(getattr(predictor, "meta", None), "arch", "") or type(predictor).__name__)
        return torch.device(getattr(predictor, "device", "cpu")), None, source
    pred_dir = Path(pred_dir).expanduser()
    return torch.device("cpu"), _check_pred_dir(pred_dir, ids), str(pred_dir)


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
    predictor=None,
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
    """Score ``predictor`` (anything with ``predict_labels(images) -> (N, H, W) tensor`` and
    ``device``), or the label PNGs ``<pred_dir>/<sample_id>.png``, on ``split`` of ``dataset``.

    ``progress(done, total)`` is called after every batch; ``should_stop()`` is checked between
    batches and, when true, ends the run early with ``cancelled=True`` and the images done so far.
    ``limit``: only ``limit`` images, evenly spaced over the split (``segdash.data.splits.evenly_spaced``). ``distances``: also HD95 / ASSD / area difference.
    ``failure_metrics``: also Boundary IoU (band ``boundary_ratio`` of the diagonal) and objects, and
    calibration and uncertainty when the predictor has ``predict_probabilities``.
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
    ids = _split_ids(dataset, split, limit)
    if shard is not None:
        ids = shard_of(ids, *shard)
    num_classes, ignore_index = dataset.num_classes, dataset.ignore_index
    device, pred_paths, source = _prediction_source(dataset, ids, predictor, pred_dir)
    confidence = None
    if predictor is not None and failure_metrics and hasattr(predictor, "predict_probabilities"):
        confidence = ConfidenceStats(num_classes, ignore_index, device=device)

    accumulator = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=device)
    rows = _PerImage(len(ids))
    cpu = _CpuMetrics(rows, num_classes, ignore_index, distances, ratio, distance_workers)
    forward_seconds, done, cancelled = 0.0, 0, False
    skipped: list[tuple[str, str]] = []
    batches = _Prefetch(_batches(dataset, split, ids, batch_size, pred_paths, None if strict else skipped), depth=2)
    try:
        if progress is not None:
            progress(0, len(ids))
        for batch in batches:
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
        batches.close()
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


# --- putting shards together ----------------------------------------------------------------------

#: Fields summed over shards (split totals); the per-image arrays are put one after the other instead.
_SUMMED = ("confusion", "objects", "calibration", "entropy_histogram", "flip_changes")
_PER_IMAGE_ARRAYS = ("per_image_confusion", "per_image_boundary", "per_image_objects")
_PER_IMAGE_DICTS = ("per_image_distances", "per_image_confidence")


def merge_evaluations(parts: Sequence[Evaluation]) -> Evaluation:
    """One ``Evaluation`` from the evaluations of consecutive shards of a split, given in shard order.

    Counts and sums add up, per-image rows and skipped samples follow each other, so the result is
    the one a single process would give. ``seconds`` and ``forward_seconds`` are the slowest shard's
    (the shards ran side by side); device and source are the first shard's.
    """
    if not parts:
        raise ValueError("merge_evaluations needs at least one evaluation")
    first = parts[0]
    if any(p.classes != first.classes or p.boundary_ratio != first.boundary_ratio for p in parts):
        raise ValueError("the shards were scored with different classes or boundary ratios")
    merged = {key: _sum_arrays([getattr(p, key) for p in parts]) for key in _SUMMED}
    merged.update({key: _concat_arrays([getattr(p, key) for p in parts]) for key in _PER_IMAGE_ARRAYS})
    for key in _PER_IMAGE_DICTS:
        dicts = [getattr(p, key) for p in parts if getattr(p, key) is not None]
        merged[key] = {k: _concat_arrays([d[k] for d in dicts]) for k in dicts[0]} if dicts else None
    return dataclasses.replace(
        first, **merged, sample_ids=[sid for p in parts for sid in p.sample_ids],
        total_images=sum(p.total_images or 0 for p in parts), cancelled=any(p.cancelled for p in parts),
        seconds=max(p.seconds for p in parts), forward_seconds=max(p.forward_seconds for p in parts),
        skipped=[pair for p in parts for pair in p.skipped],
    )  # fmt: skip


def _sum_arrays(arrays: list[np.ndarray | None]) -> np.ndarray | None:
    """The sum of the arrays that are there (a shard with no image may have none); None when none is."""
    present = [np.asarray(a) for a in arrays if a is not None]
    return np.sum(present, axis=0) if present else None


def _concat_arrays(arrays: list[np.ndarray | None]) -> np.ndarray | None:
    """The arrays that are there, one after the other along the images; None when none is."""
    present = [np.asarray(a) for a in arrays if a is not None]
    return np.concatenate(present, axis=0) if present else None
