"""Training options are declared once (TrainConfig's fields); the command line is built from them."""

import argparse
import dataclasses

import numpy as np
import pytest

from segdash.cli.train import _flag_values, build_config, register, resumable_options
from segdash.errors import SegdashError
from segdash.train.config import TrainConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


#: A value other than the quick preset's for every option that is a command-line flag.
GIVEN = {
    "dataset": "street-synth", "format": None, "limit": 5, "arch": "FPN", "encoder": "resnet18",
    "pretrained": "imagenet", "freeze_encoder": True, "epochs": 3, "batch_size": 2, "lr": 0.01,
    "weight_decay": 0.0, "schedule": "constant", "img_size": 64, "loss": "ce", "class_weights": "median", "weight_floor": 0.25,
    "rare_oversample": 1.5, "augment": True, "augment_orientation": True, "patience": 2, "max_minutes": 1.5,
    "seed": 7, "device": "cpu", "threads": 1, "precision": "fp32", "workers": 0, "cache": "off",
    "log_every": 3, "keep_checkpoints": 1, "preview_images": 2,
}


def argv_for(values: dict) -> list[str]:
    argv = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if name == "dataset":
            argv.insert(0, value)
        elif value is True:
            argv.append(flag)
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def test_every_flag_field_is_on_the_command_line_and_reaches_the_config():
    flagged = {f.name for f in dataclasses.fields(TrainConfig) if TrainConfig.option(f.name).flag != ""}
    assert flagged - {"options", "format"} == set(GIVEN) - {"format"}
    config = build_config(parse(*argv_for(GIVEN), "-o", "label_map=cityscapes-19"))
    for name, value in GIVEN.items():
        if value is not None:
            assert getattr(config, name) == value, name
    assert config.options == {"label_map": "cityscapes-19"}


def test_flags_not_given_leave_the_preset_alone():
    args = parse("brain-mri", "--preset", "smoke", "--no-augment")
    assert _flag_values(args) == {"dataset": "brain-mri", "augment": False}
    assert build_config(args).img_size == 64 and parse().pretrained is None
    assert parse("--pretrained").pretrained == "offline"
    assert build_config(parse("--pretrained", "none")).pretrained is None


def test_help_choices_and_bounds_come_from_the_dataclass():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    text = " ".join(parser._subparsers._group_actions[0].choices["train"].format_help().split())
    for field in dataclasses.fields(TrainConfig):
        described = TrainConfig.option(field.name)
        assert described.help, field.name
        if described.flag != "" and field.name != "dataset":
            assert "--" + (described.flag or field.name).lstrip("-").replace("_", "-") in text
    assert "1% of the training pixels" in text and "(quick preset: 12)" in text
    with pytest.raises(SystemExit):
        parse("--loss", "nope")
    with pytest.raises(SegdashError, match="--preview-images must be 0 to 64"):
        TrainConfig(preview_images=65)
    with pytest.raises(SegdashError, match="--cache must be one of auto, on, off"):
        TrainConfig(cache="maybe")
    assert set(resumable_options()) == {"epochs", "max_minutes", "device", "threads", "patience", "workers",
                                        "precision", "keep_checkpoints"}


def test_weight_floor_raises_the_frequent_classes_weights_and_needs_class_weights():
    from segdash.data import open_dataset
    from segdash.data.stats import class_statistics
    from segdash.train.trainer import _class_weights

    ds = open_dataset("street-synth", count="12")
    median = class_statistics(ds, "train").class_weights("median")
    floored = _class_weights(TrainConfig(dataset="street-synth", class_weights="median", weight_floor=0.25), ds)
    np.testing.assert_allclose(floored, np.where(median > 0, np.maximum(median, 0.25), 0))
    assert (median[median > 0] < 0.25).any()  # the floor changed something
    with pytest.raises(SegdashError, match="--class-weights"):
        TrainConfig(dataset="street-synth", weight_floor=0.25).validate()
