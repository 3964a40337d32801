"""Run a segmentation model on images of any size, the same way everywhere (CLI, dashboard, evaluation).

    predictor = Predictor.from_checkpoint("runs/brain/best")
    prediction = predictor.predict(image)          # image: HxWxC uint8 or float32
    prediction.labels, prediction.probs            # HxW int64, CxHxW float32

What happens to an image, in order:

1. channels are made to fit the model (gray -> RGB by replication, RGB -> gray by
   luminance, RGBA -> RGB by dropping alpha), each with a note in ``Prediction.notes``;
2. pixel values are mapped to the value range the checkpoint's training inputs had
   (``segdash.data.pixels``: an 8-bit PNG, a 16-bit TIFF and a float ``.npy`` of one slice
   give the same input), with a note when they change, then normalised with the checkpoint's
   ``Normalization``; ``Prediction.hint`` says when an image looks unlike the training data;
3. when the checkpoint fixes ``input_size`` the image is resized to it and the logits
   resized back; otherwise images above ``tile_size**2`` pixels run as overlapping
   windows whose logits are blended with weights that fall off towards each window's
   edge (a window loses context at its border, so borders count least and
   windows are as large as memory allows); smaller images are padded to the
   encoder's stride and cropped back;
4. optional flip test-time augmentation averages the softmax of the flipped runs.

Backends: on CPU the model runs through ONNX Runtime when its exported graph agrees
with PyTorch (checked at two shapes other than the traced one; the export and the
check's result are cached in ``$SEGDASH_CACHE/onnx``), else through PyTorch (PSPNet and UPerNet,
whose adaptive pooling does not export with dynamic sizes). At batch 1, 256x256 on a
2-core AMD EPYC, ONNX Runtime ran Unet-lite0 about 2x and Unet-resnet34 about 1.5-2x
faster than eager fp32 PyTorch with identical labels; channels_last and TorchScript
freezing did not pay on this CPU. On CUDA: PyTorch with fp16 autocast and
channels_last. Always under ``torch.inference_mode``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segdash.data.pixels import intensity_hint, to_input_range
from segdash.device import choose_device
from segdash.errors import SegdashError
from segdash.models.checkpoint import CheckpointMeta, load_checkpoint, read_meta
from segdash.models.outputs import class_labels, single_output
from segdash.models.registry import required_stride

BACKENDS = ("auto", "torch", "onnx")
WINDOW_PIXELS_PER_PASS = 1024 * 1024  # images or windows go through the model in groups of about this many pixels
MAX_IMAGES_PER_PASS = 16  # ... and at most this many
LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's convert("L")


@dataclasses.dataclass
class Prediction:
    """One image's prediction.

    labels: (H, W) int64 class indices; probs: (K, H, W) float32 softmax probabilities;
    seconds: wall time of this prediction; device: where it ran ("cpu", "cuda:0");
    notes: what was done to the image to fit the model (channel conversion, value range, tiling, ...);
    hint: a sentence when the image's intensities are far from the training data's, else None.
    """

    labels: np.ndarray
    probs: np.ndarray
    seconds: float
    device: str
    notes: list[str] = dataclasses.field(default_factory=list)
    backend: str = "torch"
    hint: str | None = None


class Predictor:
    """A model plus its checkpoint metadata, ready to label images.

    ``tile_size``: images with more than ``tile_size**2`` pixels run as overlapping windows of
    ``tile_size x tile_size`` (``tile_overlap`` of a window shared with its neighbour); ``batch_size``:
    how many images or windows go through the model at once (default: as many as fit in about one
    megapixel, at most 16: one pass instead of several with a concatenation saved 10-15% at batch 8); ``tta``: also run the
    horizontally flipped image (``flips="hv"`` adds the vertical flip) and average.
    ``backend``: ``"auto"`` (ONNX Runtime on CPU when exact, else PyTorch), ``"torch"`` or ``"onnx"``.
    """

    def __init__(
        self,
        model: nn.Module | None,
        meta: CheckpointMeta,
        device: str | torch.device | None = None,
        tta: bool = False,
        backend: str = "auto",
        tile_size: int = 1024,
        tile_overlap: float = 0.25,
        batch_size: int | None = None,
        flips: str = "h",
        onnx_cache: str | Path | None = None,
        checkpoint: str | Path | None = None,
    ):
        if backend not in BACKENDS:
            raise SegdashError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if not 0.0 <= tile_overlap < 1.0:
            raise SegdashError(f"tile_overlap must be in [0, 1), got {tile_overlap}")
        if set(flips) - {"h", "v"}:
            raise SegdashError(f"flips must combine 'h' and 'v', got {flips!r}")
        if model is None and checkpoint is None:
            raise SegdashError("a Predictor needs a model or the checkpoint folder to load it from")
        self.device = choose_device(device)
        self.meta = meta
        self.tta = bool(tta)
        self.flips = flips
        self.tile_overlap = float(tile_overlap)
        self.batch_size = None if batch_size is None else max(1, int(batch_size))
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.notes: list[str] = []
        self.amp_dtype: torch.dtype | None = None
        if self.device.type == "cuda":
            self.amp_dtype = torch.float16
            self.notes.append("CUDA: fp16 autocast and channels_last")
        self.session = None
        self.backend = "torch"
        self._model: nn.Module | None = None
        self._graph_files = None  # GraphFiles read for the ONNX cache key, until the model is built from them
        self._graph_key: str | None = None  # their key, when the predictor started from the cached graph
        wants_onnx = backend == "onnx" or (backend == "auto" and self.device.type == "cpu")
        cache = Path(onnx_cache) if onnx_cache else None
        known = self._known_graph(cache) if model is None and wants_onnx and self.device.type == "cpu" else None
        if known is not None:  # the model is built only if something needs PyTorch later
            session, check, self.stride = known
            self._use_session(session, check)
        else:
            self._set_model(model if model is not None else self._load_model())
            self.stride = required_stride(self._model)
        self.tile_size = max(self.stride, int(tile_size) // self.stride * self.stride)
        runtime = getattr(self._model, "runtime", None) if self.session is None else None
        if runtime is not None:  # a model family's module that runs where it says (an ONNX graph, transformers)
            self._use_runtime(*runtime, required=backend == "onnx")
        elif wants_onnx and self.session is None:
            self._try_onnx(required=backend == "onnx", cache=cache)

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, tta: bool = False, **options
    ) -> Predictor:
        """Load a checkpoint folder (safetensors, no pickle) and wrap it. On a CPU, a checkpoint whose
        ONNX graph is cached runs from it without building the PyTorch model (see ``model``)."""
        return cls(None, read_meta(path), device=device, tta=tta, checkpoint=path, **options)

    @property
    def model(self) -> nn.Module:
        """The PyTorch model, loaded from the checkpoint on first use when the predictor started from its graph."""
        if self._model is None:
            self._set_model(self._load_model())
        return self._model

    def _load_model(self) -> nn.Module:
        """The checkpoint's model, built from the very bytes its ONNX cache key was taken from (when read).

        A predictor that started from the cached graph reads the folder again and refuses it if it no
        longer holds those bytes: its graph and its PyTorch model must be one model.
        """
        files = self._graph_files
        if files is None and self._graph_key is not None:
            from segdash.infer.onnx import read_graph_files

            files = read_graph_files(self.checkpoint, self.meta.in_channels)
            if files is None or files.key != self._graph_key:
                raise SegdashError(f"checkpoint {self.checkpoint} changed since this predictor started; load it again")
        return load_checkpoint(self.checkpoint, files=None if files is None else files.files)[0]

    def _set_model(self, model: nn.Module) -> None:
        model = model.eval().to(self.device)
        self._model = model.to(memory_format=torch.channels_last) if self.device.type == "cuda" else model

    def _known_graph(self, cache: Path | None):
        """(session, check, stride) of this checkpoint's cached, verified graph, or None (the model is built).

        The checkpoint's graph files are read once here: their hash finds the graph, and on a miss the
        model is built from these same bytes and its graph recorded under that hash (``_try_onnx``).
        A graph whose output has another number of classes than segdash.json lists is refused as
        ``load_checkpoint`` refuses such a model.
        """
        from segdash.models.checkpoint import check_head

        try:
            from segdash.infer.onnx import known_graph, make_session, output_classes, read_graph_files

            self._graph_files = read_graph_files(self.checkpoint, self.meta.in_channels)
            graph = known_graph(None if self._graph_files is None else self._graph_files.key, cache)
            if graph is None or not graph.check.ok:
                return None
            session = make_session(graph.path)
        except (ImportError, SegdashError, OSError):
            return None
        check_head(self.meta, output_classes(session), self.checkpoint)
        self._graph_key, self._graph_files = self._graph_files.key, None  # the bytes are not kept
        return session, graph.check, graph.stride

    def _use_session(self, session, check) -> None:
        self.session = session
        self.backend = "onnx"
        self.notes.append(f"ONNX Runtime on CPU (max logit difference to PyTorch {check.max_abs_diff:.1e})")

    def _use_runtime(self, backend: str, note: str, required: bool) -> None:
        if required and backend != "onnx":
            raise SegdashError(f"the ONNX backend is not available for this model: it runs on {note}")
        self.backend = backend
        self.notes.append(note)

    def _try_onnx(self, required: bool, cache: Path | None) -> None:
        """Switch to ONNX Runtime when the exported graph reproduces PyTorch's labels; note why not otherwise."""
        files, self._graph_files = self._graph_files, None  # the bytes the model was built from, if read
        if self.device.type != "cpu":
            if required:
                raise SegdashError("the ONNX backend runs on the CPU only; use --device cpu or backend torch")
            return
        try:
            import onnxruntime  # noqa: F401

            from segdash.infer.onnx import cached_check, cached_onnx, make_session, remember_graph

            path = cached_onnx(self.model, self.meta.in_channels, folder=cache)
            session = make_session(path)
            check = cached_check(path, self.model, session, self.meta.in_channels)
        except (ImportError, SegdashError, OSError) as exc:
            if required:
                raise SegdashError(f"ONNX backend unavailable: {exc}") from None
            self.notes.append(f"ONNX Runtime not used ({exc}); running PyTorch")
            return
        if not check.ok:
            message = (
                f"ONNX graph disagrees with PyTorch (labels equal on {check.label_agreement:.2%}); running PyTorch"
            )
            if required:
                raise SegdashError(message)
            self.notes.append(message)
            return
        self._use_session(session, check)
        if files is not None:  # the model was built from these bytes: the next predictor of them starts from the graph
            try:
                remember_graph(files.key, path, self.stride, check)
            except OSError:
                pass  # a read-only cache: the next predictor builds the model again

    # --- public API ---------------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        return self.meta.num_classes

    def predict(self, image: np.ndarray) -> Prediction:
        """Label one HxWxC (or HxW) image: labels (H, W) int64 and probs (K, H, W) float32."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Label several images (any sizes); same-size images share forward passes."""
        results: list[Prediction | None] = [None] * len(images)
        for indices in _group_by_size([np.shape(_as_hwc(img)) for img in images]):
            start = time.perf_counter()
            group_notes: list[str] = []
            prepared = self.prepare([images[i] for i in indices], group_notes)
            hints = [intensity_hint(image, self.meta.intensity, self.meta.input_range) for image in prepared]
            x = self._normalised(prepared)
            with torch.inference_mode():
                probs = self._probabilities(x, group_notes)
                labels = class_labels(probs)
            probs_np = probs.float().cpu().numpy()
            labels_np = labels.cpu().numpy()  # int64 already: no copy
            seconds = (time.perf_counter() - start) / len(indices)
            for j, i in enumerate(indices):
                results[i] = Prediction(
                    labels=labels_np[j], probs=probs_np[j], seconds=seconds, device=str(self.device),
                    notes=list(group_notes), backend=self.backend, hint=hints[j],
                )
        return results  # type: ignore[return-value]

    def predict_labels(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """(N, H, W) int64 labels on ``self.device`` for N same-size HxWxC images (the evaluation path)."""
        if len(images) == 0:
            return torch.empty((0, 0, 0), dtype=torch.int64, device=self.device)
        x = self._same_size_tensor(images)
        with torch.inference_mode():
            if self.tta:
                return class_labels(self._probabilities(x, []))
            return class_labels(self._logits(x, []))

    def predict_probabilities(
        self, images: Sequence[np.ndarray] | np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Softmax of N same-size HxWxC images on ``self.device`` (the evaluation path with calibration).

        Returns (N, K, H, W) float32 probabilities (averaged over the flips with TTA) and, with TTA,
        (N, H, W) bool: the pixels whose label differs between the flipped runs (None without TTA).
        """
        x = self._same_size_tensor(images)
        changed: list[torch.Tensor] | None = [] if self.tta else None
        with torch.inference_mode():
            probs = self._probabilities(x, [], changed)
        return probs, (changed[0] if changed else None)

    def _same_size_tensor(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        shapes = {np.shape(_as_hwc(img))[:2] for img in images}
        if len(shapes) > 1:
            raise SegdashError(f"predict_labels needs images of one size, got {sorted(shapes)}; use predict_batch")
        return self._to_tensor(list(images), [])

    def plan(self, height: int, width: int) -> str:
        """How an image of this size will run, in words ("one pass", "12 windows of 1024x1024", ...)."""
        if self.meta.preprocessing.get("fit"):
            return self.meta.preprocessing["fit"]
        size = self.meta.input_size
        if size:
            return f"resized to the model's {size}x{size} input and back" if (height, width) != (size, size) else "one pass"
        if height * width <= self.tile_size**2:
            return "one pass"
        tile_h, tile_w = min(self.tile_size, height), min(self.tile_size, width)
        windows = len(_window_starts(height, tile_h, self.tile_overlap, self.stride)) * len(
            _window_starts(width, tile_w, self.tile_overlap, self.stride))
        return f"{windows} overlapping windows of {tile_h}x{tile_w}"

    def describe(self) -> str:
        """One line for UIs: architecture, device, backend, TTA."""
        from segdash.device import describe_device

        backend = "ONNX Runtime" if self.backend == "onnx" else "PyTorch"
        tta = ", flip TTA" if self.tta else ""
        return f"{self.meta.arch} / {self.meta.encoder} on {describe_device(self.device)}, {backend}{tta}"

    # --- preprocessing ------------------------------------------------------------------

    def _to_tensor(self, images: Sequence[np.ndarray], notes: list[str]) -> torch.Tensor:
        """Same-size images of any dtype -> (N, C, H, W) float32 normalised tensor on the device."""
        return self._normalised(self.prepare(images, notes))

    def prepare(self, images: Sequence[np.ndarray], notes: list[str]) -> list[np.ndarray]:
        """Images of any dtype -> HxWxC with the model's channels, in its training value range
        (``meta.input_range``); what was converted is added to ``notes``."""
        prepared = []
        for image in images:
            image, range_notes = to_input_range(self._fit_channels(_as_hwc(image), notes), self.meta.input_range)
            for text in range_notes:
                _note(notes, text)
            prepared.append(image)
        return prepared

    def _normalised(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Same-size prepared images -> (N, C, H, W) float32 normalised tensor on the device."""
        batch = np.stack([self.meta.normalization.apply(img) for img in images])
        return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(self.device)

    def _fit_channels(self, image: np.ndarray, notes: list[str]) -> np.ndarray:
        want, have = self.meta.in_channels, image.shape[2]
        if have == want:
            return image
        if have == 4 and want == 3:
            _note(notes, "alpha channel dropped (RGBA image, RGB model)")
            return image[:, :, :3]
        if have == 1 and want == 3:
            _note(notes, "grayscale image replicated to 3 channels for an RGB model")
            return np.repeat(image, 3, axis=2)
        if have in (3, 4) and want == 1:
            _note(notes, "colour image converted to grayscale (luminance) for a 1-channel model")
            gray = image[:, :, :3].astype(np.float32) @ np.asarray(LUMINANCE, np.float32)
            if image.dtype == np.uint8:
                gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
            return gray[:, :, None]
        raise SegdashError(
            f"the image has {have} channel(s) but the model expects {want}; "
            "convert the image or pick a checkpoint trained on this kind of image"
        )

    # --- the model, at any size ---------------------------------------------------------

    def _probabilities(self, x: torch.Tensor, notes: list[str], changed: list | None = None) -> torch.Tensor:
        """(N, C, H, W) normalised -> (N, K, H, W) float32 softmax, averaged over flips with TTA.

        ``changed``, a list, receives with TTA one (N, H, W) bool tensor: the pixels where a flipped
        run's label differs from the unflipped run's (how unstable the labels are under flips).
        """
        probs = _softmax(self._logits(x, notes))
        if not self.tta:
            return probs
        first = class_labels(probs) if changed is not None else None
        differs = None
        runs = 1
        for dims in (([-1],) if self.flips == "h" else ([-2],) if self.flips == "v" else ([-1], [-2], [-2, -1])):
            run = _softmax(self._logits(x.flip(dims), notes)).flip(dims)
            if first is not None:
                flipped = class_labels(run) != first
                differs = flipped if differs is None else differs | flipped
            probs += run
            runs += 1
        if differs is not None:
            changed.append(differs)
        _note(notes, f"flip test-time augmentation ({runs} runs averaged)")
        return probs / runs

    def _logits(self, x: torch.Tensor, notes: list[str]) -> torch.Tensor:
        """(N, C, H, W) -> (N, K, H, W) float32 logits at the input size."""
        height, width = x.shape[-2:]
        fit = self.meta.preprocessing.get("fit")
        if fit:  # the model fits each whole image itself, as its own image processor does: no windows
            _note(notes, fit)
            return self._padded(x)
        size = self.meta.input_size
        if size:
            if (height, width) != (size, size):
                _note(notes, f"resized to the model's input size {size}x{size} and back")
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            logits = self._padded(x)
            if logits.shape[-2:] != (height, width):
                logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
            return logits
        if height * width > self.tile_size**2:
            _note(notes, f"large image run as overlapping {self.tile_size}x{self.tile_size} windows, logits blended")
            return self._tiled(x)
        return self._padded(x)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """Pad H and W up to multiples of the stride (reflection), run in chunks, crop back."""
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.stride, (-width) % self.stride
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        per_pass = self._per_pass(x.shape[-2] * x.shape[-1])
        chunks = [self._forward(x[i : i + per_pass]) for i in range(0, x.shape[0], per_pass)]
        logits = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
        return logits[..., :height, :width]

    def _tiled(self, x: torch.Tensor) -> torch.Tensor:
        """Overlapping windows, logits blended with edge-tapered weights (sum-normalised)."""
        n, _, height, width = x.shape
        tile_h, tile_w = min(self.tile_size, height), min(self.tile_size, width)
        tops = _window_starts(height, tile_h, self.tile_overlap, self.stride)
        lefts = _window_starts(width, tile_w, self.tile_overlap, self.stride)
        weight = _blend_weight(tile_h, tile_w, device=x.device)
        total = None
        norm = torch.zeros((1, 1, height, width), dtype=torch.float32, device=x.device)
        windows = [(t, left) for t in tops for left in lefts]
        # A 12-megapixel image with 4 windows of 1024x1024 per pass peaked at 5.4 GB; one megapixel per pass at 3.4 GB.
        per_pass = self._per_pass(tile_h * tile_w)
        for image_index in range(n):
            for start in range(0, len(windows), per_pass):
                group = windows[start : start + per_pass]
                image = x[image_index : image_index + 1]
                crops = torch.cat([image[:, :, t : t + tile_h, s : s + tile_w] for t, s in group])
                logits = self._padded(crops)
                if total is None:
                    total = torch.zeros((n, logits.shape[1], height, width), dtype=torch.float32, device=x.device)
                for (t, left), window_logits in zip(group, logits):
                    total[image_index, :, t : t + tile_h, left : left + tile_w] += window_logits * weight
                    if image_index == 0:
                        norm[0, 0, t : t + tile_h, left : left + tile_w] += weight
        return total / norm

    def _per_pass(self, pixels: int) -> int:
        """How many images or windows of ``pixels`` pixels go through the model at once."""
        fits = max(1, WINDOW_PIXELS_PER_PASS // max(1, pixels))
        return min(self.batch_size, fits) if self.batch_size else min(MAX_IMAGES_PER_PASS, fits)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """One batch through the backend: (n, C, h, w) with h, w multiples of the stride -> float32 logits."""
        if self.session is not None:
            from segdash.infer.onnx import run_session

            return torch.from_numpy(run_session(self.session, x.cpu().numpy())).to(x.device)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=self.amp_dtype):
                return single_output(self.model(x)).float()
        return single_output(self.model(x)).float()


# --- helpers ------------------------------------------------------------------------------


def _as_hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return image[:, :, None]
    if image.ndim != 3:
        raise SegdashError(f"an image must be H x W or H x W x C, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise SegdashError(f"the image is empty (shape {image.shape})")
    return image


def _group_by_size(shapes: Sequence[tuple[int, ...]]) -> list[list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    return list(groups.values())


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities, computed in place (``logits`` is consumed: a 12-megapixel image's logits
    take 50 MB per class); a 1-channel (sigmoid) head becomes two classes [1 - p, p]."""
    if logits.shape[1] == 1:
        p = logits.sigmoid_()
        return torch.cat([1 - p, p], dim=1)
    logits -= logits.amax(dim=1, keepdim=True)
    probs = logits.exp_()
    return probs.div_(probs.sum(dim=1, keepdim=True))


def _window_starts(length: int, tile: int, overlap: float, stride: int) -> list[int]:
    """Start offsets of windows of ``tile`` covering ``length``, neighbours sharing ``overlap`` of a window."""
    if length <= tile:
        return [0]
    step = max(stride, int(tile * (1 - overlap)) // stride * stride)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _blend_weight(height: int, width: int, device: torch.device, floor: float = 0.05) -> torch.Tensor:
    """(height, width) weights: 1 in the middle, falling linearly to ``floor`` at the window's edge."""

    def ramp(n: int) -> torch.Tensor:
        position = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) / n
        return torch.clamp(1 - (2 * position - 1).abs(), min=0) * (1 - floor) + floor

    return ramp(height)[:, None] * ramp(width)[None, :]


def predictor_for(
    checkpoint: str | Path, device: str | None = None, tta: bool = False, backend: str = "auto"
) -> Predictor:
    """``Predictor.from_checkpoint`` with warnings from smp/timm silenced (for CLI and UI)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Predictor.from_checkpoint(checkpoint, device=device, tta=tta, backend=backend)
