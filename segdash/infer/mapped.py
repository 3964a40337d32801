"""A predictor in a dataset's classes: a model of other classes (ADE20K's 150 on a Cityscapes folder) mapped onto them.

    predictor = for_dataset(Predictor.from_checkpoint("segformer-ade"), dataset)          # by name
    predictor = for_dataset(predictor, dataset, class_map="ade2city.csv")                  # from a file
    evaluate(dataset, "val", predictor)        # scored in the dataset's classes, no per-family code
    predictor.summary()                        # the mapping, and how many pixels went to unmapped classes

The probability of a dataset class is the sum of the probabilities of the model classes mapped onto it,
renormalised over the mapped classes; a pixel's label is the most probable dataset class. A pixel whose
most probable *model* class is unmapped (the model said "sky" on a dataset without sky) is counted apart
(``unmapped_pixels``), and its label is its most probable dataset class: the scores count it like any
other, and the count says how much of the map stood on such guesses.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import numpy as np
import torch

from segdash.models.checkpoint import channel_note, check_compatible
from segdash.models.class_mapping import ClassMapping
from segdash.models.outputs import class_labels


def for_dataset(predictor, dataset, class_map=None):
    """``predictor`` itself when its classes are the dataset's, else a ``MappedPredictor`` onto them;
    ``SegdashError`` when no class maps (see ``check_compatible``)."""
    mapping = check_compatible(predictor.meta, dataset, class_map)
    if mapping.identity:
        return predictor
    return MappedPredictor(predictor, mapping, colors=getattr(dataset, "colors", None))


def mapping_notes(meta, dataset, class_map=None) -> list[str]:
    """What is done to fit a checkpoint to a dataset, one sentence each: the class mapping (unless the classes are
    the same) and the channel conversion (unless the channels are)."""
    mapping = check_compatible(meta, dataset, class_map)
    notes = [] if mapping.identity else [mapping.describe()]
    channels = channel_note(meta.in_channels, dataset.in_channels)
    return notes + ([channels] if channels else [])


class MappedPredictor:
    """``inner`` (any predictor with ``meta``, ``predict_probabilities`` and ``predict_batch``) giving labels and
    probabilities in ``mapping.dataset_classes``. Counts are kept per instance: make one per evaluation."""

    def __init__(self, inner, mapping: ClassMapping, colors: Sequence | None = None):
        from segdash.data.formats.colors import default_colors

        self.inner, self.mapping = inner, mapping
        self.device = inner.device
        self.tta = getattr(inner, "tta", False)
        self.backend = getattr(inner, "backend", "torch")
        classes = list(mapping.dataset_classes)
        colors = [tuple(c) for c in colors][: len(classes)] if colors else list(default_colors(len(classes)))
        if len(colors) < len(classes):
            colors = list(default_colors(len(classes)))
        self.meta = dataclasses.replace(inner.meta, classes=classes, colors=colors)
        self.notes = [*getattr(inner, "notes", []), mapping.describe()]
        target = torch.tensor(mapping.target, dtype=torch.int64)
        self._mapped = torch.nonzero(target >= 0).flatten()
        self._target = target[self._mapped]
        self._unmapped = target < 0
        self._lock = threading.Lock()
        self.predicted_pixels = 0
        self.unmapped_pixels = 0
        self._unmapped_counts = torch.zeros(len(mapping.model_classes), dtype=torch.int64)

    # --- what evaluate and compare call -----------------------------------------------------------------

    def predict_labels(self, images) -> torch.Tensor:
        """(N, H, W) int64 labels in the dataset's classes."""
        probs, _ = self.predict_probabilities(images)
        return class_labels(probs)

    def predict_probabilities(self, images) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, K_dataset, H, W) probabilities and the inner predictor's TTA flip changes."""
        probs, changed = self.inner.predict_probabilities(images)
        return self._map(probs), changed

    def predict(self, image: np.ndarray):
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[np.ndarray]) -> list:
        """The inner predictions with labels and probabilities in the dataset's classes, and a note saying how
        much of each image was predicted as unmapped model classes."""
        out = []
        for prediction in self.inner.predict_batch(images):
            probs = self._map(torch.from_numpy(prediction.probs)[None])[0]
            share = float(self._unmapped[torch.from_numpy(np.asarray(prediction.labels))].float().mean())
            notes = [*prediction.notes, self.mapping.describe()]
            if share > 0:
                notes.append(f"{share:.1%} of the pixels were predicted as model classes the dataset lacks; each "
                             "shows as its most probable dataset class")  # fmt: skip
            out.append(dataclasses.replace(prediction, labels=class_labels(probs[None])[0].numpy(),
                                           probs=probs.numpy(), notes=notes))  # fmt: skip
        return out

    def describe(self) -> str:
        return f"{self.inner.describe()}; {self.mapping.describe()}"

    def plan(self, height: int, width: int) -> str:
        return self.inner.plan(height, width)

    @property
    def num_classes(self) -> int:
        return len(self.mapping.dataset_classes)

    def summary(self) -> dict:
        """The mapping and the pixels predicted so far as unmapped model classes (JSON-ready)."""
        with self._lock:
            counts = self._unmapped_counts.tolist()
            total, unmapped = self.predicted_pixels, self.unmapped_pixels
        by_class = {name: counts[i] for i, name in enumerate(self.mapping.model_classes) if counts[i]}
        return {**self.mapping.to_dict(), "predicted_pixels": total, "unmapped_pixels": unmapped,
                "unmapped_share": unmapped / total if total else None,
                "unmapped_by_class": dict(sorted(by_class.items(), key=lambda kv: -kv[1]))}  # fmt: skip

    # --- the mapping ----------------------------------------------------------------------------------------

    def _map(self, probs: torch.Tensor) -> torch.Tensor:
        """(N, K_model, H, W) -> (N, K_dataset, H, W), counting the pixels whose model class is unmapped."""
        top = class_labels(probs)
        counts = torch.bincount(top.reshape(-1), minlength=len(self.mapping.model_classes)).cpu()
        counts = torch.where(self._unmapped, counts, torch.zeros_like(counts))
        with self._lock:
            self._unmapped_counts += counts
            self.unmapped_pixels += int(counts.sum())
            self.predicted_pixels += int(top.numel())
        n, _, height, width = probs.shape
        mapped = torch.zeros((n, len(self.mapping.dataset_classes), height, width), dtype=probs.dtype, device=probs.device)
        mapped.index_add_(1, self._target.to(probs.device), probs.index_select(1, self._mapped.to(probs.device)))
        return mapped.div_(mapped.sum(dim=1, keepdim=True).clamp_min_(torch.finfo(mapped.dtype).tiny))


def mapping_summary(predictor) -> dict | None:
    """``MappedPredictor.summary()`` of a (possibly wrapped) predictor, or None when no mapping ran."""
    for candidate in (predictor, getattr(predictor, "inner", None)):
        if isinstance(candidate, MappedPredictor):
            return candidate.summary()
    return None


def summary_line(summary: dict | None) -> str:
    """The mapping and its unmapped pixels in one line, for the CLI and the pages ("" without a mapping)."""
    if not summary:
        return ""
    how = summary["how"]
    mapped = len(summary["model_classes"]) - len(summary["unmapped"])
    text = f"classes mapped {how} ({mapped} of {len(summary['model_classes'])} model classes)"
    if summary["unpredicted"]:
        text += f"; never predicted: {', '.join(summary['unpredicted'][:6])}"
    share = summary.get("unmapped_share")
    if share:
        top = ", ".join(list(summary["unmapped_by_class"])[:4])
        text += (f"; {share:.1%} of the predicted pixels were unmapped model classes ({top}), counted apart and "
                 "scored as their most probable dataset class")  # fmt: skip
    elif share == 0:
        text += "; no pixel was predicted as an unmapped model class"
    return text
