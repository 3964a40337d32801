"""How the passes over a split read it: which ids, in same-size batches, decoded a batch ahead.

    ids = split_ids(dataset, "test", limit=None)               # evenly spaced when limited
    for batch in Prefetch(batches(dataset, "test", ids, 8)):    # Batch(ids, images, masks, preds)
        ...

Evaluation and the label-error passes read the same batches the same way: consecutive same-size
samples grouped, a sample that cannot be read skipped (or, with ``--strict``, ending the run), and a
background thread decoding the next batch while the model runs on the current one.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from segdash.data.splits import evenly_spaced
from segdash.errors import SegdashError


@dataclasses.dataclass
class Batch:
    """Consecutive same-size samples: images (list of HxWxC), masks (N, H, W), optional predictions."""

    ids: list[str]
    images: list[np.ndarray]
    masks: np.ndarray
    preds: np.ndarray | None = None


class Prefetch:
    """Runs an iterator in a daemon thread, ``depth`` items ahead; errors surface in the consumer."""

    _DONE = object()

    def __init__(self, items: Iterable, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(items),), daemon=True, name="segdash-prefetch")
        self._thread.start()

    def _run(self, items: Iterator) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(exc)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def prediction_path(pred_dir: Path, sample_id: str) -> Path | None:
    """``<pred_dir>/<sample_id>.png``, or by the id's last path part (what ``segdash predict`` writes)."""
    for candidate in (pred_dir / f"{sample_id}.png", pred_dir / f"{Path(sample_id).name}.png"):
        if candidate.is_file():
            return candidate
    return None


def check_pred_dir(pred_dir: Path, ids: Sequence[str]) -> dict[str, Path]:
    if not pred_dir.is_dir():
        raise SegdashError(f"prediction folder {str(pred_dir)!r} does not exist")
    paths = {sid: prediction_path(pred_dir, sid) for sid in ids}
    missing = [sid for sid, p in paths.items() if p is None]
    if missing:
        shown = ", ".join(f"{Path(s).name}.png" for s in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SegdashError(
            f"{len(missing)} of {len(ids)} predictions are missing in {str(pred_dir)!r} ({shown}); "
            "write them with 'segdash predict' or point --pred-dir at the folder that holds <sample_id>.png"
        )
    return paths  # type: ignore[return-value]


def read_prediction(path: Path, mask: np.ndarray, num_classes: int, sample_id: str) -> np.ndarray:
    from segdash.data.imageio import read_label_image

    pred = read_label_image(path)
    if pred.shape != mask.shape:
        raise SegdashError(
            f"prediction {path.name} is {pred.shape[1]}x{pred.shape[0]} but the mask of {sample_id!r} is "
            f"{mask.shape[1]}x{mask.shape[0]}; predictions must have the image's size"
        )
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        bad = np.unique(pred[(pred < 0) | (pred >= num_classes)])[:10].tolist()
        raise SegdashError(
            f"prediction {path.name} holds label(s) {bad} outside the {num_classes} classes 0..{num_classes - 1}"
        )
    return pred


def batches(dataset, split: str, ids: Sequence[str], batch_size: int,
             pred_paths: dict[str, Path] | None = None, skipped: list | None = None) -> Iterator[Batch]:
    """Load samples in order, grouping consecutive same-size ones into batches of up to ``batch_size``.

    A sample that cannot be read or does not fit (``SegdashError``) is appended to ``skipped`` as
    ``(sample_id, why)`` and left out; with ``skipped=None`` it ends the run instead (``--strict``).
    """
    group: list = []

    def flush() -> Batch:
        masks = np.stack([m for _, m, _, _ in group])
        preds = np.stack([p for _, _, _, p in group]) if pred_paths is not None else None
        return Batch(ids=[s for _, _, s, _ in group], images=[i for i, _, _, _ in group], masks=masks, preds=preds)

    for sample_id in ids:
        try:
            image, mask = load_for_scoring(dataset, split, sample_id, masks_only=pred_paths is not None)
        except SegdashError as exc:
            if skipped is None:
                raise
            skipped.append((str(sample_id), str(exc)))
            continue
        pred = None
        if pred_paths is not None:  # a prediction that does not fit its mask is the user's to fix: it stops the run
            pred = read_prediction(pred_paths[sample_id], mask, dataset.num_classes, sample_id)
        if group and (len(group) >= batch_size or group[0][1].shape != mask.shape):
            yield flush()
            group = []
        group.append((image, mask, sample_id, pred))
    if group:
        yield flush()



def load_for_scoring(dataset, split: str, sample_id: str, masks_only: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """(image, or None with ``masks_only``; mask) of one sample; ``SegdashError`` when it cannot be scored."""
    if masks_only:
        image, mask = None, dataset.load_mask(split, sample_id)
    else:
        image, mask, _ = dataset.load(split, sample_id)
    if mask is None:
        raise SegdashError(f"sample {sample_id!r} of split {split!r} has no mask: nothing to evaluate against")
    return image, mask



def split_ids(dataset, split: str, limit: int | None, purpose: str = "evaluate needs ground truth") -> list[str]:
    """The ids a pass reads: the split's, or ``limit`` of them evenly spaced; a split without masks or
    images is a user error (``purpose`` says what the masks are for)."""
    dataset.check_split(split)
    if not dataset.has_masks(split):
        raise SegdashError(f"split {split!r} of {dataset.name!r} has no masks: {purpose}")
    ids = list(dataset.ids(split))
    if limit is not None:
        if limit < 1:
            raise SegdashError(f"--limit must be at least 1, got {limit}")
        ids = evenly_spaced(ids, limit)
    if not ids:
        raise SegdashError(f"split {split!r} of {dataset.name!r} is empty")
    return ids
