"""Any readable dataset written as the plain ``folder`` layout, whole or not at all::

    result = write_folder_dataset(open_dataset("/data/coco", format="coco"), "coco-as-folder")

    coco-as-folder/
      classes.csv                    index,name,r,g,b (the dataset's classes, merged ones if a class map was given)
      train/images/<id>.jpg          the image files as they are (decoded images, e.g. LabelMe's imageData, as PNG)
      train/masks/<id>.png           palette PNGs whose pixel values are the class indices, 255 = ignore
      val/...   test/images/ only    (a predict-only split keeps no masks/)

The masks are the labels segdash reads (COCO's rasterised polygons, Cityscapes' train ids, ADE20K's
shifted indices, a class map's merged classes), so ``--format folder`` reads back the same counts and
any other tool sees plain index masks (``distinct_colors`` says how a colour two classes share is kept
apart in ``classes.csv``). Datasets of more than 255 classes get 16-bit masks whose ignore
value is 65535 (open them with ``-o ignore_index=65535``). Everything is written into a temporary folder
beside the target, which then takes the target's place (``fsutil.atomic_dir``).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from segdash.data.base import IndexedDataset, SegDataset
from segdash.data.formats.skipping import warn_skipped_samples
from segdash.data.imageio import IMAGE_EXTENSIONS, label_png_bytes
from segdash.errors import SegdashError
from segdash.fsutil import atomic_dir


@dataclass
class ExportResult:
    """What was written: ``{split: images}``, the samples left out and why, and the ignore value of the masks."""

    out: Path
    images: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignore_value: int = 255


def distinct_colors(colors: Sequence[Sequence[int]]) -> list[tuple[int, int, int]]:
    """``colors`` with repeats told apart: a classes file's colours must be distinct (they may map colour
    masks), and some datasets give two classes one colour (ADE20K's road and skyscraper, Cityscapes'
    void ids), so a repeat moves to the nearest unused colour, one step at a time in its blue, then green
    channel (invisible on screen)."""
    used: set[tuple[int, int, int]] = set()
    result = []
    for color in colors:
        r, g, b = (int(c) for c in color)
        candidate, step = (r, g, b), 0
        while candidate in used:
            step += 1
            tries = [(r, g, b + step), (r, g, b - step), (r, g + step, b), (r, g - step, b)]
            candidate = next((c for c in tries if all(0 <= v <= 255 for v in c) and c not in used), candidate)
        used.add(candidate)
        result.append(candidate)
    return result


def classes_csv(classes: Sequence[str], colors: Sequence[Sequence[int]]) -> str:
    """``index,name,r,g,b`` rows, as the folder format's classes file reader reads them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "name", "r", "g", "b"])
    for index, (name, color) in enumerate(zip(classes, distinct_colors(colors))):
        writer.writerow([index, " ".join(str(name).split()), *color])  # a line break would end the row
    return buffer.getvalue()


def _file_name(sample_id: str) -> str:
    """A sample id as a file stem: path separators would make folders."""
    return sample_id.replace("/", "__").replace("\\", "__")


def write_folder_dataset(ds: SegDataset, out: str | Path, splits: Sequence[str] | None = None, strict: bool = False,
                         progress: Callable[[str, int, int], None] | None = None) -> ExportResult:
    """Write ``ds`` (its ``splits``, default all) as the folder layout at ``out``, atomically.

    A sample that cannot be read is left out with one warning naming it (``strict``: stop instead, and
    nothing is written). ``progress(split, done, total)`` is called after each sample.
    """
    out = Path(out)
    splits = list(splits) if splits else ds.splits()
    for split in splits:
        ds.check_split(split)
    big = ds.num_classes > 255
    ignore_value = 65535 if big else 255
    result = ExportResult(out, ignore_value=ignore_value)
    with atomic_dir(out) as tmp:
        (tmp / "classes.csv").write_text(classes_csv(ds.classes, ds.colors), encoding="utf-8")
        for split in splits:
            ids = ds.ids(split)
            (tmp / split / "images").mkdir(parents=True)
            with_masks = ds.has_masks(split)
            if with_masks:
                (tmp / split / "masks").mkdir()
            written = 0
            for done, sample_id in enumerate(ids, start=1):
                try:
                    _write_sample(ds, split, sample_id, tmp / split, with_masks, big, ignore_value)
                    written += 1
                except SegdashError as exc:
                    if strict:
                        raise
                    result.skipped.append((sample_id, str(exc)))
                if progress is not None:
                    progress(split, done, len(ids))
            result.images[split] = written
    warn_skipped_samples(result.skipped)
    return result


def _write_sample(ds: SegDataset, split: str, sample_id: str, folder: Path, with_masks: bool, big: bool,
                  ignore_value: int) -> None:
    image, mask, _ = ds.load(split, sample_id)  # reads and checks both: a bad sample fails before any file
    stem = _file_name(sample_id)
    source = ds.entry(split, sample_id).image if isinstance(ds, IndexedDataset) else None
    if source is not None and source.suffix.lower() in IMAGE_EXTENSIONS:
        shutil.copyfile(source, folder / "images" / f"{stem}{source.suffix.lower()}")
    elif image.dtype == np.uint8:  # decoded from elsewhere (LabelMe's imageData): PNG keeps it exactly
        Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(folder / "images" / f"{stem}.png")
    else:  # float slices (NIfTI): .npy keeps them exactly
        np.save(folder / "images" / f"{stem}.npy", image)
    if not with_masks or mask is None:
        return
    labels = np.asarray(mask, dtype=np.int64)
    if ds.ignore_index is not None and ds.ignore_index != ignore_value:
        labels = np.where(labels == ds.ignore_index, ignore_value, labels)
    colors = None if big else ds.colors
    (folder / "masks" / f"{stem}.png").write_bytes(label_png_bytes(labels, colors, name=f"{stem}.png"))
