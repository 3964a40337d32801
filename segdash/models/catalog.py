"""The model catalogue: the checkpoints found under a few folders, each described in one line.

    entries = find_catalog([("shipped", Path("weights")), ("run", Path("runs"))])
    [e.name for e in entries if e.fits(dataset)]      # "brain-mri_unet_lite0_best", "run quick-1 · best"
    default_checkpoint(entries, dataset)              # the first good pick for a dataset, or None

Shipped checkpoints come first (by folder name), then training runs, newest run first and,
inside a run, ``best`` before the epochs in numeric order. A folder that is not a readable
checkpoint (half-written, foreign) is left out. Who may see which folders is the caller's
business (``segdash.ui.visitor`` in the dashboard): this module only lists and describes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from segdash.errors import SegdashError

SHIPPED, RUN = "shipped", "run"


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    """One checkpoint a model picker offers."""

    path: str
    label: str  # "<name> — <model>"
    group: str  # SHIPPED | RUN
    dataset: str
    classes: tuple[str, ...]
    in_channels: int
    name: str = ""  # "brain-mri_unet_lite0_best", "run quick-1 · best"
    arch: str = ""
    encoder: str = ""

    @property
    def model(self) -> str:
        """Architecture and encoder: "Unet tu-tf_efficientnet_lite0"."""
        return f"{self.arch} {self.encoder}".strip()

    @property
    def short(self) -> str:
        """The name alone, for captions and legends ("run quick-1 · best")."""
        return self.name or self.label.split(" — ")[0]

    def fits(self, dataset) -> bool:
        """True when the checkpoint predicts ``dataset``'s classes (same names, any case) from images with the
        dataset's channels, as they are or converted (a 3-channel model takes 1-channel data: the predictor
        replicates gray to RGB; ``channel_note``)."""
        from segdash.models.checkpoint import channel_note

        if dataset is None:
            return False
        theirs = [str(c).lower() for c in getattr(dataset, "classes", ())]
        same_classes = [c.lower() for c in self.classes] == theirs
        return same_classes and channel_note(self.in_channels, dataset.in_channels) is not None


def describe(path: Path, group: str, root: Path, meta) -> CatalogEntry:
    """The entry for checkpoint folder ``path`` found under ``root``, from its ``CheckpointMeta``.

    A shipped checkpoint is named by its folder under ``root``; a run's as "run <run> · <which>",
    the run being the first folder under ``root`` and ``which`` the checkpoint's own folder.
    """
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    if group == SHIPPED:
        name = relative.as_posix()
    else:
        parts = relative.parts
        which = parts[-1].replace("_", " ") if len(parts) > 1 else ""
        name = f"run {parts[0] if parts else path.name} · {which}"
    return CatalogEntry(str(path), f"{name} — {meta.arch} {meta.encoder}", group, str(meta.dataset or ""),
                        tuple(meta.classes), int(meta.in_channels), name=name, arch=str(meta.arch),
                        encoder=str(meta.encoder))  # fmt: skip


def find_catalog(roots: Sequence[tuple[str, Path]], read_meta: Callable | None = None) -> list[CatalogEntry]:
    """Every readable checkpoint under each ``(group, root)``, in catalogue order (see the module docstring).

    ``read_meta(path)`` gives a folder's ``CheckpointMeta`` (default ``segdash.models.checkpoint.read_meta``;
    the dashboard passes its cached one). Folders it refuses (``SegdashError``, ``OSError``) are left out;
    any other exception is a bug and propagates.
    """
    from segdash.models.checkpoint import find_checkpoints
    from segdash.models.checkpoint import read_meta as read_folder_meta

    read_meta = read_meta or read_folder_meta
    entries: list[CatalogEntry] = []
    for group, root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        found = sorted(find_checkpoints(root), key=lambda p: _order(Path(p), root, newest_first=group == RUN))
        for path in found:
            try:
                meta = read_meta(path)
            except (SegdashError, OSError):  # a half-written or foreign folder: not offered
                continue
            entries.append(describe(Path(path), group, root, meta))
    return entries


def default_checkpoint(entries: Sequence[CatalogEntry], dataset) -> CatalogEntry | None:
    """The first checkpoint that fits ``dataset``, preferring shipped ``best`` ones: a good first prediction
    (None when none fits: better said than a pick that cannot work)."""
    fitting = [e for e in entries if e.fits(dataset)]
    ranked = sorted(fitting, key=lambda e: (e.group != SHIPPED, "best" not in Path(e.path).name))
    return ranked[0] if ranked else None


def _order(path: Path, root: Path, newest_first: bool) -> tuple:
    """Runs newest first; inside a folder ``best`` first, then epochs in numeric order."""
    parts = path.relative_to(root).parts
    started = 0.0
    if newest_first and parts:
        try:
            started = -(root / parts[0]).stat().st_mtime
        except OSError:
            pass
    name = parts[-1] if parts else ""
    number = int(name.rpartition("_")[2]) if name.rpartition("_")[2].isdigit() else -1
    return (started, parts[:-1], name != "best", number, name)
