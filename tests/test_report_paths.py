"""The Compare HTML report names checkpoints by display names and shown folders, never by a path of the machine:
a generated report (through ``segdash compare --html`` and through the Compare page's builder) holds neither the
repository's absolute path, nor $HOME, nor the cache folder, nor the runs folder."""

from __future__ import annotations

import os
import shutil
import types
from pathlib import Path

import pytest

from segdash.cli import main

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "weights" / "brain-mri_unet_lite0_epoch03"
BEST = REPO / "weights" / "brain-mri_unet_lite0_best"


def server_paths(runs: Path) -> list[str]:
    """What a report must never print: the folders of the machine it was made on."""
    from segdash.fsutil import cache_dir

    paths = {str(REPO), str(Path.home()), str(cache_dir()), str(runs.resolve()), str(runs)}
    return sorted(p for p in paths if len(p) > 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder holding one run with a copy of the shipped best checkpoint (as training leaves it)."""
    root = tmp_path_factory.mktemp("server") / "runs"
    shutil.copytree(BEST, root / "quick-1" / "checkpoints" / "best")
    return root


def test_the_cli_report_shows_display_names_and_no_machine_path(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEGDASH_RUNS", str(runs))
    report = tmp_path / "report.html"
    code = main(["compare", "brain-mri", "--split", "test", "--limit", "3", "--bootstrap", "100",
                 "--checkpoint", str(SHIPPED), "--checkpoint", str(runs / "quick-1" / "checkpoints" / "best"),
                 "--device", "cpu", "--backend", "torch", "--html", str(report)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    html = report.read_text(encoding="utf-8")
    assert "weights/brain-mri_unet_lite0_epoch03" in html and "runs/quick-1/checkpoints/best" in html
    assert "Unet + tu-tf_efficientnet_lite0" in html  # the checkpoint's facts are still there
    found = [p for p in server_paths(runs) if p in html]
    assert not found, f"the report prints {found}"


def test_the_pages_report_shows_catalogue_names_and_no_machine_path(runs, monkeypatch):
    pytest.importorskip("streamlit")
    from segdash.data import open_dataset
    from segdash.infer.compare import ModelSource, compare_models
    from segdash.infer.predictor import Predictor
    from segdash.models.catalog import CatalogEntry
    from segdash.ui import compare_page, state

    monkeypatch.setenv("SEGDASH_RUNS", str(runs))
    ds = open_dataset("brain-mri")
    paths = [str(SHIPPED), str((runs / "quick-1" / "checkpoints" / "best").resolve())]
    names = ["brain-mri_unet_lite0_epoch03", "run quick-1 · best"]
    entries = [CatalogEntry(p, f"{n} — Unet lite0", "shipped" if k == 0 else "run", "brain-mri", tuple(ds.classes), 1,
                            name=n) for k, (p, n) in enumerate(zip(paths, names))]  # fmt: skip
    predictors = [Predictor.from_checkpoint(p, device="cpu", backend="torch") for p in paths]
    result = compare_models(ds, "test", [ModelSource.checkpoint(p, n) for p, n in zip(paths, names)], predictors,
                            samples=100, limit=3)  # fmt: skip
    choice = types.SimpleNamespace(dataset=ds, dataset_choice=state.DatasetChoice("brain-mri"))
    html = compare_page.report_html(choice, entries, result)
    assert "run quick-1 · best" in html and "weights/brain-mri_unet_lite0_epoch03" in html
    assert "runs/quick-1/checkpoints/best" in html and "segdash compare brain-mri" in html
    found = [p for p in server_paths(runs) if p in html]
    assert not found, f"the report prints {found}"


def test_shown_path_is_relative_to_a_root_or_only_the_folders_name(tmp_path):
    from segdash.infer.compare import shown_path

    folder = tmp_path / "lab" / "runs" / "r1" / "checkpoints" / "best"
    folder.mkdir(parents=True)
    assert shown_path(folder, [tmp_path / "lab"]) == "runs/r1/checkpoints/best"
    assert shown_path(folder, [REPO]) == "r1/best"  # outside every root: the run and its folder, no path
    assert shown_path(folder, ["/"]) == "r1/best"  # a root above everything would say it all
    assert shown_path(folder, [Path.home()]) == "r1/best" or not str(folder).startswith(str(Path.home()))
    assert not os.path.isabs(shown_path(SHIPPED, [REPO]))
