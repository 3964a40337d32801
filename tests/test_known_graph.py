"""A checkpoint whose ONNX graph is cached starts without building its PyTorch model (no smp import)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from segdash.data.base import Normalization
from segdash.infer.predictor import Predictor
from segdash.models import CheckpointMeta, create_model, save_checkpoint

pytest.importorskip("onnxruntime")


def _checkpoint(folder, seed: int):
    torch.manual_seed(seed)
    model = create_model("Unet", "resnet18", in_channels=1, num_classes=3).eval()
    meta = CheckpointMeta(arch="Unet", encoder="resnet18", classes=["a", "b", "c"], colors=[(0, 0, 0)] * 3,
                          in_channels=1, normalization=Normalization.identity(1), ignore_index=None)
    return save_checkpoint(model, meta, folder)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("known")
    folder = _checkpoint(root / "ck", seed=0)
    first = Predictor.from_checkpoint(folder, device="cpu", onnx_cache=root / "onnx")
    assert first.backend == "onnx" and first._model is not None  # built, exported, checked, recorded
    return root, folder, first


def test_a_second_predictor_starts_from_the_graph_with_the_same_labels(exported):
    root, folder, first = exported
    second = Predictor.from_checkpoint(folder, device="cpu", onnx_cache=root / "onnx")
    assert second.backend == "onnx" and second._model is None and second.stride == first.stride
    image = np.random.default_rng(0).random((70, 90, 1), dtype=np.float32)
    np.testing.assert_array_equal(second.predict(image).labels, first.predict(image).labels)
    assert second.model is not None and second._model is not None  # PyTorch is loaded when asked for


def test_in_a_fresh_process_neither_smp_nor_timm_is_imported(exported):
    root, folder, _ = exported
    code = (
        "import sys; from segdash.infer.predictor import Predictor; "
        f"p = Predictor.from_checkpoint({str(folder)!r}, device='cpu', onnx_cache={str(root / 'onnx')!r}); "
        "print(p.backend, 'segmentation_models_pytorch' in sys.modules, 'timm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["onnx", "False", "False"]


def test_other_weights_or_a_broken_record_build_the_model_again(exported, tmp_path):
    root, folder, _ = exported
    other = _checkpoint(tmp_path / "other", seed=1)  # same architecture, other weights: another key
    predictor = Predictor.from_checkpoint(other, device="cpu", onnx_cache=root / "onnx")
    assert predictor._model is not None and predictor.backend == "onnx"
    for record in (root / "onnx").glob("checkpoint-*.json"):
        record.write_text(json.dumps({"graph": "../elsewhere.onnx", "stride": 32}))  # unreadable as a record
    again = Predictor.from_checkpoint(folder, device="cpu", onnx_cache=root / "onnx")
    assert again._model is not None and again.backend == "onnx"


def test_the_torch_backend_never_uses_the_graph(exported):
    root, folder, _ = exported
    predictor = Predictor.from_checkpoint(folder, device="cpu", backend="torch", onnx_cache=root / "onnx")
    assert predictor.backend == "torch" and predictor._model is not None
