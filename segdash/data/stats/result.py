"""``ClassStats``: the pixel statistics of one split, with the weights and shares derived from them.

Arrays are in class order; the imbalance statistics (co-occurrence, objects, spatial prior, top
images) are None when the split was counted with ``extended=False``. ``to_dict`` is what
``segdash stats --json`` writes; ``_to_cache`` / ``_from_cache`` what the on-disk cache keeps.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from segdash.data.stats.objects import AREA_EDGES, SMALL_OBJECT
from segdash.errors import SegdashError
from segdash.jsonsafe import finite_or_none

WEIGHT_METHODS = ("inverse", "median")
#: side of the spatial-prior grid: each mask is mapped onto GRID x GRID cells by relative position
GRID = 32
#: images remembered per class for the rare-class finder (those with the most pixels of the class)
TOP_IMAGES = 50


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
    #: samples left out because they could not be read or did not fit: (sample id, why)
    skipped: tuple[tuple[str, str], ...] = ()
    #: smallest and largest mask (height, width) seen
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    seconds: float = 0.0
    #: True when read back from the on-disk cache
    from_cache: bool = False
    # --- imbalance statistics (None when computed with extended=False) ---
    #: (C, C) int64: images holding at least one pixel of class i and one of class j (diagonal: images_with_class)
    cooccurrence: np.ndarray | None = None
    #: (C,) int64: 8-connected objects of each class, summed over the images
    object_counts: np.ndarray | None = None
    #: (C, len(AREA_EDGES) - 1) int64: objects per area bin (area as a share of the image's pixels)
    object_area_counts: np.ndarray | None = None
    #: (C, GRID * GRID) int64: pixels of each class per grid cell (row-major)
    cell_pixels: np.ndarray | None = None
    #: per class, up to TOP_IMAGES (sample_id, pixels) with the most pixels of the class, most first
    top_images: tuple[tuple[tuple[str, int], ...], ...] | None = None

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

    @property
    def extended(self) -> bool:
        """True when the imbalance statistics (co-occurrence, objects, spatial prior) were computed."""
        return self.cooccurrence is not None

    @property
    def spatial_prior(self) -> np.ndarray | None:
        """(C, GRID, GRID) float64: share of each class's pixels per cell (each class sums to 1; NaN when absent)."""
        if self.cell_pixels is None:
            return None
        total = self.cell_pixels.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.cell_pixels / total).reshape(self.num_classes, GRID, GRID)

    @property
    def small_object_share(self) -> np.ndarray | None:
        """(C,) float64: share of each class's objects smaller than SMALL_OBJECT of the image (NaN: no objects)."""
        if self.object_area_counts is None:
            return None
        small = self.object_area_counts[:, : int(np.searchsorted(AREA_EDGES, SMALL_OBJECT))].sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return small / self.object_counts

    @property
    def mostly_small(self) -> np.ndarray | None:
        """(C,) bool: classes whose objects are mostly (over half) small."""
        share = self.small_object_share
        return None if share is None else np.nan_to_num(share) > 0.5

    def class_weights(self, method: str = "inverse", floor: float = 0.0) -> np.ndarray:
        """(C,) float64 suggested loss weights; classes with no pixels get weight 0.

        ``inverse``: ``total / (K * pixels_c)`` with K the number of classes present
        (scikit-learn's "balanced"): every present class then carries the same total
        weight, and a perfectly balanced split gives all ones.
        ``median``: median frequency balancing (Eigen & Fergus 2015):
        ``median(f) / f_c`` with ``f_c = pixels_c / pixels of the images where c
        appears``, the median taken over the present classes.
        ``floor``: every present class's weight is raised to at least this. Both methods
        damp the frequent classes (under ``median`` the most frequent weigh 1/18 of the
        median class on street-synth, which then paints over their edges); a floor keeps
        the rare classes' boost and damps the frequent ones less.
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
        weights[present] = np.maximum(weights[present], floor)
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
            "skipped": [{"sample_id": sid, "reason": why} for sid, why in self.skipped],
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
            **(self._imbalance_dict() if self.extended else {}),
        }

    def _imbalance_dict(self) -> dict:
        """The JSON of the imbalance statistics; undefined shares (a class that never appears) are null."""
        edges = [float(e) for e in AREA_EDGES]
        prior = self.spatial_prior
        return {
            "cooccurrence": self.cooccurrence.tolist(),
            "objects": [
                {"count": int(n), "area_edges": edges, "area_counts": [int(v) for v in row],
                 "small_share": finite_or_none(small), "mostly_small": bool(flag)}
                for n, row, small, flag in zip(self.object_counts, self.object_area_counts,
                                               self.small_object_share, self.mostly_small)
            ],
            "spatial_prior": [grid.tolist() if np.isfinite(grid).all() else None for grid in prior],
            "top_images": [[[sample_id, pixels] for sample_id, pixels in top] for top in self.top_images],
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
            "skipped": [list(pair) for pair in self.skipped],
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
            "seconds": self.seconds,
            **({
                "cooccurrence": self.cooccurrence.tolist(),
                "object_counts": self.object_counts.tolist(),
                "object_area_counts": self.object_area_counts.tolist(),
                "cell_pixels": self.cell_pixels.tolist(),
                "top_images": [list(map(list, top)) for top in self.top_images],
            } if self.extended else {}),
        }

    @classmethod
    def _from_cache(cls, d: dict) -> ClassStats:
        extended = {}
        if "cooccurrence" in d:
            extended = {
                "cooccurrence": np.asarray(d["cooccurrence"], np.int64),
                "object_counts": np.asarray(d["object_counts"], np.int64),
                "object_area_counts": np.asarray(d["object_area_counts"], np.int64),
                "cell_pixels": np.asarray(d["cell_pixels"], np.int64),
                "top_images": tuple(tuple((str(i), int(n)) for i, n in top) for top in d["top_images"]),
            }
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
            skipped=tuple((str(sid), str(why)) for sid, why in d.get("skipped", [])),
            min_size=tuple(d["min_size"]) if d["min_size"] else None,
            max_size=tuple(d["max_size"]) if d["max_size"] else None,
            seconds=float(d["seconds"]),
            from_cache=True,
            **extended,
        )

