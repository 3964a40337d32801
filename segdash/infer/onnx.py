"""ONNX export and ONNX Runtime sessions: the fast CPU path and a portable model file.

    segdash export --checkpoint runs/brain/best --onnx brain.onnx

The exported graph takes ``image`` (N, C, H, W) float32, already normalised, with
dynamic batch, height and width (multiples of the model's stride), and returns
``logits`` (N, K, H, W) float32. ``verify_onnx`` runs it with ONNX Runtime
against PyTorch at shapes *other* than the one traced, so an operator that froze
a traced size into the graph is caught instead of silently mispredicting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_bytes, atomic_write_json, cache_dir
from segdash.models.outputs import class_labels
from segdash.models.registry import required_stride

DEFAULT_OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def export_onnx_bytes(model: nn.Module, in_channels: int, opset: int = DEFAULT_OPSET) -> bytes:
    """The model as an ONNX graph (bytes) with dynamic batch, height and width.

    Traced on CPU in fp32 at 2 x C x (4*stride) x (5*stride); the model is not modified.
    """
    import copy

    stride = required_stride(model)
    cpu_model = copy.deepcopy(model).to("cpu", torch.float32).eval()
    cpu_model = cpu_model.to(memory_format=torch.contiguous_format)
    sample = torch.randn(2, int(in_channels), 4 * stride, 5 * stride)
    buffer = io.BytesIO()
    dynamic = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings(), torch.no_grad(), _native_output_silenced():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                cpu_model,
                (sample,),
                buffer,
                dynamo=False,  # the TorchScript exporter needs no onnxscript
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic},
                opset_version=int(opset),
                do_constant_folding=True,
            )
    except Exception as exc:  # exporter errors have many types (RuntimeError, UnsupportedOperatorError, ...)
        name = type(model).__name__
        raise SegdashError(f"cannot export {name} to ONNX (opset {opset}): {_first_line(exc)}") from None
    return buffer.getvalue()


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """Discard what C++ code writes to file descriptors 1 and 2 (the exporter dumps whole graphs on failure)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def make_session(onnx_model: bytes | str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session; ``threads`` defaults to torch's intra-op thread count.

    Worker threads do not spin while idle: the machine is shared with other work.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise SegdashError(f"ONNX Runtime cannot load the model: {_first_line(exc)}") from None


def output_classes(session) -> int | None:
    """How many classes the graph's ``logits`` output has (None when the graph leaves it dynamic)."""
    shape = session.get_outputs()[0].shape
    return shape[1] if len(shape) == 4 and isinstance(shape[1], int) else None


def run_session(session, x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) float32 -> (N, K, H, W) float32 logits."""
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


@dataclasses.dataclass(frozen=True)
class OnnxCheck:
    """How an ONNX graph compares with PyTorch: worst logit difference and share of equal labels."""

    max_abs_diff: float
    label_agreement: float
    shapes: tuple[tuple[int, ...], ...]

    @property
    def ok(self) -> bool:
        return self.label_agreement >= 0.999 and np.isfinite(self.max_abs_diff)


def verify_onnx(model: nn.Module, session, in_channels: int, seed: int = 0) -> OnnxCheck:
    """Run PyTorch and ONNX Runtime on random inputs at two shapes that differ from the traced one."""
    stride = required_stride(model)
    shapes = ((1, int(in_channels), 3 * stride, 2 * stride), (3, int(in_channels), 2 * stride, 6 * stride))
    generator = torch.Generator().manual_seed(seed)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    worst, agree, total = 0.0, 0, 0
    for shape in shapes:
        x = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            expected = model(x.to(device)).float().cpu()
        try:
            got = torch.from_numpy(run_session(session, x.numpy()))
        except Exception:  # onnxruntime's own error types: the graph cannot run at this shape
            return OnnxCheck(float("inf"), 0.0, shapes)
        if got.shape != expected.shape:
            return OnnxCheck(float("inf"), 0.0, shapes)
        worst = max(worst, float((got - expected).abs().max()))
        agree += int((class_labels(got) == class_labels(expected)).sum())
        total += expected.shape[0] * expected.shape[2] * expected.shape[3]
    return OnnxCheck(worst, agree / total, shapes)


def model_fingerprint(model: nn.Module, in_channels: int, opset: int = DEFAULT_OPSET) -> str:
    """A short hash of the model's class, config, weights and the exporter version: the ONNX cache key."""
    digest = hashlib.blake2b(digest_size=16)
    config = getattr(model, "config", None)
    digest.update(type(model).__name__.encode())
    digest.update(json.dumps(config if isinstance(config, dict) else {}, sort_keys=True, default=str).encode())
    digest.update(f"{in_channels}|{opset}|{torch.__version__}".encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(str(flat.dtype).encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def cached_onnx(model: nn.Module, in_channels: int, opset: int = DEFAULT_OPSET, folder: Path | None = None) -> Path:
    """Path of the model's ONNX graph in the cache (``$SEGDASH_CACHE/onnx``), exported on first use."""
    folder = Path(folder) if folder is not None else cache_dir("onnx")
    path = folder / f"{type(model).__name__.lower()}-{model_fingerprint(model, in_channels, opset)}.onnx"
    failed = path.with_suffix(".failed")
    if path.is_file():
        return path
    if failed.is_file():  # this exact model could not be exported before: do not spend the time again
        raise SegdashError(failed.read_text(encoding="utf-8").strip())
    try:
        data = export_onnx_bytes(model, in_channels, opset)
    except SegdashError as exc:
        atomic_write_bytes(failed, str(exc).encode("utf-8"))
        raise
    atomic_write_bytes(path, data)
    return path


def cached_check(path: Path, model: nn.Module, session, in_channels: int) -> OnnxCheck:
    """``verify_onnx`` for the cached graph at ``path``, run once per graph and ONNX Runtime version.

    The result is kept beside the graph (``<name>.check.json``), so later predictors of the same
    weights start without running the model twice more.
    """
    import onnxruntime

    record = path.with_suffix(".check.json")
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if saved.pop("onnxruntime") == onnxruntime.__version__:
            return OnnxCheck(float(saved["max_abs_diff"]), float(saved["label_agreement"]),
                             tuple(tuple(shape) for shape in saved["shapes"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no record yet, or an unreadable one: verify again
    check = verify_onnx(model, session, in_channels)
    atomic_write_json(record, {**dataclasses.asdict(check), "onnxruntime": onnxruntime.__version__})
    return check


# --- a checkpoint's graph found again without building its model -----------------------------------
#: the files of a checkpoint folder that determine its graph (segdash.json holds metadata only)
GRAPH_FILES = ("config.json", "model.safetensors")


@dataclasses.dataclass(frozen=True)
class KnownGraph:
    """A checkpoint's verified graph in the ONNX cache: its path, the model's stride and the check."""

    path: Path
    stride: int
    check: OnnxCheck


@dataclasses.dataclass(frozen=True)
class GraphFiles:
    """The bytes of a checkpoint folder's graph files, read once, and their key in the ONNX cache.

    The predictor hashes these bytes, builds its model from the same bytes and records the exported
    graph under their key: a file swapped in meanwhile (a run's ``best/`` rewritten by training) can only
    miss the cache, never be recorded with a graph of other weights.
    """

    files: dict[str, bytes]
    key: str


def read_graph_files(folder: str | Path, in_channels: int, opset: int = DEFAULT_OPSET) -> GraphFiles | None:
    """A checkpoint folder's weight and config files, hashed with the exporter and runtime versions
    (None when a file is missing): the same bytes give the same graph, so a later predictor finds the
    graph without building the model (smp and timm alone take 2 s to import)."""
    import onnxruntime

    files: dict[str, bytes] = {}
    for name in GRAPH_FILES:
        try:
            files[name] = (Path(folder) / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{in_channels}|{opset}|{torch.__version__}|{onnxruntime.__version__}".encode())
    for name, data in files.items():
        digest.update(name.encode())
        digest.update(len(data).to_bytes(8, "little"))  # file boundaries are part of the key
        digest.update(data)
    return GraphFiles(files, digest.hexdigest())


def known_graph(key: str | None, folder: Path | None = None) -> KnownGraph | None:
    """The graph ``remember_graph`` recorded under ``key``, when it and its record are still there."""
    if key is None:
        return None
    folder = Path(folder) if folder is not None else cache_dir("onnx")
    try:
        record = json.loads((folder / f"checkpoint-{key}.json").read_text(encoding="utf-8"))
        path = folder / str(record["graph"])
        check = OnnxCheck(float(record["max_abs_diff"]), float(record["label_agreement"]),
                          tuple(tuple(shape) for shape in record["shapes"]))  # fmt: skip
        if path.is_file() and Path(record["graph"]).name == record["graph"]:
            return KnownGraph(path, int(record["stride"]), check)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no record yet, or an unreadable one: the caller builds the model
    return None


def remember_graph(key: str | None, graph: Path, stride: int, check: OnnxCheck) -> None:
    """Record that the checkpoint whose graph files hash to ``key`` runs as ``graph`` (in the same cache folder)."""
    if key is not None:
        atomic_write_json(graph.parent / f"checkpoint-{key}.json",
                          {"graph": graph.name, "stride": int(stride), **dataclasses.asdict(check)})  # fmt: skip


def export_checkpoint(checkpoint: str | Path, out: str | Path, opset: int = DEFAULT_OPSET) -> OnnxCheck:
    """Export a checkpoint folder to ``out`` (written atomically) and verify it against PyTorch."""
    from segdash.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    data = export_onnx_bytes(model, meta.in_channels, opset)
    check = verify_onnx(model, make_session(data), meta.in_channels)
    if not check.ok:
        raise SegdashError(
            f"the ONNX export of {meta.arch}-{meta.encoder} disagrees with PyTorch (labels equal on "
            f"{check.label_agreement:.2%} of pixels, max logit difference {check.max_abs_diff:.3g}); not written"
        )
    try:
        atomic_write_bytes(out, _with_metadata(data, meta))
    except OSError as exc:
        raise SegdashError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    return check


def _with_metadata(data: bytes, meta) -> bytes:
    """Add the segdash metadata (classes, normalisation, ...) to the ONNX model's metadata_props."""
    import onnx

    proto = onnx.load_from_string(data)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "segdash", meta.to_json()
    proto.producer_name = "segdash"
    return proto.SerializeToString()
