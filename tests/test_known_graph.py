"""A checkpoint whose ONNX graph is cached starts without building its PyTorch model (no smp import)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from segdash.data.base import Normalization
from segdash.errors import SegdashError
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


def test_weights_swapped_during_the_export_never_get_the_old_graph(tmp_path, monkeypatch):
    """Training rewrites a run's best/ while a predictor exports it: the graph is recorded under the bytes
    the model was built from, so the new files miss the cache and get their own graph."""
    import shutil

    from segdash.infer import onnx

    folder = _checkpoint(tmp_path / "best", seed=0)
    newer = _checkpoint(tmp_path / "newer", seed=1)
    export = onnx.export_onnx_bytes

    def export_while_training_swaps(*args, **kwargs):
        data = export(*args, **kwargs)
        for name in ("config.json", "model.safetensors", "segdash.json"):
            shutil.copy(newer / name, folder / name)
        return data

    monkeypatch.setattr(onnx, "export_onnx_bytes", export_while_training_swaps)
    first = Predictor.from_checkpoint(folder, device="cpu", onnx_cache=tmp_path / "onnx")
    monkeypatch.setattr(onnx, "export_onnx_bytes", export)
    image = np.random.default_rng(0).random((96, 128, 1), dtype=np.float32)
    old = Predictor.from_checkpoint(_checkpoint(tmp_path / "old", seed=0), device="cpu", backend="torch")
    old_labels = old.predict(image).labels
    assert np.mean(first.predict(image).labels == old_labels) > 0.99  # one model, the old one (ties aside)

    second = Predictor.from_checkpoint(folder, device="cpu", onnx_cache=tmp_path / "onnx")
    torch_labels = Predictor.from_checkpoint(folder, device="cpu", backend="torch").predict(image).labels
    assert second.backend == "onnx"
    assert np.mean(torch_labels != old_labels) > 0.2  # the swap matters
    assert np.mean(second.predict(image).labels == torch_labels) > 0.99  # the new weights' own graph
    third = Predictor.from_checkpoint(folder, device="cpu", onnx_cache=tmp_path / "onnx")
    assert third._model is None  # started from the graph
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tmp_path / "old" / name, folder / name)
    with pytest.raises(SegdashError, match="changed since this predictor started"):
        third.model  # noqa: B018 - its PyTorch model would not be the graph's model


def _five_classes_listed(folder, tmp_path):
    """A copy of the 3-class checkpoint whose segdash.json was edited to list 5 classes."""
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    meta = json.loads((edited / "segdash.json").read_text())
    meta.update(classes=["a", "b", "c", "d", "e"], colors=[[0, 0, 0]] * 5)
    (edited / "segdash.json").write_text(json.dumps(meta))
    return edited


def test_a_cached_graph_with_another_class_count_than_its_metadata_is_refused(exported, tmp_path):
    """segdash.json edited to list 5 classes for a 3-class head: refused as load_checkpoint refuses it."""
    root, folder, _ = exported
    edited = _five_classes_listed(folder, tmp_path)
    for backend in ("auto", "torch"):
        with pytest.raises(SegdashError, match="the model outputs 3 classes but segdash.json lists 5"):
            Predictor.from_checkpoint(edited, device="cpu", backend=backend, onnx_cache=root / "onnx")


def test_segdash_predict_refuses_it_with_the_same_message(exported, tmp_path):
    import os

    from PIL import Image

    root, folder, _ = exported
    edited = _five_classes_listed(folder, tmp_path)
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "x.png")
    env = dict(os.environ, SEGDASH_CACHE=str(root))  # the cache holding the graph: <cache>/onnx
    done = subprocess.run([sys.executable, "-m", "segdash", "predict", "-c", str(edited), str(tmp_path / "x.png"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "the model outputs 3 classes but segdash.json lists 5" in done.stderr
    assert not (tmp_path / "out" / "x.png").exists()
