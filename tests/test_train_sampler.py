"""Rare-class oversampling: per-image class pixels, sampling weights, and the weighted sampler's draws."""

import numpy as np
import pytest
import torch

from segdash.errors import SegdashError
from segdash.train.config import TrainConfig
from segdash.train.data import InMemorySplit, WeightedShardSampler, image_class_pixels, rare_class_weights


def test_image_class_pixels_counts_each_mask_and_leaves_out_ignore():
    masks = torch.tensor([[[0, 0], [1, 255]], [[2, 2], [2, 0]], [[0, 0], [0, 0]]], dtype=torch.uint8)
    split = InMemorySplit(torch.zeros(3, 1, 2, 2), masks, ["a", "b", "c"])
    expected = np.stack([np.bincount(m[m != 255].ravel(), minlength=3) for m in masks.numpy()])
    np.testing.assert_array_equal(image_class_pixels(split, 3), expected)


def test_rare_class_weights_by_hand():
    # class 2 is rare (2 of 400 pixels = 0.5%); image 0 holds all of it, images 1-3 none
    pixels = np.array([[98, 0, 2], [50, 50, 0], [100, 0, 0], [0, 100, 0]])
    weights = rare_class_weights(pixels, strength=2.0)
    # image shares of class 2: 0.02, 0, 0, 0 -> mean 0.005 -> scores 4, 0, 0, 0
    np.testing.assert_allclose(weights, [1 + 2 * 4, 1, 1, 1])
    assert np.mean((weights - 1) / 2) == pytest.approx(1)  # the average image scores 1
    np.testing.assert_allclose(rare_class_weights(pixels, 0.0), 1)  # off
    np.testing.assert_allclose(rare_class_weights(np.array([[50, 50], [40, 60]]), 3.0), 1)  # no rare class


def test_rare_classes_count_alike_whatever_their_rarity():
    """Two rare classes, one ten times rarer: the images holding either get the same boost."""
    pixels = np.zeros((4, 3), int)
    pixels[:, 0] = 10_000
    pixels[0, 1] = 10  # 0.025%: rarest
    pixels[1, 2] = 100  # 0.25%
    weights = rare_class_weights(pixels, 1.0)
    assert weights[0] == pytest.approx(weights[1]) and weights[2] == weights[3] == 1


def test_weighted_sampler_draws_in_proportion_is_seeded_and_shards():
    weights = np.array([8.0, 1.0, 1.0, 0.0])
    sampler = WeightedShardSampler(weights, seed=3)
    sampler.set_epoch(1)
    first = list(sampler)
    assert len(first) == len(sampler) == 4 and 3 not in first
    assert list(sampler) == first  # the same epoch draws the same indices (a resume repeats them)
    sampler.set_epoch(2)
    draws = []
    for epoch in range(2000):
        sampler.set_epoch(epoch)
        draws += list(sampler)
    share = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(share, weights / weights.sum(), atol=0.02)
    # two processes: equal lengths, together the single draw of the epoch
    shards = [WeightedShardSampler(weights, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    for s in shards:
        s.set_epoch(5)
    a, b = (list(s) for s in shards)
    assert len(a) == len(b) == 2
    whole = torch.multinomial(torch.as_tensor(weights), 4, replacement=True,
                              generator=torch.Generator().manual_seed(3 * 100_003 + 5)).tolist()
    assert a == whole[0::2] and b == whole[1::2]


def test_config_and_cli_take_the_option():
    import argparse

    from segdash.cli.train import build_config, register

    assert TrainConfig.from_dict(TrainConfig(rare_oversample=1.5).to_dict()).rare_oversample == 1.5
    with pytest.raises(SegdashError, match="--rare-oversample"):
        TrainConfig(rare_oversample=-1)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "street-synth", "--rare-oversample", "2", "--loss", "ce+dice",
                              "--class-weights", "median"])
    config = build_config(args)
    assert config.rare_oversample == 2.0 and config.class_weights == "median"


def test_a_run_with_rare_oversampling_trains_and_records_it(tmp_path):
    """A tiny run through the real loop: the sampler feeds it, the option is in the run's config."""
    from segdash.train.runs import read_run
    from segdash.train.trainer import train

    config = TrainConfig.from_preset("smoke", dataset="street-synth", options={"count": "12"}, img_size=32,
                                     batch_size=4, threads=1, pretrained="none", encoder="mobilenet_v2",
                                     preview_images=0, keep_checkpoints=0, rare_oversample=2.0)
    result = train(config, tmp_path / "run", echo=False)
    assert result.status == "finished"
    assert read_run(tmp_path / "run").config["rare_oversample"] == 2.0
