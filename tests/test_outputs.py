"""One per-pixel argmax (``class_labels``) and one pass per batch of small images in the Predictor."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from segdash.data.base import Normalization
from segdash.infer.predictor import Predictor
from segdash.models import CheckpointMeta
from segdash.models.outputs import class_labels, single_output


def test_class_labels_equal_numpy_argmax_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, (3, 5, 17, 19)).astype(np.float32)  # many ties among the 5 classes
    got = class_labels(torch.from_numpy(scores))
    assert got.dtype == torch.int64 and got.shape == (3, 17, 19)
    np.testing.assert_array_equal(got.numpy(), scores.argmax(axis=1))  # numpy: the first of tied maxima


def test_single_output_keeps_the_masks_of_an_aux_head():
    masks = torch.zeros(1, 2, 4, 4)
    assert single_output((masks, torch.zeros(1, 2))) is masks
    assert single_output(masks) is masks


class CountingFCN(nn.Module):
    """A 1x1 convolution that counts its forward calls and the batch sizes it saw."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 1)
        self.batches: list[int] = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return self.conv(x)


def counting_predictor(**options) -> tuple[Predictor, CountingFCN]:
    model = CountingFCN()
    meta = CheckpointMeta(arch="Unet", encoder="test", classes=["a", "b", "c"], colors=[(0, 0, 0)] * 3,
                          in_channels=1, normalization=Normalization.identity(1), ignore_index=None)
    return Predictor(model, meta, device="cpu", backend="torch", **options), model


def test_small_images_go_through_the_model_in_one_pass():
    predictor, model = counting_predictor()
    images = [np.random.default_rng(i).random((64, 64, 1), dtype=np.float32) for i in range(8)]
    predictions = predictor.predict_batch(images)
    assert model.batches == [8]  # one pass, no concatenation of chunks
    single = [predictor.predict(image).labels for image in images]
    for prediction, alone in zip(predictions, single):
        np.testing.assert_array_equal(prediction.labels, alone)


def test_a_pixel_budget_splits_large_batches_and_an_explicit_batch_size_caps_them():
    predictor, model = counting_predictor()
    predictor.predict_batch([np.zeros((512, 512, 1), np.float32)] * 5)  # 1 MP per pass: 4 images of 512x512
    assert model.batches == [4, 1]
    predictor, model = counting_predictor(batch_size=2)
    predictor.predict_batch([np.zeros((64, 64, 1), np.float32)] * 5)
    assert model.batches == [2, 2, 1]


def test_plan_says_how_an_image_will_run():
    predictor, _ = counting_predictor(tile_size=1024)
    assert predictor.plan(512, 512) == "one pass"
    # 2500 px with 1024 windows sharing a quarter: starts 0, 768 and 1476 on each axis
    assert predictor.plan(2500, 2500) == "9 overlapping windows of 1024x1024"
    predictor.meta = dataclasses.replace(predictor.meta, input_size=192)
    assert predictor.plan(2048, 1024) == "resized to the model's 192x192 input and back"
