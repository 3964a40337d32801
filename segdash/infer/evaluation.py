"""The result of scoring a model on a split, its tables, its JSON and its files.

    evaluation = evaluate(ds, "test", predictor=predictor)          # segdash.infer.evaluate: the pass
    evaluation.scores.mean_dice, evaluation.per_image, evaluation.class_table()
    evaluation.worst(8, by="mean_hd95"), evaluation.top_confusions(1, 2)
    evaluation.to_json_dict()                                       # the ``segdash evaluate --json`` document
    evaluation.save("cache/eval"); Evaluation.load("cache/eval")
    merge_evaluations([shard_0, shard_1])                            # one result from a split's shards

An ``Evaluation`` keeps only counts and a few numbers per image (confusion matrices, per-image
distances, boundary and object counts, calibration sums); every score and table is derived from
them. Which metrics there are, their labels, directions and places come from
``segdash.metrics.specs``: the per-image frame, the per-class table and the JSON are built from it.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segdash.errors import SegdashError
from segdash.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json
from segdash.jsonsafe import finite_or_none
from segdash.metrics.boundary import boundary_iou
from segdash.metrics.calibration import calibration_bins, calibration_error, histogram_auroc
from segdash.metrics.distance import DISTANCE_METRICS, aggregate_distances
from segdash.metrics.objects import SIZE_BUCKETS, object_scores
from segdash.metrics.scores import UNDEFINED_NOTE, Scores, per_image_scores, scores_from_confusion
from segdash.metrics.specs import list_metrics, spec_for_column

#: 2: Boundary IoU, objects, calibration and uncertainty (version 1 files load without them).
FORMAT_VERSION = 2
#: Per-image object counts kept (the split's totals keep the size buckets and pixel counts too).
PER_IMAGE_OBJECT_COUNTS = ("gt", "detected", "predicted", "false")
#: Per-image numbers from the probabilities (what ``ConfidenceStats.update`` gives).
CONFIDENCE_METRICS = tuple(spec.key for spec in list_metrics(family="confidence", per_image=True))
#: Added to the note on undefined values when distance metrics were computed.
DISTANCE_NOTE = (
    " Distances (hd95, assd, in pixels) are averaged over the images where the class is in both masks;"
    " images where it is in the ground truth but not predicted are counted in missed, those where it is"
    " predicted but not in the ground truth in spurious (one_sided_images: both). A null hd95/assd with"
    " missed > 0 means the model never found the class where it is: a failure, not 'not applicable'."
    " rad is the split's relative area difference, (predicted - true pixels) / true pixels over all images."
)
#: Per-class counts beside the distances (how many images each mean covers, and the one-sided ones).
DISTANCE_COUNTS = ("missed", "spurious", "one_sided")

#: Array fields of ``Evaluation`` saved under their own name when present.
_OPTIONAL_ARRAYS = ("per_image_boundary", "objects", "per_image_objects", "calibration", "entropy_histogram",
                    "flip_changes")  # fmt: skip


def finite_class_mean(values: np.ndarray) -> np.ndarray:
    """(N, C) values -> (N,) mean over each image's finite values (NaN: undefined, inf: one-sided, are left
    out); NaN for an image with none."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite.any(1), np.where(finite, values, 0).sum(1) / finite.sum(1), np.nan)


@dataclasses.dataclass
class Evaluation:
    """The result of ``evaluate``: counts, scores, per-image rows, distances, timings.

    confusion: (C, C) int64, rows = ground truth; per_image_confusion: (N, C, C) int64 in the
    order of ``sample_ids``; per_image_distances: {"hd95", "hd95_max", "assd", "rad": (N, C) float64}
    (``segdash.metrics.distance.DISTANCE_METRICS``) or None when distances were not computed.
    Derived on construction: ``scores`` (``Scores``), ``per_image`` (DataFrame, one row per image)
    and ``distances`` (DataFrame, one row per class, a column per distance metric and the counts
    missed, spurious, one_sided; empty without distances).

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

    def image_values(self) -> dict[str, np.ndarray]:
        """Every per-image value computed, by the metric specs' names: {per-image column: (N,)} (``mean_dice``,
        ``boundary_iou``, ``mean_hd95``, ...) and {metric key: (N, C)} for the metrics kept per image and class
        (``dice``, ``iou``, ``rad``). One provider per family of the pass."""
        values: dict[str, np.ndarray] = dict(per_image_scores(self.per_image_confusion))
        shape = (self.images, len(self.classes))
        if self.per_image_distances is not None:
            for spec in list_metrics(family="distance"):
                if spec.key not in self.per_image_distances:  # saved before that metric existed
                    continue
                per_class = np.asarray(self.per_image_distances[spec.key], dtype=np.float64).reshape(shape)
                if spec.per_image:
                    values[spec.per_image] = finite_class_mean(per_class)
                if spec.per_image_classes:
                    values[spec.key] = per_class
        if self.per_image_boundary is not None:  # the mean over the classes with a band
            values["boundary_iou"] = finite_class_mean(boundary_iou(self.per_image_boundary).reshape(shape))
        if self.per_image_objects is not None:  # the share of all the image's objects, whatever their class
            counts = np.asarray(self.per_image_objects).sum(axis=1)  # (N, 4) over classes
            gt, detected = counts[:, 0], counts[:, 1]
            values["object_recall"] = np.where(gt > 0, detected / np.maximum(gt, 1), np.nan)
        if self.per_image_confidence is not None:
            values.update({k: np.asarray(v, np.float64) for k, v in self.per_image_confidence.items()})
        return values

    def _per_image_frame(self):
        """sample_id, one column per per-image metric computed (``MetricSpec.per_image``, in the specs' order),
        then ``<metric>/<class>`` for the metrics kept per image and class (dice, iou, rad)."""
        import pandas as pd

        values = self.image_values()
        columns = {"sample_id": self.sample_ids}
        for spec in list_metrics(per_image=True):
            if spec.per_image in values:
                columns[spec.per_image] = values[spec.per_image]
        for spec in list_metrics(per_class=True):
            if spec.per_image_classes and spec.key in values:
                for c, name in enumerate(self.classes):
                    columns[f"{spec.key}/{name}"] = values[spec.key][:, c]
        return pd.DataFrame(columns)

    def class_values(self) -> dict[str, np.ndarray]:
        """Every per-class value over the split computed: {metric key: (C,) float64}, NaN where undefined."""
        values = {spec.key: np.asarray(getattr(self.scores, spec.key), np.float64)
                  for spec in list_metrics(family="overlap", per_class=True)}  # fmt: skip
        if self.boundary_iou is not None:
            values["boundary_iou"] = self.boundary_iou
        if self.objects is not None:
            scores = object_scores(np.asarray(self.objects).sum(axis=1))
            values["object_recall"], values["object_precision"] = scores["recall"], scores["precision"]
        if self.calibration is not None:
            values["ece"] = calibration_error(self.calibration)
        if self.distance_summary is not None:
            values.update({spec.key: self.distance_summary[spec.key] for spec in list_metrics(family="distance")
                           if spec.key in self.distance_summary})  # fmt: skip
        return values

    def class_table(self, families: Sequence[str] | None = None):
        """One row per class: ``name``, every per-class metric computed (in the specs' order, ``families``
        only when given) and ``support`` (ground-truth pixels) after the overlap scores. NaN = undefined."""
        import pandas as pd

        values = self.class_values()
        table = pd.DataFrame({"name": list(self.classes)})
        for spec in list_metrics(per_class=True, tables=True):
            if spec.key in values and (families is None or spec.family in families):
                if spec.family != "overlap" and "support" not in table:
                    table["support"] = self.scores.support
                table[spec.key] = values[spec.key]
        if "support" not in table:
            table["support"] = self.scores.support
        return table

    def _distance_frame(self):
        """One row per class (index = class name): each distance metric (mean over images where defined) and
        the counts missed, spurious and one_sided."""
        import pandas as pd

        if self.distance_summary is None:
            return pd.DataFrame(columns=list(DISTANCE_METRICS), index=pd.Index([], name="class"), dtype=float)
        columns = (*DISTANCE_METRICS, *DISTANCE_COUNTS)
        return pd.DataFrame({m: self.distance_summary[m] for m in columns if m in self.distance_summary},
                            index=pd.Index(list(self.classes), name="class"))  # fmt: skip

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

    def worst(self, k: int | None = 8, by: str = "mean_dice"):
        """The ``k`` worst images (all with ``k=None``) by a ``per_image`` column, as a DataFrame: lowest first,
        highest first for a metric where lower is better (its spec says); undefined values last."""
        if by not in self.per_image.columns:
            raise KeyError(f"no per-image column {by!r}; choose one of {', '.join(self.per_image.columns[1:])}")
        spec = spec_for_column(by)
        descending = spec is not None and spec.lower_is_better
        ranked = self.per_image.sort_values(by, ascending=not descending, na_position="last", kind="stable")
        return ranked if k is None else ranked.head(k)

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
        distances = [s for s in list_metrics(family="distance", per_class=True)
                     if self.distance_summary is not None and s.key in self.distance_summary]  # fmt: skip
        if self.distance_summary is not None:
            for c, row in enumerate(per_class):
                for spec in distances:
                    row[spec.key] = finite_or_none(self.distance_summary[spec.key][c])
                row["distance_images"] = int(self.distance_summary["images"][c])
                row["one_sided_images"] = int(self.distance_summary["one_sided"][c])
                row["missed"] = int(self.distance_summary["missed"][c])
                row["spurious"] = int(self.distance_summary["spurious"][c])
        doc.update(scores)
        self._add_failure_json(doc, per_class)
        doc["per_class"] = per_class
        for spec in distances:
            if spec.per_split:  # the mean over the classes that have a mean distance
                values = self.distance_summary[spec.key]
                doc[spec.per_split] = finite_or_none(np.nanmean(values)) if np.isfinite(values).any() else None
        doc.update(
            seconds=round(self.seconds, 4),
            forward_seconds=round(self.forward_seconds, 4),
            device=self.device,
            source=self.source,
            note=UNDEFINED_NOTE + (DISTANCE_NOTE if self.distance_summary is not None else ""),
        )
        # distances per image stay in the saved arrays: their inf / NaN cases need the per-class counts
        keys = [s.per_image for s in list_metrics(per_image=True) if s.family != "distance" and s.per_image in
                self.per_image]  # fmt: skip
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
        doc["format_version"] = FORMAT_VERSION
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
