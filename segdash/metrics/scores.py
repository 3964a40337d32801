"""Per-class and mean scores from a confusion matrix (rows = ground truth, columns = prediction).

Two steps, as in segmentation_models_pytorch: ``confusion_stats`` gives tp, fp, fn, tn per class,
then each score is a one-line formula through one shared ``_ratio`` helper. Everything works on a
single (C, C) matrix or a stack (..., C, C) of per-image matrices.

Undefined values stay undefined: every 0/0 is NaN (``None`` in JSON), never 0 or 1, and the means
leave NaN out (scikit-learn's ``zero_division=np.nan``). A class absent from both the ground truth
and the prediction has no score at all. A class the model never predicts has no precision (0/0)
but a recall, IoU and Dice of 0; a class predicted where the ground truth has none has no recall
but a precision, IoU and Dice of 0. Specificity is NaN when the class covers every pixel (no
negatives). ``UNDEFINED_NOTE`` says this wherever the scores are shown.

    scores = scores_from_confusion(cm, ["background", "csf", "grey matter", "white matter"])
    scores.mean_dice, scores.dice, scores.to_frame(), scores.to_dict()
    scores.mean_over("dice", exclude=["background"])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from segdash.jsonsafe import json_number

#: Shown beside every mean: what a blank means, and that the means leave blanks out.
UNDEFINED_NOTE = (
    "An undefined score (None in the tables, null in JSON) is 0/0: every score of a class absent from both the "
    "ground truth and the prediction; precision of a class never predicted; recall of a class absent from the "
    "ground truth. Undefined scores are left out of the means."
)

#: Value of a score whose denominator is 0 (scikit-learn's ``zero_division``): undefined.
ZERO_DIVISION = math.nan

#: The per-class scores, in the order tables show them.
PER_CLASS_SCORES = ("iou", "dice", "precision", "recall", "specificity")


def confusion_stats(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(..., C, C) confusion counts -> tp, fp, fn, tn, each (..., C) int64."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fp = cm.sum(axis=-2) - tp
    fn = cm.sum(axis=-1) - tp
    tn = cm.sum(axis=(-2, -1))[..., None] - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(numerator: np.ndarray, denominator: np.ndarray, defined: np.ndarray,
           zero_division: float = ZERO_DIVISION) -> np.ndarray:
    """numerator / denominator as float64: NaN where not ``defined``, ``zero_division`` (NaN) where 0/0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = numerator / denominator
    value = np.where(denominator == 0, zero_division, value)
    return np.where(defined, value, np.nan)


def iou_score(tp, fp, fn, tn, defined):
    return _ratio(tp, tp + fp + fn, defined)


def dice_score(tp, fp, fn, tn, defined):
    return _ratio(2 * tp, 2 * tp + fp + fn, defined)


def precision_score(tp, fp, fn, tn, defined):
    return _ratio(tp, tp + fp, defined)


def recall_score(tp, fp, fn, tn, defined):
    return _ratio(tp, tp + fn, defined)


def specificity_score(tp, fp, fn, tn, defined):
    return _ratio(tn, tn + fp, defined & (tn + fp > 0))


_FORMULAS = {
    "iou": iou_score,
    "dice": dice_score,
    "precision": precision_score,
    "recall": recall_score,
    "specificity": specificity_score,
}


def _macro(values: np.ndarray) -> np.ndarray | float:
    """Mean over the last axis, leaving NaN (undefined) out; NaN when nothing is defined."""
    values = np.asarray(values, dtype=np.float64)
    count = np.sum(~np.isnan(values), axis=-1)
    total = np.nansum(values, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return float(mean) if mean.ndim == 0 else mean


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """(..., C, C) -> {"iou", "dice", "precision", "recall", "specificity": (..., C) float64, "defined": bool}."""
    tp, fp, fn, tn = confusion_stats(cm)
    defined = (tp + fp + fn) > 0
    out = {name: formula(tp, fp, fn, tn, defined) for name, formula in _FORMULAS.items()}
    out["defined"] = defined
    return out


def pixel_accuracy(cm: np.ndarray) -> np.ndarray | float:
    """(..., C, C) -> share of (non-ignored) pixels labelled right; NaN for an empty matrix."""
    cm = np.asarray(cm, dtype=np.int64)
    correct = np.trace(cm, axis1=-2, axis2=-1)
    total = cm.sum(axis=(-2, -1))
    value = _ratio(correct, total, total > 0)
    return float(value) if np.ndim(value) == 0 else value


@dataclasses.dataclass(frozen=True)
class Scores:
    """Scores of one confusion matrix. Per-class arrays are (C,) in class order; NaN = undefined."""

    classes: tuple[str, ...]
    confusion: np.ndarray  # (C, C) int64, rows = ground truth
    iou: np.ndarray
    dice: np.ndarray
    precision: np.ndarray
    recall: np.ndarray  # = sensitivity
    specificity: np.ndarray
    support: np.ndarray  # (C,) int64 ground-truth pixels per class
    predicted: np.ndarray  # (C,) int64 predicted pixels per class
    defined: np.ndarray  # (C,) bool: present in the ground truth or the prediction
    mean_iou: float
    mean_dice: float
    pixel_accuracy: float
    frequency_weighted_iou: float
    frequency_weighted_dice: float
    macro_precision: float
    macro_recall: float
    macro_specificity: float

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def pixels(self) -> int:
        """Pixels counted (ignored pixels excluded)."""
        return int(self.confusion.sum())

    def class_index(self, name_or_index: str | int) -> int:
        if isinstance(name_or_index, (int, np.integer)):
            if not 0 <= name_or_index < self.num_classes:
                raise IndexError(f"class index {name_or_index} outside 0..{self.num_classes - 1}")
            return int(name_or_index)
        try:
            return self.classes.index(name_or_index)
        except ValueError:
            raise KeyError(f"no class {name_or_index!r}; classes: {', '.join(self.classes)}") from None

    def mean_over(self, metric: str = "dice", classes: Sequence[str | int] | None = None,
                  exclude: Sequence[str | int] = ()) -> float:
        """Mean of a per-class score over some classes (defined ones only).

        >>> scores.mean_over("dice", exclude=["background"])   # Dice over the foreground classes
        """
        values = getattr(self, metric)
        chosen = range(self.num_classes) if classes is None else [self.class_index(c) for c in classes]
        dropped = {self.class_index(c) for c in exclude}
        picked = [values[i] for i in chosen if i not in dropped]
        return _macro(np.asarray(picked, dtype=np.float64)) if picked else math.nan

    def per_class(self) -> list[dict]:
        """One dict per class: name, the scores (None where undefined), support, predicted pixels."""
        rows = []
        for i, name in enumerate(self.classes):
            row = {"name": name}
            row.update({metric: json_number(getattr(self, metric)[i]) for metric in PER_CLASS_SCORES})
            row.update(support=int(self.support[i]), predicted=int(self.predicted[i]), defined=bool(self.defined[i]))
            rows.append(row)
        return rows

    def summary(self) -> dict[str, float | None]:
        """The means, None where undefined."""
        keys = ("mean_iou", "mean_dice", "pixel_accuracy", "frequency_weighted_iou", "frequency_weighted_dice",
                "macro_precision", "macro_recall", "macro_specificity")
        return {key: json_number(getattr(self, key)) for key in keys}

    def to_dict(self) -> dict:
        """JSON-ready, the layout of ``segdash evaluate --json`` (undefined values as None)."""
        return {
            "classes": list(self.classes),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": self.per_class(),
            **self.summary(),
            "note": UNDEFINED_NOTE,
        }

    def to_frame(self):
        """pandas DataFrame, one row per class (index = class name), NaN where undefined."""
        import pandas as pd

        frame = pd.DataFrame({metric: getattr(self, metric) for metric in PER_CLASS_SCORES},
                             index=pd.Index(list(self.classes), name="class"))
        frame["support"] = self.support
        frame["predicted"] = self.predicted
        frame["defined"] = self.defined
        return frame


def scores_from_confusion(cm: np.ndarray, class_names: Sequence[str] | None = None) -> Scores:
    """(C, C) confusion counts (rows = ground truth) -> ``Scores``.

    ``class_names`` defaults to "0", "1", ...; its length must match C.
    """
    cm = np.asarray(cm, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"expected a square (C, C) confusion matrix, got shape {cm.shape}")
    num_classes = cm.shape[0]
    classes = tuple(str(c) for c in (class_names if class_names is not None else range(num_classes)))
    if len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for a {num_classes}x{num_classes} confusion matrix")
    per_class = per_class_scores(cm)
    support = cm.sum(axis=1)
    total = support.sum()
    frequency = support / total if total > 0 else np.zeros(num_classes)
    present = support > 0  # frequency-weighted means: classes without true pixels weigh 0

    def weighted(values: np.ndarray) -> float:
        return float(np.sum(frequency[present] * values[present])) if present.any() else math.nan

    return Scores(
        classes=classes,
        confusion=cm,
        support=support,
        predicted=cm.sum(axis=0),
        mean_iou=_macro(per_class["iou"]),
        mean_dice=_macro(per_class["dice"]),
        pixel_accuracy=pixel_accuracy(cm),
        frequency_weighted_iou=weighted(per_class["iou"]),
        frequency_weighted_dice=weighted(per_class["dice"]),
        macro_precision=_macro(per_class["precision"]),
        macro_recall=_macro(per_class["recall"]),
        macro_specificity=_macro(per_class["specificity"]),
        **per_class,
    )


def per_image_scores(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """(N, C, C) per-image confusion -> per-image means (N,) and per-class scores (N, C): the one place
    that scores single images (the evaluation's per-image table, Compare's paired scores, Predict's caption).

    Keys, as the metric specs name them: "pixel_accuracy", "mean_iou", "mean_dice" (N,); "iou", "dice"
    (N, C), NaN where undefined. One image: ``per_image_scores(cm[None])``.
    """
    matrices = np.asarray(matrices, dtype=np.int64)
    per_class = per_class_scores(matrices)
    return {
        "pixel_accuracy": np.asarray(pixel_accuracy(matrices), dtype=np.float64).reshape(-1),
        "mean_iou": np.asarray(_macro(per_class["iou"]), dtype=np.float64).reshape(-1),
        "mean_dice": np.asarray(_macro(per_class["dice"]), dtype=np.float64).reshape(-1),
        "iou": per_class["iou"],
        "dice": per_class["dice"],
    }
