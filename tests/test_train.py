"""Training engine in-process: config round-trip, augmentation alignment, losses, NaN -> failed,
time limit, whole-line metrics, resume. Tiny runs: 8 brain-mri slices at 64 px, random-init Unet."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from segdash.errors import SegdashError
from segdash.train.config import PRESETS, TrainConfig
from segdash.train.runs import read_metrics, read_run

TINY = dict(dataset="brain-mri", img_size=64, batch_size=4, limit=8, threads=1, pretrained="none",
            preview_images=2, keep_checkpoints=0)


def tiny_config(**overrides) -> TrainConfig:
    return TrainConfig.from_preset("smoke", **{**TINY, **overrides})


# --- config -----------------------------------------------------------------------------


def test_config_json_round_trip_and_presets():
    config = tiny_config(epochs=3, loss="focal", augment=True, options={"orientations": "axial"})
    again = TrainConfig.from_dict(json.loads(config.to_json()))
    assert again == config
    assert again.pretrained is None and again.limit == 8 and again.preset == "smoke"
    for name in PRESETS:
        assert TrainConfig.from_preset(name).preset == name
    assert TrainConfig().preset == "quick" and TrainConfig().pretrained == "offline"


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"loss": "hinge"}, "--loss"),
        ({"img_size": 100}, "multiple of 32"),
        ({"epochs": 0}, "--epochs"),
        ({"loss": "dice", "class_weights": "inverse"}, "cross-entropy"),
        ({"typo_option": 1}, "unknown training option"),
    ],
)
def test_config_rejects_bad_options_with_a_clear_message(bad, words):
    with pytest.raises(SegdashError, match=words):
        TrainConfig.from_dict({**TrainConfig().to_dict(), **bad})


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(SegdashError, match="quick"):
        TrainConfig.from_preset("huge")


# --- augmentation -------------------------------------------------------------------------


@pytest.mark.parametrize("orientation_free", [False, True])
def test_augmentation_moves_image_and_mask_together(orientation_free):
    """The image encodes its own mask (value = 60 * label), so any misalignment shows."""
    from segdash.train.augment import SegmentationAugmentation

    torch.manual_seed(0)
    mask = torch.ones(64, 64, dtype=torch.int64)
    mask[8:30, 10:50] = 2
    mask[40:60, 5:20] = 3  # asymmetric blocks: a flip or turn changes the picture
    image = (mask * 60).to(torch.uint8)[None]
    augment = SegmentationAugmentation(ignore_index=255, orientation_free=orientation_free, photometric=False)
    changed = 0
    for _ in range(30):
        out_image, out_mask = augment(image, mask)
        assert out_image.shape == (1, 64, 64) and out_mask.shape == (64, 64)
        assert out_mask.dtype == torch.int64
        outside = out_mask == 255  # uncovered by the affine: ignore in the mask, 0 in the image
        assert torch.equal(out_image[0][outside], torch.zeros(int(outside.sum()), dtype=torch.uint8))
        assert torch.equal(out_image[0][~outside].long(), out_mask[~outside] * 60)
        changed += not torch.equal(out_mask, mask)
    assert changed > 10


def test_photometric_jitter_leaves_the_mask_alone_and_float_images_in_range():
    from segdash.train.augment import SegmentationAugmentation

    torch.manual_seed(1)
    image = torch.rand(1, 32, 32)
    mask = torch.randint(0, 4, (32, 32))
    augment = SegmentationAugmentation(ignore_index=None)
    for _ in range(10):
        out_image, out_mask = augment(image, mask)
        assert out_image.dtype == torch.float32 and float(out_image.min()) >= 0 and float(out_image.max()) <= 1
        assert set(out_mask.unique().tolist()) <= {0, 1, 2, 3}


# --- losses -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ce", "dice", "ce+dice", "focal"])
def test_losses_ignore_the_ignore_index(name):
    from segdash.train.losses import build_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    criterion = build_loss(name, 3, ignore_index=255)
    base = criterion(logits, target)
    assert base.ndim == 0 and math.isfinite(float(base))
    # Changing the logits of ignored pixels must not change the loss.
    target_ignored = target.clone()
    target_ignored[:, :4] = 255
    other = logits.clone()
    other[:, :, :4] = torch.randn_like(other[:, :, :4]) * 10
    assert torch.allclose(criterion(logits, target_ignored), criterion(other, target_ignored), atol=1e-5)


def test_class_weights_match_torch_weighted_cross_entropy():
    from segdash.train.losses import build_loss

    torch.manual_seed(0)
    logits, target = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
    weights = [0.2, 1.0, 3.0]
    expected = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor(weights))
    assert torch.allclose(build_loss("ce", 3, None, weights)(logits, target), expected)


# --- runs in this process ---------------------------------------------------------------


def test_run_writes_the_contract_and_resumes(tmp_path):
    from segdash.models.checkpoint import load_checkpoint
    from segdash.train.trainer import train

    run_dir = tmp_path / "run"
    result = train(tiny_config(epochs=1), run_dir, echo=False)
    assert result.status == "finished" and result.epochs_done == 1
    state = read_run(run_dir)
    assert state.status == "finished" and state.epoch == 1 and state.total_epochs == 1
    assert list(state.epochs.columns[:3]) == ["kind", "epoch", "step"]
    assert {"val_mean_dice", "val_mean_iou", "val_dice", "val_iou", "lr", "seconds", "dice_CSF"} <= set(state.epochs)
    assert len(state.steps) == 2 and state.steps["step"].tolist() == [1, 2]
    assert [p.name for p in state.checkpoints] == ["epoch_1", "best"]
    model, meta = load_checkpoint(state.best_checkpoint)
    assert meta.epoch == 1 and meta.input_size == 64 and meta.classes == list(state.classes)
    assert meta.train_config["limit"] == 8 and "val_mean_dice" in meta.metrics
    # brain-mri trains on float 0..1 slices: the checkpoint says so, with their intensity statistics
    assert meta.input_range.to_dict() == {"low": 0.0, "high": 1.0, "floats_as_is": False}
    assert meta.intensity is not None and 0.0 < meta.intensity.image_mean[0] < meta.intensity.image_mean[1] < 1.0
    previews = state.previews()
    assert previews["images"].shape == (2, 1, 64, 64) and previews["epochs"][1].shape == (2, 64, 64)

    # Resume with more epochs: steps keep counting, epoch 2 appended.
    result = train(tiny_config(epochs=2), run_dir, resume=True, echo=False)
    assert result.status == "finished" and result.epochs_done == 2
    state = read_run(run_dir)
    assert state.steps["step"].tolist() == [1, 2, 3, 4]
    assert state.epochs["epoch"].tolist() == [1, 2]
    assert state.info["resumed_from"] == "epoch_1"
    with pytest.raises(SegdashError, match="already completed"):
        train(tiny_config(epochs=2), run_dir, resume=True, echo=False)


def test_nan_loss_fails_the_run_with_the_reason(tmp_path, monkeypatch):
    import segdash.train.losses as losses
    from segdash.train.trainer import TrainingFailed, train

    real = losses.build_loss

    def poisoned(*args, **kwargs):
        criterion = real(*args, **kwargs)
        return lambda logits, target: criterion(logits, target) * float("nan")

    monkeypatch.setattr(losses, "build_loss", lambda *a, **k: _Wrap(poisoned(*a, **k)))
    with pytest.raises(TrainingFailed, match="loss became nan"):
        train(tiny_config(epochs=1), tmp_path / "nan", echo=False)
    state = read_run(tmp_path / "nan")
    assert state.status == "failed" and "nan" in state.error and "--lr" in state.error
    assert state.checkpoints == []  # nothing saved from poisoned weights


class _Wrap(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, logits, target):
        return self.fn(logits, target)


def test_time_limit_validates_saves_and_finishes(tmp_path):
    from segdash.train.trainer import train

    result = train(tiny_config(epochs=5, max_minutes=1e-6), tmp_path / "t", echo=False)
    assert result.status == "finished" and result.stop_reason.startswith("time limit")
    state = read_run(tmp_path / "t")
    assert state.epochs["partial"].tolist() == [True]
    assert [p.name for p in state.checkpoints] == ["epoch_1", "best"]


def test_user_errors_are_recorded_as_failed(tmp_path):
    from segdash.train.trainer import train

    with pytest.raises(SegdashError, match="no split"):
        train(tiny_config(val_split="holdout"), tmp_path / "bad", echo=False)
    assert read_run(tmp_path / "bad").status == "failed"


def test_reader_skips_a_line_still_being_written(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        '{"kind": "step", "step": 1, "epoch": 1, "train_loss": 1.0, "lr": 0.1, "time": 0}\n{"kind": "st'
    )
    steps, epochs = read_metrics(tmp_path)
    assert [s["step"] for s in steps] == [1] and epochs == []


def test_append_line_writes_whole_lines(tmp_path):
    from segdash.train.rundir import RunWriter

    writer = RunWriter(tmp_path)
    for i in range(200):
        writer.log({"kind": "step", "step": i, "train_loss": float("nan") if i == 3 else 0.5})
    lines = (tmp_path / "metrics.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 201
    records = [json.loads(line) for line in lines[:-1]]
    assert records[3]["train_loss"] is None  # NaN is not JSON: written as null
    assert np.array_equal([r["step"] for r in records], np.arange(200))


def test_same_seed_same_weights(tmp_path):
    """Seeds cover init, shuffling and augmentation: two runs with one seed give identical weights."""
    from safetensors.torch import load_file

    from segdash.train.trainer import train

    weights = []
    for name in ("a", "b"):
        train(tiny_config(epochs=1, augment=True, seed=7, preview_images=0), tmp_path / name, echo=False)
        weights.append(load_file(str(tmp_path / name / "checkpoints" / "epoch_1" / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_stop_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    from safetensors.torch import load_file

    from segdash.train.trainer import train

    config = tiny_config(epochs=1, augment=True, seed=3, preview_images=0)
    train(config, tmp_path / "straight", echo=False)

    run_dir = tmp_path / "stopped"
    run_dir.mkdir()
    (run_dir / "STOP").write_text("now")  # asked before the start: honoured after the first step
    result = train(config, run_dir, echo=False)
    assert result.status == "stopped" and read_run(run_dir).step == 1
    assert not (run_dir / "STOP").exists()
    assert train(config, run_dir, resume=True, echo=False).status == "finished"

    a = load_file(str(tmp_path / "straight" / "checkpoints" / "epoch_1" / "model.safetensors"))
    b = load_file(str(run_dir / "checkpoints" / "epoch_1" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
