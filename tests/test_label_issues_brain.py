"""Label errors with the shipped brain-mri model: masks this test corrupts are found and their pixels covered;
`segdash label-issues` writes its JSON and PNGs; torchrun with two gloo processes writes what one process does.

The shipped checkpoint may be retrained: the assertions are the issue's (every corrupted image above every
clean one, most of each corrupted region flagged), not figures of one set of weights. Measured with the
checkpoint of this commit: the 8 corrupted images rank 1-8 (scores 0.022-0.031, the cleanest-looking clean
image 0.069) and the suspect pixels cover 94% and 88% of the erased regions, 85% and 86% of the swapped
blobs, 77% and 75% of the shifted boundaries and 100% and 85% of the painted discs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _label_errors import CorruptedBrain, write_corrupted_folder

from segdash.cli import main
from segdash.data import open_dataset
from segdash.data.imageio import read_label_image
from segdash.infer.label_issues import find_label_issues
from segdash.infer.predictor import predictor_for

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "weights" / "brain-mri_unet_lite0_best"
#: The least share of each corrupted region the suspect pixels must cover.
MIN_COVERAGE = 0.6


@pytest.fixture(scope="module")
def predictor():
    return predictor_for(CHECKPOINT, device="cpu")


@pytest.fixture(scope="module")
def corrupted(predictor):
    ds = CorruptedBrain()
    return ds, find_label_issues(ds, "test", predictor, keep_maps=len(ds.ids("test")))


def test_every_corrupted_mask_ranks_above_every_clean_one(corrupted):
    ds, issues = corrupted
    ranks = dict(zip(issues.sample_ids, issues.ranks))
    corrupted_ranks = sorted(ranks[s] for s in ds.plan)
    assert corrupted_ranks == list(range(1, len(ds.plan) + 1)), {s: (ds.plan.get(s), r) for s, r in ranks.items()
                                                                 if r <= 12}  # fmt: skip
    clean = [issues.scores[i] for i, s in enumerate(issues.sample_ids) if s not in ds.plan]
    assert max(issues.scores[issues.sample_ids.index(s)] for s in ds.plan) < min(clean)


@pytest.mark.parametrize("kind", ["erased", "swapped", "shifted", "painted"])
def test_suspect_pixels_cover_most_of_each_corrupted_region(corrupted, kind):
    ds, issues = corrupted
    for sample_id in (s for s, k in ds.plan.items() if k == kind):
        changed = ds.changed[sample_id]
        flagged = issues.maps[sample_id] > 0
        coverage = flagged[changed].mean()
        assert changed.sum() > 200 and coverage >= MIN_COVERAGE, (sample_id, int(changed.sum()), coverage)
        # the suggestion is the class the mask had before the corruption, where the model is right
        before = ds.base.load("test", sample_id)[1]
        suggested = issues.maps[sample_id].astype(int) - 1
        agree = (suggested == before)[changed & flagged].mean()
        assert agree > 0.9, (sample_id, agree)


def test_the_folder_copy_gives_the_same_ranking(corrupted, predictor, tmp_path):
    """The corrupted split written as a `folder` dataset (what the dashboard check opens) ranks the same."""
    ds, issues = corrupted
    write_corrupted_folder(tmp_path / "brain")
    folder = open_dataset(str(tmp_path / "brain"), format="folder")
    again = find_label_issues(folder, "test", predictor)
    assert folder.classes == ds.classes and sorted(again.sample_ids) == sorted(issues.sample_ids)
    ranks = dict(zip(again.sample_ids, again.ranks))
    assert sorted(ranks[s] for s in ds.plan) == list(range(1, len(ds.plan) + 1))


# --- the command ---------------------------------------------------------------------------------------


def test_cli_writes_json_and_suggestion_pngs(tmp_path, capsys, predictor):
    args = ["label-issues", "brain-mri", "--split", "test", "--checkpoint", str(CHECKPOINT), "--limit", "6",
            "--device", "cpu", "--top", "3"]  # fmt: skip
    assert main([*args, "--json", str(tmp_path / "issues.json"), "--masks", str(tmp_path / "masks")]) == 0
    out = capsys.readouterr().out
    assert "rank dice rank" in out and "... 3 more" in out
    doc = json.loads((tmp_path / "issues.json").read_text())
    assert doc["classes"] == ["background", "CSF", "grey matter", "white matter"]
    assert set(doc["thresholds"]) == set(doc["classes"]) and all(0 < t <= 1 for t in doc["thresholds"].values())
    assert len(doc["images"]) == 6 and [e["rank"] for e in doc["images"]] == list(range(1, 7))
    assert sorted(e["dice_rank"] for e in doc["images"]) == list(range(1, 7))
    first = doc["images"][0]
    assert set(first) >= {"sample_id", "rank", "score", "suspect_pixels", "by_class", "suggested", "dice_rank"}
    assert first["suspect_pixels"] == sum(n for row in first["suggested"].values() for n in row.values())
    assert all(e["score"] <= doc["images"][i + 1]["score"] for i, e in enumerate(doc["images"][:-1]))
    assert doc["in_sample_warning"] is None

    ds = open_dataset("brain-mri")
    issues = find_label_issues(ds, "test", predictor, limit=6, keep_maps=6)
    assert doc["thresholds"] == {n: float(t) for n, t in zip(ds.classes, issues.thresholds)}
    for entry in doc["images"]:
        png = read_label_image(tmp_path / "masks" / f"{entry['sample_id']}.png")
        np.testing.assert_array_equal(png, issues.maps[entry["sample_id"]])
        assert int((png > 0).sum()) == entry["suspect_pixels"]
        for given, row in entry["suggested"].items():
            for suggested, count in row.items():
                mask = ds.load("test", entry["sample_id"])[1]
                where = (mask == ds.classes.index(given)) & (png == 1 + ds.classes.index(suggested))
                assert int(where.sum()) == count
    legend = (tmp_path / "masks" / "suggested_classes.csv").read_text().splitlines()
    assert legend[:3] == ["value,meaning", "0,fine", "1,suggested: background"]
    assert not list((tmp_path / "masks").glob(".*.tmp"))  # written whole, renamed into place


def test_cli_warns_on_the_training_split(tmp_path, capsys):
    args = ["label-issues", "brain-mri", "--split", "train", "-c", str(CHECKPOINT), "--limit", "2", "--device",
            "cpu", "--json", "-"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "in-sample" in captured.err and json.loads(captured.out)["in_sample_warning"].startswith("The model trained")


@pytest.mark.parametrize(("extra", "message"), [
    (["--top", "-1"], "--top must be 0"),
    (["--split", "nope"], "no split 'nope'"),
    (["--temperature", "0"], "temperature must be a positive"),
    (["--masks", "FILE"], "is a file"),
])  # fmt: skip
def test_cli_user_errors_are_one_line(tmp_path, capsys, extra, message):
    (tmp_path / "FILE").write_text("x")
    extra = [str(tmp_path / "FILE") if e == "FILE" else e for e in extra]
    code = main(["label-issues", "brain-mri", "-c", str(CHECKPOINT), "--limit", "2", "--device", "cpu", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_cli_refuses_a_checkpoint_of_other_classes(capsys):
    code = main(["label-issues", "street-synth", "-c", str(CHECKPOINT), "--limit", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "differ from dataset" in err


# --- torchrun, two gloo processes --------------------------------------------------------------------


@pytest.mark.slow
def test_torchrun_writes_the_single_process_json_and_pngs(tmp_path):
    """2 CPU processes each take half of 7 test slices in both passes; rank 0 writes one JSON equal to one
    process's, and the PNGs of both halves are those one process writes."""
    args = ["label-issues", "brain-mri", "--split", "test", "--checkpoint", str(CHECKPOINT), "--limit", "7",
            "--batch-size", "2", "--device", "cpu"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "segdash", *args,
         "--json", str(tmp_path / "ddp.json"), "--masks", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.count("rank dice rank") == 1  # only rank 0 prints
    # one process with the same thread count: ONNX Runtime's sums differ in the last bits with the threads
    one = subprocess.run([sys.executable, "-m", "segdash", *args, "--json", str(tmp_path / "one.json"), "--masks",
                          str(tmp_path / "one")], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
                         check=False)  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    ddp, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ddp", "one"))
    assert ddp["images_scored"] == 7
    assert {k: v for k, v in ddp.items() if k != "seconds"} == {k: v for k, v in one.items() if k != "seconds"}
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ddp").iterdir()) and len(names) == 8
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "ddp" / name).read_bytes()
