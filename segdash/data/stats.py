"""Class pixel statistics of a dataset split, in one streaming pass, cached on disk.

    stats = class_statistics(open_dataset("street-synth"), "train")
    stats.frequency          # (C,) float64, share of labelled pixels per class
    stats.image_presence     # (C,) float64, share of images in which the class appears
    stats.class_weights("median")

One mask at a time is read (``np.bincount`` with ``minlength``), so memory stays
flat however large the split is. Results are cached as JSON in
``cache_dir("stats")`` under a key made of the dataset's identity (type, name,
classes, options) and a fingerprint of its content: file paths, sizes and
modification times for file-based datasets, or the dataset's own
``fingerprint(split)`` when it has one. Change a file and the cache misses.

Pixels equal to the ignore index are counted apart (``ignored_pixels``) and take
part in nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from segdash.data.base import IndexedDataset, SegDataset
from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_json, cache_dir

#: Bump when the statistics change meaning: old cache files are then ignored.
STATS_VERSION = 1
WEIGHT_METHODS = ("inverse", "median")

#: progress(done, total) after each image; total is the number of images in the split.
Progress = Callable[[int, int], None]


@dataclasses.dataclass
class ClassStats:
    """Pixel statistics of one split. Arrays are (C,) in class order."""

    dataset: str
    split: str
    classes: tuple[str, ...]
    #: images whose mask was read
    images: int
    #: pixels per class (ignored pixels excluded), int64
    pixels: np.ndarray
    #: number of images in which each class has at least one pixel, int64
    images_with_class: np.ndarray
    #: per class, the total labelled pixels of the images where the class appears (for median frequency)
    pixels_of_images_with_class: np.ndarray
    ignored_pixels: int = 0
    #: samples of the split that have no mask (skipped)
    images_without_mask: int = 0
    #: smallest and largest mask (height, width) seen
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    seconds: float = 0.0
    #: True when read back from the on-disk cache
    from_cache: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labeled_pixels(self) -> int:
        return int(self.pixels.sum())

    @property
    def frequency(self) -> np.ndarray:
        """(C,) float64: share of labelled pixels of each class (sums to 1; zeros when nothing is labelled)."""
        total = self.pixels.sum()
        return self.pixels / total if total else np.zeros(self.num_classes)

    @property
    def image_presence(self) -> np.ndarray:
        """(C,) float64: share of images in which each class appears."""
        return self.images_with_class / self.images if self.images else np.zeros(self.num_classes)

    def class_weights(self, method: str = "inverse") -> np.ndarray:
        """(C,) float64 suggested loss weights; classes with no pixels get weight 0.

        ``inverse``: ``total / (K * pixels_c)`` with K the number of classes present
        (scikit-learn's "balanced"): every present class then carries the same total
        weight, and a perfectly balanced split gives all ones.
        ``median``: median frequency balancing (Eigen & Fergus 2015):
        ``median(f) / f_c`` with ``f_c = pixels_c / pixels of the images where c
        appears``, the median taken over the present classes.
        A class that never appears cannot be learnt from this split, so it gets 0
        rather than an infinite weight.
        """
        present = self.pixels > 0
        weights = np.zeros(self.num_classes)
        if not present.any():
            return weights
        if method == "inverse":
            weights[present] = self.pixels.sum() / (present.sum() * self.pixels[present])
        elif method == "median":
            freq = self.pixels[present] / self.pixels_of_images_with_class[present]
            weights[present] = np.median(freq) / freq
        else:
            raise SegdashError(f"unknown class-weight method {method!r}; valid: {', '.join(WEIGHT_METHODS)}")
        return weights

    def to_dict(self) -> dict:
        """JSON-ready: per-class lists in class order, plus the split's totals."""
        return {
            "images": self.images,
            "pixels": [int(v) for v in self.pixels],
            "frequency": [float(v) for v in self.frequency],
            "image_presence": [float(v) for v in self.image_presence],
            "images_with_class": [int(v) for v in self.images_with_class],
            "weights_inverse": [float(v) for v in self.class_weights("inverse")],
            "weights_median": [float(v) for v in self.class_weights("median")],
            "labeled_pixels": self.labeled_pixels,
            "ignored_pixels": self.ignored_pixels,
            "images_without_mask": self.images_without_mask,
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
        }

    def to_frame(self):
        """pandas DataFrame, one row per class (for tables in the dashboard)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "class": list(self.classes),
                "pixels": self.pixels,
                "frequency": self.frequency,
                "image_presence": self.image_presence,
                "weight_inverse": self.class_weights("inverse"),
                "weight_median": self.class_weights("median"),
            }
        )

    def _to_cache(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "classes": list(self.classes),
            "images": self.images,
            "pixels": self.pixels.tolist(),
            "images_with_class": self.images_with_class.tolist(),
            "pixels_of_images_with_class": self.pixels_of_images_with_class.tolist(),
            "ignored_pixels": self.ignored_pixels,
            "images_without_mask": self.images_without_mask,
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
            "seconds": self.seconds,
        }

    @classmethod
    def _from_cache(cls, d: dict) -> "ClassStats":
        return cls(
            dataset=d["dataset"],
            split=d["split"],
            classes=tuple(d["classes"]),
            images=int(d["images"]),
            pixels=np.asarray(d["pixels"], np.int64),
            images_with_class=np.asarray(d["images_with_class"], np.int64),
            pixels_of_images_with_class=np.asarray(d["pixels_of_images_with_class"], np.int64),
            ignored_pixels=int(d["ignored_pixels"]),
            images_without_mask=int(d["images_without_mask"]),
            min_size=tuple(d["min_size"]) if d["min_size"] else None,
            max_size=tuple(d["max_size"]) if d["max_size"] else None,
            seconds=float(d["seconds"]),
            from_cache=True,
        )


def count_mask(mask: np.ndarray, num_classes: int, ignore_index: int | None) -> tuple[np.ndarray, int]:
    """HxW int mask -> ((C,) int64 pixels per class, number of ignored pixels); one bincount."""
    flat = np.asarray(mask).ravel()
    if ignore_index is not None and ignore_index < 0:  # bincount takes no negatives: drop them first
        keep = flat != ignore_index
        ignored = int(flat.size - np.count_nonzero(keep))
        flat, ignore_index = flat[keep], None
    else:
        ignored = 0
    if flat.size and flat.min() < 0:
        raise SegdashError(f"mask holds negative label {int(flat.min())} (ignore index {ignore_index})")
    counts = np.bincount(flat, minlength=num_classes).astype(np.int64, copy=False)
    if ignore_index is not None and ignore_index < counts.size:
        ignored += int(counts[ignore_index])
        counts[ignore_index] = 0
    if counts.size > num_classes and counts[num_classes:].any():
        bad = int(num_classes + np.nonzero(counts[num_classes:])[0][0])
        raise SegdashError(f"mask holds label {bad} outside the {num_classes} classes (ignore index {ignore_index})")
    return counts[:num_classes].copy(), ignored


def class_statistics(
    ds: SegDataset,
    split: str,
    progress: Progress | None = None,
    use_cache: bool = True,
) -> ClassStats:
    """Pixel statistics of ``split`` in one pass over its masks (one mask in memory at a time).

    progress: called as ``progress(done, total)`` after each image.
    use_cache: read and write the on-disk cache (``cache_dir("stats")``).
    """
    ds.check_split(split)
    if not ds.has_masks(split):
        raise SegdashError(f"split {split!r} of {ds.name!r} has no masks (predict-only); pick another split")
    identity = _identity(ds, split) if use_cache else None
    cache_file = _cache_file(ds, split, identity) if identity is not None else None
    if cache_file is not None and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text())
            return ClassStats._from_cache(cached["stats"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # damaged cache: recompute and overwrite

    start = time.perf_counter()
    num_classes = ds.num_classes
    pixels = np.zeros(num_classes, np.int64)
    images_with_class = np.zeros(num_classes, np.int64)
    pixels_of_images_with_class = np.zeros(num_classes, np.int64)
    ignored = images = without_mask = 0
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    ids = ds.ids(split)
    for done, mask in enumerate(_masks(ds, split, ids), start=1):
        if mask is None:
            without_mask += 1
        else:
            counts, ignored_here = count_mask(mask, num_classes, ds.ignore_index)
            present = counts > 0
            pixels += counts
            images_with_class += present
            pixels_of_images_with_class[present] += counts.sum()
            ignored += ignored_here
            images += 1
            size = (int(mask.shape[0]), int(mask.shape[1]))
            min_size = size if min_size is None else (min(min_size[0], size[0]), min(min_size[1], size[1]))
            max_size = size if max_size is None else (max(max_size[0], size[0]), max(max_size[1], size[1]))
        if progress is not None:
            progress(done, len(ids))
    stats = ClassStats(
        dataset=ds.name,
        split=split,
        classes=tuple(ds.classes),
        images=images,
        pixels=pixels,
        images_with_class=images_with_class,
        pixels_of_images_with_class=pixels_of_images_with_class,
        ignored_pixels=ignored,
        images_without_mask=without_mask,
        min_size=min_size,
        max_size=max_size,
        seconds=time.perf_counter() - start,
    )
    if cache_file is not None:
        # The file name carries the identity's digest; the identity itself can be long (every file).
        summary = {"type": identity["type"], "options": identity["options"]}
        atomic_write_json(cache_file, {**summary, "stats": stats._to_cache()})
    return stats


def _masks(ds: SegDataset, split: str, ids: Sequence[str]) -> Iterator[np.ndarray | None]:
    """The split's masks (HxW int64, or None), one at a time.

    A dataset of image and mask files (``IndexedDataset`` loading the usual way) has only its
    masks decoded, and its images' sizes read from their headers for the size check: decoding
    the images would be most of the time and counts nothing. Any other dataset is iterated.
    """
    if not (isinstance(ds, IndexedDataset) and type(ds).load is IndexedDataset.load):
        for _, mask, _ in ds.iter_samples(split, ids):
            yield mask
        return
    from segdash.data.imageio import image_size

    for sample_id in ids:
        entry = ds.entry(split, sample_id)
        if entry.mask is None:
            yield None
            continue
        mask = ds.validate_mask(ds.read_mask(entry.mask), sample_id)
        height, width = image_size(entry.image)
        if mask.shape != (height, width):
            raise SegdashError(
                f"image and mask of {sample_id!r} differ in size: image {width}x{height}, "
                f"mask {mask.shape[1]}x{mask.shape[0]} ({entry.image.name}, {entry.mask.name})"
            )
        yield mask


# --- cache key ---------------------------------------------------------------------


def _simple(value):
    """A JSON-ready copy of small option values, or None for anything else.

    A path to a file (a classes file) stands for its content: path, size and modification time.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return _file_fingerprint(value) if value.is_file() else str(value)
    if isinstance(value, (tuple, list)) and len(value) <= 64:
        items = [_simple(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    return None


def _file_fingerprint(path: Path | None) -> list | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), None, None]
    return [str(path), st.st_size, st.st_mtime_ns]


def _identity(ds: SegDataset, split: str) -> dict | None:
    """What the statistics depend on, or None when the dataset cannot say (then no caching).

    Type, name, classes, ignore index and simple option attributes, plus either
    the dataset's ``fingerprint(split)`` or, for ``IndexedDataset``, every
    sample's id and its files' path, size and modification time.
    """
    options = {k: _simple(v) for k, v in sorted(vars(ds).items()) if not k.startswith("_")}
    identity = {
        "version": STATS_VERSION,
        "type": f"{type(ds).__module__}.{type(ds).__qualname__}",
        "name": ds.name,
        "split": split,
        "classes": list(ds.classes),
        "ignore_index": ds.ignore_index,
        "options": {k: v for k, v in options.items() if v is not None},
    }
    fingerprint = getattr(ds, "fingerprint", None)
    if callable(fingerprint):
        identity["content"] = fingerprint(split)
    elif isinstance(ds, IndexedDataset):
        identity["content"] = [
            [e.sample_id, _file_fingerprint(e.image), _file_fingerprint(e.mask)] for e in ds.index[split]
        ]
    else:
        return None
    return identity


def _cache_file(ds: SegDataset, split: str, identity: dict | None = None) -> Path | None:
    """The cache file for this dataset state (None when it cannot be identified)."""
    identity = identity if identity is not None else _identity(ds, split)
    if identity is None:
        return None
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return cache_dir("stats") / f"{ds.name}-{split}-{digest}.json".replace(os.sep, "_")
