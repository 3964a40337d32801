"""``segdash compare``: two tiny checkpoints and a prediction folder on a folder dataset; JSON, verdicts, HTML."""

import json
import re

import numpy as np
import pytest
from PIL import Image
from scipy.stats import wilcoxon

from segdash.cli import main
from segdash.data.imageio import write_label_png

CLASSES = ["background", "road", "car"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """root/test/{images,masks}: 6 images 16x16 (class 2 only in some); two random checkpoints; two prediction folders.

    Predictions: "good" is right on 90% of pixels, "poor" on 50%, so good must beat poor.
    """
    import torch

    from segdash.data.base import Normalization
    from segdash.models.checkpoint import CheckpointMeta, save_checkpoint
    from segdash.models.registry import create_model

    tmp = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    root = tmp / "data"
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "masks").mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nbackground,0,0,0\nroad,128,64,128\ncar,0,0,142\n")
    masks, preds = {}, {"good": {}, "poor": {}}
    for k in range(6):
        stem = f"img{k}"
        mask = rng.integers(0, 3 if k % 2 else 2, (16, 16))  # 'car' only in odd images
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / "test" / "images" / f"{stem}.png")
        Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "test" / "masks" / f"{stem}.png")
        masks[stem] = mask
        for name, right in (("good", 0.9), ("poor", 0.5)):
            pred = np.where(rng.random(mask.shape) < right, mask, rng.integers(0, 2, mask.shape))
            write_label_png(tmp / name / f"{stem}.png", pred)
            preds[name][stem] = pred
    torch.manual_seed(0)
    for name in ("ck_a", "ck_b"):
        model = create_model("FPN", "mobilenet_v2", in_channels=3, num_classes=3)
        meta = CheckpointMeta(arch="FPN", encoder="mobilenet_v2", classes=CLASSES, colors=[(0, 0, 0), (128, 64, 128),
                              (0, 0, 142)], in_channels=3, normalization=Normalization.imagenet(), epoch=1)  # fmt: skip
        save_checkpoint(model, meta, tmp / name)
    return tmp, root, masks, preds


def dice_per_image(mask, pred, c):
    """Dice of class c in one image; None when the class is in neither (undefined)."""
    t, p = mask == c, pred == c
    if not t.any() and not p.any():
        return None
    return 2 * np.sum(t & p) / (t.sum() + p.sum())


def test_pred_dirs_json_matches_a_hand_computation(workspace, tmp_path, capsys):
    tmp, root, masks, preds = workspace
    out = tmp_path / "cmp.json"
    code = main(["compare", str(root), "-f", "folder", "-s", "test", "--pred-dir", str(tmp / "poor"),
                 "--pred-dir", str(tmp / "good"), "--bootstrap", "500", "--seed", "3", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert {"dataset", "split", "classes", "metric", "bootstrap", "models", "pairs", "rank_first"} <= set(doc)
    assert doc["classes"] == CLASSES and doc["metric"] == "dice" and doc["bootstrap"] == {"samples": 500, "seed": 3}
    assert [m["name"] for m in doc["models"]] == ["poor", "good"] and doc["models"][1]["source"] == str(tmp / "good")
    pair = doc["pairs"][0]
    assert (pair["a"], pair["b"]) == (0, 1)
    keys = {"name", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value", "wins", "ties", "losses", "images"}
    for c, row in enumerate(pair["per_class"]):
        assert keys <= set(row) and row["name"] == CLASSES[c]
        pairs = [(dice_per_image(masks[s], preds["poor"][s], c), dice_per_image(masks[s], preds["good"][s], c))
                 for s in sorted(masks)]  # fmt: skip
        both = [(a, b) for a, b in pairs if a is not None and b is not None]
        d = np.array([b - a for a, b in both])
        assert row["images"] == len(both)
        assert row["mean_a"] == pytest.approx(np.mean([a for a, _ in both]))
        assert row["diff"] == pytest.approx(d.mean())
        assert row["wins"] == int(np.sum(d > 1e-9)) and row["losses"] == int(np.sum(d < -1e-9))
        assert row["p_value"] == pytest.approx(wilcoxon(d).pvalue)
        assert row["ci_low"] <= row["diff"] <= row["ci_high"]
    # 'car' is in the odd images only and never predicted elsewhere: undefined in the even ones
    assert pair["per_class"][2]["images"] == 3
    assert pair["overall"]["diff"] > 0 and doc["rank_first"][1] > 0.9
    assert sum(pair["pixels"]["fixed"]) - sum(pair["pixels"]["broken"]) == sum(
        int(np.sum(preds["good"][s] == masks[s]) - np.sum(preds["poor"][s] == masks[s])) for s in masks)
    printed = capsys.readouterr().out
    # three images cannot reach p < 0.05 (the smallest two-sided p is 0.25): no verdict, however large the gain
    assert re.search(r"car .* no clear difference \(\+0\.\d{3}, .*p=0\.250, wins 3/3\)", printed)
    assert re.search(r"overall .* B better \(\+0\.\d{3}, 95% CI \+0\.\d{3}\.\.\+0\.\d{3}, p=0\.\d{3}, wins \d/6\)", printed)


def test_checkpoints_and_a_folder_write_json_and_a_self_contained_html(workspace, tmp_path, capsys):
    tmp, root, _, _ = workspace
    out, report = tmp_path / "cmp.json", tmp_path / "report.html"
    code = main(["compare", str(root), "-f", "folder", "-s", "test", "--checkpoint", str(tmp / "ck_a"),
                 "--pred-dir", str(tmp / "good"), "--checkpoint", str(tmp / "ck_b"), "--bootstrap", "300",
                 "--device", "cpu", "--backend", "torch", "--json", str(out), "--html", str(report)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert [m["kind"] for m in doc["models"]] == ["checkpoint", "pred_dir", "checkpoint"]
    assert [(p["a"], p["b"]) for p in doc["pairs"]] == [(0, 1), (0, 2), (1, 2)]
    assert len(doc["rank_first"]) == 3 and sum(doc["rank_first"]) == pytest.approx(1.0)
    assert doc["ranking"][0] == 1  # the 90%-right folder beats two random networks
    assert "ranking by overall mean" in capsys.readouterr().out

    html = report.read_text()
    assert html.count('class="plotly-graph-div"') >= 3 * 3  # forest, scatter, pixels per pair
    assert "Plotly.newPlot" in html and html.count("data:image/png;base64,") >= 4
    assert "FPN + mobilenet_v2" in html and "segdash compare" in html and "--pred-dir" in html
    outside_scripts = re.sub(r"<script.*?</script>", "", html, flags=re.DOTALL)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", outside_scripts, flags=re.IGNORECASE)
    assert not re.search(r"""<script[^>]+src\s*=""", html, flags=re.IGNORECASE)


def test_user_errors_are_one_line(workspace, tmp_path, capsys):
    tmp, root, _, _ = workspace
    assert main(["compare", str(root), "-f", "folder", "--pred-dir", str(tmp / "good")]) == 2
    assert "at least two models" in capsys.readouterr().err
    assert main(["compare", str(root), "-f", "folder", "--pred-dir", str(tmp / "good"), "--pred-dir",
                 str(tmp / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert main(["compare", str(root), "-f", "folder", "--pred-dir", str(tmp / "good"), "--pred-dir",
                 str(tmp / "poor"), "--bootstrap", "0"]) == 2
    assert "--bootstrap" in capsys.readouterr().err
    assert main(["compare", str(root), "-f", "folder", "--pred-dir", str(tmp / "good"), "--pred-dir",
                 str(tmp / "poor"), "--html", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--html" in err and "is a folder" in err
