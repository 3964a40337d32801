"""Evaluation and statistics split across processes: shards, their merge, and torchrun with two gloo processes.

The merge is checked without processes first (each shard scored in this process, then put together, equals
the whole split scored at once); the slow tests launch ``python -m torch.distributed.run`` and compare its
JSON with the single-process JSON, timings left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segdash.cli import main
from segdash.data import open_dataset
from segdash.data.stats import TOP_IMAGES, ClassStats, class_statistics, merge_stats
from segdash.infer.evaluate import evaluate, merge_evaluations
from segdash.sharding import shard_bounds, shard_of

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "weights" / "brain-mri_unet_lite0_best"
TIMINGS = ("seconds", "forward_seconds")


# --- shards -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "world", "expected"), [
    (10, 3, [(0, 4), (4, 7), (7, 10)]),
    (6, 2, [(0, 3), (3, 6)]),
    (2, 4, [(0, 1), (1, 2), (2, 2), (2, 2)]),
    (0, 2, [(0, 0), (0, 0)]),
    (5, 1, [(0, 5)]),
])  # fmt: skip
def test_shard_bounds_are_contiguous_and_cover_the_split(count, world, expected):
    assert [shard_bounds(count, rank, world) for rank in range(world)] == expected
    items = [f"id{i}" for i in range(count)]
    assert [item for rank in range(world) for item in shard_of(items, rank, world)] == items


def test_shard_rank_outside_the_world_is_a_user_error():
    from segdash.errors import SegdashError

    with pytest.raises(SegdashError, match="RANK"):
        shard_bounds(10, 2, 2)


# --- a folder dataset with two sizes, ignored pixels and one unreadable mask ----------------------------


@pytest.fixture()
def folder(tmp_path):
    """root/test/{images,masks}: 9 samples (16x12 and 8x8), mask 'e' not the image's size; classes.csv with 3 classes."""
    rng = np.random.default_rng(3)
    root = tmp_path / "data"
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "masks").mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nbackground,0,0,0\nroad,128,64,128\ncar,0,0,142\n")
    preds = tmp_path / "preds"
    preds.mkdir()
    for i, stem in enumerate("abcdefghi"):
        shape = (12, 16) if i % 4 else (8, 8)
        mask = rng.integers(0, 3, shape).astype(np.uint8)
        mask[0, :2] = 255  # ignored
        image = rng.integers(0, 255, shape + (3,), dtype=np.uint8)
        Image.fromarray(image).save(root / "test" / "images" / f"{stem}.png")
        Image.fromarray(mask, mode="L").save(root / "test" / "masks" / f"{stem}.png")
        pred = np.where(rng.random(shape) < 0.7, np.where(mask == 255, 0, mask), rng.integers(0, 3, shape))
        Image.fromarray(pred.astype(np.uint8), mode="L").save(preds / f"{stem}.png")
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(root / "test" / "masks" / "e.png")  # does not fit
    return root, preds


class PixelPredictor:
    """Probabilities from each pixel's own colour (softmax of fixed weights): a model whose output for an
    image does not depend on the batch it comes in, like a real one, but instant."""

    device = "cpu"

    def predict_probabilities(self, images):
        x = torch.from_numpy(np.stack(images)).float() / 255  # (N, H, W, 3)
        logits = torch.einsum("nhwc,kc->nkhw", x, torch.tensor([[3.0, -1, 0], [0, 2, -1], [-1, 0, 2.5]]))
        return logits.softmax(dim=1), None

    def predict_labels(self, images):
        return self.predict_probabilities(images)[0].argmax(dim=1)


def _without_timings(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in TIMINGS}


@pytest.mark.parametrize("world", [2, 3, 12])
def test_merged_shards_equal_the_single_run_with_a_model(folder, world):
    root, _ = folder
    ds = open_dataset(str(root), format="folder")
    whole = evaluate(ds, "test", predictor=PixelPredictor(), batch_size=3)
    parts = [evaluate(ds, "test", predictor=PixelPredictor(), batch_size=3, shard=(r, world)) for r in range(world)]
    merged = merge_evaluations(parts)
    assert whole.calibration is not None and whole.skipped and whole.skipped[0][0] == "e"
    assert _without_timings(merged.to_json_dict()) == _without_timings(whole.to_json_dict())
    assert merged.sample_ids == whole.sample_ids == [s for s in "abcdfghi"]
    np.testing.assert_array_equal(merged.per_image_confusion, whole.per_image_confusion)
    np.testing.assert_array_equal(merged.entropy_histogram, whole.entropy_histogram)


def test_merged_shards_equal_the_single_run_with_a_prediction_folder(folder):
    root, preds = folder
    ds = open_dataset(str(root), format="folder")
    whole = evaluate(ds, "test", pred_dir=preds, limit=4)  # before 'e', whose prediction does not fit its mask
    merged = merge_evaluations([evaluate(ds, "test", pred_dir=preds, limit=4, shard=(r, 3)) for r in range(3)])
    assert _without_timings(merged.to_json_dict()) == _without_timings(whole.to_json_dict())
    assert merged.total_images == merged.images == 4 and merged.distance_summary is not None
    for key in ("hd95", "assd", "rad"):
        np.testing.assert_array_equal(merged.per_image_distances[key], whole.per_image_distances[key])


@pytest.mark.parametrize("world", [2, 4])
def test_merged_stats_equal_the_single_pass(folder, world):
    root, _ = folder
    ds = open_dataset(str(root), format="folder")
    whole = class_statistics(ds, "test", use_cache=False)
    merged = merge_stats([class_statistics(ds, "test", shard=(r, world)) for r in range(world)])
    assert merged.to_dict() == whole.to_dict() and merged.skipped == whole.skipped and len(whole.skipped) == 1
    assert (merged.min_size, merged.max_size) == ((8, 8), (12, 16))
    assert class_statistics(ds, "test", use_cache=False, workers=3).to_dict() == whole.to_dict()


def _stats_with_top(top: list[tuple[str, int]]) -> ClassStats:
    zeros = np.zeros(1, np.int64)
    return ClassStats(dataset="d", split="s", classes=("a",), images=len(top), pixels=zeros,
                      images_with_class=zeros, pixels_of_images_with_class=zeros,
                      cooccurrence=np.zeros((1, 1), np.int64), object_counts=zeros,
                      object_area_counts=np.zeros((1, 11), np.int64), cell_pixels=np.zeros((1, 1024), np.int64),
                      top_images=(tuple(top),))  # fmt: skip


def test_merged_top_images_are_those_the_single_heap_keeps():
    """Ties on pixels are decided by the sample id as the single pass's heap does (the larger id stays)."""
    rng = np.random.default_rng(0)
    entries = [(f"s{i:03d}", int(n)) for i, n in enumerate(rng.integers(0, 20, 3 * TOP_IMAGES))]
    expected = sorted(sorted(entries, key=lambda e: (e[1], e[0]))[-TOP_IMAGES:], key=lambda e: (-e[1], e[0]))
    shards = [entries[i::3] for i in range(3)]
    kept = [sorted(sorted(s, key=lambda e: (e[1], e[0]))[-TOP_IMAGES:], key=lambda e: (-e[1], e[0])) for s in shards]
    merged = merge_stats([_stats_with_top(top) for top in kept])
    assert list(merged.top_images[0]) == expected


# --- torchrun, two gloo processes -----------------------------------------------------------------------


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "segdash", *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=cwd, check=False,
    )


@pytest.mark.slow
def test_torchrun_evaluate_writes_the_single_process_json(tmp_path):
    """Each of 2 CPU processes scores its half of 7 test slices; rank 0 writes one JSON equal to one process's."""
    args = ["evaluate", "brain-mri", "--split", "test", "--checkpoint", str(CHECKPOINT), "--limit", "7",
            "--batch-size", "2", "--device", "cpu"]  # fmt: skip
    run = _torchrun(*args, "--json", str(tmp_path / "ddp.json"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.count("mean IoU") == 1  # only rank 0 prints
    assert main([*args, "--json", str(tmp_path / "one.json")]) == 0
    ddp, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ddp", "one"))
    assert ddp["images"] == 7 and ddp["calibration"] is not None and ddp["per_class"][1]["objects"] is not None
    assert _without_timings(ddp) == _without_timings(one)


@pytest.mark.slow
def test_torchrun_stats_writes_the_single_process_json(folder, tmp_path):
    root, _ = folder
    args = ["stats", str(root), "--format", "folder", "--no-cache"]
    run = _torchrun(*args, "--json", str(tmp_path / "ddp.json"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert main([*args, "--workers", "1", "--json", str(tmp_path / "one.json")]) == 0
    ddp, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ddp", "one"))
    assert ddp["splits"]["test"]["images"] == 8 and [s["sample_id"] for s in ddp["splits"]["test"]["skipped"]] == ["e"]
    assert ddp == one


@pytest.mark.parametrize("workers", ["0", "65", "x"])
def test_stats_workers_out_of_range_is_a_usage_error(folder, workers, capsys):
    root, _ = folder
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", str(root), "--format", "folder", "--workers", workers])
    assert exit_info.value.code == 2 and "--workers" in capsys.readouterr().err
