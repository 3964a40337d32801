"""One pixel-value policy: the same slice as 8-bit PNG, 16-bit PNG, 16-bit TIFF or float .npy gets
the same labels through ``segdash predict`` and through a Predict upload; conversions are noted;
images unlike the training data get a hint."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from segdash import cli
from segdash.data.imageio import read_label_image
from segdash.data.pixels import (
    EIGHT_BIT,
    UNIT,
    InputRange,
    dataset_range,
    intensity_hint,
    intensity_stats,
    to_input_range,
)
from segdash.models.checkpoint import read_meta

BRAIN = Path(__file__).resolve().parents[1] / "weights" / "brain-mri_unet_lite0_best"


# --- the mapping itself ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, target, expected, note",
    [
        (np.array([[0, 51, 255]], np.uint8), UNIT, [0.0, 0.2, 1.0], "8-bit image"),
        (np.array([[0, 13107, 65535]], np.uint16), UNIT, [0.0, 0.2, 1.0], "16-bit image"),
        (np.array([[0, 13107, 65535]], np.int32), UNIT, [0.0, 0.2, 1.0], "within 0..65535"),
        (np.array([[0.0, 0.2, 1.0]], np.float32), EIGHT_BIT, [0.0, 51.0, 255.0], "float image"),
        (np.array([[0.0, 51.0, 255.0]], np.float64), UNIT, [0.0, 0.2, 1.0], "8-bit values"),
        (np.array([[0, 65535]], np.uint16), EIGHT_BIT, [0.0, 255.0], "16-bit image"),
    ],
)
def test_values_are_mapped_linearly_with_a_note(image, target, expected, note):
    mapped, notes = to_input_range(image, target)
    np.testing.assert_allclose(mapped.ravel(), expected, rtol=1e-6, atol=1e-6)
    assert mapped.dtype == np.float32
    assert len(notes) == 1 and note in notes[0] and target.describe() in notes[0]


def test_an_image_already_in_range_is_left_alone():
    for image, target in ((np.zeros((4, 4, 3), np.uint8), EIGHT_BIT), (np.full((4, 4, 1), 0.5, np.float32), UNIT)):
        mapped, notes = to_input_range(image, target)
        assert mapped is image and notes == []


def test_raw_intensities_are_windowed_at_percentiles():
    values = np.linspace(-1000.0, 3000.0, 10001).reshape(1, -1)  # e.g. CT numbers: no fixed range fits
    mapped, notes = to_input_range(values, UNIT)
    low, high = np.percentile(values, (0.5, 99.5))
    expected = np.clip((values - low) / (high - low), 0, 1)
    np.testing.assert_allclose(mapped, expected, atol=1e-5)
    assert "windowed" in notes[0]


def test_input_range_of_old_checkpoints_comes_from_the_normalisation():
    assert InputRange.from_scale(1 / 255) == EIGHT_BIT
    old = InputRange.from_scale(1.0)  # integers were scaled to 0..1, floats used as they came
    assert old == InputRange(0.0, 1.0, floats_as_is=True)
    z_scored = np.array([[-2.5, 0.0, 3.0]], np.float32)
    assert to_input_range(z_scored, old)[0] is z_scored
    np.testing.assert_allclose(to_input_range(np.array([[0, 255]], np.uint8), old)[0].ravel(), [0.0, 1.0])
    assert read_meta(BRAIN).input_range == UNIT  # the shipped weights record theirs


def test_the_range_a_training_set_records():
    rng = np.random.default_rng(0)
    assert dataset_range([rng.random((8, 8, 1)).astype(np.float32) for _ in range(3)]) == UNIT
    assert dataset_range([rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)]) == EIGHT_BIT
    assert dataset_range([rng.integers(0, 4096, (8, 8, 1), dtype=np.uint16)]) == UNIT
    z_scored = [rng.standard_normal((20, 20, 1)).astype(np.float32) for _ in range(3)]
    recorded = dataset_range(z_scored)
    assert recorded.floats_as_is and recorded.low < -2 and recorded.high > 2  # the data's 0.5-99.5 percentiles
    assert to_input_range(z_scored[0], recorded)[0] is z_scored[0]  # z-scored floats go in as they are


# --- the same slice in four files, two paths --------------------------------------------------------
@pytest.fixture(scope="module")
def slice_files(tmp_path_factory):
    """A brain-mri test slice as 8-bit PNG, 16-bit PNG, 16-bit TIFF and float .npy."""
    from segdash.data import open_dataset

    ds = open_dataset("brain-mri")
    image = ds.load("test", ds.ids("test")[len(ds.ids("test")) // 2]).image[:, :, 0]
    folder = tmp_path_factory.mktemp("scans")
    Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(folder / "slice8.png")
    Image.fromarray(np.rint(image * 65535).astype(np.uint16)).save(folder / "slice16.png")
    tifffile.imwrite(folder / "slice16t.tif", np.rint(image * 65535).astype(np.uint16))
    np.save(folder / "slicef.npy", image.astype(np.float32))
    return folder, image


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a == b).mean())


def test_same_labels_through_segdash_predict_and_the_upload_path(slice_files, tmp_path, monkeypatch, capsys):
    from segdash.infer.predictor import predictor_for
    from segdash.ui.predict_page import decode_upload

    folder, image = slice_files
    monkeypatch.setattr(cli, "COMMANDS", ("predict",))
    out = tmp_path / "preds"
    code = cli.main(["predict", "--checkpoint", str(BRAIN), str(folder), "--out", str(out), "--no-overlay",
                     "--backend", "torch", "--device", "cpu"])
    assert code == 0
    err = capsys.readouterr().err
    assert "note: 8-bit image: values 0..255 mapped to the model's 0..1 (1 image)" in err
    assert "note: 16-bit image: values 0..65535 mapped to the model's 0..1 (2 images)" in err

    predictor = predictor_for(BRAIN, device="cpu", backend="torch")
    reference = predictor.predict(image[:, :, None]).labels
    assert reference.max() > 0 and len(np.unique(reference)) >= 3  # a real brain, not one class everywhere
    names = ["slice8.png", "slice16.png", "slice16t.tif", "slicef.npy"]
    records = {Path(r["input"]).name: r for r in json.loads((out / "predictions.json").read_text())["images"]}
    for name in names:
        cli_labels = read_label_image(out / f"{Path(name).stem}.png")
        upload = decode_upload(name, (folder / name).read_bytes(), in_channels=1)  # what the Predict page does
        upload_labels = predictor.predict(upload.image).labels
        assert _agreement(cli_labels, reference) >= 0.999, name
        assert _agreement(upload_labels, reference) >= 0.999, name
        assert records[name]["hint"] is None  # a test slice is like the training data
    assert records["slicef.npy"]["notes"] == []  # already in the model's range: nothing converted


# --- out-of-distribution hint -------------------------------------------------------------------
def test_a_photo_on_the_brain_model_gets_a_hint_and_slices_do_not():
    from segdash.data import open_dataset

    meta = read_meta(BRAIN)
    assert meta.intensity is not None and meta.intensity.images >= 100  # recorded in training (100 evenly spaced images)
    brain = open_dataset("brain-mri")
    hints = [intensity_hint(brain.load("test", i).image, meta.intensity, meta.input_range) for i in brain.ids("test")]
    assert hints.count(None) == len(hints)
    street = open_dataset("street-synth")
    photo = street.load("test", street.ids("test")[0]).image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    hint = intensity_hint(photo[:, :, None] / 255, meta.intensity, meta.input_range)
    assert hint is not None and "unlike the model's training data" in hint


def test_intensity_stats_match_numpy():
    rng = np.random.default_rng(0)
    images = [rng.random((8, 10, 2)) * s for s in (0.2, 0.5, 1.0)]
    stats = intensity_stats(images, UNIT)
    stacked = np.concatenate([im.reshape(-1, 2) for im in images])
    np.testing.assert_allclose(stats.mean, stacked.mean(axis=0))
    np.testing.assert_allclose(stats.std, stacked.std(axis=0))
    np.testing.assert_allclose(sum(stats.histogram), 1.0)
    assert stats.images == 3
    assert stats.image_mean[0] == pytest.approx(np.percentile([im.mean() for im in images], 1))


def test_upload_of_a_float_image_keeps_its_values():
    from segdash.ui.predict_page import decode_upload

    buffer = io.BytesIO()
    np.save(buffer, np.full((16, 18), 0.25, np.float32))
    item = decode_upload("x.npy", buffer.getvalue(), in_channels=1)
    assert item.image.dtype == np.float32 and item.image.shape == (16, 18, 1) and float(item.image.max()) == 0.25
