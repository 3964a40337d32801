"""The shared set-up of every on-disk format (smp's habit: one base class owns what all subclasses do).

A format is one short file that says only what differs: its class table, its ``-o`` options and how it
finds its samples::

    @register_format("carla", "one-line summary")       # also sets format_name = "carla"
    class Carla(FormatDataset):
        layout = "CameraRGB/*.png and CameraSeg/*.png"
        options_help = {"seed": "..."}

        def __init__(self, root, seed=0, **unknown):
            rgb, seg = self.open_root(root, unknown, "CameraRGB", "CameraSeg")
            super().__init__(...)  # {split: [Entry]}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from segdash.data.base import IndexedDataset
from segdash.data.imageio import read_image, read_label_image
from segdash.data.options import reject_unknown_options
from segdash.errors import SegdashError


class FormatDataset(IndexedDataset):
    """An ``IndexedDataset`` read from a folder laid out as a known format."""

    #: The registered name (``register_format`` sets it).
    format_name: str = ""
    #: What the folder holds, for the error that says what was expected.
    layout: str = ""
    #: -o KEY=VALUE options, shown by ``segdash datasets``; their keys are the valid options.
    options_help: Mapping[str, str] = {}

    def open_root(self, root: str | Path, unknown: Mapping[str, object], *folders: str) -> tuple[Path, ...]:
        """Check the options, set ``root`` and ``name``, and return ``root / folder`` for each of ``folders``
        (a layout error when one is missing)."""
        reject_unknown_options(f"format {self.format_name!r}", unknown, self.options_help)
        self.root = Path(root).expanduser().resolve()
        self.name = self.root.name
        paths = tuple(self.root / folder for folder in folders)
        if not all(path.is_dir() for path in paths):
            raise self.layout_error()
        return paths

    def layout_error(self, where: Path | None = None) -> SegdashError:
        """'<folder> does not look like a dataset in the <format> format: expected <layout>'."""
        return SegdashError(
            f"{str(where or self.root)!r} does not look like a dataset in the {self.format_name} format: "
            f"expected {self.layout}"
        )

    def read_image(self, path: Path) -> np.ndarray:
        """HxWxC uint8: an ordinary image file."""
        return read_image(path)

    def read_mask(self, path: Path) -> np.ndarray:
        """HxW labels from an index (not colour) image file."""
        return read_label_image(path)
