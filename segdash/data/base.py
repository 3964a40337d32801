"""The dataset adapter interface every format and built-in dataset implements.

An adapter knows its class names and colours, its ignore index, its input
channels and its splits, and yields samples::

    ds = open_dataset("brain-mri")
    for image, mask, sample_id in ds.iter_samples("test"):
        ...  # image: HxWxC uint8 or float32, mask: HxW int64 (or None)

Images are always 3-D (``H x W x C``, ``C == ds.in_channels``); masks are 2-D
``int64`` label maps whose values are class indices or ``ds.ignore_index``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from segdash.data.imageio import image_size
from segdash.errors import SegdashError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Normalization:
    """How raw pixels become model input: ``(pixel * scale - mean) / std`` per channel.

    It travels with the checkpoint (timm's habit), so the predictor never has to
    guess how a model was trained.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 1.0

    @classmethod
    def imagenet(cls) -> Normalization:
        return cls(IMAGENET_MEAN, IMAGENET_STD, 1 / 255)

    @classmethod
    def identity(cls, channels: int = 1, scale: float = 1.0) -> Normalization:
        return cls((0.0,) * channels, (1.0,) * channels, scale)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """HxWxC uint8/float -> HxWxC float32 normalised."""
        x = image.astype(np.float32) * np.float32(self.scale)
        return (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(tuple(d["mean"]), tuple(d["std"]), float(d.get("scale", 1.0)))


def distinct_labels(mask: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a label map: one ``bincount`` for small non-negative integers
    (many times faster than ``np.unique``'s sort on a large mask), ``np.unique`` otherwise."""
    if mask.size and mask.dtype.kind in "biu":
        low, high = int(mask.min()), int(mask.max())
        if low >= 0 and high < 65536:
            return np.flatnonzero(np.bincount(mask.ravel()))
    return np.unique(mask)


class Sample(tuple):
    """``(image, mask, sample_id)``; unpacks like a tuple, also has named fields."""

    __slots__ = ()

    def __new__(cls, image: np.ndarray, mask: np.ndarray | None, sample_id: str):
        return super().__new__(cls, (image, mask, sample_id))

    image = property(lambda self: self[0])
    mask = property(lambda self: self[1])
    sample_id = property(lambda self: self[2])


@dataclasses.dataclass(frozen=True)
class Entry:
    """One sample on disk: its id and the files it comes from (mask may be absent)."""

    sample_id: str
    image: Path
    mask: Path | None = None


class SegDataset:
    """Base class of every dataset adapter.

    Subclasses set the class attributes (or instance attributes in ``__init__``)
    and implement ``splits``, ``ids`` and ``load``. ``IndexedDataset`` below does
    that for the common case of one image file (and one mask file) per sample.
    """

    name: str = "dataset"
    classes: tuple[str, ...] = ()
    colors: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int | None = 255
    in_channels: int = 3
    #: Where the data comes from, in a sentence (shown in the UI and README).
    source: str = ""
    #: A longer description: licence, citation, how it was prepared.
    description: str = ""

    # --- what subclasses implement -------------------------------------------------
    def splits(self) -> list[str]:
        raise NotImplementedError

    def ids(self, split: str) -> list[str]:
        raise NotImplementedError

    def load(self, split: str, sample_id: str) -> Sample:
        raise NotImplementedError

    def has_masks(self, split: str) -> bool:
        """False for predict-only splits (e.g. KITTI's ``testing``)."""
        return True

    def load_mask(self, split: str, sample_id: str) -> np.ndarray | None:
        """One sample's mask (HxW int64, or None when it has none), checked as ``load`` checks it.

        Here through ``load``; ``IndexedDataset`` reads the mask file alone when it can.
        """
        return self.load(split, sample_id)[1]

    # --- shared behaviour ----------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def normalization(self) -> Normalization:
        """Default input normalisation: ImageNet statistics for RGB, identity otherwise."""
        if self.in_channels == 3:
            return Normalization.imagenet()
        return Normalization.identity(self.in_channels)

    def check_split(self, split: str) -> str:
        available = self.splits()
        if split not in available:
            raise SegdashError(
                f"dataset {self.name!r} has no split {split!r}; available: {', '.join(available) or 'none'}"
            )
        return split

    def __len__(self) -> int:
        return sum(len(self.ids(s)) for s in self.splits())

    def iter_samples(self, split: str, ids: Sequence[str] | None = None) -> Iterator[Sample]:
        """Yield samples of a split one at a time (never the whole split in memory)."""
        self.check_split(split)
        for sample_id in self.ids(split) if ids is None else ids:
            yield self.load(split, sample_id)

    def validate_mask(self, mask: np.ndarray, sample_id: str) -> np.ndarray:
        """Raise a clear error when a mask holds labels outside the class list.

        Every format's masks pass here as they are loaded, so a class merge (``-o class_map=FILE``,
        ``segdash.data.formats.class_map``) is applied here: the mask is checked against the format's own
        classes, then its labels are merged.
        """
        merge = getattr(self, "_class_merge", None)
        count = merge.source_count if merge is not None else self.num_classes
        ignore = merge.source_ignore if merge is not None else self.ignore_index
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise SegdashError(f"mask of {sample_id!r} has shape {mask.shape}; expected a 2-D label map")
        labels = distinct_labels(mask)
        bad = [int(v) for v in labels if not (0 <= v < count) and v != ignore]
        if bad:
            raise SegdashError(
                f"mask of {sample_id!r} holds label(s) {bad[:10]} outside the {count} classes "
                f"0..{count - 1} (ignore index {ignore}) of {self.name!r}"
            )
        mask = mask.astype(np.int64, copy=False)
        return merge.apply(mask) if merge is not None else mask

    def info(self) -> dict:
        """A JSON-ready summary for ``segdash datasets`` and the UI."""
        return {
            "name": self.name,
            "classes": list(self.classes),
            "colors": [list(c) for c in self.colors],
            "ignore_index": self.ignore_index,
            "in_channels": self.in_channels,
            "splits": {s: len(self.ids(s)) for s in self.splits()},
            "source": self.source,
        }

    def __repr__(self) -> str:
        splits = ", ".join(f"{s}={len(self.ids(s))}" for s in self.splits())
        return f"<{type(self).__name__} {self.name!r}: {self.num_classes} classes, {splits}>"


class IndexedDataset(SegDataset):
    """A dataset described by a list of ``Entry`` per split.

    Subclasses build ``self.index`` in ``__init__`` and implement ``read_image``
    and ``read_mask``; sizes and labels are checked here once for all formats.
    """

    def __init__(self, index: dict[str, list[Entry]]):
        self.index = {split: list(entries) for split, entries in index.items()}
        self._by_id = {split: {e.sample_id: e for e in entries} for split, entries in self.index.items()}

    def read_image(self, path: Path) -> np.ndarray:
        """HxWxC uint8 or float32."""
        raise NotImplementedError

    def read_mask(self, path: Path) -> np.ndarray:
        """HxW integer label map (before validation)."""
        raise NotImplementedError

    def read_entry_mask(self, entry: Entry) -> np.ndarray:
        """HxW integer label map of one sample (before validation): its mask file read by ``read_mask``.

        Formats whose labels are not one file per sample (COCO's JSON, LabelMe's shapes) read them by
        ``entry.sample_id`` instead."""
        return self.read_mask(entry.mask)

    def entry_size(self, entry: Entry) -> tuple[int, int]:
        """``(height, width)`` of a sample's image from its file header, without decoding it."""
        return image_size(entry.image)

    def splits(self) -> list[str]:
        return [s for s, entries in self.index.items() if entries]

    def ids(self, split: str) -> list[str]:
        self.check_split(split)
        return [e.sample_id for e in self.index[split]]

    def has_masks(self, split: str) -> bool:
        self.check_split(split)
        return all(e.mask is not None for e in self.index[split])

    def entry(self, split: str, sample_id: str) -> Entry:
        self.check_split(split)
        try:
            return self._by_id[split][sample_id]
        except KeyError:
            raise SegdashError(f"no sample {sample_id!r} in split {split!r} of {self.name!r}") from None

    def load(self, split: str, sample_id: str) -> Sample:
        entry = self.entry(split, sample_id)
        image = self.read_image(entry.image)
        if image.ndim == 2:
            image = image[:, :, None]
        if entry.mask is None:
            return Sample(image, None, sample_id)
        mask = self.validate_mask(self.read_entry_mask(entry), sample_id)
        _check_same_size(entry, image.shape[:2], mask)
        return Sample(image, mask, sample_id)

    def load_mask(self, split: str, sample_id: str) -> np.ndarray | None:
        """The mask alone: decoding the image would be most of the time of a pass that only counts labels.

        The image's size comes from its file header for the same size check as ``load``. A subclass
        that overrides ``load`` (it changes what a sample is) gets the mask through its ``load``.
        """
        if type(self).load is not IndexedDataset.load:
            return super().load_mask(split, sample_id)
        entry = self.entry(split, sample_id)
        if entry.mask is None:
            return None
        mask = self.validate_mask(self.read_entry_mask(entry), sample_id)
        _check_same_size(entry, self.entry_size(entry), mask)
        return mask


def _check_same_size(entry: Entry, image_hw: tuple[int, int], mask: np.ndarray) -> None:
    """A ``SegdashError`` naming both files when the mask (HxW) is not the image's size ``(H, W)``."""
    if mask.shape != tuple(image_hw):
        height, width = image_hw
        raise SegdashError(
            f"image and mask of {entry.sample_id!r} differ in size: image {width}x{height}, "
            f"mask {mask.shape[1]}x{mask.shape[0]} ({entry.image.name}, {entry.mask.name})"
        )
