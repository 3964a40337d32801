"""Find the masks that are likely wrong: two streaming passes of a model over a split.

    issues = find_label_issues(ds, "test", Predictor.from_checkpoint("weights/brain-mri_unet_lite0_best"))
    issues.ranking()          # DataFrame, most suspect image first, with its worst-Dice rank beside
    issues.to_json_dict()     # the `segdash label-issues --json` document
    issues.maps[sample_id]    # with keep_maps=N: (H, W) uint8 of the N most suspect images, 0 = fine,
                              # else 1 + the suggested class

Pass 1 runs the model over the split and adds up, per class, the probability it gives the class on
the pixels labelled with it (``segdash.metrics.label_quality.threshold_sums``); the per-class
thresholds come from those sums. Pass 2 runs the model again and, per image, flags the suspect
pixels, pools the soft-min label-quality score and counts suspect pixels by given and suggested
class, and the image's mean Dice (argmax against the mask) for the naive worst-Dice ranking. The
probabilities of a batch are dropped once it is counted, so memory holds a batch and a few numbers
per image, however large the split; the model runs twice instead.

Under torchrun (``shard=(rank, world_size)`` and ``reduce_sums``) each process reads its share of the
split in both passes; the threshold sums are added over processes between the passes (integers, so
exactly), every process flags with the split's thresholds, and ``merge_label_issues`` puts the
per-image rows together in split order: the result is the one a single process gives.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from segdash.data.formats.skipping import warn_skipped_samples
from segdash.errors import SegdashError
from segdash.infer.reading import Prefetch, batches, split_ids
from segdash.jsonsafe import finite_or_none
from segdash.metrics.confusion import ConfusionMatrix
from segdash.metrics.label_quality import (
    DEFAULT_TEMPERATURE,
    confident_thresholds,
    label_quality_scores,
    labelled_pixels,
    softmin_pool,
    suggestion_codes,
    suspect_counts,
    suspect_pixels,
    threshold_sums,
)
from segdash.metrics.scores import per_image_scores
from segdash.sharding import shard_of

#: A class whose threshold (the model's mean probability for it on its own pixels) is under this is one the
#: model barely recognises: its flags are the model's weakness more than the masks' errors.
WEAK_THRESHOLD = 0.5
#: What the scores mean, written into the JSON and shown by the CLI and the dashboard.
NOTE = (
    "Confident learning per pixel (Northcutt et al. 2021; Lad & Mueller 2023 for segmentation). A class's "
    "threshold is the mean probability the model gives it on the pixels labelled with it (null: no pixel is "
    "labelled with it, so no pixel is suspected of being it). A pixel is suspect when the model gives another "
    "class at least that class's threshold and more than the given label; the suggested class is the most "
    "probable such class. score: soft-min pooling of the pixels' given-label probabilities (temperature "
    "{temperature:g}), in [0, 1], lower = more likely mislabelled. dice_rank: the image's rank by the model's "
    "mean Dice, worst first: an image high there and low here is hard for the model; high here, likely "
    "mislabelled. weak_classes: classes whose threshold is under 0.5 (the model gives them less than an even "
    "chance on their own pixels); flags of them or towards them say more about the model than the masks. "
    "The probabilities must be out-of-sample (a held-out split, or a cross-validated model): "
    "on its training images a model has learnt the masks, errors included."
)


@dataclasses.dataclass
class LabelIssues:
    """The result of ``find_label_issues``.

    thresholds (K,) float64 (NaN: no pixel labelled with the class); threshold_pixels (K,) int64, the
    pixels each threshold averages over; per image, in the order of ``sample_ids``: scores (N,) float64
    (NaN when every pixel is ignored), suspect (N, K, K) int64 suspect pixels by given (rows) and
    suggested (columns) class, labelled (N, K) int64 pixels per given class, mean_dice (N,) float64 of
    the model's labels against the mask (NaN where undefined). model_confusion (K, K) int64: the model's labels
    against the masks over the images scored (rows = mask), for each class's Dice. maps: the kept images'
    suggestion maps (``suggestion_codes``), by sample id, most suspect first (``SuggestionMaps``).
    """

    dataset: str
    split: str
    classes: tuple[str, ...]
    thresholds: np.ndarray
    threshold_pixels: np.ndarray
    sample_ids: list[str]
    scores: np.ndarray
    suspect: np.ndarray
    labelled: np.ndarray
    mean_dice: np.ndarray
    model_confusion: np.ndarray | None = None
    temperature: float = DEFAULT_TEMPERATURE
    ignore_index: int | None = None
    maps: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    cancelled: bool = False
    total_images: int | None = None
    seconds: float = 0.0
    device: str = "cpu"
    source: str = ""

    def __post_init__(self) -> None:
        k = len(self.classes)
        self.classes = tuple(self.classes)
        self.sample_ids = [str(s) for s in self.sample_ids]
        self.thresholds = np.asarray(self.thresholds, np.float64).reshape(k)
        self.threshold_pixels = np.asarray(self.threshold_pixels, np.int64).reshape(k)
        self.scores = np.asarray(self.scores, np.float64).reshape(-1)
        self.suspect = np.asarray(self.suspect, np.int64).reshape(-1, k, k)
        self.labelled = np.asarray(self.labelled, np.int64).reshape(-1, k)
        self.mean_dice = np.asarray(self.mean_dice, np.float64).reshape(-1)
        self.model_confusion = (np.zeros((k, k), np.int64) if self.model_confusion is None
                                else np.asarray(self.model_confusion, np.int64).reshape(k, k))  # fmt: skip
        if self.total_images is None:
            self.total_images = len(self.sample_ids)

    # --- per image ----------------------------------------------------------------------------

    @property
    def images(self) -> int:
        return len(self.sample_ids)

    @property
    def suspect_pixels(self) -> np.ndarray:
        """(N,) int64 suspect pixels per image."""
        return self.suspect.sum(axis=(1, 2))

    @property
    def suspect_share(self) -> np.ndarray:
        """(N,) float64 suspect pixels over the image's labelled (not ignored) pixels; NaN with none."""
        pixels = self.labelled.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(pixels > 0, self.suspect_pixels / np.maximum(pixels, 1), np.nan)

    @property
    def ranks(self) -> np.ndarray:
        """(N,) int 1-based label-quality rank: 1 = lowest score (most suspect); NaN scores last, ties in
        split order."""
        return _ranks(self.scores)

    @property
    def dice_ranks(self) -> np.ndarray:
        """(N,) int 1-based rank by mean Dice, worst first (the naive ranking); undefined Dice last."""
        return _ranks(self.mean_dice)

    def involved(self, i: int, most: int = 3) -> list[tuple[str, str, int]]:
        """Image ``i``'s largest (given class, suggested class, pixels) cells, most pixels first."""
        cells = self.suspect[i]
        given, suggested = np.nonzero(cells)
        order = np.argsort(-cells[given, suggested], kind="stable")[:most]
        return [(self.classes[given[o]], self.classes[suggested[o]], int(cells[given[o], suggested[o]]))
                for o in order]  # fmt: skip

    def ranking(self):
        """One row per image, most suspect first: rank, dice_rank (beside it, the naive ranking), sample_id, score,
        suspect_pixels, suspect_share, mean_dice, classes (the given -> suggested classes involved)."""
        import pandas as pd

        frame = pd.DataFrame({
            "rank": self.ranks, "dice_rank": self.dice_ranks, "sample_id": self.sample_ids, "score": self.scores,
            "suspect_pixels": self.suspect_pixels, "suspect_share": self.suspect_share, "mean_dice": self.mean_dice,
            "classes": [", ".join(f"{g} → {s} ({n:,})" for g, s, n in self.involved(i)) for i in range(self.images)],
        })  # fmt: skip
        return frame.sort_values("rank", kind="stable").reset_index(drop=True)

    # --- per class ----------------------------------------------------------------------------

    @property
    def suspect_matrix(self) -> np.ndarray:
        """(K, K) int64 suspect pixels over the split: rows = given label, columns = suggested."""
        return self.suspect.sum(axis=0)

    def weak_classes(self, below: float = WEAK_THRESHOLD) -> list[int]:
        """Classes whose threshold is under ``below``: on its own labelled pixels the model gives the class
        less than an even chance, so it barely recognises it, and flags of it or towards it say more about
        the model than about the masks."""
        return [c for c, t in enumerate(self.thresholds) if np.isfinite(t) and t < below]

    def class_frame(self):
        """One row per given class: name, threshold, the model's Dice for the class (with the threshold: how far
        to trust its flags), labelled pixels, suspect pixels, their share, the class most often suggested instead."""
        import pandas as pd

        from segdash.metrics.scores import per_class_scores

        cm = self.suspect_matrix
        pixels = self.labelled.sum(axis=0)
        suspect = cm.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(pixels > 0, suspect / np.maximum(pixels, 1), np.nan)
        instead = [self.classes[int(np.argmax(row))] if row.any() else "" for row in cm]
        return pd.DataFrame({"name": list(self.classes), "threshold": self.thresholds,
                             "model_dice": per_class_scores(self.model_confusion)["dice"], "pixels": pixels,
                             "suspect_pixels": suspect, "suspect_share": share, "most_suggested": instead})  # fmt: skip

    # --- JSON ---------------------------------------------------------------------------------

    def image_entry(self, i: int, rank: int, dice_rank: int) -> dict:
        names = self.classes
        cells = self.suspect[i]
        by_class = {}
        for c in np.flatnonzero(self.labelled[i] > 0):
            suspect = int(cells[c].sum())
            by_class[names[c]] = {"pixels": int(self.labelled[i, c]), "suspect": suspect,
                                  "share": suspect / int(self.labelled[i, c])}  # fmt: skip
        suggested = {names[g]: {names[s]: int(cells[g, s]) for s in np.flatnonzero(cells[g])}
                     for g in np.flatnonzero(cells.sum(axis=1))}  # fmt: skip
        return {
            "sample_id": self.sample_ids[i], "rank": int(rank), "score": finite_or_none(self.scores[i]),
            "suspect_pixels": int(cells.sum()), "suspect_share": finite_or_none(self.suspect_share[i]),
            "by_class": by_class, "suggested": suggested, "mean_dice": finite_or_none(self.mean_dice[i]),
            "dice_rank": int(dice_rank),
        }  # fmt: skip

    def to_json_dict(self) -> dict:
        """The ``segdash label-issues --json`` document; every image, most suspect first; undefined values null."""
        ranks, dice_ranks = self.ranks, self.dice_ranks
        frame = self.class_frame()
        cm = self.suspect_matrix
        summary = {
            name: {"pixels": int(frame["pixels"][c]), "suspect": int(frame["suspect_pixels"][c]),
                   "share": finite_or_none(frame["suspect_share"][c]),
                   "model_dice": finite_or_none(frame["model_dice"][c]),
                   "suggested": {self.classes[s]: int(cm[c, s]) for s in np.flatnonzero(cm[c])}}
            for c, name in enumerate(self.classes)
        }  # fmt: skip
        return {
            "dataset": self.dataset, "split": self.split, "classes": list(self.classes),
            "thresholds": {n: finite_or_none(t) for n, t in zip(self.classes, self.thresholds)},
            "threshold_pixels": {n: int(p) for n, p in zip(self.classes, self.threshold_pixels)},
            "temperature": self.temperature, "ignore_index": self.ignore_index,
            "images_scored": self.images, "total_images": self.total_images, "cancelled": self.cancelled,
            "suspect_pixels": int(cm.sum()), "labelled_pixels": int(self.labelled.sum()),
            "by_class": summary, "weak_classes": [self.classes[c] for c in self.weak_classes()],
            "skipped": [{"sample_id": sid, "reason": why} for sid, why in self.skipped],
            "seconds": round(self.seconds, 4), "device": self.device, "source": self.source,
            "note": NOTE.format(temperature=self.temperature),
            "images": [self.image_entry(i, ranks[i], dice_ranks[i]) for i in np.argsort(ranks, kind="stable")],
        }  # fmt: skip

    def __repr__(self) -> str:
        return (f"<LabelIssues {self.dataset}/{self.split}: {self.images} images, "
                f"{int(self.suspect_pixels.sum()):,} suspect pixels{', cancelled' if self.cancelled else ''}>")


def weak_classes_note(names: Sequence[str]) -> str:
    """The sentence the CLI and the dashboard show about ``LabelIssues.weak_classes``."""
    them = "it" if len(names) == 1 else "them"
    return (f"On their own labelled pixels the model gives {', '.join(names)} less than an even chance (threshold "
            f"under {WEAK_THRESHOLD:g}): it barely recognises {them}, so pixels flagged as or towards {them} show "
            "the model's weakness more than label errors. A model that segments them well is a fairer judge.")


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` ascending, NaN last, ties in the given order."""
    values = np.asarray(values, np.float64)
    order = np.lexsort((np.arange(len(values)), np.where(np.isnan(values), np.inf, values), np.isnan(values)))
    ranks = np.empty(len(values), np.int64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


# --- the two passes ---------------------------------------------------------------------------------


def _check_predictor(predictor, dataset) -> str:
    """What produced the probabilities (for the JSON); a model of other classes is refused."""
    if not hasattr(predictor, "predict_probabilities"):
        raise SegdashError("finding label errors needs a model that gives probabilities (a checkpoint), "
                           "not predicted label maps")  # fmt: skip
    meta = getattr(predictor, "meta", None)
    classes = getattr(meta, "classes", None)
    if classes is not None and len(classes) != dataset.num_classes:
        raise SegdashError(f"the model predicts {len(classes)} classes but {dataset.name!r} has "
                           f"{dataset.num_classes}; pick a checkpoint trained on this dataset's classes")  # fmt: skip
    return str(getattr(meta, "arch", "") or type(predictor).__name__)


def _probabilities(predictor, images, num_classes: int) -> np.ndarray:
    """(N, K, H, W) float32 on the CPU for one batch (a one-channel sigmoid model gives two classes)."""
    probs, _ = predictor.predict_probabilities(images)
    probs = probs.float().cpu().numpy() if hasattr(probs, "cpu") else np.asarray(probs, np.float32)
    if probs.shape[1] != num_classes:
        raise SegdashError(f"the model gives {probs.shape[1]} class probabilities, the dataset has {num_classes} "
                           "classes")  # fmt: skip
    return probs


class SuggestionMaps(Mapping):
    """Suggestion maps by sample id, held zlib-compressed (mostly zeros: a 2048x1024 map of 2 MB takes a few
    KB), decompressed on access; ordered most suspect first."""

    def __init__(self, maps: Sequence[tuple[str, np.ndarray]] = ()):
        self._blobs: dict[str, tuple[bytes, tuple[int, ...], str]] = {}
        for sample_id, codes in maps:
            codes = np.ascontiguousarray(codes)
            self._blobs[sample_id] = (zlib.compress(codes.tobytes(), 1), codes.shape, codes.dtype.str)

    def __getitem__(self, sample_id: str) -> np.ndarray:
        blob, shape, dtype = self._blobs[sample_id]
        return np.frombuffer(zlib.decompress(blob), dtype=dtype).reshape(shape)

    def __iter__(self):
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)


class _KeptMaps:
    """The suggestion maps of the ``capacity`` lowest-scoring images seen (NaN scores count as highest)."""

    def __init__(self, capacity: int):
        self.capacity = max(0, int(capacity))
        self._heap: list = []  # (-score, -order, sample_id, map): the root is the image to drop next

    def offer(self, score: float, order: int, sample_id: str, codes: np.ndarray) -> None:
        if self.capacity == 0:
            return
        key = (-(np.inf if np.isnan(score) else float(score)), -order, sample_id, codes)
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, key)
        elif key[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, key)

    def maps(self) -> SuggestionMaps:
        return SuggestionMaps([(sample_id, codes) for _, _, sample_id, codes in sorted(self._heap, reverse=True)])


def find_label_issues(
    dataset,
    split: str,
    predictor,
    batch_size: int = 8,
    temperature: float = DEFAULT_TEMPERATURE,
    limit: int | None = None,
    keep_maps: int = 0,
    on_suggestions: Callable[[str, np.ndarray], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    strict: bool = False,
    shard: tuple[int, int] | None = None,
    reduce_sums: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> LabelIssues:
    """Suspect pixels and label-quality scores of ``split`` of ``dataset`` by ``predictor`` (anything with
    ``predict_probabilities(images) -> ((N, K, H, W) tensor, _)``, as ``segdash.infer.predictor.Predictor``).

    ``limit``: only that many images, evenly spaced (as ``segdash evaluate --limit``). ``keep_maps``: keep
    the suggestion maps of that many lowest-scoring images in ``LabelIssues.maps``; ``on_suggestions(
    sample_id, codes)`` receives every image's map (``suggestion_codes``) as it is computed, to write it.
    ``progress(done, total)`` counts both passes (total = 2 x images); ``should_stop()`` is checked
    between batches and ends the run with ``cancelled=True`` (no image is scored when it stops in pass 1).
    A sample that cannot be read is left out with a warning (``strict=True``: the run stops).
    ``shard=(rank, world_size)``: this process's share of the split; ``reduce_sums(sums, counts)`` adds the
    threshold sums over processes and returns the totals (``torch.distributed.all_reduce``).
    """
    if batch_size < 1:
        raise SegdashError(f"batch size must be at least 1, got {batch_size}")
    softmin_pool(np.ones(1), temperature)  # checks the temperature before any work
    start = time.perf_counter()
    source = _check_predictor(predictor, dataset)
    ids = split_ids(dataset, split, limit, purpose="there are no labels to check")
    if shard is not None:
        ids = shard_of(ids, *shard)
    num_classes, ignore_index = dataset.num_classes, dataset.ignore_index
    total = 2 * len(ids)
    skipped: list[tuple[str, str]] = []
    cancelled = False

    def read(record: list | None):
        return Prefetch(batches(dataset, split, ids, batch_size, None, None if strict else record), depth=2)

    # Pass 1: the per-class thresholds.
    sums, counts = np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64)
    done = 0
    if progress is not None:
        progress(0, total)
    reader = read(skipped)
    try:
        for batch in reader:
            if should_stop is not None and should_stop():
                cancelled = True
                break
            batch_sums, batch_counts = threshold_sums(batch.masks, _probabilities(predictor, batch.images, num_classes),
                                                      ignore_index)  # fmt: skip
            sums += batch_sums
            counts += batch_counts
            done += len(batch.ids)
            if progress is not None:
                progress(done + len(skipped), total)
    finally:
        reader.close()
    if reduce_sums is not None:  # every process must take part, cancelled or not
        sums, counts = reduce_sums(sums, counts)
    thresholds = confident_thresholds(sums, counts)

    # Pass 2: flags, scores and Dice per image, with the split's thresholds.
    rows: dict[str, list] = {"ids": [], "scores": [], "suspect": [], "labelled": [], "dice": [],
                             "confusion": [np.zeros((num_classes, num_classes), np.int64)]}  # fmt: skip
    kept = _KeptMaps(keep_maps)
    if not cancelled:
        reader = read([])  # samples unreadable in pass 1 are skipped again, already recorded
        try:
            for batch in reader:
                if should_stop is not None and should_stop():
                    cancelled = True
                    break
                _score_batch(batch, _probabilities(predictor, batch.images, num_classes), thresholds, temperature,
                             ignore_index, rows, kept, on_suggestions)  # fmt: skip
                if progress is not None:
                    progress(len(ids) + len(rows["ids"]) + len(skipped), total)
        finally:
            reader.close()
    warn_skipped_samples(skipped)
    return LabelIssues(
        dataset=getattr(dataset, "name", ""), split=split, classes=tuple(dataset.classes), thresholds=thresholds,
        threshold_pixels=counts, sample_ids=rows["ids"], scores=_stack(rows["scores"], (0,), np.float64),
        suspect=_stack(rows["suspect"], (0, num_classes, num_classes), np.int64),
        labelled=_stack(rows["labelled"], (0, num_classes), np.int64), mean_dice=_stack(rows["dice"], (0,), np.float64),
        model_confusion=rows["confusion"][0],
        temperature=float(temperature), ignore_index=ignore_index, maps=kept.maps(), skipped=skipped,
        cancelled=cancelled, total_images=len(ids), seconds=time.perf_counter() - start,
        device=str(getattr(predictor, "device", "cpu")), source=source,
    )  # fmt: skip


def _score_batch(batch, probs: np.ndarray, thresholds: np.ndarray, temperature: float, ignore_index: int | None,
                 rows: dict, kept: _KeptMaps, on_suggestions) -> None:  # fmt: skip
    """Pass 2 on one batch: append its per-image rows, offer its maps, hand them to ``on_suggestions``."""
    num_classes = probs.shape[1]
    masks = batch.masks
    suggested = suspect_pixels(masks, probs, thresholds, ignore_index)
    scores = label_quality_scores(masks, probs, temperature, ignore_index)
    confusion = ConfusionMatrix(num_classes, ignore_index=ignore_index, device="cpu")
    confusion.update(probs.argmax(axis=1), masks)
    dice = per_image_scores(confusion.per_image_matrices())["mean_dice"]
    rows["confusion"][0] += confusion.compute()
    offset = len(rows["ids"])
    for j, sample_id in enumerate(batch.ids):
        if kept.capacity or on_suggestions is not None:
            codes = suggestion_codes(suggested[j], num_classes)
            kept.offer(scores[j], offset + j, str(sample_id), codes)
            if on_suggestions is not None:
                on_suggestions(str(sample_id), codes)
    rows["ids"].extend(str(s) for s in batch.ids)
    rows["scores"].append(scores)
    rows["suspect"].append(suspect_counts(masks, suggested, num_classes))
    rows["labelled"].append(labelled_pixels(masks, num_classes, ignore_index))
    rows["dice"].append(dice)


def _stack(parts: list[np.ndarray], empty_shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(empty_shape, dtype)


# --- shards -----------------------------------------------------------------------------------------


def merge_label_issues(parts: Sequence[LabelIssues]) -> LabelIssues:
    """One result from those of consecutive shards of a split, in shard order (what one process gives).

    The shards flagged with the same thresholds (``reduce_sums``); per-image rows follow each other, the
    kept maps are the lowest-scoring of all the shards' (each shard keeps its own lowest, so the split's
    are among them); ``seconds`` is the slowest shard's.
    """
    if not parts:
        raise ValueError("merge_label_issues needs at least one result")
    first = parts[0]
    if any(p.classes != first.classes or not np.array_equal(p.thresholds, first.thresholds, equal_nan=True)
           for p in parts):  # fmt: skip
        raise ValueError("the shards were scored with different classes or thresholds")
    ids = [sid for p in parts for sid in p.sample_ids]
    scores = np.concatenate([p.scores for p in parts])
    kept = _KeptMaps(max(len(p.maps) for p in parts) if any(p.maps for p in parts) else 0)
    position = {sid: i for i, sid in enumerate(ids)}
    for p in parts:
        for sid, codes in p.maps.items():
            kept.offer(scores[position[sid]], position[sid], sid, codes)
    return dataclasses.replace(
        first, sample_ids=ids, scores=scores, suspect=np.concatenate([p.suspect for p in parts]),
        labelled=np.concatenate([p.labelled for p in parts]), mean_dice=np.concatenate([p.mean_dice for p in parts]),
        model_confusion=np.sum([p.model_confusion for p in parts], axis=0), maps=kept.maps(),
        skipped=[pair for p in parts for pair in p.skipped], cancelled=any(p.cancelled for p in parts), total_images=sum(p.total_images or 0 for p in parts),
        seconds=max(p.seconds for p in parts),
    )  # fmt: skip


# --- honest use ---------------------------------------------------------------------------------------


def _same_dataset(trained: dict, name: str, format: str | None, options: dict) -> bool:
    """Whether a checkpoint's training config names this dataset (a built-in by name, a folder by path)."""
    if (trained.get("format") or None) != (format or None):
        return False
    if {str(k): str(v) for k, v in (trained.get("options") or {}).items()} != {str(k): str(v) for k, v in
                                                                                 (options or {}).items()}:  # fmt: skip
        return False
    if format is None:
        return str(trained.get("dataset", "")) == str(name)
    try:
        return Path(str(trained.get("dataset", ""))).expanduser().resolve() == Path(name).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def in_sample_warning(meta, name: str, split: str, format: str | None = None, options: dict | None = None) -> str | None:
    """A sentence when ``split`` of the dataset (``name``, ``format``, ``options``: a built-in name or a folder
    path, as given to ``open_dataset``) is one the checkpoint trained on or was chosen on, from its
    ``segdash.json`` (``meta``: ``CheckpointMeta``); None when it is held out or the checkpoint does not say."""
    trained = dict(getattr(meta, "train_config", None) or {})
    if trained:
        if not _same_dataset(trained, name, format, options or {}):
            return None
        train_split, val_split = trained.get("train_split", "train"), trained.get("val_split")
    elif format is None and getattr(meta, "dataset", "") == name:
        train_split, val_split = "train", None  # a checkpoint without its training config: the usual name
    else:
        return None
    if split == train_split:
        return (f"The model trained on '{split}': its probabilities there are in-sample and overstate its "
                "confidence in the given masks (it has learnt them, errors included), so label errors are missed "
                "and the scores look better than they are. Check a held-out split, or use a checkpoint from "
                "cross-validation that did not see these images.")  # fmt: skip
    if split == val_split:
        return (f"The checkpoint was chosen on '{split}' (its best epoch by validation score): the model never "
                "trained on these images, but a split it was not selected on is the cleaner check.")  # fmt: skip
    return None
