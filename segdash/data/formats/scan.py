"""Finding a format's files: stems, readable images, and images paired with their masks by stem."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from segdash.data.base import Entry
from segdash.data.formats.skipping import warn_skipped
from segdash.data.imageio import IMAGE_EXTENSIONS, image_size, list_images
from segdash.errors import SegdashError


def stem_of(path: Path) -> str:
    """File name without its extension; ``x.nii.gz`` -> ``x``."""
    name = path.name
    for double in (".nii.gz",):
        if name.lower().endswith(double):
            return name[: -len(double)]
    return path.stem


def readable_images(paths: Iterable[Path], kind: str = "image") -> list[Path]:
    """The paths whose header Pillow (or numpy) can read; others are skipped with one warning.

    ``kind`` ("image" or "mask") names them in the warning.
    """
    good, bad = [], []
    for path in paths:
        try:
            image_size(path)
            good.append(path)
        except SegdashError:
            bad.append(path.name)
    warn_skipped(f"unreadable or corrupt {kind} file(s) skipped", bad)
    return good


def images_by_stem(folder: Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> dict[str, Path]:
    """``{stem: path}`` of the images in a folder; when two share a stem (``a.jpg``, ``a.png``) the
    first by name wins and the others are skipped with one warning."""
    found: dict[str, Path] = {}
    shadowed = []
    for path in list_images(folder, extensions):
        if found.setdefault(stem_of(path), path) is not path:
            shadowed.append(f"{path.name} (kept {found[stem_of(path)].name})")
    warn_skipped(f"file(s) in {folder.name}/ with the same name as another skipped", shadowed)
    return found


def readable_by_stem(folder: Path, kind: str = "image", extensions: Iterable[str] = IMAGE_EXTENSIONS) -> dict[str, Path]:
    """``images_by_stem`` without the files whose header cannot be read (skipped with one warning)."""
    found = images_by_stem(folder, extensions)
    readable = set(readable_images(found.values(), kind))
    return {stem: path for stem, path in found.items() if path in readable}


def pair_by_stem(images: Mapping[str, Path], masks: Mapping[str, Path], unmatched: str) -> dict[str, Entry]:
    """``{stem: Entry(stem, image, mask)}`` for the images that have a mask of the same stem, by stem.

    The images without one are skipped with one warning whose message is ``unmatched``
    (e.g. "image(s) without a trimap skipped").
    """
    warn_skipped(unmatched, sorted(set(images) - set(masks)))
    return {stem: Entry(stem, images[stem], masks[stem]) for stem in sorted(images) if stem in masks}
