"""Paired statistics between models scored on the same images: is B really better than A?

    scores = np.stack([image_class_scores(e.per_image_confusion, "dice") for e in evaluations])  # (M, N, C)
    comparison = compare_scores(scores, classes, metric="dice", samples=10_000, seed=0)
    comparison.pairs[0].per_class[1].verdict()   # "B better (+0.041, 95% CI +0.020..+0.060, p=0.003, wins 38/49)"
    comparison.to_dict()                         # JSON-ready, undefined values None

What is compared. A class's score in an image is undefined (NaN) when the class is absent from
both that image's ground truth and the model's prediction; a paired comparison of a class uses the
images where both models' scores are defined. "overall" is, per image, the mean over the classes
defined for both models in that image.

How uncertainty is measured. Images are the unit that varies from one test set to the next, so the
interval comes from resampling images: ``samples`` resamples of the N images with replacement,
drawn once from ``np.random.default_rng(seed).integers(0, N, size=(samples, N))`` and shared by
every class, pair and model (so classes and the ranking are judged on the very same resamples).
Each resample's mean difference is taken over the images drawn whose scores are defined, which is
``counts @ values / counts @ defined`` with the per-resample image counts: no loop per resample.
The 95% interval is the 2.5th..97.5th percentile of those means. The p-value is
``scipy.stats.wilcoxon`` (its defaults) on the paired differences, with differences within
``TIE_TOLERANCE`` of 0 counted as ties (zeros), not as float noise with a sign.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from segdash.jsonsafe import finite_or_none
from segdash.metrics.scores import per_image_scores
from segdash.metrics.specs import paired_metrics

#: |B - A| at most this is a tie (scores computed two ways can differ in the last bits).
TIE_TOLERANCE = 1e-9
DEFAULT_SAMPLES = 10_000
#: A verdict needs the interval to exclude 0 and the p-value to be under this.
ALPHA = 0.05
#: Resamples turned into counts at a time: bounds memory at CHUNK_ROWS x N numbers. Even, so that
#: drawing in chunks gives exactly the numbers of one big draw.
CHUNK_ROWS = 1000
#: The per-image scores that can be compared (``MetricSpec.paired``): dice, iou.
METRICS = paired_metrics()


def image_class_scores(per_image_confusion: np.ndarray, metric: str = "dice") -> np.ndarray:
    """(N, C, C) per-image confusion counts -> (N, C) float64 Dice or IoU (``per_image_scores``), NaN where
    undefined."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return per_image_scores(per_image_confusion)[metric]


def paired_overall(scores_a: np.ndarray, scores_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) scores of two models -> (N,) each: per image, the mean over the classes defined for both.

    NaN for an image where no class is defined for both.
    """
    both = ~np.isnan(scores_a) & ~np.isnan(scores_b)
    count = both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a = np.where(both, scores_a, 0).sum(axis=1) / count
        mean_b = np.where(both, scores_b, 0).sum(axis=1) / count
    return np.where(count > 0, mean_a, np.nan), np.where(count > 0, mean_b, np.nan)


def common_overall(scores: np.ndarray) -> np.ndarray:
    """(M, N, C) scores of M models -> (M, N): per image, each model's mean over the classes defined for all.

    The ranking uses it, so every model is averaged over the same classes of each image.
    """
    defined = ~np.isnan(scores).any(axis=0)  # (N, C)
    count = defined.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(defined, scores, 0).sum(axis=2) / count
    return np.where(count > 0, means, np.nan)


def bootstrap_counts(n: int, samples: int, seed: int, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """How often each of ``n`` images is drawn in each resample: (rows, n) float64 chunks, ``samples`` rows in all.

    The draws are those of ``np.random.default_rng(seed).integers(0, n, size=(samples, n))``, row by row.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, samples, chunk_rows):
        rows = min(chunk_rows, samples - start)
        index = rng.integers(0, n, size=(rows, n))
        flat = (index + (np.arange(rows) * n)[:, None]).reshape(-1)
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


def bootstrap_means(values: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """(N, K) values with NaN = undefined -> (samples, K) means over each resample's defined images.

    NaN where a resample drew no image with a defined value in that column.
    """
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    filled = np.where(defined, values, 0.0)
    weights = defined.astype(np.float64)
    out = np.empty((samples, values.shape[1]), dtype=np.float64)
    row = 0
    for counts in bootstrap_counts(values.shape[0], samples, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[row : row + len(counts)] = (counts @ filled) / (counts @ weights)
        row += len(counts)
    return out


def percentile_interval(means: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(S, K) bootstrap means -> the (K,) low and high percentiles (NaN resamples left out)."""
    tail = 100 * (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: the interval is undefined
        low, high = np.nanpercentile(means, [tail, 100 - tail], axis=0)
    return low, high


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (scipy's defaults); NaN under 2 non-zero."""
    from scipy.stats import wilcoxon

    differences = np.asarray(differences, dtype=np.float64)
    differences = np.where(np.abs(differences) <= TIE_TOLERANCE, 0.0, differences)
    if np.count_nonzero(differences) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy notes ties and small samples; the p-value stands
        return float(wilcoxon(differences).pvalue)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _signed(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.3f}"


@dataclasses.dataclass(frozen=True)
class PairedStat:
    """B against A on one class (or "overall"), over the images where both scores are defined."""

    name: str
    mean_a: float
    mean_b: float
    diff: float  # mean of (b - a)
    ci_low: float
    ci_high: float
    p_value: float  # NaN when fewer than 2 non-zero differences
    wins: int  # images where B beats A by more than TIE_TOLERANCE
    ties: int
    losses: int
    images: int

    def to_dict(self) -> dict:
        doc = dataclasses.asdict(self)
        for key in ("mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value"):
            doc[key] = finite_or_none(doc[key])
        return doc

    @property
    def outcome(self) -> str:
        """"better", "worse", "no clear difference" or "too few images" (B relative to A)."""
        if self.images < 2 or not math.isfinite(self.ci_low):
            return "too few images"
        significant = math.isfinite(self.p_value) and self.p_value < ALPHA
        if significant and self.ci_low > 0:
            return "better"
        if significant and self.ci_high < 0:
            return "worse"
        return "no clear difference"

    def verdict(self, label_b: str = "B") -> str:
        """One line: "B better (+0.041, 95% CI +0.020..+0.060, p=0.003, wins 38/49)"."""
        if self.images == 0:
            return "no image where both are defined"
        p = "p n/a" if not math.isfinite(self.p_value) else (
            "p<0.001" if self.p_value < 0.001 else f"p={self.p_value:.3f}")  # fmt: skip
        numbers = (f"{_signed(self.diff)}, 95% CI {_signed(self.ci_low)}..{_signed(self.ci_high)}, {p}, "
                   f"wins {self.wins}/{self.images}" + (f", ties {self.ties}" if self.ties else ""))  # fmt: skip
        outcome = self.outcome
        head = f"{label_b} {outcome}" if outcome in ("better", "worse") else outcome
        return f"{head} ({numbers})"


def paired_stat(name: str, a: np.ndarray, b: np.ndarray, boot: np.ndarray) -> PairedStat:
    """Statistics of (N,) scores ``a`` and ``b`` (NaN = undefined); ``boot`` (S,) = resampled mean differences."""
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    d = b - a
    low, high = percentile_interval(boot[:, None])
    return PairedStat(
        name=name, mean_a=_mean(a), mean_b=_mean(b), diff=_mean(d), ci_low=float(low[0]), ci_high=float(high[0]),
        p_value=wilcoxon_p(d), wins=int(np.sum(d > TIE_TOLERANCE)), ties=int(np.sum(np.abs(d) <= TIE_TOLERANCE)),
        losses=int(np.sum(d < -TIE_TOLERANCE)), images=len(d),
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PairComparison:
    """Model ``b`` against model ``a`` (indices into the model list): overall and per class."""

    a: int
    b: int
    overall: PairedStat
    per_class: list[PairedStat]

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "overall": self.overall.to_dict(),
                "per_class": [s.to_dict() for s in self.per_class]}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Every pair of M models on the same N images, and how stable the ranking is.

    ``scores``: (M, N, C) per-image per-class scores; ``model_means`` (M,): the mean over images of
    ``common_overall``; ``ranking``: model indices, best first; ``rank_first`` (M,): share of the
    resamples in which each model has the best mean (a tie shares the resample).
    """

    classes: tuple[str, ...]
    metric: str
    samples: int
    seed: int
    scores: np.ndarray
    pairs: list[PairComparison]
    model_means: np.ndarray
    ranking: list[int]
    rank_first: np.ndarray

    def pair(self, a: int, b: int) -> PairComparison:
        return next(p for p in self.pairs if (p.a, p.b) == (a, b))

    def to_dict(self) -> dict:
        """``classes``, ``metric``, ``bootstrap``, ``pairs``, ``ranking``, ``rank_first`` (undefined = None)."""
        return {
            "classes": list(self.classes),
            "metric": self.metric,
            "bootstrap": {"samples": self.samples, "seed": self.seed},
            "pairs": [p.to_dict() for p in self.pairs],
            "ranking": list(self.ranking),
            "rank_first": [finite_or_none(v) for v in self.rank_first],
        }


def rank_first_shares(means: np.ndarray) -> np.ndarray:
    """(S, M) resampled model means -> (M,) share of resamples where each is best (ties split, NaN rows skipped)."""
    means = means[~np.isnan(means).any(axis=1)]
    if len(means) == 0:
        return np.full(means.shape[1], np.nan)
    best = means >= means.max(axis=1, keepdims=True)
    return (best / best.sum(axis=1, keepdims=True)).mean(axis=0)


def compare_scores(scores: np.ndarray, classes: Sequence[str], metric: str = "dice",
                   samples: int = DEFAULT_SAMPLES, seed: int = 0) -> Comparison:  # fmt: skip
    """(M, N, C) per-image per-class scores of M >= 2 models on the same N images -> ``Comparison``.

    Pairs are (a, b) with a < b, B compared against A. All bootstrap columns (every pair's per-class
    and overall differences, every model's common overall score) go through one set of resamples.
    """
    scores = np.asarray(scores, dtype=np.float64)
    models, n, num_classes = scores.shape
    if models < 2:
        raise ValueError("comparing needs at least two models")
    if samples < 1:
        raise ValueError(f"bootstrap samples must be at least 1, got {samples}")
    pairs = [(a, b) for a in range(models) for b in range(a + 1, models)]
    columns, per_pair = [], []
    for a, b in pairs:
        overall_a, overall_b = paired_overall(scores[a], scores[b])
        per_pair.append((overall_a, overall_b))
        columns.append(scores[b] - scores[a])  # NaN wherever either is undefined
        columns.append((overall_b - overall_a)[:, None])
    model_overall = common_overall(scores)  # (M, N)
    columns.append(model_overall.T)
    boot = bootstrap_means(np.concatenate(columns, axis=1), samples, seed) if n else np.full(
        (samples, len(pairs) * (num_classes + 1) + models), np.nan)  # fmt: skip

    results = []
    for k, ((a, b), (overall_a, overall_b)) in enumerate(zip(pairs, per_pair)):
        first = k * (num_classes + 1)
        per_class = [paired_stat(name, scores[a][:, c], scores[b][:, c], boot[:, first + c])
                     for c, name in enumerate(classes)]  # fmt: skip
        overall = paired_stat("overall", overall_a, overall_b, boot[:, first + num_classes])
        results.append(PairComparison(a, b, overall, per_class))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model with no defined image: NaN mean
        model_means = np.nanmean(model_overall, axis=1) if n else np.full(models, np.nan)
    ranking = sorted(range(models), key=lambda m: -model_means[m] if math.isfinite(model_means[m]) else math.inf)
    return Comparison(
        classes=tuple(classes), metric=metric, samples=samples, seed=seed, scores=scores, pairs=results,
        model_means=model_means, ranking=ranking, rank_first=rank_first_shares(boot[:, -models:]),
    )  # fmt: skip


# --- which pixels B fixed or broke -------------------------------------------------------------


def net_fixed_pixels(confusion_a: np.ndarray, confusion_b: np.ndarray) -> np.ndarray:
    """(N, C, C) per-image confusion of A and B on the same images -> (N, C) fixed minus broken pixels per class.

    Fixed (A wrong, B right) minus broken (A right, B wrong) among a class's true pixels is exactly
    B's true positives minus A's, so the ranking needs no second look at the predictions.
    """
    tp_a = np.diagonal(np.asarray(confusion_a, dtype=np.int64), axis1=-2, axis2=-1)
    tp_b = np.diagonal(np.asarray(confusion_b, dtype=np.int64), axis1=-2, axis2=-1)
    return tp_b - tp_a


def fixed_broken_pixels(pred_a: np.ndarray, pred_b: np.ndarray, target: np.ndarray, num_classes: int,
                        ignore_index: int | None = None) -> np.ndarray:  # fmt: skip
    """Label maps (H, W) of A, B and the ground truth -> (2, C) int64: fixed and broken pixels per true class.

    Fixed: A wrong, B right; broken: A right, B wrong; ignored pixels count in neither.
    """
    target = np.asarray(target)
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    a_right, b_right = pred_a == target, pred_b == target
    truth = np.where(valid, target, 0).astype(np.int64)
    fixed = np.bincount(truth[valid & b_right & ~a_right], minlength=num_classes)[:num_classes]
    broken = np.bincount(truth[valid & a_right & ~b_right], minlength=num_classes)[:num_classes]
    return np.stack([fixed, broken]).astype(np.int64)


def most_changed(net: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """(N,) fixed minus broken pixels per image -> (images B fixed most, images B broke most), ``k`` each.

    Only images with a net gain (or loss) are listed; ties keep the split order.
    """
    net = np.asarray(net)
    order = np.argsort(-net, kind="stable")
    fixed = [int(i) for i in order[:k] if net[i] > 0]
    broken = [int(i) for i in np.argsort(net, kind="stable")[:k] if net[i] < 0]
    return fixed, broken
