"""What the evaluation pass needs of a model: the ``Predictor`` protocol.

    isinstance(model, Predictor)               # predict_labels + device: evaluate can score it
    isinstance(model, ProbabilityPredictor)    # + predict_probabilities: calibration and uncertainty too

``segdash.infer.predictor.Predictor`` (segdash's checkpoints) is one implementation; an adapter for
another model family (transformers, torchvision, ONNX files) is another, as long as it answers these
calls. ``evaluate`` depends on this protocol only, never on a class.

Optional: ``meta`` with ``classes`` (checked against the dataset's before scoring) and ``arch``
(names the source of the predictions in the result).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Predictor(Protocol):
    """Labels a batch of images: what ``evaluate`` needs to score a model."""

    #: where the labels come back (the confusion counts accumulate there)
    device: torch.device | str

    def predict_labels(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Images (HxWxC, any size; one batch has one size) -> (N, H, W) int64 class indices at the images' size."""
        ...


@runtime_checkable
class ProbabilityPredictor(Predictor, Protocol):
    """A ``Predictor`` that also gives its class probabilities (calibration and uncertainty need them)."""

    def predict_probabilities(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images -> ((N, K, H, W) float probabilities on ``device``, (N, H, W) bool pixels whose label changed
        between flipped test-time-augmentation runs, or None without them)."""
        ...
