"""A corpus of hostile files, built here, and what segdash must do with each: one line, bounded memory.

Decompression bombs are small files whose headers declare huge images; every reader must refuse
them from the header, so the process's peak memory stays far below what decoding would take.
Crafted datasets (nested classes files, names that are not UTF-8, split lists that are not text,
absurd options) must end as one line on the command line (exit 2), never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
#: Peak resident memory allowed to a process refusing a bomb (decoding any of them takes 3-40 GB).
MAX_PEAK_BYTES = 2 * 2**30


def _tiled_tiff_bomb(path: Path, side: int = 20000) -> None:
    """A zlib-tiled TIFF of ``side`` x ``side`` zeros (a few MB), written tile by tile."""
    tifffile = pytest.importorskip("tifffile")
    tile = np.zeros((256, 256), np.uint8)
    count = ((side + 255) // 256) ** 2
    tifffile.imwrite(path, (tile for _ in range(count)), shape=(side, side), dtype=np.uint8,
                     tile=(256, 256), compression="zlib")  # fmt: skip


def _lying_npy(path: Path, shape=(100000, 100000)) -> None:
    """A .npy whose header claims ``shape`` float32 (40 GB) over 64 bytes of data."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
        handle.write(b"\0" * 64)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    paths = {"tiff": folder / "bomb.tif", "png": folder / "big.png", "npy": folder / "lying.npy"}
    _tiled_tiff_bomb(paths["tiff"])
    Image.new("L", (12000, 12000)).save(paths["png"])  # 144 megapixels in ~140 KB
    _lying_npy(paths["npy"])
    return paths


def _run(*args: str, env: dict | None = None, timeout: int = 180) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``python *args`` and return the result and the child's peak RSS in bytes (Linux: ru_maxrss in KB)."""
    code = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, sys.executable, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)  # fmt: skip
    *lines, peak = done.stderr.rstrip("\n").split("\n")
    done.stderr = "\n".join(lines)
    return done, int(peak)


@pytest.mark.parametrize("kind", ["tiff", "png", "npy"])
def test_a_bomb_is_refused_from_its_header_with_bounded_memory(bombs, kind):
    script = "import sys; from segdash.data.imageio import read_image; read_image(sys.argv[1])"
    done, peak = _run("-c", script, str(bombs[kind]))
    assert done.returncode != 0
    assert "SegdashError" in done.stderr and "larger than the limit" in done.stderr
    assert "SEGDASH_MAX_IMAGE_PIXELS" in done.stderr
    assert peak < MAX_PEAK_BYTES, f"{kind}: peak {peak / 2**30:.2f} GB"


def test_predict_on_bombs_is_one_line_per_file_and_bounded(bombs, tmp_path):
    checkpoint = ROOT / "weights" / "brain-mri_unet_lite0_best"
    if not checkpoint.is_dir():
        pytest.skip("shipped checkpoint missing")
    files = [str(bombs[k]) for k in ("tiff", "png", "npy")]
    done, peak = _run("-m", "segdash", "predict", "--checkpoint", str(checkpoint), *files, "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("larger than the limit") == 3
    assert peak < MAX_PEAK_BYTES, f"peak {peak / 2**30:.2f} GB"


def test_the_limit_can_be_raised_by_the_user(tmp_path, monkeypatch):
    from segdash.data.imageio import read_image
    from segdash.errors import SegdashError

    Image.new("L", (300, 200)).save(tmp_path / "a.png")
    monkeypatch.setenv("SEGDASH_MAX_IMAGE_PIXELS", "50000")
    with pytest.raises(SegdashError, match="300 x 200"):
        read_image(tmp_path / "a.png")
    monkeypatch.setenv("SEGDASH_MAX_IMAGE_PIXELS", "60000")
    assert read_image(tmp_path / "a.png").shape == (200, 300, 3)


# --- crafted datasets and options: one line, exit 2 ----------------------------------------------
def _folder_dataset(root: Path) -> Path:
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for stem in ("a", "b", "c"):
            Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / sub / f"{stem}.png")
    return root


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segdash", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)  # fmt: skip


def _assert_one_line(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr


@pytest.mark.parametrize(
    "content, expected",
    [
        ({"classes": [{"name": "a", "index": [[0]]}]}, "an index is not a whole number"),
        ({"classes": [{"name": {"x": [1, 2]}}]}, "name is not text"),
        ({"classes": [[["deep"]]]}, "neither a name nor an object"),
        ({"classes": {"road": "root:x:0:0:secret"}}, "a colour is not"),
    ],
)
def test_a_crafted_classes_file_is_one_line_that_never_quotes_it(tmp_path, content, expected):
    root = _folder_dataset(tmp_path / "ds")
    (root / "classes.json").write_text(json.dumps(content))
    done = _cli("stats", str(root), "--format", "folder")
    _assert_one_line(done, expected)
    assert "secret" not in done.stderr and "deep" not in done.stderr


def test_a_classes_file_that_is_another_file_is_not_echoed(tmp_path):
    root = _folder_dataset(tmp_path / "ds")
    secret = tmp_path / "secrets.env"
    secret.write_text("DB_PASSWORD hunter2 11 22\nAPI_KEY abc123 33 44\n")
    done = _cli("stats", str(root), "--format", "folder", "-o", f"classes={secret}")
    _assert_one_line(done, "outside the dataset folder")  # not read at all
    done = _cli("stats", str(root), "--format", "folder", "-o", f"classes={secret}", "--classes-outside")
    _assert_one_line(done, "row 2: a row is neither")
    assert "hunter2" not in done.stderr and "abc123" not in done.stderr


def test_file_names_that_are_not_utf8_are_skipped_with_a_warning(tmp_path):
    root = _folder_dataset(tmp_path / "ds")
    for sub in ("images", "masks"):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(bytes(root / sub) + b"/\xff\xfe.png")
    done = _cli("stats", str(root), "--format", "folder")
    assert done.returncode == 0, done.stderr
    assert "not valid UTF-8" in done.stderr and "Traceback" not in done.stderr


def test_a_voc_split_list_that_is_not_text_is_one_line(tmp_path):
    root = tmp_path / "voc"
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "SegmentationClass").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "JPEGImages" / "a.jpg")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "SegmentationClass" / "a.png")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_bytes(b"\xff\xfe\x00a\n")
    _assert_one_line(_cli("stats", str(root), "--format", "voc"), "not UTF-8 text")


@pytest.mark.parametrize(
    "option, expected",
    [
        ("count=1e8", "option count must be a whole number"),
        ("count=100000000", "option count must be at most"),
        ("seed=-1", "option seed must be at least 0"),
        ("count=" + "9" * 5000, "must be a whole number"),
    ],
)
def test_absurd_builtin_options_are_one_line(option, expected):
    _assert_one_line(_cli("stats", "street-synth", "-o", option), expected)


@pytest.mark.parametrize(
    "option, expected",
    [("num_classes=100000000", "num_classes must be at most 1024"), ("channels=0", "channels must be at least 1")],
)
def test_absurd_folder_options_are_one_line(tmp_path, option, expected):
    root = _folder_dataset(tmp_path / "ds")
    _assert_one_line(_cli("stats", str(root), "--format", "folder", "-o", option), expected)


def test_a_nifti_header_declaring_a_huge_volume_is_skipped(tmp_path):
    nib = pytest.importorskip("nibabel")
    from segdash.data.imageio import check_volume_size
    from segdash.errors import SegdashError

    header = nib.Nifti1Header()
    header.set_data_shape((4000, 4000, 4000))
    with pytest.raises(SegdashError, match="SEGDASH_MAX_VOLUME_VOXELS"):
        check_volume_size("ct.nii", header.get_data_shape())


# --- a bad sample never sinks a split -----------------------------------------------------------
def _folder_with_bad_samples(root: Path) -> Path:
    """A 4-class folder dataset (test split only) whose mask c is truncated and whose mask d holds label 9."""
    for sub in ("test/images", "test/masks"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem in ("a", "b", "c", "d", "e"):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(root / "test/images" / f"{stem}.png")
        Image.fromarray(rng.integers(0, 4, (32, 32), dtype=np.uint8)).save(root / "test/masks" / f"{stem}.png")
    (root / "test/masks/c.png").write_bytes((root / "test/masks/c.png").read_bytes()[:60])
    Image.fromarray(np.full((32, 32), 9, np.uint8)).save(root / "test/masks/d.png")
    return root


def test_stats_and_evaluate_skip_bad_samples_and_name_them(tmp_path):
    root = _folder_with_bad_samples(tmp_path / "ds")
    out = tmp_path / "stats.json"
    done = _cli("stats", str(root), "--format", "folder", "-o", "num_classes=4", "--split", "test", "--json", str(out),
                "--no-cache")
    assert done.returncode == 0, done.stderr
    assert "2 sample(s) skipped" in done.stderr and "Traceback" not in done.stderr
    split = json.loads(out.read_text())["splits"]["test"]
    assert split["images"] == 3
    assert sorted(s["sample_id"] for s in split["skipped"]) == ["c", "d"]
    strict = _cli("stats", str(root), "--format", "folder", "-o", "num_classes=4", "--split", "test", "--no-cache",
                  "--strict")
    _assert_one_line(strict, "c")


def test_evaluate_skips_bad_samples_and_lists_them(tmp_path):
    from segdash.data import open_dataset
    from segdash.data.imageio import write_label_png
    from segdash.infer.evaluate import evaluate

    root = _folder_with_bad_samples(tmp_path / "ds")
    preds = tmp_path / "preds"
    for stem in ("a", "b", "c", "d", "e"):
        write_label_png(preds / f"{stem}.png", np.zeros((32, 32), np.int64))
    ds = open_dataset(str(root), format="folder", num_classes=4)
    with pytest.warns(UserWarning, match="2 sample"):
        evaluation = evaluate(ds, "test", pred_dir=preds, distances=False)
    assert evaluation.sample_ids == ["a", "b", "e"] and evaluation.images == 3
    assert [sid for sid, _ in evaluation.skipped] == ["c", "d"]
    assert [s["sample_id"] for s in evaluation.to_json_dict()["skipped"]] == ["c", "d"]
    from segdash.errors import SegdashError

    with pytest.raises(SegdashError):
        evaluate(ds, "test", pred_dir=preds, distances=False, strict=True)
