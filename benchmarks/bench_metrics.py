"""Confusion-matrix accumulation: segdash vs seed 000's per-class one-hot loop and scikit-learn.

    python benchmarks/bench_metrics.py            # 100 label maps of 256x256, 13 classes
    python benchmarks/bench_metrics.py --quick

Bars (issue 5): >= 50x the seed-000 loop and >= 10x sklearn.metrics.confusion_matrix on CPU.
Also megapixels/s, and how close that comes to a plain memory copy of the same bytes (np.copy
of prediction and target), which is the physical limit for a job that must read every pixel once;
np.copy pays for page faults on its fresh output, so a copy into preallocated buffers (np.copyto)
is shown too, the memory bandwidth alone. Labels are int64, the dtype of segdash's masks and
``Predictor.predict_labels`` output.
"""

from __future__ import annotations

import sys

import numpy as np
from common import Report, make_parser, mode_name, pick, project_missing, repeats, speedup, time_interleaved


def make_label_maps(count: int, size: int, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(targets, predictions), each (count, size, size) int64, predictions ~70% equal to targets."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, num_classes, size=(count, size, size), dtype=np.int64)
    noise = rng.integers(0, num_classes, size=targets.shape, dtype=np.int64)
    predictions = np.where(rng.random(targets.shape) < 0.7, targets, noise)
    return targets, predictions


def to_categorical(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Keras' ``to_categorical`` as seed 000 uses it: (...,) int -> (..., C) float32 one-hot."""
    flat = np.asarray(labels, dtype="int64").reshape(-1)
    categorical = np.zeros((flat.shape[0], num_classes), dtype="float32")
    categorical[np.arange(flat.shape[0]), flat] = 1
    return categorical.reshape(labels.shape + (num_classes,))


def seed000_per_class_stats(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Baseline (a), a faithful NumPy port of seed 000's metric code.

    The seed one-hot encodes masks and argmax'd predictions, then for each class flattens that
    class's channel and sums (``dice_coef``: ``K.sum(targets * inputs)``, ``K.sum(targets)``,
    ``K.sum(inputs)``). Returns (C, 4) int64: tp, fp, fn, tn per class. This is less than a full
    C x C confusion matrix, so the comparison favours the baseline.
    """
    targets_onehot = to_categorical(targets, num_classes)
    predictions_onehot = to_categorical(predictions, num_classes)
    total = targets.size
    stats = np.zeros((num_classes, 4), dtype=np.int64)
    for i in range(num_classes):
        t = targets_onehot[..., i].flatten()
        p = predictions_onehot[..., i].flatten()
        intersection = np.sum(t * p)
        t_sum, p_sum = np.sum(t), np.sum(p)
        tp, fp, fn = intersection, p_sum - intersection, t_sum - intersection
        stats[i] = (tp, fp, fn, total - tp - fp - fn)
    return stats


def sklearn_confusion(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Baseline (b): scikit-learn over the flattened label maps."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(targets.ravel(), predictions.ravel(), labels=np.arange(num_classes))


def stats_from_confusion(cm: np.ndarray) -> np.ndarray:
    """(C, C) confusion (rows = truth) -> (C, 4) tp, fp, fn, tn, to check baseline (a) agrees."""
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    return np.stack([tp, fp, fn, cm.sum() - tp - fp - fn], axis=1).astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    count = pick(args, 100, 30, 4)
    size = pick(args, 256, 256, 32)
    num_classes = 13
    reps = repeats(args, full=7, quick=3)
    report = Report("metrics", {"images": count, "size": size, "classes": num_classes, "repeats": reps,
                                "mode": mode_name(args)}, device="cpu")
    targets, predictions = make_label_maps(count, size, num_classes)
    megapixels = targets.size / 1e6
    target_buffer, prediction_buffer = np.empty_like(targets), np.empty_like(predictions)

    candidates = {
        "seed 000 one-hot per-class loop": lambda: seed000_per_class_stats(targets, predictions, num_classes),
        "sklearn confusion_matrix": lambda: sklearn_confusion(targets, predictions, num_classes),
        "np.copy of the same bytes": lambda: (np.copy(targets), np.copy(predictions)),
        "np.copyto preallocated (bandwidth only)": lambda: (np.copyto(target_buffer, targets),
                                                            np.copyto(prediction_buffer, predictions)),
    }
    baseline_count = len(candidates)
    project_names = []
    try:
        from segdash.metrics.confusion import ConfusionMatrix, confusion_matrix

        def accumulate_per_map() -> np.ndarray:
            accumulator = ConfusionMatrix(num_classes)
            for target, prediction in zip(targets, predictions):
                accumulator.update(prediction[None], target[None])
            return accumulator.compute()

        candidates["segdash confusion_matrix (whole stack)"] = lambda: confusion_matrix(
            predictions, targets, num_classes
        )
        candidates["segdash ConfusionMatrix.update per map"] = accumulate_per_map
        project_names = list(candidates)[baseline_count:]
    except ImportError as exc:
        project_missing(report, "segdash.metrics.confusion", exc)

    # Correctness first: every path must give the same counts.
    reference = sklearn_confusion(targets, predictions, num_classes)
    assert np.array_equal(seed000_per_class_stats(targets, predictions, num_classes), stats_from_confusion(reference))
    for name in project_names:
        assert np.array_equal(np.asarray(candidates[name]()), reference), f"{name} disagrees with sklearn"

    timings = time_interleaved(candidates, reps)
    copy = timings["np.copy of the same bytes"]
    for name, timing in timings.items():
        report.add_row(
            path=name,
            median_s=timing.median,
            megapixels_per_s=megapixels / timing.median,
            vs_seed000=speedup(timings["seed 000 one-hot per-class loop"], timing),
            vs_sklearn=speedup(timings["sklearn confusion_matrix"], timing),
            share_of_copy_speed=copy.median / timing.median,
        )
    for name in project_names:
        report.add_check(f"{name} vs seed 000 loop", speedup(timings["seed 000 one-hot per-class loop"],
                                                             timings[name]), 50)
        report.add_check(f"{name} vs sklearn", speedup(timings["sklearn confusion_matrix"], timings[name]), 10)
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
