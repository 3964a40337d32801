"""The confusion matrix: one histogram of ``target * C + pred`` per batch, rows = ground truth.

    cm = confusion_matrix(pred, target, num_classes=4, ignore_index=255)   # (4, 4) int64

    acc = ConfusionMatrix(num_classes=4, ignore_index=255)                 # over a whole split
    for pred, target, ids in batches:                                      # (N, H, W) on any device
        acc.update(pred, target, ids)
    acc.compute()               # (C, C) int64, rows = ground truth, columns = prediction
    acc.per_image_matrices()    # (N, C, C) int64, one matrix per image, in update order

Label conventions (the same for the function and the accumulator):

- pixels whose target equals ``ignore_index`` are dropped, whatever the prediction says;
- any other target value outside ``0..C-1`` is an error (``SegdashError``), not silently dropped:
  a mask with 255 and no ignore index, or labels from another class list, would otherwise give
  quietly wrong scores. Predictions must lie in ``0..C-1`` too.

Why it is fast (counting should cost little more than copying the masks once): on the CPU the inputs are read once,
in cache-sized chunks; the combined index ``target * C + pred`` is built in the narrowest integer
type that holds it (uint8 while ``C * C < 256``, uint16 up to 65,535 bins) instead of int64, and
counted by OpenCV's ``calcHist`` (``np.bincount`` first widens its input to int64 and is several
times slower; torch's CPU kernels pay a thread fork per op). On a GPU the same index, with an image
offset ``image * C * C`` for per-image matrices, goes through one ``torch.bincount`` on the device.
There is never a loop over classes and no one-hot encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segdash.errors import SegdashError

#: Pixels per step on the CPU: two int64 chunks of this size stay in the L2 cache, so only the
#: first touch of each input pixel goes to main memory.
_CPU_CHUNK = 1 << 15

try:  # OpenCV is a dependency (requirements.txt); np.bincount is the (slower) fallback.
    import cv2 as _cv2
except ImportError:  # pragma: no cover - exercised only where OpenCV is missing
    _cv2 = None


def as_label_tensor(labels: np.ndarray | torch.Tensor, name: str = "labels") -> torch.Tensor:
    """A torch view of an integer label array (numpy arrays are shared, not copied)."""
    if isinstance(labels, torch.Tensor):
        tensor = labels
    else:
        array = np.asarray(labels)
        if array.dtype.kind not in "biu":
            raise SegdashError(f"{name} must hold integer class indices, got dtype {array.dtype}")
        if array.dtype in (np.uint16, np.uint32, np.uint64):  # torch has few ops for these
            array = array.astype(np.int64)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    if tensor.is_floating_point() or tensor.is_complex():
        raise SegdashError(f"{name} must hold integer class indices, got dtype {tensor.dtype}")
    return tensor


def _out_of_range_error(what: str, values: np.ndarray | torch.Tensor, num_classes: int,
                        ignore_index: int | None, hint: str = "") -> SegdashError:
    shown = sorted({int(v) for v in values.reshape(-1)[:100_000].tolist()})[:10]
    extra = f" (ignore index {ignore_index})" if ignore_index is not None else ""
    return SegdashError(
        f"{what} holds label(s) {shown} outside the {num_classes} classes 0..{num_classes - 1}{extra}{hint}"
    )


_IGNORE_HINT = "; pass ignore_index=... if one of them marks pixels to ignore"


# --- CPU: numpy in cache-sized chunks, OpenCV histogram ---------------------------------------


def _unsigned(array: np.ndarray) -> np.ndarray:
    """The same bits as an unsigned type: negative labels become huge, so one max() checks both ends."""
    return array.view(array.dtype.str.replace("i", "u")) if array.dtype.kind == "i" else array


def _numpy_index_dtype(bins: int) -> np.dtype:
    if bins <= 256:
        return np.dtype(np.uint8)
    if bins <= 65536:
        return np.dtype(np.uint16)
    return np.dtype(np.intp)


def _cpu_histogram(index: np.ndarray, bins: int) -> np.ndarray:
    """Counts of the values ``0..bins-1`` of a flat index array (< 2**24 long) -> (bins,) int64."""
    if _cv2 is not None and index.dtype in (np.uint8, np.uint16):
        return _cv2.calcHist([index.reshape(1, -1)], [0], None, [bins], [0, bins]).reshape(-1).astype(np.int64)
    return np.bincount(index, minlength=bins)[:bins]


def _cpu_chunk_counts(target: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int | None,
                      dtype: np.dtype) -> np.ndarray:
    """(C*C,) int64 counts of one flat chunk; pixels whose target is ignored are dropped."""
    cells = num_classes * num_classes
    if _unsigned(pred).max() >= num_classes:
        bad = _unsigned(pred) >= num_classes
        raise _out_of_range_error("prediction", pred[bad], num_classes, None)
    target_u = _unsigned(target)
    index = target.astype(dtype)
    index *= dtype.type(num_classes)
    index += pred.astype(dtype, copy=False)
    if target_u.max() >= num_classes:
        outside = target_u >= num_classes
        bad = outside if ignore_index is None else outside & (target != ignore_index)
        if ignore_index is None or bad.any():
            raise _out_of_range_error("ground truth", target[bad], num_classes, ignore_index,
                                      _IGNORE_HINT if ignore_index is None else "")
        index[outside] = cells  # the extra bin, dropped below
    return _cpu_histogram(index, cells + 1)[:cells]


def _count_pairs_cpu(target: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int | None,
                     per_image: bool) -> np.ndarray:
    """(N, C*C) int64 counts (N = 1 unless ``per_image``), one image and one chunk at a time."""
    num_images = target.shape[0] if per_image else 1
    target = target.reshape(num_images, -1)
    pred = pred.reshape(num_images, -1)
    dtype = _numpy_index_dtype(num_classes * num_classes + 1)
    counts = np.zeros((num_images, num_classes * num_classes), dtype=np.int64)
    for image in range(num_images):
        for start in range(0, target.shape[1], _CPU_CHUNK):
            stop = start + _CPU_CHUNK
            counts[image] += _cpu_chunk_counts(target[image, start:stop], pred[image, start:stop],
                                               num_classes, ignore_index, dtype)
    return counts


# --- accelerators: torch on the device, one bincount with an image offset --------------------


def _torch_index_dtype(bins: int) -> torch.dtype:
    if bins <= 256:
        return torch.uint8
    if bins <= 32768:
        return torch.int16
    return torch.int32 if bins <= 2**31 else torch.int64


def _count_pairs_torch(target: torch.Tensor, pred: torch.Tensor, num_classes: int, ignore_index: int | None,
                       per_image: bool) -> torch.Tensor:
    """(N, C*C) int64 counts on the tensors' device: ``image*C*C + target*C + pred``, one bincount."""
    num_images = target.shape[0] if per_image else 1
    cells = num_classes * num_classes
    low, high = (int(v) for v in torch.aminmax(pred))
    if low < 0 or high >= num_classes:
        raise _out_of_range_error("prediction", pred[(pred < 0) | (pred >= num_classes)].cpu(), num_classes, None)
    low, high = (int(v) for v in torch.aminmax(target))
    ignored = None
    if low < 0 or high >= num_classes:
        ignored = (target < 0) | (target >= num_classes)
        bad = ignored if ignore_index is None else ignored & (target != ignore_index)
        if ignore_index is None or bool(bad.any()):
            raise _out_of_range_error("ground truth", target[bad].cpu(), num_classes, ignore_index,
                                      _IGNORE_HINT if ignore_index is None else "")
    bins = num_images * cells + 1  # the last bin collects ignored pixels and is dropped
    dtype = _torch_index_dtype(bins)
    # copy=True: the in-place ops below must never write into the caller's tensor
    index = target.to(dtype, copy=True) if ignored is None else target.masked_fill(ignored, 0).to(dtype)
    index.mul_(num_classes).add_(pred.to(dtype))
    if num_images > 1:
        offsets = torch.arange(num_images, device=index.device, dtype=dtype).mul_(cells)
        index.add_(offsets.view((num_images,) + (1,) * (index.dim() - 1)))
    if ignored is not None:
        index.masked_fill_(ignored, bins - 1)
    counts = torch.bincount(index.reshape(-1), minlength=bins)[: bins - 1]
    return counts.view(num_images, cells)


def _cpu_array(labels: np.ndarray | torch.Tensor, name: str) -> np.ndarray | None:
    """A numpy view of integer labels held in CPU memory; None for a tensor on an accelerator."""
    if isinstance(labels, torch.Tensor):
        if labels.device.type != "cpu":
            return None
        return as_label_tensor(labels.detach(), name).numpy()
    array = np.asarray(labels)
    if array.dtype == np.bool_:
        return array.view(np.uint8)
    if array.dtype.kind not in "iu":
        raise SegdashError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    return array


def _check_shapes(target_shape, pred_shape) -> None:
    if tuple(target_shape) != tuple(pred_shape):
        raise SegdashError(f"ground truth {tuple(target_shape)} and prediction {tuple(pred_shape)} differ in shape")


def _count_pairs(
    target: np.ndarray | torch.Tensor,
    pred: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int | None,
    per_image: bool,
) -> np.ndarray | torch.Tensor:
    """(N, C*C) int64 confusion counts (N = images with ``per_image``, else 1), where the labels are.

    Both in CPU memory (numpy arrays or CPU tensors): numpy in, numpy out. Otherwise a tensor on
    the accelerator holding either input (the other is moved there).
    """
    num_images = target.shape[0] if per_image else 1
    cells = num_classes * num_classes
    target_array, pred_array = _cpu_array(target, "ground truth"), _cpu_array(pred, "prediction")
    if target_array is not None and pred_array is not None:
        # torch's CPU kernels wake a thread pool for every op, which costs more than these ops
        # themselves on a busy machine; numpy on cache-sized chunks is faster and steadier.
        _check_shapes(target_array.shape, pred_array.shape)
        if target_array.size == 0:
            return np.zeros((num_images, cells), dtype=np.int64)
        return _count_pairs_cpu(target_array, pred_array, num_classes, ignore_index, per_image)
    target_t, pred_t = as_label_tensor(target, "ground truth"), as_label_tensor(pred, "prediction")
    _check_shapes(target_t.shape, pred_t.shape)
    device = target_t.device if target_t.device.type != "cpu" else pred_t.device
    target_t, pred_t = target_t.to(device), pred_t.to(device)
    if target_t.numel() == 0:
        return torch.zeros((num_images, cells), dtype=torch.int64, device=device)
    return _count_pairs_torch(target_t, pred_t, num_classes, ignore_index, per_image)


def confusion_matrix(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Confusion matrix of one or many label maps, in one histogram.

    The argument order is torchmetrics' and ``ConfusionMatrix.update``'s: prediction first, then
    ground truth (``confusion_matrix(pred=..., target=...)`` reads best where both are near).
    pred, target: integer arrays or tensors of the same shape (any shape, any device), class
    indices ``0..C-1``; target pixels equal to ``ignore_index`` are dropped, other out-of-range
    labels raise ``SegdashError``.
    Returns (C, C) int64 numpy: ``cm[t, p]`` = pixels of true class ``t`` predicted as ``p``
    (scikit-learn's layout: rows = ground truth, columns = prediction).
    """
    counts = _count_pairs(target, pred, num_classes, ignore_index, per_image=False)
    if isinstance(counts, torch.Tensor):
        counts = counts.cpu().numpy()
    return counts.reshape(num_classes, num_classes)


class ConfusionMatrix:
    """Accumulates a confusion matrix over batches, on the device the batches live on.

    Only (C, C) counts per image are kept, never the predictions, so a split of any size fits.
    Batches in CPU memory are counted and summed with numpy; batches on a GPU stay there (one
    ``torch.bincount`` per batch, the sums on the device, no copy until ``compute``).

    >>> acc = ConfusionMatrix(num_classes=4, ignore_index=255)
    >>> acc.update(pred, target, ids=["a", "b"])     # pred, target: (N, H, W) or (H, W)
    >>> acc.compute()                                # (4, 4) int64 numpy, rows = ground truth
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        device: str | torch.device | None = None,
        per_image: bool = True,
    ):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.per_image = bool(per_image)
        self._device = torch.device(device) if device is not None else None
        self.reset()

    @property
    def device(self) -> torch.device | None:
        """Where the counts accumulate: the given device, else the first batch's."""
        return self._device

    def reset(self) -> None:
        self._total: np.ndarray | torch.Tensor | None = None
        self._image_chunks: list[np.ndarray | torch.Tensor] = []
        self._ids: list = []

    @property
    def images(self) -> int:
        """Number of images seen since the last reset."""
        return len(self._ids)

    def update(
        self,
        pred: np.ndarray | torch.Tensor,
        target: np.ndarray | torch.Tensor,
        ids: Sequence | None = None,
    ) -> None:
        """Add a batch. pred, target: (N, H, W) or (H, W) integer label maps (numpy or torch, any device).

        ``ids`` names the N images (default: running numbers).
        """
        pred = pred if isinstance(pred, torch.Tensor) else np.asarray(pred)
        target = target if isinstance(target, torch.Tensor) else np.asarray(target)
        if target.ndim == 2:
            pred, target = pred[None], target[None]
        if target.ndim != 3:
            raise SegdashError(f"expected (N, H, W) or (H, W) label maps, got shape {tuple(target.shape)}")
        count = target.shape[0]
        ids = list(range(self.images, self.images + count)) if ids is None else list(ids)
        if len(ids) != count:
            raise ValueError(f"{len(ids)} ids given for a batch of {count} images")
        counts = _count_pairs(target, pred, self.num_classes, self.ignore_index, per_image=self.per_image)
        self._add(counts)
        self._ids.extend(ids)

    def _add(self, counts: np.ndarray | torch.Tensor) -> None:
        """Fold (N, C*C) counts into the running totals, kept on the accumulator's device."""
        if self._device is None:
            self._device = counts.device if isinstance(counts, torch.Tensor) else torch.device("cpu")
        if self._device.type == "cpu":
            counts = counts.cpu().numpy() if isinstance(counts, torch.Tensor) else counts
        else:
            counts = torch.as_tensor(counts).to(self._device)
        batch_total = counts.sum(0)
        self._total = batch_total if self._total is None else self._total + batch_total
        if self.per_image:
            self._image_chunks.append(counts)

    def _to_numpy(self, counts: np.ndarray | torch.Tensor) -> np.ndarray:
        return counts.cpu().numpy() if isinstance(counts, torch.Tensor) else np.array(counts, dtype=np.int64)

    def compute(self) -> np.ndarray:
        """(C, C) int64 numpy over everything seen: rows = ground truth, columns = prediction."""
        if self._total is None:
            return np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        return self._to_numpy(self._total).reshape(self.num_classes, self.num_classes)

    @property
    def per_image_ids(self) -> list:
        """The ids of the images seen, in update order."""
        return list(self._ids)

    def per_image_matrices(self) -> np.ndarray:
        """(N, C, C) int64 numpy, one confusion matrix per image, in update order."""
        if not self.per_image:
            raise ValueError("this ConfusionMatrix was built with per_image=False")
        if not self._image_chunks:
            return np.zeros((0, self.num_classes, self.num_classes), dtype=np.int64)
        chunks = self._image_chunks
        merged = torch.cat(chunks) if isinstance(chunks[0], torch.Tensor) else np.concatenate(chunks)
        self._image_chunks = [merged]
        return self._to_numpy(merged).reshape(-1, self.num_classes, self.num_classes)

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, images={self.images}, device={self._device})"
