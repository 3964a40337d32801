"""``brain-mri``: 2D slices of the MNI ICBM152 2009a brain template, 4 tissue classes.

The default dataset: real MRI data that needs nothing but the nilearn wheel,
which ships the MNI ICBM152 2009a nonlinear symmetric template (a T1 volume and
grey- and white-matter probability maps, 197x233x189 voxels at 1 mm)::

    ds = open_dataset("brain-mri")
    image, mask, sample_id = ds.load("test", ds.ids("test")[0])
    # image: 192x192x1 float32 in 0..1, mask: 192x192 int64 in 0..3, id like "axial_090"

How the slices are made (once, in about a second, then cached on disk):

* The volume is cropped/padded to a 192^3 cube centred on the brain, so slices of
  every orientation are 192x192 (a multiple of 32, what smp encoders want).
* Labels by argmax of tissue probabilities: background ``1 - brain``, CSF
  ``clip(brain - p_gm - p_wm, 0, 1)``, grey matter ``p_gm``, white matter ``p_wm``,
  with ``brain`` the hole-filled ``t1 > 0`` mask (the T1 is skull-stripped).
* Axial, coronal and sagittal slices whose brain area is at least 10% of the
  largest slice of that orientation. The template is exactly left-right
  symmetric, so the sagittal slice at x equals the one at -x: only the midline
  and the right hemisphere are kept (otherwise the splits would share copies).
* Splits by slice position, not at random: neighbouring slices are near copies.
  Along each orientation's axis, contiguous blocks go to train/val/test (about
  70/15/15, the val and test blocks at different depths per orientation) and
  ``guard`` slices are dropped at every boundary, so two slices of different
  splits in one orientation are always more than ``guard`` mm apart.

Caveat, stated in ``description`` too: this is ONE template brain. Slices of
different orientations cross each other along a line of voxels, and test scores
measure generalisation to unseen slice positions of this brain, not to new
subjects.

Images are the T1 intensities divided by 255 (float32, 0..1); the dataset's
normalisation is therefore the identity.
"""

from __future__ import annotations

import importlib.util
import io
import time
from pathlib import Path

import numpy as np

from segdash.cachekey import cache_key, file_stamp
from segdash.data.base import Normalization, Sample
from segdash.data.builtin._rows import RowDataset
from segdash.data.options import as_int, reject_unknown_options
from segdash.data.registry import register_builtin
from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_bytes, cache_dir

#: Bump when the preparation changes: the cache file name carries it.
VERSION = "1"
CUBE = 192
ORIENTATIONS = ("axial", "coronal", "sagittal")
CLASSES = ("background", "CSF", "grey matter", "white matter")
COLORS = ((18, 18, 28), (40, 120, 240), (205, 130, 160), (245, 238, 215))
TEMPLATE_FILES = {k: f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}
MIN_BRAIN_SHARE = 0.10

#: Split blocks along each orientation's axis as (split, share of the axis range),
#: inferior->superior (axial), posterior->anterior (coronal), midline->right (sagittal).
#: The val/test blocks sit at different depths per orientation so that together
#: they cover the whole brain.
SPLIT_BLOCKS: dict[str, tuple[tuple[str, float], ...]] = {
    "axial": (("train", 0.22), ("val", 0.13), ("train", 0.26), ("test", 0.13), ("train", 0.26)),
    "coronal": (("train", 0.26), ("test", 0.13), ("train", 0.22), ("val", 0.13), ("train", 0.26)),
    "sagittal": (("train", 0.30), ("val", 0.14), ("train", 0.16), ("test", 0.14), ("train", 0.26)),
}
#: When two slices of different splits are too close, the lower-priority one is dropped.
_PRIORITY = {"train": 0, "val": 1, "test": 2}

SOURCE = (
    "MNI ICBM152 2009a nonlinear symmetric brain template (Fonov et al. 2009/2011, McConnell Brain "
    "Imaging Centre), shipped inside the nilearn wheel; labels = argmax of its tissue probability maps."
)
DESCRIPTION = (
    "2D axial, coronal and sagittal slices (192x192, 1 mm) of one template brain: the T1 volume (skull-stripped, "
    "intensities scaled to 0..1) and 4 classes by argmax of its probability maps: background (outside the "
    "brain mask), CSF (brain minus grey minus white matter), grey matter, white matter. Files "
    "nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz, read locally (no download). "
    "Because it is a single brain, train/val/test are split by slice position: contiguous blocks per "
    "orientation with guard slices dropped between them, and sagittal slices from one hemisphere only (the "
    "template is exactly symmetric). Test scores therefore measure unseen positions of this brain, not unseen "
    "subjects. Template: Fonov V.S. et al., NeuroImage 47 (2009) S102 and NeuroImage 54 (2011) 313-327; "
    "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute, "
    "McGill University (free use with acknowledgement)."
)


def _template_files() -> list[Path]:
    folder = template_dir()
    return [folder / name for name in TEMPLATE_FILES.values()]


def template_dir() -> Path:
    """The folder inside the installed nilearn wheel that holds the MNI template files."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        raise SegdashError("the brain-mri dataset needs nilearn: pip install nilearn")
    folder = Path(spec.origin).parent / "datasets" / "data"
    missing = [name for name in TEMPLATE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise SegdashError(
            f"the installed nilearn lacks the MNI template file(s) {', '.join(missing)} in {folder}; "
            "reinstall it: pip install --force-reinstall nilearn"
        )
    return folder


def tissue_labels(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Volumes (X,Y,Z) uint8 0..255 -> labels (X,Y,Z) uint8: 0 bg, 1 CSF, 2 GM, 3 WM (argmax).

    Probabilities are the maps / 255 inside the brain (hole-filled ``t1 > 0``);
    outside it background has probability 1 and wins every tie.
    """
    from scipy import ndimage

    brain = ndimage.binary_fill_holes(t1 > 0)
    p_gm = np.where(brain, gm, 0).astype(np.int16)
    p_wm = np.where(brain, wm, 0).astype(np.int16)
    p_csf = np.clip(255 * brain.astype(np.int16) - p_gm - p_wm, 0, 255)
    inside = 1 + np.argmax(np.stack([p_csf, p_gm, p_wm]), axis=0)  # ties: first (CSF < GM < WM)
    return np.where(brain, inside, 0).astype(np.uint8)


def crop_to_cube(volume: np.ndarray, center: tuple[int, int, int], size: int = CUBE) -> np.ndarray:
    """(X,Y,Z) -> (size,size,size) window centred at ``center``, zero-padded outside the volume."""
    out = np.zeros((size,) * 3, volume.dtype)
    src, dst = [], []
    for axis, c in enumerate(center):
        start = c - size // 2
        lo, hi = max(start, 0), min(start + size, volume.shape[axis])
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = volume[tuple(src)]
    return out


def slice_image(cube: np.ndarray, orientation: str, index: int) -> np.ndarray:
    """One 2D slice of a cube indexed (x, y, z) in RAS order, oriented for display.

    Axial: anterior up, patient's right on the right (neurological view).
    Coronal: superior up, right on the right. Sagittal: superior up, anterior right.
    """
    if orientation == "axial":
        plane = cube[:, :, index]  # (x, y)
    elif orientation == "coronal":
        plane = cube[:, index, :]  # (x, z)
    elif orientation == "sagittal":
        plane = cube[index, :, :]  # (y, z)
    else:
        raise SegdashError(f"unknown orientation {orientation!r}; valid: {', '.join(ORIENTATIONS)}")
    return np.ascontiguousarray(plane.T[::-1])


def assign_splits(coords: np.ndarray, blocks: tuple[tuple[str, float], ...], guard: int) -> list[str | None]:
    """Split slices by position: contiguous blocks, ``guard`` slices dropped at boundaries.

    coords: (N,) int slice coordinates along the axis. Returns one split name per
    slice, or None for a dropped guard slice. Guarantee: two kept slices of
    different splits are more than ``guard`` apart.
    """
    lo, hi = int(coords.min()), int(coords.max())
    edges = np.cumsum([share for _, share in blocks])
    relative = (coords - lo + 0.5) / (hi - lo + 1)
    block_of = np.minimum(np.searchsorted(edges, relative, side="right"), len(blocks) - 1)
    first = [blocks[b][0] for b in block_of]
    kept: list[str | None] = []
    for i, split in enumerate(first):
        near = np.abs(coords - coords[i]) <= guard
        stronger = any(_PRIORITY[first[j]] > _PRIORITY[split] for j in np.nonzero(near)[0])
        kept.append(None if stronger else split)
    return kept


def prepare_slices(orientations: tuple[str, ...], guard: int) -> dict[str, np.ndarray]:
    """Read the template and cut it into slices: a dict of arrays saved as the cache ``.npz``.

    images (N,192,192) uint8, masks (N,192,192) uint8, ids (N,) str, splits (N,) str,
    orientation (N,) str, index (N,) int (slice index in the cube), coord (N,) int
    (position used for splitting, in mm).
    """
    import nibabel as nib

    folder = template_dir()
    volumes = {k: np.asarray(nib.load(folder / name).dataobj, dtype=np.uint8) for k, name in TEMPLATE_FILES.items()}
    labels = tissue_labels(volumes["t1"], volumes["gm"], volumes["wm"])
    brain = labels > 0
    bbox = [np.nonzero(brain.any(axis=tuple(a for a in range(3) if a != axis)))[0] for axis in range(3)]
    # Centre x on the symmetry plane (the template is mirror-symmetric about x = 0 mm)
    # so the sagittal mirror pairs stay pairs in the cube.
    midline_x = volumes["t1"].shape[0] // 2
    center = (midline_x, (bbox[1][0] + bbox[1][-1] + 1) // 2, (bbox[2][0] + bbox[2][-1] + 1) // 2)
    t1_cube = crop_to_cube(volumes["t1"], center)
    label_cube = crop_to_cube(labels, center)
    midline = CUBE // 2

    rows: dict[str, list] = {k: [] for k in ("images", "masks", "ids", "splits", "orientation", "index", "coord")}
    for orientation in orientations:
        axis = {"sagittal": 0, "coronal": 1, "axial": 2}[orientation]
        area = (label_cube > 0).sum(axis=tuple(a for a in range(3) if a != axis))
        indices = np.nonzero(area >= MIN_BRAIN_SHARE * area.max())[0]
        if orientation == "sagittal":  # mirror copies: keep the midline and the right hemisphere
            indices = indices[indices >= midline]
        coords = indices - midline if orientation == "sagittal" else indices
        for index, coord, split in zip(indices, coords, assign_splits(coords, SPLIT_BLOCKS[orientation], guard)):
            if split is None:
                continue
            rows["images"].append(slice_image(t1_cube, orientation, int(index)))
            rows["masks"].append(slice_image(label_cube, orientation, int(index)))
            rows["ids"].append(f"{orientation}_{int(index):03d}")
            rows["splits"].append(split)
            rows["orientation"].append(orientation)
            rows["index"].append(int(index))
            rows["coord"].append(int(coord))
    arrays = {k: np.stack(v) if k in ("images", "masks") else np.asarray(v) for k, v in rows.items()}
    arrays["ids"] = arrays["ids"].astype(str)
    return arrays


def _parse_orientations(orientations: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    names = orientations.split(",") if isinstance(orientations, str) else list(orientations)
    names = [n.strip().lower() for n in names if n.strip()]
    bad = [n for n in names if n not in ORIENTATIONS]
    if bad or not names:
        raise SegdashError(
            f"brain-mri orientations must be a comma list of {', '.join(ORIENTATIONS)}; got {orientations!r}"
        )
    return tuple(o for o in ORIENTATIONS if o in names)


@register_builtin("brain-mri", "MNI ICBM152 brain template (nilearn), 2D slices, 4 tissue classes")
class BrainMRI(RowDataset):
    """Slices of the MNI ICBM152 2009a template: 192x192x1 float32 images, 4 classes.

    Options: ``orientations`` ("axial,coronal,sagittal" by default, any subset) and
    ``guard`` (slices dropped at each split boundary, default 5).
    """

    name = "brain-mri"
    requires = ("nilearn",)  # its files come from this wheel (never imported)
    classes = CLASSES
    colors = COLORS
    ignore_index = None
    in_channels = 1
    source = SOURCE
    description = DESCRIPTION
    #: -o KEY=VALUE options, shown by ``segdash datasets``.
    options_help = {
        "orientations": "comma list of axial, coronal, sagittal (default: all three)",
        "guard": "slices dropped at each split boundary (default 5)",
    }

    def __init__(self, orientations: str | tuple[str, ...] = ORIENTATIONS, guard: int | str = 5, **unknown):
        reject_unknown_options("dataset 'brain-mri'", unknown, self.options_help)
        self.orientations = _parse_orientations(orientations)
        self.guard = as_int("guard", guard, minimum=0, maximum=40)
        name = f"{'-'.join(self.orientations)}_guard{self.guard}"
        key = cache_key("brain-mri", VERSION, list(self.orientations), self.guard, files=_template_files())
        self.cache_path = cache_dir("brain-mri") / f"{name}-{key[:16]}.npz"  # the slices of these templates
        arrays = self._load_or_prepare()
        self._images: np.ndarray = arrays["images"]
        self._masks: np.ndarray = arrays["masks"]
        self.slice_orientation: np.ndarray = arrays["orientation"]
        self.slice_index: np.ndarray = arrays["index"]
        self.slice_coord: np.ndarray = arrays["coord"]
        self.index_rows([str(i) for i in arrays["ids"]], [str(s) for s in arrays["splits"]])

    def _load_or_prepare(self) -> dict[str, np.ndarray]:
        if self.cache_path.is_file():
            try:
                with np.load(self.cache_path, allow_pickle=False) as npz:
                    return {k: npz[k] for k in npz.files}
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is rebuilt below
        start = time.perf_counter()
        arrays = prepare_slices(self.orientations, self.guard)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(self.cache_path, buffer.getvalue())
        self._preparation_seconds = time.perf_counter() - start
        return arrays

    def fingerprint(self, split: str) -> list:
        """What the samples depend on (for the statistics cache): version, options, template files."""
        files = [[path.name, file_stamp(path)] for path in _template_files()]
        return [VERSION, list(self.orientations), self.guard, files]

    @property
    def normalization(self) -> Normalization:
        """Identity: images are already float32 in 0..1 (T1 intensity / 255)."""
        return Normalization.identity(1)

    def load(self, split: str, sample_id: str) -> Sample:
        row = self.row_of(split, sample_id)
        image = (self._images[row].astype(np.float32) / np.float32(255.0))[:, :, None]
        return Sample(image, self._masks[row].astype(np.int64), sample_id)

    def position(self, sample_id: str) -> tuple[str, int, int]:
        """(orientation, slice index in the 192^3 cube, split coordinate in mm) of a sample."""
        row = self._row[sample_id]
        return str(self.slice_orientation[row]), int(self.slice_index[row]), int(self.slice_coord[row])

    def info(self) -> dict:
        info = super().info()
        info.update(description=self.description, image_size=[CUBE, CUBE], orientations=list(self.orientations))
        return info
