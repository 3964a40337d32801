"""``segdash pull``: only JSON and safetensors from the Hub, kept only when segdash opens them; offline, one line.
The Hub is never reached: the download is replaced by a function that writes a folder as the Hub would."""

from __future__ import annotations

import json
import shutil

import pytest

from segdash.cli import main
from segdash.errors import SegdashError
from segdash.models import hub
from segdash.models.checkpoint import read_meta

import builders


@pytest.fixture(autouse=True)
def _never_online(monkeypatch):
    """No test reaches the network: the connection check and the info call are stubbed out."""
    monkeypatch.setattr(hub, "online", lambda *a, **k: True)
    monkeypatch.setattr(hub, "_resolved_revision", lambda repo, revision: "0123456789abcdef")


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory):
    """What a Hub repository holds: a segformer folder plus code and a pickle, which a pull must not fetch."""
    folder = builders.segformer_folder(tmp_path_factory.mktemp("hub") / "repo")
    (folder / "modeling_evil.py").write_text("raise SystemExit('ran')\n")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    return folder


def fake_snapshot(source, calls):
    """``snapshot_download`` as the Hub would answer it: the repository's files matching ``allow_patterns``."""
    import fnmatch

    def download(repo_id, revision=None, local_dir=None, allow_patterns=None, **kwargs):
        calls.append({"repo_id": repo_id, "revision": revision, "allow_patterns": allow_patterns, **kwargs})
        for path in source.iterdir():
            if any(fnmatch.fnmatch(path.name, p) for p in allow_patterns):
                shutil.copyfile(path, local_dir / path.name)
        return str(local_dir)

    return download


def test_pull_fetches_json_and_safetensors_only_and_records_the_source(hub_files, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot(hub_files, calls))
    result = hub.pull("hf:nvidia/segformer-b0-finetuned-ade-512-512", tmp_path / "segformer")
    assert calls[0]["repo_id"] == "nvidia/segformer-b0-finetuned-ade-512-512"
    assert calls[0]["allow_patterns"] == ["*.json", "*.safetensors"]
    assert sorted(p.name for p in result.folder.iterdir()) == [
        "config.json", "model.safetensors", "preprocessor_config.json", "segdash-source.json"]
    meta = read_meta(result.folder)
    assert meta.family == "transformers"
    assert meta.source == "hf:nvidia/segformer-b0-finetuned-ade-512-512@0123456789ab"
    record = json.loads((result.folder / "segdash-source.json").read_text())
    assert record["hub"] == "nvidia/segformer-b0-finetuned-ade-512-512" and record["revision"] == "0123456789abcdef"


def test_pull_defaults_to_the_runs_folder(hub_files, tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot(hub_files, []))
    assert hub.pull("hf:org/model").folder == tmp_path / "runs" / "hub" / "org--model"


def test_a_repository_with_only_pickle_weights_is_refused_and_nothing_kept(hub_files, tmp_path, monkeypatch):
    import huggingface_hub

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for name in ("config.json", "preprocessor_config.json", "pytorch_model.bin"):
        shutil.copyfile(hub_files / name, pickled / name)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot(pickled, []))
    with pytest.raises(SegdashError, match="no safetensors weights .* refs/pr/1"):
        hub.pull("hf:org/old", tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["pickled"]


def test_offline_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hub, "online", lambda *a, **k: False)
    assert main(["pull", "hf:org/model", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "this machine is offline" in err and err.count("\n") == 1


def test_hub_errors_are_one_line(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub import errors

    def missing(*args, **kwargs):
        error = errors.RepositoryNotFoundError.__new__(errors.RepositoryNotFoundError)  # no HTTP response to build it from
        Exception.__init__(error, "404 Client Error")
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    with pytest.raises(SegdashError, match="there is no model hf:org/nothing on the Hub"):
        hub.pull("hf:org/nothing", tmp_path / "x")


@pytest.mark.parametrize("name", ["org", "hf:../etc", "hf:org/name/extra", "hf:a b/c", ""])
def test_bad_names_are_refused(name):
    with pytest.raises(SegdashError, match="hf:ORG/NAME"):
        hub.parse_repo(name)
