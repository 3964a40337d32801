"""``nuclei``: tiles of one real fluorescence-microscopy image, background vs nucleus.

The stardist wheel ships one 512x512 image of the 2018 Data Science Bowl nuclei
data with its instance mask (``stardist/data/images/img2d.tif`` and
``mask2d.tif``). segdash only reads those two files: stardist is located with
``importlib.util.find_spec`` and never imported, so even
``pip install --no-deps stardist`` (3 MB, no TensorFlow or numba) is enough::

    ds = open_dataset("nuclei")
    image, mask, sample_id = ds.load("train", ds.ids("train")[0])
    # image: 128x128x1 float32 in 0..1, mask: 128x128 int64 (0 background, 1 nucleus)

Tiles of 128x128 px, split by region so no tile of one split overlaps another's:
the top 368 rows give the train tiles (stride 60 down, 64 across, overlapping
within train), rows 384..511 the val tiles (columns 0..239) and test tiles
(columns 272..511); the 16-pixel bands between regions are dropped. The source
is small and already on disk, so tiles are cut on open (milliseconds) instead
of being cached.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from segdash.cachekey import file_stamp
from segdash.data.base import Sample, SegDataset
from segdash.data.options import reject_unknown_options
from segdash.data.registry import register_builtin
from segdash.errors import SegdashError

VERSION = "1"
TILE = 128
CLASSES = ("background", "nucleus")
COLORS = ((20, 20, 24), (90, 230, 110))
IMAGE_FILE, MASK_FILE = "img2d.tif", "mask2d.tif"
#: (row, col) of each split's tiles' top-left corners in the 512x512 image.
TILE_ORIGINS: dict[str, list[tuple[int, int]]] = {
    "train": [(r, c) for r in range(0, 368 - TILE + 1, 60) for c in range(0, 512 - TILE + 1, 64)],
    "val": [(384, 0), (384, 112)],
    "test": [(384, 272), (384, 384)],
}

SOURCE = (
    "One 512x512 fluorescence image of the 2018 Data Science Bowl nuclei data (BBBC038, Caicedo et al. 2019) "
    "with its instance mask, as shipped in the stardist wheel; cut into 128x128 tiles."
)
DESCRIPTION = (
    "Real microscopy data, tiny: one image from the 2018 Data Science Bowl (Broad Bioimage Benchmark "
    "Collection BBBC038, CC0; Caicedo et al., Nature Methods 16, 2019), the sample image StarDist ships "
    "(stardist/data/images/img2d.tif and mask2d.tif). Nucleus instances are merged into one class, so it is a "
    "binary background/nucleus dataset; the instance ids stay available via instances(). Train, val and test "
    "tiles come from separate regions of the one image (no overlap across splits), so scores measure unseen "
    "regions of this image, not unseen images. Needs the stardist wheel's files only: pip install --no-deps stardist."
)


def stardist_data_dir() -> Path:
    """The folder inside the installed stardist wheel with the sample images (stardist is not imported)."""
    spec = importlib.util.find_spec("stardist")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise SegdashError(
            "the nuclei dataset reads the sample image shipped in the stardist wheel, which is not installed: "
            "pip install stardist  (or, without its heavy dependencies: pip install --no-deps stardist)"
        )
    folder = Path(locations[0]) / "data" / "images"
    missing = [name for name in (IMAGE_FILE, MASK_FILE) if not (folder / name).is_file()]
    if missing:
        raise SegdashError(
            f"the installed stardist lacks {', '.join(missing)} in {folder}; reinstall it: pip install stardist"
        )
    return folder


@register_builtin("nuclei", "one real DSB-2018 nuclei image (stardist wheel) in 128x128 tiles, background/nucleus")
class Nuclei(SegDataset):
    """128x128x1 float32 tiles of the StarDist sample image; 2 classes (background, nucleus)."""

    name = "nuclei"
    requires = ("stardist",)  # its files come from this wheel (never imported)
    classes = CLASSES
    colors = COLORS
    ignore_index = None
    in_channels = 1
    source = SOURCE
    description = DESCRIPTION

    def __init__(self, **unknown):
        reject_unknown_options("dataset 'nuclei'", unknown, ())
        from segdash.data.imageio import read_raw_pixels

        self.data_dir = stardist_data_dir()
        image = read_raw_pixels(self.data_dir / IMAGE_FILE)
        instances = read_raw_pixels(self.data_dir / MASK_FILE)
        if image.ndim == 3:
            image = image[:, :, 0]
        if image.shape != (512, 512) or instances.shape != image.shape:
            raise SegdashError(
                f"unexpected stardist sample files in {self.data_dir}: image {image.shape}, mask {instances.shape}; "
                "expected 512x512 each"
            )
        # Stored as 16-bit but holding 8-bit intensities (0..235): scale by the dtype's useful range.
        scale = 255.0 if image.max() <= 255 else float(np.iinfo(image.dtype).max)
        self._image = (image.astype(np.float32) / np.float32(scale))[:, :, None]
        self._instances = instances.astype(np.int64)
        self._origin = {
            f"{split}_r{r:03d}_c{c:03d}": (split, r, c) for split, origins in TILE_ORIGINS.items() for r, c in origins
        }
        self._ids = {split: [i for i, (s, _, _) in self._origin.items() if s == split] for split in TILE_ORIGINS}

    def fingerprint(self, split: str) -> list:
        """What the samples depend on (for the statistics cache): version and the two source files."""
        files = [self.data_dir / IMAGE_FILE, self.data_dir / MASK_FILE]
        return [VERSION, split] + [[str(p), file_stamp(p)] for p in files]

    def splits(self) -> list[str]:
        return [s for s in ("train", "val", "test") if self._ids[s]]

    def ids(self, split: str) -> list[str]:
        self.check_split(split)
        return list(self._ids[split])

    def _window(self, split: str, sample_id: str) -> tuple[slice, slice]:
        self.check_split(split)
        origin = self._origin.get(sample_id)
        if origin is None or origin[0] != split:
            raise SegdashError(f"no sample {sample_id!r} in split {split!r} of nuclei")
        _, r, c = origin
        return slice(r, r + TILE), slice(c, c + TILE)

    def load(self, split: str, sample_id: str) -> Sample:
        rows, cols = self._window(split, sample_id)
        image = self._image[rows, cols].copy()
        mask = (self._instances[rows, cols] > 0).astype(np.int64)
        return Sample(image, mask, sample_id)

    def instances(self, split: str, sample_id: str) -> np.ndarray:
        """HxW int64 nucleus instance ids of a tile (0 = background), as in the source mask."""
        rows, cols = self._window(split, sample_id)
        return self._instances[rows, cols].copy()

    def info(self) -> dict:
        info = super().info()
        info.update(description=self.description, image_size=[TILE, TILE])
        return info
