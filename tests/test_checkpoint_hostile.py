"""Crafted checkpoints: every bad segdash.json / config.json is one SegdashError line (CLI exit 2),
refused before anything is allocated, and a model build never reaches the network."""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest
import torch

from segdash import cli
from segdash.data.base import Normalization
from segdash.errors import SegdashError
from segdash.models import CheckpointMeta, create_model, load_checkpoint, save_checkpoint
from segdash.models.checkpoint import read_meta


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("Unet", "mobilenet_v2", in_channels=1, num_classes=3)
    meta = CheckpointMeta(arch="Unet", encoder="mobilenet_v2", classes=["a", "b", "c"],
                          colors=[(0, 0, 0), (255, 0, 0), (0, 255, 0)], in_channels=1,
                          normalization=Normalization.identity(1), input_size=64)
    return save_checkpoint(model, meta, tmp_path_factory.mktemp("ck") / "good")


def crafted(good, tmp_path, file: str, change) -> str:
    """A copy of the good checkpoint whose ``file`` JSON is passed through ``change``."""
    folder = tmp_path / "crafted"
    shutil.copytree(good, folder)
    path = folder / file
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return str(folder)


def with_meta(**values):
    return lambda d: {**d, **values}


META_CASES = {
    "a list": (lambda d: [d], "not an object"),
    "classes as text": (with_meta(classes="abc"), "wrong kind"),
    "no classes": (with_meta(classes=[], colors=[]), "1 to 1024"),
    "too many classes": (with_meta(classes=[str(i) for i in range(5000)], colors=[]), "1024"),
    "in_channels text": (with_meta(in_channels="three"), "wrong kind"),
    "in_channels 0": (with_meta(in_channels=0), "in_channels 0"),
    "in_channels 17": (with_meta(in_channels=17), "in_channels 17"),
    "negative input_size": (with_meta(input_size=-64), "input_size -64"),
    "absurd input_size": (with_meta(input_size=10**9), "input_size"),
    "std 0": (with_meta(normalization={"mean": [0.0], "std": [0.0], "scale": 1.0}), "std"),
    "std text": (with_meta(normalization={"mean": [0.0], "std": ["x"], "scale": 1.0}), "wrong kind"),
    "hub encoder": (with_meta(encoder="tu-hf-hub:timm/resnet18.a1_in1k"), "hub names"),
    "bad colour": (with_meta(colors=[[0, 0, 0], [999, 0, 0], [0, 0, 1]]), "colour"),
    "bad input range": (with_meta(input_range={"low": 1.0, "high": 0.0}), "wrong kind"),
}

CONFIG_CASES = {
    "hub encoder": (lambda d: {**d, "encoder_name": "tu-hf-hub:timm/resnet18.a1_in1k"}, "hub names"),
    "hf-hub encoder": (lambda d: {**d, "encoder_name": "hf-hub:org/model"}, "hub names"),
    "ten million classes": (lambda d: {**d, "classes": 10**7}, "classes"),
    "negative classes": (lambda d: {**d, "classes": -3}, "classes"),
    "in_channels 100": (lambda d: {**d, "in_channels": 100}, "in_channels"),
    "huge decoder": (lambda d: {**d, "decoder_channels": [10**6, 128, 64, 32, 16]}, "larger than"),
    "extra timm kwargs": (lambda d: {**d, "pretrained_cfg_overlay": {"hf_hub_id": "org/x"}}, "does not take"),
    "a list": (lambda d: [d], "not an smp model config"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_bad_metadata_is_one_clear_line(good, tmp_path, case):
    change, words = META_CASES[case]
    folder = crafted(good, tmp_path, "segdash.json", change)
    with pytest.raises(SegdashError, match=words) as caught:
        read_meta(folder)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_is_refused_before_building(good, tmp_path, case, monkeypatch):
    change, words = CONFIG_CASES[case]
    folder = crafted(good, tmp_path, "config.json", change)
    import segmentation_models_pytorch as smp

    def never(*args, **kwargs):  # refused before any model is built
        raise AssertionError("a model was built from a refused config")

    if case != "extra timm kwargs":  # that check reads the real class's signature
        monkeypatch.setattr(smp, "Unet", never)
    with pytest.raises(SegdashError, match=words) as caught:
        load_checkpoint(folder)
    assert "\n" not in str(caught.value)


def test_huge_metadata_file_is_refused_unread(good, tmp_path):
    folder = crafted(good, tmp_path, "segdash.json", lambda d: d)
    (tmp_path / "crafted" / "segdash.json").write_text(json.dumps({"classes": ["x" * 100] * 100_000}))
    with pytest.raises(SegdashError, match="far larger than checkpoint metadata"):
        read_meta(folder)


def test_cli_prints_one_line_and_exits_2(good, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ("predict",))
    folder = crafted(good, tmp_path, "config.json", lambda d: {**d, "encoder_name": "tu-hf-hub:timm/x"})
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((32, 32), np.float32))
    code = cli.main(["predict", "--checkpoint", folder, str(image), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "hub names" in err[0] and "Traceback" not in err[0]


def test_old_checkpoint_without_input_range_loads_with_the_range_its_scale_implies(good, tmp_path):
    def old(d):
        d = {k: v for k, v in d.items() if k not in ("input_range", "intensity")}
        d["normalization"] = {"mean": [0.5], "std": [0.5], "scale": 1 / 255}
        return d

    meta = read_meta(crafted(good, tmp_path, "segdash.json", old))
    assert meta.input_range.to_dict() == {"low": 0.0, "high": 255.0, "floats_as_is": False} and meta.intensity is None


def test_a_good_checkpoint_loads_with_the_network_cut(good, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the model build tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    model, meta = load_checkpoint(good)
    assert meta.num_classes == 3 and not model.training
