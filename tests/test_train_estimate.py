"""The training-time estimate: a measured step on a small model, scaled by steps, epochs and validation."""

import math
from types import SimpleNamespace

import pytest

from segdash.train.config import TrainConfig
from segdash.train.estimate import TimeEstimate, estimate_training_time, steps_per_epoch


def small_dataset(train: int, val: int):
    ids = {"train": [f"t{i}" for i in range(train)], "val": [f"v{i}" for i in range(val)]}
    return SimpleNamespace(in_channels=1, num_classes=3, ids=ids.__getitem__)


def test_steps_per_epoch_match_the_trainers_loader():
    assert steps_per_epoch(10, 4) == 2  # the partial last batch is dropped when a full one exists
    assert steps_per_epoch(3, 4) == 1 and steps_per_epoch(8, 4) == 2 and steps_per_epoch(0, 4) == 0


def test_estimate_is_positive_finite_and_scales_with_epochs():
    config = TrainConfig(arch="Unet", encoder="mobilenet_v2", pretrained="none", batch_size=2, img_size=32,
                         epochs=1, device="cpu", limit=6)
    one = estimate_training_time(config, small_dataset(train=10, val=5), steps=1)
    assert math.isfinite(one.total_seconds) and one.step_seconds > 0 and one.val_batch_seconds > 0
    assert one.steps_per_epoch == 3 and one.val_batches == 3  # limit 6: 6 train images / 2, 5 val images / 2
    ten = TimeEstimate(one.step_seconds, one.steps_per_epoch, one.val_batch_seconds, one.val_batches, epochs=10)
    assert ten.total_seconds == pytest.approx(10 * one.total_seconds)
    assert one.total_seconds == pytest.approx(3 * one.step_seconds + 3 * one.val_batch_seconds)
    assert "x 3 steps x 1 epochs + validation" in one.describe() and "on this machine" in one.describe()


def test_describe_says_minutes_for_long_runs():
    estimate = TimeEstimate(step_seconds=1.5, steps_per_epoch=14, val_batch_seconds=0.5, val_batches=4, epochs=12)
    assert estimate.total_seconds == pytest.approx(12 * (21 + 2))
    assert estimate.describe().startswith("about 5 min on this machine (step 1.5 s x 14 steps x 12 epochs")
