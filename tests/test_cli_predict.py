"""``segdash predict``: label PNGs and overlays for files and folders, warnings and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import segdash.cli as cli
from segdash.data.base import Normalization
from segdash.data.imageio import read_label_image
from segdash.infer.predictor import Predictor
from segdash.models import CheckpointMeta, create_model, save_checkpoint

COLORS = [(0, 0, 0), (255, 0, 0), (0, 0, 255)]


@pytest.fixture(autouse=True)
def only_my_commands(monkeypatch):
    """The real ``segdash`` entry point, registering just the commands under test."""
    monkeypatch.setattr(cli, "COMMANDS", ("predict", "export"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("Unet", "mobilenet_v2", in_channels=3, num_classes=3)
    meta = CheckpointMeta(
        arch="Unet",
        encoder="mobilenet_v2",
        classes=["background", "cat", "dog"],
        colors=COLORS,
        in_channels=3,
        normalization=Normalization.imagenet(),
    )
    return save_checkpoint(model, meta, tmp_path_factory.mktemp("ck") / "unet")


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)).save(folder / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (33, 40), dtype=np.uint8)).save(folder / "gray.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "._a.jpg").write_bytes(b"resource fork")
    (folder / "notes.txt").write_text("not an image")
    single = tmp_path / "single.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(single)
    return folder, single


def test_predict_writes_labels_overlays_and_summary(checkpoint, inputs, tmp_path, capsys):
    folder, single = inputs
    out = tmp_path / "out"
    code = cli.main(["predict", "--checkpoint", str(checkpoint), str(folder), str(single), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "broken.png" in captured.err  # skipped with a warning, not fatal
    assert "note: ONNX Runtime on CPU" in captured.err  # how the model runs is said once
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "gray.png", "single.png"]
    assert sorted(p.name for p in (out / "overlays").glob("*.png")) == ["a.png", "gray.png", "single.png"]

    labels = read_label_image(out / "a.png")
    assert labels.shape == (45, 70) and labels.max() <= 2
    expected = Predictor.from_checkpoint(checkpoint, backend="torch").predict(np.asarray(Image.open(folder / "a.jpg")))
    assert (labels == expected.labels).mean() >= 0.999
    overlay = np.asarray(Image.open(out / "overlays" / "a.png"))
    assert overlay.shape == (45, 70, 3)

    summary = json.loads((out / "predictions.json").read_text())
    assert summary["classes"] == ["background", "cat", "dog"]
    assert [r["labels"] for r in summary["images"]] == ["a.png", "gray.png", "single.png"]


def test_no_overlay_and_tta(checkpoint, inputs, tmp_path):
    _, single = inputs
    out = tmp_path / "out"
    args = ["predict", "-c", str(checkpoint), str(single), "--out", str(out), "--no-overlay", "--tta"]
    args += ["--device", "cpu", "--backend", "torch"]
    assert cli.main(args) == 0
    assert (out / "single.png").is_file() and not (out / "overlays").exists()
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["tta"] is True
    assert any("test-time augmentation" in n for n in summary["images"][0]["notes"])


def test_missing_input_is_a_one_line_error(checkpoint, tmp_path, capsys):
    code = cli.main(["predict", "--checkpoint", str(checkpoint), str(tmp_path / "nope.png"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "does not exist" in err and "Traceback" not in err


def test_named_unreadable_file_fails_after_the_others(checkpoint, inputs, tmp_path, capsys):
    folder, single = inputs
    out = tmp_path / "out"
    named = [str(folder / "broken.png"), str(single)]
    code = cli.main(["predict", "-c", str(checkpoint), *named, "--out", str(out), "--backend", "torch"])
    assert code == 2
    assert "could not be read" in capsys.readouterr().err
    assert (out / "single.png").is_file()


def test_other_user_errors(checkpoint, inputs, tmp_path, capsys):
    folder, single = inputs
    assert cli.main(["predict", "-c", str(tmp_path / "no-ck"), str(single), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["predict", "-c", str(checkpoint), str(folder / "notes.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "not an image file" in capsys.readouterr().err
    twin = tmp_path / "twin"
    twin.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(twin / "a.png")
    assert cli.main(["predict", "-c", str(checkpoint), str(folder), str(twin), "--out", str(tmp_path / "o")]) == 2
    assert "share the name 'a'" in capsys.readouterr().err
    assert cli.main(["predict", "-c", str(checkpoint), str(single), "--out", str(single)]) == 2
    assert "cannot use --out" in capsys.readouterr().err


def test_a_dataset_style_folder_predicts_its_images_and_bars_stay_off_a_pipe(checkpoint, inputs, tmp_path, capsys):
    folder, _ = inputs
    root = tmp_path / "scans"  # a dataset-style folder: scans/images/, no masks
    (root / "images").mkdir(parents=True)
    for name in ("a.jpg", "gray.png"):
        (root / "images" / name).write_bytes((folder / name).read_bytes())
    out = tmp_path / "out"
    assert cli.main(["predict", "--checkpoint", str(checkpoint), str(root), "--out", str(out),
                     "--backend", "torch"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "gray.png"]
    err = capsys.readouterr().err
    assert "predict:" not in err and "img/s" not in err and "\r" not in err  # stderr is not a terminal: no tqdm
