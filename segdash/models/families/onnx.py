"""ONNX graphs from any producer (``torch.onnx.export``, MMSegmentation, PaddleSeg deploy), run on ONNX Runtime.

    segdash import model.onnx --classes classes.txt --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --out DIR
    DIR/  model.onnx  segdash.json

The graph takes one (N, C, H, W) float32 input, already normalised, and gives per-class scores
(N, K, h, w) as its first output; scores at another size than the input are resized to it (bilinear).
A graph with a fixed height and width gets images fitted to that size (``meta.input_size``); a fixed batch
of 1 runs image by image. What the file cannot say (class names, normalisation, the inputs' value
range) comes from the import's flags; ``check_graph`` refuses, with one line, a graph whose shapes do not
fit that and runs it once on zeros to see its real output shape.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segdash.errors import SegdashError
from segdash.models.families import register_family
from segdash.models.families.base import ModelFamily, file_size

GRAPH_FILE = "model.onnx"
#: protobuf's own limit; larger graphs keep their weights in separate files, which segdash does not follow
MAX_GRAPH_BYTES = 2 * 2**30


@dataclasses.dataclass(frozen=True)
class GraphShape:
    """What a graph's single input and first output look like; ``None`` for a dynamic dimension."""

    input_name: str
    batch: int | None
    channels: int | None
    height: int | None
    width: int | None
    classes: int | None
    producer: str


def _dim(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def open_session(path: Path):
    """An ONNX Runtime CPU session for ``path`` (segdash's one session policy), after the size check."""
    from segdash.infer.onnx import make_session  # the predictor's session options: threads, no spinning

    size = file_size(path)
    if size > MAX_GRAPH_BYTES:
        raise SegdashError(f"{path} is {size:,} bytes, larger than an ONNX graph can be in one file")
    return make_session(path)


def graph_shape(session, path: Path) -> GraphShape:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise SegdashError(f"{path} takes {len(inputs)} inputs; segdash runs graphs with one image input")
    shape, out = list(inputs[0].shape), list(outputs[0].shape) if outputs else []
    if len(shape) != 4 or "float" not in inputs[0].type:
        raise SegdashError(f"{path} takes {inputs[0].type} of shape {shape}; segdash gives (N, C, H, W) float images")
    if len(out) != 4 or "float" not in outputs[0].type:
        raise SegdashError(
            f"{path} outputs {outputs[0].type if outputs else 'nothing'} of shape {out}, not (N, K, H, W) per-class "
            "float scores; export the logits, not the labels"
        )
    producer = ""
    try:
        meta = session.get_modelmeta()
        producer = str(meta.producer_name or "")[:60]
    except Exception:  # old runtimes lack some metadata fields
        pass
    return GraphShape(inputs[0].name, _dim(shape[0]), _dim(shape[1]), _dim(shape[2]), _dim(shape[3]), _dim(out[1]),
                      producer)  # fmt: skip


def check_graph(session, path: Path, num_classes: int, in_channels: int, size: int | None) -> GraphShape:
    """Refuse a graph that does not fit ``num_classes`` and ``in_channels``; run it once on zeros."""
    shape = graph_shape(session, path)
    if shape.channels is not None and shape.channels != in_channels:
        raise SegdashError(f"{path} takes {shape.channels} input channel(s), not {in_channels}")
    if (shape.height is None) != (shape.width is None) or (shape.height and shape.height != shape.width):
        raise SegdashError(f"{path} takes a fixed {shape.height}x{shape.width} input; segdash fits images to a square "
                           "input or runs them at any size: export the graph with dynamic or square height and width")  # fmt: skip
    side = shape.height or size or 64
    try:
        out = session.run(None, {shape.input_name: np.zeros((1, in_channels, side, side), np.float32)})[0]
    except Exception as exc:  # onnxruntime's own error types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SegdashError(f"{path} does not run on a {side}x{side} input: {first}") from None
    if out.ndim != 4 or out.shape[0] != 1 or out.shape[1] != num_classes:
        raise SegdashError(f"{path} gives an output of shape {tuple(out.shape)} for one {side}x{side} image, not "
                           f"(1, {num_classes}, H, W) for the {num_classes} classes it was given")  # fmt: skip
    return dataclasses.replace(shape, classes=num_classes)


class OnnxGraphModule(nn.Module):
    """(N, C, H, W) float32 -> (N, K, H, W) float32 through ONNX Runtime; scores resized to the input's size."""

    output_stride = 1

    def __init__(self, session, shape: GraphShape):
        super().__init__()
        self.session, self.shape = session, shape
        self.runtime = ("onnx", f"ONNX Runtime on CPU (the checkpoint is an ONNX graph{' from ' + shape.producer if shape.producer else ''})")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        parts = [array] if self.shape.batch is None else [array[i : i + 1] for i in range(array.shape[0])]
        try:
            outs = [self.session.run(None, {self.shape.input_name: part})[0] for part in parts]
        except Exception as exc:  # onnxruntime's own error types: the graph cannot take this input
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise SegdashError(f"the ONNX graph cannot run on a {height}x{width} input: {first}") from None
        scores = torch.from_numpy(np.concatenate(outs) if len(outs) > 1 else outs[0]).float().to(x.device)
        if scores.ndim != 4 or scores.shape[1] != self.shape.classes:
            raise SegdashError(f"the ONNX graph gave scores of shape {tuple(scores.shape)}, not (N, {self.shape.classes}, H, W)")
        if scores.shape[-2:] != (height, width):
            scores = F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)
        return scores


@register_family
class OnnxFamily(ModelFamily):
    name = "onnx"
    summary = "ONNX graphs from any producer, run on ONNX Runtime (via segdash import of the .onnx file)"
    opens_directly = False

    def claims(self, folder: Path) -> bool:
        return (folder / GRAPH_FILE).is_file()

    def read_meta(self, folder: Path):
        raise SegdashError(f"{folder} holds an ONNX graph without segdash.json; run 'segdash import "
                           f"{folder / GRAPH_FILE} --out DIR --classes FILE --mean ... --std ...' to say its classes "
                           "and normalisation")  # fmt: skip

    def build(self, folder: Path, meta):
        path = folder / GRAPH_FILE
        session = open_session(path)
        return OnnxGraphModule(session, check_graph(session, path, meta.num_classes, meta.in_channels, meta.input_size))

    def facts(self, folder: Path, meta) -> dict[str, str]:
        path = folder / GRAPH_FILE
        try:
            size = path.stat().st_size
        except OSError:
            return {}
        return {"weights": f"{GRAPH_FILE}, {size / 2**20:.1f} MB", "runs on": "ONNX Runtime (CPU)"}
