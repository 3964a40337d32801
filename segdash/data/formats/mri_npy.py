"""Brain MRI slices saved as numpy arrays::

    root/
      MRIs/img_001.npy             float32, H x W (single channel, already normalised)
      Segmentations/segm_001.npy   0 white matter, 1 grey matter, 2 background

The mask of ``MRIs/<anything>_<ix>`` is ``Segmentations/segm_<ix>``, where
``ix`` is the image file name's last ``_``-separated part *including* its
extension (``img_001.npy`` -> ``segm_001.npy``). Single-channel float input
end to end (identity normalisation); a seeded 80/10/10 split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.scan import readable_images
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict, seeded_index, val_test_fractions
from segdash.data.imageio import list_images, read_image
from segdash.data.options import as_seed
from segdash.data.registry import register_format
from segdash.errors import SegdashError

LAYOUT = (
    "MRIs/*.npy and Segmentations/segm_<ix> "
    "(ix = the image name's last '_'-separated part, e.g. img_001.npy -> segm_001.npy)"
)


def mask_name_for(image_name: str) -> str:
    """``img_001.npy`` -> ``segm_001.npy``: the last ``_`` part of the name, extension included."""
    return "segm_" + image_name.split("_")[-1]


@register_format("mri-npy", "MRI slices: MRIs/*.npy + Segmentations/segm_<ix>.npy (white/grey matter, background)")
class MriNpy(FormatDataset):
    classes = ("white matter", "grey matter", "background")
    colors = ((240, 240, 240), (128, 128, 128), (0, 0, 0))
    ignore_index = 255
    in_channels = 1
    source = "Brain MRI slices stored as .npy arrays (MRIs/ + Segmentations/), read from a folder on disk"
    description = "Single-channel float32 slices, already normalised; masks 0 white, 1 grey matter, 2 background."

    layout = LAYOUT
    options_help = {
        "val_fraction": "share of the slices in val (default 0.1)",
        "test_fraction": "share of the slices in test (default 0.1)",
        "seed": "seed of the random split (default 0)",
    }

    def __init__(
        self, root: str | Path, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0, **unknown
    ):
        image_dir, mask_dir = self.open_root(root, unknown, "MRIs", "Segmentations")
        val, test = val_test_fractions(val_fraction, test_fraction)
        images = readable_images(list_images(image_dir))
        masks = {p.name: p for p in readable_images(list_images(mask_dir), "mask")}
        paired: dict[str, Entry] = {}
        missing = []
        for path in images:
            mask_name = mask_name_for(path.name)
            if mask_name in masks:
                paired[path.stem] = Entry(path.stem, path, masks[mask_name])
            else:
                missing.append(f"{path.name} (no {mask_name})")
        warn_skipped("image(s) without a Segmentations/segm_<ix> mask skipped", missing)
        if not paired:
            raise SegdashError(f"no image in {image_dir} has its mask in {mask_dir}; expected {LAYOUT}")
        super().__init__(indexed_split_dict(seeded_index(paired, (1 - val - test, val, test), seed=as_seed(seed))))

    def read_image(self, path: Path) -> np.ndarray:
        image = read_image(path, mode="native")
        if image.shape[2] != 1:
            raise SegdashError(f"{path}: expected a single-channel H x W slice, got shape {image.shape}")
        return image.astype(np.float32, copy=False)
