"""Training data: samples decoded and resized once, kept in memory, batched by a DataLoader.

Small datasets (everything that fits in ``cache_mb``) are read once at the start:
each image is resized to ``img_size x img_size`` (bilinear, as the predictor does) and each
mask with nearest neighbour, and stored in its source dtype (uint8 images stay
uint8: four times smaller than float). Per step, only augmentation runs on the
CPU; normalisation happens on the device, batched (``normalize_batch``).

Larger datasets are read, decoded and resized per sample in DataLoader workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from segdash.data.base import Normalization, SegDataset
from segdash.data.labels import class_pixel_counts, image_class_pixel_counts
from segdash.data.pixels import (
    InputRange,
    IntensityStats,
    dataset_range,
    intensity_stats,
    to_input_range,
    training_range,
)
from segdash.data.splits import evenly_spaced
from segdash.errors import SegdashError
from segdash.progress import Progress

Pair = tuple[torch.Tensor, torch.Tensor]


def resize_pair(image: np.ndarray, mask: np.ndarray | None, size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """HxWxC image (uint8/float32) and HxW mask -> (C,S,S) tensor of the same dtype, (S,S) int64 mask.

    Bilinear for the image, exactly as ``segdash.infer.predictor`` resizes to a checkpoint's
    ``input_size`` (no antialiasing, corners not aligned): a model sees the same pixels in
    training and in prediction. Nearest neighbour for the mask (torchvision's choice for
    ``tv_tensors.Mask``).
    """
    image, _ = to_input_range(image, training_range(image))  # the pixel policy the predictor applies
    image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    if image_t.dtype not in (torch.uint8, torch.float32):
        image_t = image_t.float()
    image_t = v2.functional.resize(tv_tensors.Image(image_t), [size, size], antialias=False).as_subclass(torch.Tensor)
    if mask is None:
        return image_t, None
    mask_t = v2.functional.resize(tv_tensors.Mask(torch.from_numpy(np.asarray(mask, np.int64))), [size, size])
    return image_t, mask_t.as_subclass(torch.Tensor)


def _mask_storage_dtype(ds: SegDataset) -> torch.dtype:
    """uint8 when every label (and the ignore index) fits, else int64."""
    ignore_ok = ds.ignore_index is None or 0 <= int(ds.ignore_index) <= 255
    return torch.uint8 if ds.num_classes <= 255 and ignore_ok else torch.int64


class InMemorySplit(Dataset):
    """A split decoded and resized once: ``images`` (N,C,S,S), ``masks`` (N,S,S), ``ids``.

    ``__getitem__`` returns ``(image, mask)``: image (C,S,S) in the stored dtype,
    mask (S,S) int64, augmented when a transform is given.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, ids: list[str], transform: Callable | None = None):
        self.images = images
        self.masks = masks
        self.ids = ids
        self.transform = transform

    @classmethod
    def load(
        cls,
        ds: SegDataset,
        split: str,
        size: int,
        progress: Progress | None = None,
        indices: Sequence[int] | None = None,
    ) -> InMemorySplit:
        ids = ds.ids(split)
        if indices is not None:
            ids = [ids[i] for i in indices]
        if not ids:
            raise SegdashError(f"split {split!r} of {ds.name!r} has no images to train or validate on")
        images, masks = [], []
        mask_dtype = _mask_storage_dtype(ds)
        for done, sample_id in enumerate(ids, 1):
            image, mask, _ = ds.load(split, sample_id)
            if mask is None:
                raise SegdashError(f"sample {sample_id!r} of split {split!r} has no mask; training needs masks")
            image_t, mask_t = resize_pair(image, mask, size)
            images.append(image_t)
            masks.append(mask_t.to(mask_dtype))
            if progress:
                progress(done, len(ids))
        try:
            return cls(torch.stack(images), torch.stack(masks), ids)
        except RuntimeError as exc:
            raise SegdashError(f"images of split {split!r} differ in channels or dtype: {exc}") from None

    def with_transform(self, transform: Callable | None) -> InMemorySplit:
        return InMemorySplit(self.images, self.masks, self.ids, transform)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Pair:
        image, mask = self.images[index], self.masks[index].long()
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


class LazySplit(Dataset):
    """A split read from disk per sample (datasets too large for memory); same items as ``InMemorySplit``."""

    def __init__(self, ds: SegDataset, split: str, size: int, transform: Callable | None = None,
                 indices: Sequence[int] | None = None):
        self.ds, self.split, self.size, self.transform = ds, split, size, transform
        self.ids = ds.ids(split)
        if indices is not None:
            self.ids = [self.ids[i] for i in indices]
        if not self.ids:
            raise SegdashError(f"split {split!r} of {ds.name!r} has no images to train or validate on")

    def with_transform(self, transform: Callable | None) -> LazySplit:
        clone = LazySplit(self.ds, self.split, self.size, transform)
        clone.ids = self.ids
        return clone

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Pair:
        image, mask, sample_id = self.ds.load(self.split, self.ids[index])
        if mask is None:
            raise SegdashError(f"sample {sample_id!r} of split {self.split!r} has no mask; training needs masks")
        image_t, mask_t = resize_pair(image, mask, self.size)
        if self.transform is not None:
            image_t, mask_t = self.transform(image_t, mask_t)
        return image_t, mask_t


def estimated_cache_mb(ds: SegDataset, splits: Sequence[str], size: int, limit: int | None = None) -> float:
    """Memory the resized splits (at most ``limit`` images each) would take in ``InMemorySplit``."""
    image, _, _ = ds.load(splits[0], ds.ids(splits[0])[0])
    image_bytes = (1 if image.dtype == np.uint8 else 4) * ds.in_channels * size * size
    mask_bytes = (1 if _mask_storage_dtype(ds) == torch.uint8 else 8) * size * size
    images = sum(min(len(ds.ids(s)), limit or len(ds.ids(s))) for s in splits)
    return images * (image_bytes + mask_bytes) / 2**20


def training_intensity(ds: SegDataset, split: str, count: int = 100) -> tuple[InputRange, IntensityStats | None]:
    """The value range training inputs have (``segdash.data.pixels.dataset_range``, from up to 16 images)
    and their intensity statistics over at most ``count`` evenly spaced images of ``split``, for checkpoints.
    Images are read one at a time (never ``count`` large images in memory at once)."""
    chosen = evenly_spaced(ds.ids(split), count)
    value_range = dataset_range(ds.load(split, sample_id).image for sample_id in chosen[:: max(1, len(chosen) // 16)])
    images = (to_input_range(ds.load(split, sample_id).image, value_range)[0] for sample_id in chosen)
    return value_range, intensity_stats(images, value_range)


def normalize_batch(images: torch.Tensor, normalization: Normalization) -> torch.Tensor:
    """(N,C,H,W) uint8/float -> float32 ``(x * scale - mean) / std`` per channel, on the images' device."""
    x = images.float()
    scale = float(normalization.scale)
    mean = torch.tensor(normalization.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(normalization.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return (x * scale - mean) / std


def loader_workers(device: torch.device, in_memory: bool) -> int:
    """DataLoader worker processes that pay: none for in-memory data on a CPU (they would take the cores
    the model needs), a few for disk decoding, up to 4 feeding a GPU. (``segdash.parallel.default_workers``
    is the other count: the processes ``segdash stats`` counts in.)"""
    cpus = os.cpu_count() or 1
    if device.type == "cuda":
        return min(4, cpus)
    if in_memory:
        return 0
    return max(0, min(4, cpus // 2))


# --- rare-class oversampling -------------------------------------------------------------------------
#: a class under this share of the training pixels is rare (the Dataset page's bar too)
RARE_SHARE = 0.01


def image_class_pixels(split_set: InMemorySplit | LazySplit, num_classes: int) -> np.ndarray:
    """(N, C) int64 labelled pixels of each class in each training image (ignore pixels left out).

    In-memory splits count their stored masks in one pass (``image_class_pixel_counts``); a split read
    from disk is read once more, mask by mask.
    """
    if isinstance(split_set, InMemorySplit):
        return image_class_pixel_counts(split_set.masks.numpy(), num_classes)
    counts = np.zeros((len(split_set), num_classes), np.int64)
    for i, sample_id in enumerate(split_set.ids):
        counts[i] = class_pixel_counts(split_set.ds.load(split_set.split, sample_id).mask, num_classes)
    return counts


def rare_class_weights(pixels: np.ndarray, strength: float, rare_share: float = RARE_SHARE) -> np.ndarray:
    """(N, C) pixels per image and class -> (N,) sampling weights ``1 + strength * score``.

    Rare classes hold under ``rare_share`` of the split's labelled pixels. An image's score is, averaged over
    the rare classes, its share of the class's pixels divided by the average image's share: the average image
    scores 1, an image without rare pixels 0, one with three times the usual rare content 3. Averaging over
    classes (rather than summing pixels) gives the rarest classes the same pull as the merely rare.
    With no rare class every weight is 1 (plain uniform sampling).
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    totals = pixels.sum(0)
    share = totals / totals.sum() if totals.sum() else totals
    rare = (share > 0) & (share < rare_share)
    if not rare.any() or strength <= 0:
        return np.ones(len(pixels))
    labelled = pixels.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        image_share = np.where(labelled > 0, pixels[:, rare] / labelled, 0.0)  # (N, R)
    score = (image_share / image_share.mean(0)).mean(1)
    return 1.0 + strength * score


class WeightedShardSampler(torch.utils.data.Sampler[int]):
    """Each epoch, ``len(weights)`` indices drawn with replacement in proportion to ``weights`` (the same
    draw in every process: seeded by ``seed`` and the epoch), every process taking its own share.

    The interface of ``DistributedSampler`` (``set_epoch``, equal lengths per process), so the training
    loop uses either.
    """

    def __init__(self, weights: np.ndarray, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        self.weights = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        self.num_replicas, self.rank, self.seed, self.epoch = num_replicas, rank, seed, 0
        self.per_replica = -(-len(self.weights) // num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        drawn = torch.multinomial(self.weights, self.per_replica * self.num_replicas, replacement=True,
                                  generator=generator)
        return iter(drawn[self.rank:: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.per_replica
