"""The split bookkeeping of built-ins prepared once into stacked arrays (row ``i`` = one sample)."""

from __future__ import annotations

from collections.abc import Sequence

from segdash.data.base import SegDataset
from segdash.errors import SegdashError

SPLITS = ("train", "val", "test")


class RowDataset(SegDataset):
    """A dataset whose samples are rows of arrays: ``ids[i]`` of split ``splits_of_rows[i]`` is row ``i``.

    Subclasses call ``index_rows`` in ``__init__`` and build a sample from ``row_of(split, id)``.
    """

    _preparation_seconds: float | None = None

    @property
    def preparation_seconds(self) -> float | None:
        """Seconds spent preparing the arrays in this process; None when they came from the on-disk cache."""
        return self._preparation_seconds

    def index_rows(self, ids: Sequence[str], splits_of_rows: Sequence[str]) -> None:
        self._row = {sample_id: row for row, sample_id in enumerate(ids)}
        self._split_of = dict(zip(ids, splits_of_rows))
        self._ids = {split: [i for i, s in zip(ids, splits_of_rows) if s == split] for split in SPLITS}

    def splits(self) -> list[str]:
        return [s for s in SPLITS if self._ids[s]]

    def ids(self, split: str) -> list[str]:
        self.check_split(split)
        return list(self._ids[split])

    def row_of(self, split: str, sample_id: str) -> int:
        """The array row of ``sample_id``; a clear error when it is not in ``split``."""
        self.check_split(split)
        if self._split_of.get(sample_id) != split:
            raise SegdashError(f"no sample {sample_id!r} in split {split!r} of {self.name}")
        return self._row[sample_id]
