"""NIfTI volumes (``.nii`` / ``.nii.gz``) read as stacks of 2-D slices::

    root/                                 or  root/   (Medical Segmentation Decathlon / nnU-Net)
      images/case01.nii.gz                      imagesTr/la_003.nii.gz  (or la_003_0000.nii.gz)
      labels/case01.nii.gz  (or masks/)         labelsTr/la_003.nii.gz
      classes.json (optional)                   imagesTs/la_010.nii.gz  (no labels: predict-only)
                                                dataset.json            ("labels": {"0": "background", ...})

Each volume is turned to the closest canonical (RAS) orientation, then cut
along ``-o axis=`` (``z``/axial by default, ``y`` coronal, ``x`` sagittal);
sample ids are ``<volume>_<axis><slice:03d>``. Intensities are normalised per
volume (0.5-99.5 percentile window to 0..1, float32, one channel). Splits are
seeded by volume, never by slice: neighbouring slices are near copies.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from segdash.data.base import Entry, Sample
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.classes import find_classes_file, read_classes_file
from segdash.data.formats.colors import default_colors
from segdash.data.formats.label_values import scan_label_values
from segdash.data.formats.option_files import resolve_option_file
from segdash.data.formats.scan import stem_of
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict, val_test_fractions
from segdash.data.imageio import check_volume_size
from segdash.data.options import MAX_CHANNELS, as_int, as_optional_int, as_seed
from segdash.data.registry import register_format
from segdash.data.splits import seeded_split
from segdash.errors import SegdashError

LAYOUT = "images/*.nii.gz + labels/*.nii.gz matched by name (or the Decathlon imagesTr/ labelsTr/ imagesTs/ layout)"
AXES = {"x": 0, "sagittal": 0, "0": 0, "y": 1, "coronal": 1, "1": 1, "z": 2, "axial": 2, "2": 2}
AXIS_LETTERS = "xyz"
LABEL_DIR_NAMES = ("labels", "masks", "segmentations")


def list_volumes(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the .nii / .nii.gz files in a folder (hidden and ``._`` files skipped)."""
    found = {}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if path.is_file() and not path.name.startswith(".") and (name.endswith(".nii") or name.endswith(".nii.gz")):
            found[stem_of(path)] = path
    return found


def _open_volume(path: Path):
    """The nibabel image of a volume file (header read, data not yet), its size checked."""
    import nibabel as nib

    try:
        img = nib.load(path)
    except Exception as exc:
        raise SegdashError(f"{path}: not a readable NIfTI volume ({type(exc).__name__})") from None
    check_volume_size(str(path), img.shape)
    return img


def normalise_intensity(volume: np.ndarray) -> np.ndarray:
    """Clip to the 0.5-99.5 percentiles and scale to 0..1 (float32); a constant volume becomes zeros."""
    volume = np.nan_to_num(volume.astype(np.float32, copy=False))
    low, high = np.percentile(volume, (0.5, 99.5))
    if high <= low:
        return np.zeros_like(volume, dtype=np.float32)
    return ((np.clip(volume, low, high) - low) / (high - low)).astype(np.float32)


@register_format("nifti", "NIfTI volumes as 2-D slices: images/*.nii.gz + labels/*.nii.gz (or Decathlon imagesTr/)")
class NiftiSlices(FormatDataset):
    in_channels = 1
    layout = LAYOUT
    options_help = {
        "axis": "slice axis: z/axial (default), y/coronal or x/sagittal",
        "classes": "classes file; default: classes.* or dataset.json beside the data",
        "channel": "channel of 4-D volumes to read (default 0)",
        "ignore_index": "label value to ignore (default 255; none to count every value)",
        "val_fraction": "share of volumes in val (default 0.1)",
        "test_fraction": "share of volumes in test (default 0.1)",
        "seed": "seed of the random split by volume (default 0)",
    }

    def __init__(
        self,
        root: str | Path,
        axis: str | int = "z",
        classes: str | Path | None = None,
        channel: int | str = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        ignore_index: int | str | None = 255,
        **unknown,
    ):
        self.open_root(root, unknown)
        import nibabel  # noqa: F401  (fail early with the import error, not inside a worker)

        axis_key = str(axis).strip().lower()
        if axis_key not in AXES:
            raise SegdashError(f"option axis must be x, y or z (sagittal, coronal, axial); got {axis!r}")
        self.axis = AXES[axis_key]
        self.channel = as_int("channel", channel, minimum=0, maximum=MAX_CHANNELS - 1)
        self.ignore_index = as_optional_int("ignore_index", ignore_index, minimum=0, maximum=65535)
        self._slice_of: dict[str, int] = {}
        self._cache: dict[str, tuple[Path, np.ndarray]] = {}
        self._lock = threading.Lock()
        val, test = val_test_fractions(val_fraction, test_fraction)
        super().__init__(self._build_index(val, test, as_seed(seed)))
        self._set_classes(classes)
        self.source = f"NIfTI volumes from {self.root}, cut into {'xyz'[self.axis]}-slices"

    # --- layout ------------------------------------------------------------------------------
    def _build_index(self, val: float, test: float, seed: int) -> dict[str, list[Entry]]:
        root = self.root
        if (root / "imagesTr").is_dir():
            image_dir, label_dir, test_dir = root / "imagesTr", root / "labelsTr", root / "imagesTs"
            fractions, names = (1 - val, val), ("train", "val")
        elif (root / "images").is_dir():
            image_dir, test_dir = root / "images", None
            label_dir = next((root / n for n in LABEL_DIR_NAMES if (root / n).is_dir()), root / "labels")
            fractions, names = (1 - val - test, val, test), ("train", "val", "test")
        else:
            raise self.layout_error()
        if not label_dir.is_dir():
            raise SegdashError(f"{str(root)!r} has no {label_dir.name}/ folder of label volumes; expected {LAYOUT}")
        images, labels = list_volumes(image_dir), list_volumes(label_dir)
        pairs, unmatched = {}, []
        for stem, path in images.items():
            label = labels.get(stem) or (labels.get(stem[:-5]) if stem[-5:-4] == "_" and stem[-4:].isdigit() else None)
            if label is None:
                unmatched.append(path.name)
            else:
                pairs[stem] = (path, label)
        warn_skipped(f"volume(s) in {image_dir.name}/ without a label volume skipped", unmatched)
        parts = seeded_split(pairs, fractions, names, seed)
        index = {split: self._slices(stems, pairs) for split, stems in parts.items()}
        if test_dir is not None and test_dir.is_dir():  # Decathlon imagesTs/: predict-only
            unlabelled = {stem: (path, None) for stem, path in list_volumes(test_dir).items()}
            index["test"] = self._slices(list(unlabelled), unlabelled)
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no volume in {image_dir} has a label volume in {label_dir}; expected {LAYOUT}")
        return index

    def _slices(self, stems: list[str], pairs: dict[str, tuple[Path, Path | None]]) -> list[Entry]:
        import nibabel as nib

        entries, unreadable = [], []
        for stem in stems:
            image_path, label_path = pairs[stem]
            try:
                header_image = nib.load(image_path)
                ornt = nib.orientations.io_orientation(header_image.affine)
                shape = header_image.shape
                check_volume_size(image_path.name, shape)  # a crafted header could declare 10^9 slices
            except Exception:  # nibabel raises several kinds for a broken file; too large counts too
                unreadable.append(image_path.name)
                continue
            canonical_axis_lengths = {int(ornt[i, 0]): shape[i] for i in range(3)}
            for k in range(canonical_axis_lengths[self.axis]):
                sample_id = f"{stem}_{AXIS_LETTERS[self.axis]}{k:03d}"
                self._slice_of[sample_id] = k
                entries.append(Entry(sample_id, image_path, label_path))
        warn_skipped("unreadable NIfTI volume(s) skipped", unreadable)
        return entries

    # --- classes -----------------------------------------------------------------------------
    def _set_classes(self, classes_path: str | Path | None) -> None:
        if classes_path:  # inside the dataset folder (segdash.data.formats.classes says why)
            table = read_classes_file(resolve_option_file(classes_path, self.root, "classes"), self.ignore_index)
        else:
            found = find_classes_file(self.root) or (
                self.root / "dataset.json" if (self.root / "dataset.json").is_file() else None
            )
            table = read_classes_file(found, self.ignore_index, root=self.root) if found else None
        #: the classes file read (its size and time are part of the statistics cache key), or None
        self.classes_file = table.source if table is not None else None
        if table is not None:
            self.classes = table.names
            self.colors = table.colors or default_colors(len(table.names))
            self.description = f"classes from {table.source.name}"
            return
        label_paths = sorted({e.mask for entries in self.index.values() for e in entries if e.mask is not None})
        values = scan_label_values(label_paths, self._label_volume, ignore_index=self.ignore_index)
        count = max((v for v in values if v != self.ignore_index), default=0) + 1
        self.classes = tuple(f"class_{i}" for i in range(count))
        self.colors = default_colors(count)
        self.description = "class names not given (no classes file): numbered from the labels in the volumes"

    def __getstate__(self) -> dict:
        """Picklable for DataLoader workers: the lock and the cached volumes stay behind."""
        state = self.__dict__.copy()
        state["_lock"], state["_cache"] = None, {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # --- reading -------------------------------------------------------------------------------
    def _volume(self, path: Path, kind: str, ornt_from: Path) -> np.ndarray:
        """The whole volume in canonical orientation (one image and one label volume kept cached)."""
        import nibabel as nib

        with self._lock:
            cached = self._cache.get(kind)
            if cached is not None and cached[0] == path:
                return cached[1]
        img = _open_volume(path)
        try:
            data = np.asanyarray(img.dataobj)
            ornt = nib.orientations.io_orientation(nib.load(ornt_from).affine)
        except Exception as exc:
            raise SegdashError(f"{path}: not a readable NIfTI volume ({type(exc).__name__}: {exc})") from None
        if data.ndim == 4:
            if not 0 <= self.channel < data.shape[3]:
                raise SegdashError(
                    f"{path}: has {data.shape[3]} channels; option channel={self.channel} is out of range"
                )
            data = data[..., self.channel]
        if data.ndim != 3:
            raise SegdashError(f"{path}: volume of shape {data.shape} is not 3-D")
        data = nib.orientations.apply_orientation(data, ornt)
        data = normalise_intensity(data) if kind == "image" else self._labels_from(data, path)
        with self._lock:
            self._cache[kind] = (path, data)
        return data

    @staticmethod
    def _labels_from(data: np.ndarray, path: Path) -> np.ndarray:
        if data.dtype.kind == "f":
            rounded = np.rint(data)
            if not np.allclose(rounded, data, atol=1e-3):
                raise SegdashError(f"{path}: label volume holds non-integer values; expected class indices")
            data = rounded
        return data.astype(np.int64)

    def _label_volume(self, path: Path) -> np.ndarray:
        img = _open_volume(path)
        try:
            data = np.asanyarray(img.dataobj)
        except Exception as exc:
            raise SegdashError(f"{path}: not a readable NIfTI volume ({type(exc).__name__})") from None
        return self._labels_from(data, path)

    def _slice(self, volume: np.ndarray, k: int) -> np.ndarray:
        # rot90 puts anterior/superior up, as radiology viewers show it (same for image and label)
        return np.ascontiguousarray(np.rot90(np.take(volume, k, axis=self.axis)))

    def load(self, split: str, sample_id: str) -> Sample:
        entry = self.entry(split, sample_id)
        k = self._slice_of[sample_id]
        image = self._slice(self._volume(entry.image, "image", entry.image), k)[:, :, None]
        if entry.mask is None:
            return Sample(image, None, sample_id)
        label_volume = self._volume(entry.mask, "label", entry.image)
        image_volume = self._volume(entry.image, "image", entry.image)
        if label_volume.shape != image_volume.shape:
            raise SegdashError(
                f"volume {entry.image.name} has shape {image_volume.shape} but its labels {entry.mask.name} "
                f"have {label_volume.shape}"
            )
        mask = self.validate_mask(self._slice(label_volume, k), sample_id)
        return Sample(image, mask, sample_id)
