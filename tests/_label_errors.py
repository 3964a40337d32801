"""Masks made wrong on purpose, the four ways annotators get them wrong (shared by the label-error tests).

    ds = CorruptedBrain()                      # brain-mri's test split, 8 of its masks corrupted
    ds.changed[sample_id]                      # (H, W) bool: the pixels the corruption changed
    write_corrupted_folder(root)               # the same as a `folder`-format dataset on disk

brain-mri's classes: 0 background, 1 CSF, 2 grey matter, 3 white matter. Each corruption is placed by the
distance transform (the deepest point of the region it needs), so it lands inside the brain on any slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from segdash.data.base import Sample, SegDataset


def _disk(shape, cy: int, cx: int, radius: int) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius * radius


def _deepest(where: np.ndarray) -> tuple[int, int]:
    dist = ndimage.distance_transform_edt(where)
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(cy), int(cx)


def erase_region(mask: np.ndarray, radius: int = 11) -> np.ndarray:
    """A disk of tissue erased to background (an annotator's missed region)."""
    region = _disk(mask.shape, *_deepest(mask == 2), radius) & (mask > 0)
    out = mask.copy()
    out[region] = 0
    return out


def swap_classes(mask: np.ndarray, radius: int = 12) -> np.ndarray:
    """Grey and white matter swapped in a disk where both meet."""
    both = ndimage.binary_dilation(mask == 2, iterations=4) & ndimage.binary_dilation(mask == 3, iterations=4)
    region = _disk(mask.shape, *_deepest(both), radius)
    out = mask.copy()
    out[region & (mask == 2)] = 3
    out[region & (mask == 3)] = 2
    return out


def shift_boundary(mask: np.ndarray, pixels: int = 4, radius: int = 25) -> np.ndarray:
    """Every boundary in a disk moved ``pixels`` to the right (a mask drawn off by a few pixels)."""
    region = _disk(mask.shape, *_deepest(mask > 0), radius)
    out = mask.copy()
    out[region] = np.roll(mask, pixels, axis=1)[region]
    return out


def paint_class(mask: np.ndarray, radius: int = 9) -> np.ndarray:
    """CSF painted in a disk deep inside white matter, where there is none."""
    out = mask.copy()
    out[_disk(mask.shape, *_deepest(mask == 3), radius)] = 1
    return out


CORRUPTIONS = {"erased": erase_region, "swapped": swap_classes, "shifted": shift_boundary, "painted": paint_class}


def corruption_plan(ids: list[str]) -> dict[str, str]:
    """Eight images spread over the split, two per kind of corruption."""
    kinds = [kind for kind in CORRUPTIONS for _ in range(2)]
    return dict(zip(ids[3::6][: len(kinds)], kinds))


class CorruptedBrain(SegDataset):
    """brain-mri's test split with ``corruption_plan``'s masks corrupted (the others untouched)."""

    def __init__(self):
        from segdash.data import open_dataset

        self.base = open_dataset("brain-mri")
        self.name = "brain-mri-corrupted"
        self.classes, self.colors = self.base.classes, self.base.colors
        self.ignore_index, self.in_channels = self.base.ignore_index, self.base.in_channels
        self.plan = corruption_plan(self.base.ids("test"))
        self.changed: dict[str, np.ndarray] = {}

    def splits(self):
        return ["test"]

    def ids(self, split):
        return self.base.ids("test")

    def load(self, split, sample_id):
        image, mask, _ = self.base.load("test", sample_id)
        if sample_id in self.plan:
            corrupted = CORRUPTIONS[self.plan[sample_id]](mask)
            self.changed[sample_id] = corrupted != mask
            mask = corrupted
        return Sample(image, mask, sample_id)


def write_corrupted_folder(root: Path) -> CorruptedBrain:
    """``CorruptedBrain`` as a `folder`-format dataset: root/test/images/<id>.npy (the float slices),
    root/test/masks/<id>.png and root/classes.csv."""
    from segdash.data.imageio import write_label_png

    ds = CorruptedBrain()
    (root / "test" / "images").mkdir(parents=True, exist_ok=True)
    rows = ["name,r,g,b"] + [f"{name},{r},{g},{b}" for name, (r, g, b) in zip(ds.classes, ds.colors)]
    (root / "classes.csv").write_text("\n".join(rows) + "\n")
    for sample_id in ds.ids("test"):
        image, mask, _ = ds.load("test", sample_id)
        np.save(root / "test" / "images" / f"{sample_id}.npy", image[:, :, 0])
        write_label_png(root / "test" / "masks" / f"{sample_id}.png", mask)
    return ds
