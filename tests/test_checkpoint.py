"""Checkpoint folders: smp-loadable, self-describing, no pickle, clear errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import segmentation_models_pytorch as smp
import torch

from segdash.data.base import Normalization
from segdash.errors import SegdashError
from segdash.models import (
    CheckpointMeta,
    check_compatible,
    create_model,
    find_checkpoints,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)

CLASSES = ["background", "csf", "grey matter", "white matter", "lesion"]
COLORS = [(0, 0, 0), (0, 0, 255), (128, 128, 128), (255, 255, 255), (255, 0, 0)]


def make_meta(**changes) -> CheckpointMeta:
    fields = dict(
        arch="Unet",
        encoder="mobilenet_v2",
        classes=CLASSES,
        colors=COLORS,
        in_channels=1,
        normalization=Normalization.identity(1),
        ignore_index=None,
        input_size=None,
        dataset="brain-mri",
        epoch=3,
        metrics={"val_mean_iou": 0.5},
        train_config={"lr": 0.001, "batch_size": 8},
    )
    fields.update(changes)
    return CheckpointMeta(**fields)


def decisive_model(in_channels: int = 1) -> torch.nn.Module:
    """A random Unet whose head is scaled up, so labels do not hinge on near-ties."""
    torch.manual_seed(0)
    model = create_model("Unet", "mobilenet_v2", in_channels=in_channels, num_classes=len(CLASSES)).eval()
    with torch.no_grad():
        model.segmentation_head[0].weight.mul_(20)
    return model


def test_meta_json_round_trip():
    meta = make_meta(input_size=256, normalization=Normalization.imagenet(), in_channels=3)
    again = CheckpointMeta.from_json(meta.to_json())
    assert again == meta
    assert again.normalization == Normalization.imagenet()
    assert again.colors[1] == (0, 0, 255)
    data = json.loads(meta.to_json())
    data["added_in_a_later_version"] = 1
    assert CheckpointMeta.from_dict(data) == meta
    with pytest.raises(SegdashError, match="lacks classes"):
        CheckpointMeta.from_dict({k: v for k, v in meta.to_dict().items() if k != "classes"})


def test_save_load_round_trip_and_smp_from_pretrained(tmp_path):
    model = decisive_model()
    folder = save_checkpoint(model, make_meta(), tmp_path / "run" / "best")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "segdash.json"]
    assert json.loads((folder / "config.json").read_text())["encoder_weights"] is None

    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        expected = model(x)
        loaded, meta = load_checkpoint(folder)
        assert not loaded.training
        torch.testing.assert_close(loaded(x), expected)
        via_smp = smp.from_pretrained(str(folder)).eval()
        torch.testing.assert_close(via_smp(x), expected)
    assert meta == make_meta(created=meta.created, segdash_version=meta.segdash_version)
    assert read_meta(folder) == meta


def test_half_storage_is_smaller_and_predicts_the_same(tmp_path):
    model = decisive_model()
    full = save_checkpoint(model, make_meta(), tmp_path / "fp32")
    half = save_checkpoint(model, make_meta(), tmp_path / "fp16", half=True)
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    loaded, _ = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        agree = (loaded(x).argmax(1) == model(x).argmax(1)).float().mean().item()
    assert agree >= 0.999


def test_save_replaces_atomically(tmp_path):
    folder = tmp_path / "ck"
    save_checkpoint(decisive_model(), make_meta(epoch=1), folder)
    save_checkpoint(decisive_model(), make_meta(epoch=2), folder)
    assert read_meta(folder).epoch == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temporary folders left


def test_pickle_only_checkpoint_is_refused(tmp_path):
    model = decisive_model()
    folder = tmp_path / "legacy"
    folder.mkdir()
    torch.save(model.state_dict(), folder / "model.pth")
    (folder / "segdash.json").write_text(make_meta().to_json())
    with pytest.raises(SegdashError, match="only pickle weights"):
        load_checkpoint(folder)
    with pytest.raises(SegdashError, match="pickle file"):
        load_checkpoint(folder / "model.pth")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(SegdashError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    folder = save_checkpoint(decisive_model(), make_meta(), tmp_path / "ck")
    (folder / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(SegdashError, match="corrupt"):
        load_checkpoint(folder)
    (folder / "segdash.json").write_text("{ not json")
    with pytest.raises(SegdashError, match="corrupt"):
        read_meta(folder)
    (folder / "segdash.json").unlink()
    with pytest.raises(SegdashError, match="segdash.json is missing"):
        read_meta(folder)


def test_weights_that_do_not_fit_the_config(tmp_path):
    folder = save_checkpoint(decisive_model(), make_meta(), tmp_path / "ck")
    config = json.loads((folder / "config.json").read_text())
    config["classes"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SegdashError, match="does not fit"):
        load_checkpoint(folder)


def test_check_compatible_names_both_sides():
    meta = make_meta()
    same = SimpleNamespace(name="brain-mri", classes=tuple(CLASSES), in_channels=1)
    check_compatible(meta, same)
    other = SimpleNamespace(name="street", classes=("road", "car"), in_channels=1)
    with pytest.raises(SegdashError, match=r"background, csf.*street.*road, car"):
        check_compatible(meta, other)
    unnamed = SimpleNamespace(name="/data/scans", classes=tuple(f"class_{i}" for i in range(len(CLASSES))), in_channels=1)
    with pytest.raises(SegdashError, match="classes.txt beside the data"):
        check_compatible(meta, unnamed)
    rgb = SimpleNamespace(name="brain-rgb", classes=tuple(CLASSES), in_channels=3)
    with pytest.raises(SegdashError, match="1 input channel.*has 3"):
        check_compatible(meta, rgb)


def test_save_refuses_metadata_that_does_not_fit_the_model(tmp_path):
    with pytest.raises(SegdashError, match="outputs 5 classes but the metadata lists 2"):
        save_checkpoint(decisive_model(), make_meta(classes=["a", "b"], colors=COLORS[:2]), tmp_path / "ck")
    with pytest.raises(SegdashError, match="1 input channel"):
        save_checkpoint(decisive_model(), make_meta(in_channels=3), tmp_path / "ck")
    assert not (tmp_path / "ck").exists()


def test_find_checkpoints(tmp_path):
    model = decisive_model()
    a = save_checkpoint(model, make_meta(), tmp_path / "runs" / "b" / "best")
    b = save_checkpoint(model, make_meta(), tmp_path / "runs" / "a" / "epoch_1")
    (tmp_path / "runs" / ".c.tmp").mkdir()
    (tmp_path / "runs" / ".c.tmp" / "segdash.json").write_text("{}")
    assert find_checkpoints(tmp_path / "runs", tmp_path / "missing") == sorted([a, b])
    assert find_checkpoints(a) == [a]
