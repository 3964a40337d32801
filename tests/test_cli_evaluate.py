"""``segdash evaluate`` on a folder-format dataset: counts, JSON, exit codes and messages."""

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from segdash.cli import main
from segdash.data.imageio import write_label_png

CLASSES = ["background", "road", "car"]


@pytest.fixture()
def folder_dataset(tmp_path):
    """root/test/{images,masks} with 3 images (two 16x12, one 8x8), classes.csv; plus a prediction folder."""
    rng = np.random.default_rng(0)
    root, preds_dir = tmp_path / "data", tmp_path / "preds"
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "masks").mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nbackground,0,0,0\nroad,128,64,128\ncar,0,0,142\n")
    masks, preds = {}, {}
    for stem, shape in [("a", (12, 16)), ("b", (12, 16)), ("c", (8, 8))]:
        mask = rng.integers(0, 3, shape)
        mask[0, 0] = 255  # ignored
        pred = np.where(rng.random(shape) < 0.7, np.where(mask == 255, 0, mask), rng.integers(0, 3, shape))
        Image.fromarray(rng.integers(0, 255, shape + (3,), dtype=np.uint8)).save(root / "test" / "images" / f"{stem}.png")
        Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "test" / "masks" / f"{stem}.png")
        write_label_png(preds_dir / f"{stem}.png", pred)
        masks[stem], preds[stem] = mask, pred
    return root, preds_dir, masks, preds


def reference(masks, preds):
    truth = np.concatenate([m.ravel() for m in masks.values()])
    pred = np.concatenate([p.ravel() for p in preds.values()])
    keep = truth != 255
    return sk_confusion_matrix(truth[keep], pred[keep], labels=[0, 1, 2])


def test_pred_dir_json_has_the_reference_counts(folder_dataset, tmp_path, capsys):
    root, preds_dir, masks, preds = folder_dataset
    out = tmp_path / "eval.json"
    code = main(["evaluate", str(root), "--format", "folder", "--split", "test", "--pred-dir", str(preds_dir),
                 "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["classes"] == CLASSES and doc["images"] == 3
    assert doc["confusion_matrix"] == reference(masks, preds).tolist()
    assert [row["name"] for row in doc["per_class"]] == CLASSES
    assert {"iou", "dice", "precision", "recall", "specificity", "support"} <= set(doc["per_class"][0])
    assert doc["per_class"][1]["support"] == int(sum((m == 1).sum() for m in masks.values()))
    for key in ("mean_iou", "mean_dice", "pixel_accuracy"):
        assert 0 <= doc[key] <= 1
    printed = capsys.readouterr().out
    assert "mean IoU" in printed and "road" in printed and "left out of the means" in printed


def test_absent_class_is_null_in_json(folder_dataset, tmp_path, capsys):
    root, preds_dir, masks, preds = folder_dataset
    for stem in masks:  # no 'car' anywhere, in the truth or the predictions
        mask = np.where(masks[stem] == 2, 0, masks[stem])
        Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "test" / "masks" / f"{stem}.png")
        write_label_png(preds_dir / f"{stem}.png", np.where(preds[stem] == 2, 1, preds[stem]))
    code = main(["evaluate", str(root), "-f", "folder", "-s", "test", "--pred-dir", str(preds_dir), "--json", "-",
                 "--no-distances"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    car = doc["per_class"][2]
    assert car["iou"] is None and car["dice"] is None and car["support"] == 0
    assert doc["mean_iou"] == pytest.approx(np.mean([r["iou"] for r in doc["per_class"][:2]]))


def test_user_errors_exit_2_with_one_line(folder_dataset, tmp_path, capsys):
    root, preds_dir, masks, preds = folder_dataset
    (preds_dir / "b.png").unlink()
    code = main(["evaluate", str(root), "-f", "folder", "-s", "test", "--pred-dir", str(preds_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "1 of 3 predictions are missing" in err and "b.png" in err and "Traceback" not in err

    write_label_png(preds_dir / "b.png", np.zeros((5, 5), np.int64))
    assert main(["evaluate", str(root), "-f", "folder", "-s", "test", "--pred-dir", str(preds_dir)]) == 2
    assert "5x5" in capsys.readouterr().err

    write_label_png(preds_dir / "b.png", np.full((12, 16), 9))
    assert main(["evaluate", str(root), "-f", "folder", "-s", "test", "--pred-dir", str(preds_dir)]) == 2
    assert "label(s) [9]" in capsys.readouterr().err

    assert main(["evaluate", str(root), "-f", "folder", "-s", "nope", "--pred-dir", str(preds_dir)]) == 2
    assert "no split 'nope'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing"), "-f", "folder", "--pred-dir", str(preds_dir)]) == 2
    assert main(["evaluate", str(root), "-f", "folder", "--checkpoint", str(tmp_path / "no-ckpt")]) == 2
    capsys.readouterr()


def test_checkpoint_and_pred_dir_are_exclusive_and_one_is_required(folder_dataset):
    root, preds_dir, _, _ = folder_dataset
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(root), "-f", "folder"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["evaluate", str(root), "-f", "folder", "--pred-dir", str(preds_dir), "--checkpoint", "x"])


def test_limit_and_default_split(folder_dataset, tmp_path, capsys):
    root, preds_dir, masks, preds = folder_dataset
    out = tmp_path / "e.json"
    assert main(["evaluate", str(root), "-f", "folder", "--pred-dir", str(preds_dir), "--limit", "2",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["split"] == "test" and doc["images"] == 2
    # two of three images, evenly spaced: the first and the last
    assert doc["confusion_matrix"] == reference({k: masks[k] for k in "ac"}, {k: preds[k] for k in "ac"}).tolist()


@pytest.mark.slow
def test_checkpoint_on_the_folder_dataset(folder_dataset, tmp_path, capsys):
    """A freshly saved (random) checkpoint scores end to end; its classes are checked against the dataset."""
    import torch

    from segdash.data.base import Normalization
    from segdash.models.checkpoint import CheckpointMeta, save_checkpoint
    from segdash.models.registry import create_model

    root, _, masks, _ = folder_dataset
    torch.manual_seed(0)
    model = create_model("FPN", "mobilenet_v2", in_channels=3, num_classes=3)
    meta = CheckpointMeta(arch="FPN", encoder="mobilenet_v2", classes=CLASSES, colors=[(0, 0, 0)] * 3,
                          in_channels=3, normalization=Normalization.imagenet())
    save_checkpoint(model, meta, tmp_path / "ckpt")
    out = tmp_path / "ckpt.json"
    code = main(["evaluate", str(root), "-f", "folder", "-s", "test", "--checkpoint", str(tmp_path / "ckpt"),
                 "--device", "cpu", "--backend", "torch", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    valid = sum(int((m != 255).sum()) for m in masks.values())
    assert np.asarray(doc["confusion_matrix"]).sum() == valid and doc["checkpoint"] == str(tmp_path / "ckpt")

    other = CheckpointMeta(arch="FPN", encoder="mobilenet_v2", classes=["a", "b", "c"], colors=[(0, 0, 0)] * 3,
                           in_channels=3, normalization=Normalization.imagenet())
    save_checkpoint(model, other, tmp_path / "other")
    assert main(["evaluate", str(root), "-f", "folder", "-s", "test", "--checkpoint", str(tmp_path / "other")]) == 2
    assert "differ" in capsys.readouterr().err
