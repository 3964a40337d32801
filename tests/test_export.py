"""ONNX export: dynamic batch and size, same outputs as PyTorch, atomic, clear errors."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
import torch

import segdash.cli as cli
from segdash.data.base import Normalization
from segdash.errors import SegdashError
from segdash.infer.onnx import export_onnx_bytes, make_session, run_session
from segdash.models import CheckpointMeta, create_model, save_checkpoint


@pytest.fixture
def only_my_commands(monkeypatch):
    """The real ``segdash`` entry point, registering just the commands under test."""
    monkeypatch.setattr(cli, "COMMANDS", ("predict", "export"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("FPN", "tu-tf_efficientnet_lite0", in_channels=1, num_classes=3, pretrained="offline")
    meta = CheckpointMeta(
        arch="FPN",
        encoder="tu-tf_efficientnet_lite0",
        classes=["background", "grey", "white"],
        colors=[(0, 0, 0), (128, 128, 128), (255, 255, 255)],
        in_channels=1,
        normalization=Normalization.identity(1),
    )
    return save_checkpoint(model, meta, tmp_path_factory.mktemp("ck") / "fpn"), model.eval()


def test_export_cli_writes_a_graph_that_matches_pytorch_at_other_batch_and_sizes(
    checkpoint, tmp_path, capsys, only_my_commands
):
    """One export (the slow part) checked from both ends: what the command prints and what the file computes."""
    folder, model = checkpoint
    out = tmp_path / "sub" / "exported.onnx"
    assert cli.main(["export", "--checkpoint", str(folder), "--onnx", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed
    assert float(re.search(r"max abs logit difference (\S+),", printed).group(1)) < 1e-3
    assert out.is_file() and not [p for p in out.parent.iterdir() if p.name.startswith(".")]

    proto = onnx.load(str(out))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]
    assert "segdash" in {p.key for p in proto.metadata_props}
    session = make_session(out)
    for shape in [(1, 1, 64, 64), (3, 1, 96, 160)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = run_session(session, x.numpy())
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-3, rtol=1e-3)
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.999


def test_export_cli_user_errors(checkpoint, tmp_path, capsys, only_my_commands):
    folder, _ = checkpoint
    assert cli.main(["export", "--checkpoint", str(tmp_path / "missing"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["export", "--checkpoint", str(folder), "--onnx", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["export", "--checkpoint", str(folder), "--onnx", str(blocker / "x.onnx")]) == 2
    assert "cannot write --onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_unexportable_model_gives_segdash_error():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return x[:, :, x[0, 0, 0] > 0]  # boolean indexing: no static output shape

    with pytest.raises(SegdashError, match="cannot export"):
        export_onnx_bytes(DataDependent(), in_channels=1)
