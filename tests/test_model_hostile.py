"""Crafted model folders get one clear line and load nothing: pickle that runs code, a config that names its own
code, a class table of a million entries, truncated weights, a config far larger than its weights."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from segdash.errors import SegdashError
from segdash.models.checkpoint import load_checkpoint, read_meta

import builders

pytest.importorskip("transformers")


#: smp, timm, torchvision and transformers warn about deprecations the tests do not exercise
pytestmark = pytest.mark.filterwarnings("ignore")

@pytest.fixture(scope="module")
def segformer(tmp_path_factory) -> Path:
    return builders.segformer_folder(tmp_path_factory.mktemp("good") / "segformer")


@pytest.fixture
def copy(segformer, tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(segformer, folder)
    return folder


def refused(folder: Path, match: str, reader=load_checkpoint) -> str:
    with pytest.raises(SegdashError, match=match) as info:
        reader(folder)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    return message


class _RunsCode:
    """Unpickling this calls ``Path.touch`` on the marker: what a crafted pytorch_model.bin would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_only_folder_runs_no_code(copy, tmp_path):
    """A transformers folder whose only weights are a pytorch_model.bin holding more than tensors: read with
    torch.load(weights_only=True), which refuses the object, so the marker file is never made."""
    marker = tmp_path / "pwned"
    (copy / "model.safetensors").unlink()
    (copy / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _RunsCode(marker)}))
    refused(copy, "holds more than tensors|not a plain file of tensors")
    assert not marker.exists()


def test_pickle_files_alone_are_not_a_checkpoint(tmp_path):
    (tmp_path / "model.pth").write_bytes(pickle.dumps({"a": 1}))
    refused(tmp_path, "not a checkpoint segdash opens", read_meta)
    refused(tmp_path / "model.pth", "segdash import")


def test_a_plain_pytorch_model_bin_of_tensors_loads(copy):
    """The safe case: a pytorch_model.bin of tensors only (old Hub folders) loads, as tensors."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(copy / "model.safetensors"))
    (copy / "model.safetensors").unlink()
    torch.save(state, copy / "pytorch_model.bin")
    module, meta = load_checkpoint(copy)
    assert meta.family == "transformers" and module(torch.zeros(1, 3, 16, 16)).shape == (1, 4, 16, 16)


@pytest.mark.parametrize("file", ["config.json", "preprocessor_config.json"])
def test_auto_map_is_refused(copy, file):
    data = json.loads((copy / file).read_text())
    data["auto_map"] = {"AutoModelForSemanticSegmentation": "modeling_evil.EvilModel"}
    (copy / file).write_text(json.dumps(data))
    refused(copy, "trust_remote_code, which segdash never does", read_meta)


def test_a_million_classes_are_refused_before_anything_is_made(copy):
    config = json.loads((copy / "config.json").read_text())
    config["id2label"] = {str(i): f"c{i}" for i in range(10**6)}
    (copy / "config.json").write_text(json.dumps(config))
    refused(copy, "far larger than a model's config", read_meta)
    config["id2label"] = None
    config["num_labels"] = 10**6  # the same, compact: transformers would make a million names
    (copy / "config.json").write_text(json.dumps(config))
    refused(copy, "1 to 1024", read_meta)


def test_truncated_safetensors_is_refused_before_loading(copy):
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    refused(copy, "truncated")


def test_a_config_far_larger_than_its_weights_is_refused(copy):
    """A config asking for a huge model with tiny weights is counted on torch's meta device, never allocated."""
    config = json.loads((copy / "config.json").read_text())
    config["hidden_sizes"] = [4096, 4096]
    config["decoder_hidden_size"] = 4096
    (copy / "config.json").write_text(json.dumps(config))
    refused(copy, "describes a model of .* parameters but its weights hold")


def test_a_hub_backbone_name_is_refused(tmp_path):
    folder = builders.upernet_folder(tmp_path / "upernet")
    config = json.loads((folder / "config.json").read_text())
    config["backbone"] = "hf-hub:someone/backbone"
    (folder / "config.json").write_text(json.dumps(config))
    refused(folder, "not a plain name", read_meta)


def test_weights_of_another_model_are_refused(copy, tmp_path):
    other = builders.dpt_folder(tmp_path / "dpt")
    shutil.copyfile(other / "model.safetensors", copy / "model.safetensors")
    refused(copy, "do not belong together|do not fit|lack or misshape")


def test_oneformer_is_refused_with_why(copy):
    config = json.loads((copy / "config.json").read_text())
    config.update(model_type="oneformer", architectures=["OneFormerForUniversalSegmentation"])
    (copy / "config.json").write_text(json.dumps(config))
    refused(copy, "OneFormer needs a text tokenizer", read_meta)
