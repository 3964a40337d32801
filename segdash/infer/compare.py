"""Compare models on one split: each is evaluated once, then paired statistics and pixel changes.

    models = [ModelSource.checkpoint("weights/a"), ModelSource.pred_dir("preds/b")]
    result = compare_models(ds, "test", models, predictors=[predictor_a, None])
    result.comparison.pair(0, 1).overall.verdict()
    result.to_json_dict()        # the ``segdash compare --json`` document

Each checkpoint goes through ``evaluate`` once (per-image confusion matrices, no distances); the
per-image Dice or IoU follow from those matrices. Which pixels B fixed or broke needs both
predictions side by side, so while a model runs its label maps are kept in memory (one byte per
pixel while the classes fit in a byte) and one last pass over the masks counts the changes;
prediction folders are simply read again. A split too large for ``PIXEL_BUDGET`` skips that pass
and says so.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segdash.errors import SegdashError
from segdash.infer.evaluate import evaluate
from segdash.infer.evaluation import Evaluation
from segdash.metrics.paired import (
    DEFAULT_SAMPLES,
    Comparison,
    compare_scores,
    fixed_broken_pixels,
    image_class_scores,
    net_fixed_pixels,
)

#: Bytes of kept label maps per model above which the pixel-change pass is skipped.
PIXEL_BUDGET = 1 << 30
_GENERIC_NAMES = {"best", "last", "final", "checkpoint", "model", "preds", "predictions"}


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One model of a comparison: a checkpoint folder or a folder of predicted label PNGs."""

    name: str
    source: str
    kind: str  # "checkpoint" | "pred_dir"

    @classmethod
    def checkpoint(cls, path: str | Path, name: str | None = None) -> ModelSource:
        return cls(name or short_name(path), str(path), "checkpoint")

    @classmethod
    def pred_dir(cls, path: str | Path, name: str | None = None) -> ModelSource:
        return cls(name or short_name(path), str(path), "pred_dir")


def short_name(path: str | Path) -> str:
    """A model's name from its folder: ``brain-mri_unet_lite0_best``; ``run/best`` for a run's generic folder."""
    path = Path(path)
    name = path.name or str(path)
    if name.lower() in _GENERIC_NAMES or name.startswith("epoch_"):
        parent = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return f"{parent.name}/{name}" if parent.name else name
    return name


def unique_names(sources: Sequence[ModelSource]) -> list[ModelSource]:
    """The same sources with repeated names told apart (``name (2)``)."""
    seen: dict[str, int] = {}
    out = []
    for source in sources:
        seen[source.name] = seen.get(source.name, 0) + 1
        name = source.name if seen[source.name] == 1 else f"{source.name} ({seen[source.name]})"
        out.append(dataclasses.replace(source, name=name))
    return out


class RecordingPredictor:
    """A predictor that keeps a CPU copy of every label map it returns, up to ``budget`` bytes.

    ``labels``: the kept (H, W) maps in prediction order, or None once the budget ran out.
    """

    def __init__(self, predictor, budget: int = PIXEL_BUDGET):
        self.inner, self.budget = predictor, budget
        # only what the evaluation reads: without predict_probabilities it skips calibration
        self.device, self.meta = predictor.device, getattr(predictor, "meta", None)
        self.labels: list[np.ndarray] | None = []
        self._bytes = 0

    def predict_labels(self, images):
        labels = self.inner.predict_labels(images)
        if self.labels is not None:
            kept = labels.detach().cpu().numpy()
            kept = kept.astype(np.uint8 if kept.max(initial=0) < 256 else np.int32)
            self._bytes += kept.nbytes
            if self._bytes > self.budget:
                self.labels = None
            else:
                self.labels.extend(kept)
        return labels


@dataclasses.dataclass
class ModelComparison:
    """What ``compare_models`` found: the evaluations, the paired statistics and the pixel changes.

    ``pixel_changes``: {(a, b): (N, 2, C) int64 fixed / broken pixels per image and true class}, or
    None with ``pixel_note`` saying why.
    """

    dataset: str
    split: str
    models: list[ModelSource]
    evaluations: list[Evaluation]
    comparison: Comparison
    pixel_changes: dict[tuple[int, int], np.ndarray] | None
    pixel_note: str = ""
    seconds: float = 0.0
    #: Per model, ``i -> (H, W)`` label map of image i (kept or re-read), or None when not kept.
    labels: list | None = dataclasses.field(default=None, repr=False)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.comparison.classes

    @property
    def sample_ids(self) -> list[str]:
        return self.evaluations[0].sample_ids

    def net_fixed(self, a: int, b: int) -> np.ndarray:
        """(N, C) fixed minus broken pixels of B against A, per image and true class."""
        return net_fixed_pixels(self.evaluations[a].per_image_confusion, self.evaluations[b].per_image_confusion)

    def to_json_dict(self) -> dict:
        """``dataset, split, classes, metric, bootstrap, models, pairs, rank_first`` (+ ranking, images, seconds)."""
        stats = self.comparison.to_dict()
        pairs = stats.pop("pairs")
        if self.pixel_changes is not None:
            for pair in pairs:
                counts = self.pixel_changes[(pair["a"], pair["b"])].sum(axis=0)
                pair["pixels"] = {"fixed": counts[0].tolist(), "broken": counts[1].tolist()}
        means = self.comparison.model_means
        models = [{"name": m.name, "source": m.source, "kind": m.kind,
                   "mean": float(means[k]) if np.isfinite(means[k]) else None,
                   "seconds": round(e.seconds, 3)} for k, (m, e) in enumerate(zip(self.models, self.evaluations))]
        return {
            "dataset": self.dataset, "split": self.split, "classes": stats.pop("classes"), "metric": stats.pop("metric"),
            "bootstrap": stats.pop("bootstrap"), "images": len(self.sample_ids), "models": models, "pairs": pairs,
            "rank_first": stats.pop("rank_first"), "ranking": stats.pop("ranking"), "seconds": round(self.seconds, 3),
        }  # fmt: skip


def _pred_path(folder: Path, sample_id: str) -> Path:
    """``<folder>/<sample_id>.png`` or by the id's last part: the names ``evaluate`` accepts (it checked they exist)."""
    candidate = folder / f"{sample_id}.png"
    return candidate if candidate.is_file() else folder / f"{Path(sample_id).name}.png"


def pixel_change_counts(dataset, split: str, sample_ids: Sequence[str], labels: Sequence[Callable[[int], np.ndarray]],
                        pairs: Sequence[tuple[int, int]], progress: Callable[[int], None] | None = None,
                        ) -> dict[tuple[int, int], np.ndarray]:  # fmt: skip
    """One pass over the masks: {(a, b): (N, 2, C)} fixed / broken pixels; ``labels[m](i)`` is model m's map of image i."""
    num_classes, ignore = dataset.num_classes, dataset.ignore_index
    out = {pair: np.zeros((len(sample_ids), 2, num_classes), np.int64) for pair in pairs}
    for i, sample_id in enumerate(sample_ids):
        _, mask, _ = dataset.load(split, sample_id)
        maps = {m: labels[m](i) for m in {m for pair in pairs for m in pair}}
        for a, b in pairs:
            out[(a, b)][i] = fixed_broken_pixels(maps[a], maps[b], mask, num_classes, ignore)
        if progress is not None:
            progress(i + 1)
    return out


def _label_reader(source: ModelSource, recorder: RecordingPredictor | None, ids: Sequence[str]):
    """``i -> (H, W) labels`` of one model (kept in memory, or read from its folder), or None when not kept."""
    if source.kind == "pred_dir":
        from segdash.data.imageio import read_label_image

        folder = Path(source.source).expanduser()
        return lambda i: read_label_image(_pred_path(folder, ids[i]))
    if recorder is None or recorder.labels is None or len(recorder.labels) != len(ids):
        return None
    return recorder.labels.__getitem__


def compare_models(
    dataset,
    split: str,
    models: Sequence[ModelSource],
    predictors: Sequence | None = None,
    metric: str = "dice",
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    batch_size: int = 8,
    limit: int | None = None,
    pixel_changes: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ModelComparison:
    """Evaluate each model once on ``split`` and compare every pair (b against a, a < b).

    ``predictors[m]``: the loaded predictor of a checkpoint model (None for a prediction folder).
    ``progress(done, total, what)`` counts images over all the passes.
    """
    start = time.perf_counter()
    if len(models) < 2:
        raise SegdashError("comparing needs at least two models: give --checkpoint / --pred-dir twice or more")
    predictors = list(predictors) if predictors is not None else [None] * len(models)
    ids = dataset.ids(dataset.check_split(split))
    count = len(ids) if limit is None else min(limit, len(ids))
    passes = len(models) + (1 if pixel_changes else 0)
    evaluations, recorders = [], []
    for m, (source, predictor) in enumerate(zip(models, predictors)):
        recorder = RecordingPredictor(predictor) if predictor is not None and pixel_changes else None
        report = None if progress is None else (
            lambda done, total, m=m, name=source.name: progress(m * count + done, passes * count, name))  # fmt: skip
        evaluation = evaluate(dataset, split, predictor=recorder or predictor,
                              pred_dir=source.source if source.kind == "pred_dir" else None, batch_size=batch_size,
                              progress=report, should_stop=should_stop, distances=False, limit=limit,
                              failure_metrics=False)  # paired statistics need only the overlap scores  # fmt: skip
        if evaluation.cancelled:
            raise SegdashError(f"the comparison was stopped while scoring {source.name}")
        evaluations.append(evaluation)
        recorders.append(recorder)
    sample_ids = evaluations[0].sample_ids
    scores = np.stack([image_class_scores(e.per_image_confusion, metric) for e in evaluations])
    comparison = compare_scores(scores, dataset.classes, metric=metric, samples=samples, seed=seed)
    changes, note, readers = None, "not counted (pixel changes were turned off)", None
    if pixel_changes:
        readers = [_label_reader(s, r, sample_ids) for s, r in zip(models, recorders)]
        if any(reader is None for reader in readers):
            note = f"not counted: the predictions of this split take more than {PIXEL_BUDGET >> 20} MB per model"
        else:
            done = len(models) * count
            report = None if progress is None else (lambda i: progress(done + i, passes * count, "pixel changes"))
            changes = pixel_change_counts(dataset, split, sample_ids, readers, [(p.a, p.b) for p in comparison.pairs],
                                          report)  # fmt: skip
            note = ""
    return ModelComparison(
        dataset=getattr(dataset, "name", ""), split=split, models=list(models), evaluations=evaluations,
        comparison=comparison, pixel_changes=changes, pixel_note=note, seconds=time.perf_counter() - start,
        labels=readers,
    )  # fmt: skip


# --- what a report shows: gathered here, so that the report only draws what it is given ---------------

#: Images shown per pair for "fixed most" and for "broke most".
REPORT_EXAMPLES = 3


@dataclasses.dataclass(frozen=True)
class ReportModel:
    """One model as a report names it: a display name, where it came from without any server path
    (``weights/brain-mri_unet_lite0_best``), and what it is ("Unet + lite0, epoch 12, trained on ...")."""

    name: str
    shown_source: str
    description: str


@dataclasses.dataclass(frozen=True)
class ReportExample:
    """One image of a pair: the picture, its mask and both models' (H, W) label maps."""

    sample_id: str
    image: np.ndarray
    mask: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray


@dataclasses.dataclass
class ReportFacts:
    """Everything a comparison report shows besides the statistics themselves (``ModelComparison``).

    ``fixed`` / ``broken``: per pair (a, b), the images where B fixed / broke the most pixels (net), most first;
    empty with ``examples_note`` saying why when the predictions were not kept.
    """

    dataset: str
    split: str
    classes: tuple[str, ...]
    colors: Sequence | None
    ignore_index: int | None
    models: list[ReportModel]
    command: str
    fixed: dict[tuple[int, int], list[ReportExample]] = dataclasses.field(default_factory=dict)
    broken: dict[tuple[int, int], list[ReportExample]] = dataclasses.field(default_factory=dict)
    examples_note: str = ""


def shown_path(path: str | Path, roots: Sequence[str | Path]) -> str:
    """A folder as a report or page may show it: relative to the first of ``roots`` that holds it
    (``weights/brain-mri_unet_lite0_best``, ``runs/quick-1/checkpoints/best``), else only its own name
    (``short_name``): never an absolute path, never the server's home or cache folder."""
    folder = Path(path).expanduser().resolve()
    home = Path.home().resolve()
    for root in roots:
        root = Path(root).expanduser().resolve()
        if root == Path(root.anchor) or home.is_relative_to(root):  # "/" or above the home folder: says too much
            continue
        if folder.is_relative_to(root) and folder != root:
            return folder.relative_to(root).as_posix()
    return short_name(folder)


def default_roots() -> tuple[Path, ...]:
    """The folders a command-line report shows paths relative to: segdash's own folder (``weights/``,
    ``runs/``), the runs root's parent and the working folder."""
    from segdash.train.runs import default_runs_root

    return (Path(__file__).resolve().parents[2], default_runs_root().resolve().parent, Path.cwd())


def describe_checkpoint(meta) -> str:
    """Architecture, encoder, epoch, training dataset and date of a checkpoint's metadata (``CheckpointMeta``)."""
    epoch = "" if getattr(meta, "epoch", None) is None else f", epoch {meta.epoch}"
    return (f"{meta.arch} + {meta.encoder}{epoch}, trained on {getattr(meta, 'dataset', None) or '?'}, "
            f"saved {getattr(meta, 'created', None) or '?'}")  # fmt: skip


def report_model(source: ModelSource, roots: Sequence[str | Path], name: str | None = None,
                 meta=None) -> ReportModel:  # fmt: skip
    """How a report shows ``source``: its name, its folder relative to ``roots``, and its checkpoint's facts
    (``meta``, read from the folder when not given; a folder of predictions says so)."""
    if source.kind != "checkpoint":
        description = "predicted label PNGs"
    else:
        if meta is None:
            from segdash.models.checkpoint import read_meta

            try:
                meta = read_meta(source.source)
            except (SegdashError, OSError):  # the report still helps without it; the message would name the path
                meta = None
        description = describe_checkpoint(meta) if meta is not None else "metadata unreadable"
    return ReportModel(name or source.name, shown_path(source.source, roots), description)


def report_facts(result: ModelComparison, dataset, models: Sequence[ReportModel], command: str,
                 pairs: Sequence[tuple[int, int]] | None = None, examples: int = REPORT_EXAMPLES) -> ReportFacts:  # fmt: skip
    """The facts ``segdash.viz.report.comparison_report`` draws: the models as given, the command, and per pair
    the ``examples`` images where B fixed and broke the most pixels (read from the dataset here)."""
    from segdash.metrics.paired import most_changed

    facts = ReportFacts(dataset=result.dataset, split=result.split, classes=tuple(result.classes),
                        colors=getattr(dataset, "colors", None), ignore_index=getattr(dataset, "ignore_index", None),
                        models=list(models), command=command)  # fmt: skip
    if not result.labels or any(reader is None for reader in result.labels):
        facts.examples_note = result.pixel_note or "predictions not kept"
        return facts
    wanted = [(p.a, p.b) for p in result.comparison.pairs if pairs is None or (p.a, p.b) in set(pairs)]
    for a, b in wanted:
        fixed, broken = most_changed(result.net_fixed(a, b).sum(axis=1), examples)
        for target, picks in ((facts.fixed, fixed), (facts.broken, broken)):
            target[(a, b)] = [_report_example(result, dataset, i, a, b) for i in picks]
    return facts


def _report_example(result: ModelComparison, dataset, i: int, a: int, b: int) -> ReportExample:
    sample_id = result.sample_ids[i]
    image, mask, _ = dataset.load(result.split, sample_id)
    return ReportExample(sample_id, image, mask, result.labels[a](i), result.labels[b](i))
