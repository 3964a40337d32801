"""Every metric segdash computes, described once: what it is, its paper, its range and direction,
where its values live and how images rank by it.

    spec = metric_spec("hd95")
    spec.label, spec.definition, spec.lower_is_better, spec.format(12.3)   # "HD95 pooled (pixels)", ..., "12.30"
    [s.per_image for s in list_metrics(per_image=True)]                  # the columns images can be ranked by
    spec_for_column("dice/CSF").key                                       # "dice"

Everything that lists or shows metrics reads these specs instead of keeping its own table: the
evaluation's per-image frame, per-class table and JSON (``segdash.infer.evaluation``), the CLI's
table, the Evaluate page's columns, tooltips and rankings, the figures' labels and axes, and
Compare's metric choices (``paired``). Adding a metric is then three steps: its kernel (a pure
function in ``segdash.metrics``), its spec here, and one hook in the pass that computes its family
(``FAMILIES``; e.g. a key in ``segdash.metrics.distance.DISTANCE_METRICS`` filled by
``distance_metrics``). ``tests/test_metric_specs.py`` checks that every registered metric has what
the others have (its fields, its hook in the pass, its place in the tables, figures and rankings).

Where a metric's values live:

- ``per_class``: one value per class over the split (a column of ``Evaluation.class_table()``);
- ``per_image``: the ``Evaluation.per_image`` column holding one value per image (a mean over the
  classes for per-class metrics: ``mean_dice``); ``per_image_classes`` adds ``<key>/<class>`` columns;
- ``per_split``: where the split's single value sits in the ``segdash evaluate --json`` document
  (a dotted path into nested objects: ``calibration.ece``).
"""

from __future__ import annotations

import dataclasses
import math

#: The parts of the evaluation pass that compute metrics, each with its own hook.
#: overlap: the confusion matrices; distance: ``metrics.distance.distance_metrics`` on the label maps;
#: boundary: ``metrics.boundary.boundary_counts``; objects: ``metrics.objects.object_counts``;
#: confidence: ``metrics.calibration.ConfidenceStats`` on the probabilities (checkpoints only).
FAMILIES = ("overlap", "distance", "boundary", "objects", "confidence")
#: Longest terminal column header.
SHORT_WIDTH = 7


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One metric: its facts, read by everything that lists, shows, ranks or compares metrics."""

    key: str  # the name in JSON and tables: "hd95"
    label: str  # human label with its unit: "HD95 pooled (pixels)"
    short: str  # terminal column header, at most SHORT_WIDTH characters: "HD95"
    definition: str  # one line with its paper: the tooltip
    family: str  # the part of the pass that computes it (FAMILIES)
    lower_is_better: bool = False
    low: float = 0.0  # the values it can take, low..high (None: unbounded)
    high: float | None = 1.0
    fmt: str = ".3f"  # how one value is printed
    unit: str = ""
    per_class: bool = True
    per_image: str | None = None
    per_image_classes: bool = False
    per_split: str | None = None
    ranking: str | None = None  # what the worst end of a per-image ranking means: "largest HD95"
    paired: bool = False  # Compare can test it image by image (a score of each image's confusion matrix)
    derived_from: str | None = None  # a view of another metric (|rad|): in the JSON, not a table column

    @property
    def unit_range(self) -> bool:
        """True for scores in 0..1 (axes fixed to that range, so runs and classes compare at a glance)."""
        return self.low == 0.0 and self.high == 1.0

    @property
    def is_percent(self) -> bool:
        return self.fmt.endswith("%")

    @property
    def split_label(self) -> str:
        """The label of the split's value: "mean Dice" for a mean over classes, else the label."""
        if self.per_split and self.per_split.split(".")[-1].startswith(("mean_", "macro_")):
            return f"mean {self.label}"
        return self.label

    @property
    def printf(self) -> str:
        """The format for Streamlit's NumberColumn ("%.3f", or its "percent" preset)."""
        return "percent" if self.is_percent else f"%{self.fmt}"

    def format(self, value) -> str:
        """One value as text; "n/a" where undefined (None, NaN, inf)."""
        if value is None or not math.isfinite(float(value)):
            return "n/a"
        return format(float(value), self.fmt)

    def worst_first(self) -> bool:
        """Whether a ranking of images starts from the largest values (the worst ones of this metric)."""
        return self.lower_is_better


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric to the table; a spec lacking what every metric has fails here, naming what is missing."""
    problems = []
    if not spec.key.isidentifier() or spec.key in _REGISTRY:
        problems.append(f"key {spec.key!r} must be a new identifier")
    for field in ("label", "short", "definition"):
        if not getattr(spec, field).strip():
            problems.append(f"an empty {field}")
    if len(spec.short) > SHORT_WIDTH:
        problems.append(f"a short header over {SHORT_WIDTH} characters ({spec.short!r})")
    if spec.family not in FAMILIES:
        problems.append(f"family {spec.family!r} is not one of {', '.join(FAMILIES)}")
    try:
        format(0.5, spec.fmt)
    except ValueError:
        problems.append(f"format {spec.fmt!r} does not format a number")
    if spec.high is not None and not spec.high > spec.low:
        problems.append(f"range {spec.low}..{spec.high} is empty")
    if not (spec.per_class or spec.per_image or spec.per_split):
        problems.append("no place for its values (per_class, per_image or per_split)")
    if spec.per_image and not (spec.ranking or "").strip():
        problems.append("a per-image metric needs a ranking text (what its worst images are)")
    if spec.per_image_classes and not spec.per_class:
        problems.append("per-image class columns need a per-class metric")
    if spec.paired and not (spec.family == "overlap" and spec.per_class and spec.per_image_classes):
        problems.append("a paired metric must be an overlap score per image and class")
    if spec.derived_from is not None and spec.derived_from not in _REGISTRY:
        problems.append(f"derived from {spec.derived_from!r}, which is not registered")
    if problems:
        raise ValueError(f"metric {spec.key!r} cannot be registered: " + "; ".join(problems))
    _REGISTRY[spec.key] = spec
    return spec


def metric_spec(key: str) -> MetricSpec:
    """The spec of ``key``; a KeyError listing the registered metrics when there is none."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"no metric {key!r}; registered: {', '.join(_REGISTRY)}") from None


def is_metric(key: str) -> bool:
    return key in _REGISTRY


def list_metrics(family: str | None = None, per_class: bool | None = None, per_image: bool | None = None,
                 per_split: bool | None = None, tables: bool = False) -> list[MetricSpec]:  # fmt: skip
    """The registered metrics in table order, filtered: ``family``; ``per_class``, ``per_image``,
    ``per_split`` (True: those that have one, False: those that do not); ``tables``: only the
    metrics shown as table columns (not the ones derived from another)."""
    out = []
    for spec in _REGISTRY.values():
        if family is not None and spec.family != family:
            continue
        if per_class is not None and spec.per_class != per_class:
            continue
        if per_image is not None and bool(spec.per_image) != per_image:
            continue
        if per_split is not None and bool(spec.per_split) != per_split:
            continue
        if tables and spec.derived_from is not None:
            continue
        out.append(spec)
    return out


def spec_for_column(column: str) -> MetricSpec | None:
    """The metric a table column holds: its key, its per-image column (``mean_dice``), its split key
    (``mean_boundary_iou``) or a per-image class column (``dice/CSF``); None for other columns."""
    if column in _REGISTRY:
        return _REGISTRY[column]
    head, slash, _ = column.partition("/")
    if slash and head in _REGISTRY and _REGISTRY[head].per_image_classes:
        return _REGISTRY[head]
    for spec in _REGISTRY.values():
        if column in (spec.per_image, spec.per_split):
            return spec
    return None


def column_label(column: str) -> str | None:
    """The label of a metric column: the spec's label, "Mean ..." for a mean over classes, None when no
    metric holds the column."""
    spec = spec_for_column(column)
    if spec is None:
        return None
    if column != spec.key and column.split(".")[-1].startswith(("mean_", "macro_")):
        return f"Mean {spec.label}"
    return spec.label


def paired_metrics() -> tuple[str, ...]:
    """The metrics Compare can test image by image (``segdash compare --metric``)."""
    return tuple(spec.key for spec in _REGISTRY.values() if spec.paired)


def split_value(doc: dict, spec: MetricSpec):
    """The split's value of ``spec`` in an evaluation JSON document (None when not there)."""
    value = doc
    for part in (spec.per_split or "").split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# --- the table -------------------------------------------------------------------------------------
# Overlap scores: from the confusion matrices (rows = ground truth), over the split's pixels.
register_metric(MetricSpec(
    "pixel_accuracy", "Pixel accuracy", "PixAcc",
    "Pixel accuracy (Long et al., 'Fully Convolutional Networks for Semantic Segmentation', CVPR 2015): the share "
    "of the (non-ignored) pixels labelled right. Dominated by the largest classes.",
    "overlap", per_class=False, per_image="pixel_accuracy", per_split="pixel_accuracy",
    ranking="lowest pixel accuracy",
))  # fmt: skip
register_metric(MetricSpec(
    "iou", "IoU", "IoU",
    "IoU (Jaccard index; Jaccard, 'The distribution of the flora in the alpine zone', New Phytologist 1912): true "
    "positives / (true positives + false positives + false negatives), pixels of the whole split.",
    "overlap", per_image="mean_iou", per_image_classes=True, per_split="mean_iou", ranking="lowest mean IoU",
    paired=True,
))  # fmt: skip
register_metric(MetricSpec(
    "dice", "Dice", "Dice",
    "Dice coefficient (Dice, 'Measures of the Amount of Ecologic Association Between Species', Ecology 1945): "
    "2 x true positives / (2 x true positives + false positives + false negatives), the F1 score of the pixels.",
    "overlap", per_image="mean_dice", per_image_classes=True, per_split="mean_dice", ranking="lowest mean Dice",
    paired=True,
))  # fmt: skip
register_metric(MetricSpec(
    "precision", "Precision", "prec",
    "Precision (positive predictive value; Taha & Hanbury, 'Metrics for evaluating 3D medical image "
    "segmentation', BMC Medical Imaging 2015): true positives / pixels predicted as the class.",
    "overlap", per_split="macro_precision",
))  # fmt: skip
register_metric(MetricSpec(
    "recall", "Recall (sensitivity)", "recall",
    "Recall or sensitivity (Taha & Hanbury, BMC Medical Imaging 2015): true positives / the class's ground-truth "
    "pixels, the share of the class that was found.",
    "overlap", per_split="macro_recall",
))  # fmt: skip
register_metric(MetricSpec(
    "specificity", "Specificity", "spec",
    "Specificity (Taha & Hanbury, BMC Medical Imaging 2015): true negatives / pixels that are not the class; "
    "near 1 for any small class, so it says little on its own.",
    "overlap", per_split="macro_specificity",
))  # fmt: skip
register_metric(MetricSpec(
    "frequency_weighted_iou", "Freq.-weighted IoU", "fwIoU",
    "Frequency-weighted IoU (Long et al., CVPR 2015): the per-class IoU weighted by each class's share of the "
    "ground-truth pixels.",
    "overlap", per_class=False, per_split="frequency_weighted_iou",
))  # fmt: skip
register_metric(MetricSpec(
    "frequency_weighted_dice", "Freq.-weighted Dice", "fwDice",
    "Frequency-weighted Dice (the Dice form of the frequency-weighted IoU of Long et al., CVPR 2015): the per-class "
    "Dice weighted by each class's share of the ground-truth pixels.",
    "overlap", per_class=False, per_split="frequency_weighted_dice",
))  # fmt: skip

# Where the model fails: outlines, objects.
register_metric(MetricSpec(
    "boundary_iou", "Boundary IoU", "BndIoU",
    "Boundary IoU (Cheng et al., 'Boundary IoU: Improving Object-Centric Image Segmentation Evaluation', CVPR "
    "2021): IoU of the bands along the class's ground-truth and predicted outlines, each band reaching d = 2% of "
    "the image diagonal inside its mask. Rewards a better outline far more than mask IoU does.",
    "boundary", per_image="boundary_iou", per_split="mean_boundary_iou", ranking="worst boundaries",
))  # fmt: skip
register_metric(MetricSpec(
    "object_recall", "Object recall", "objRec",
    "Object recall (lesion-wise, the way the BraTS 2023 challenge scores tumours): share of the class's "
    "ground-truth objects (8-connected components, per image) of which at least half the pixels are predicted "
    "as the class.",
    "objects", per_image="object_recall", ranking="most objects missed",
))  # fmt: skip
register_metric(MetricSpec(
    "object_precision", "Object precision", "objPrc",
    "Object precision (lesion-wise, as BraTS 2023): 1 - share of the predicted objects of which less than half the "
    "pixels are the class in the ground truth (false objects).",
    "objects",
))  # fmt: skip

# Does the model know when it is wrong (from the probabilities: checkpoints only).
register_metric(MetricSpec(
    "ece", "Expected calibration error (ECE)", "ECE",
    "Expected calibration error (Guo et al., 'On Calibration of Modern Neural Networks', ICML 2017): pixels "
    "binned by confidence (15 equal bins), the pixel-weighted mean of |accuracy - mean confidence| over the bins; "
    "per class over the pixels predicted as that class. 0 = confidence means what it says.",
    "confidence", lower_is_better=True, per_image="ece", per_split="calibration.ece", ranking="worst calibrated (ECE)",
))  # fmt: skip
register_metric(MetricSpec(
    "auroc", "Entropy AUROC for errors", "AUROC",
    "Entropy AUROC for errors (after Hendrycks & Gimpel, 'A Baseline for Detecting Misclassified and "
    "Out-of-Distribution Examples', ICLR 2017): the chance that a wrong pixel has a higher normalised entropy than "
    "a right one. 0.5 = uncertainty says nothing about the errors, 1 = it finds them all.",
    "confidence", per_class=False, per_image="auroc", per_split="uncertainty.auroc",
    ranking="uncertainty least aware of the errors (AUROC)",
))  # fmt: skip
register_metric(MetricSpec(
    "overconfidence", "Overconfidence (mean confidence - accuracy)", "overcnf",
    "Overconfidence (the signed gap of Guo et al., ICML 2017, over one image): mean confidence minus accuracy over "
    "the image's pixels; above 0 the model is surer than it is right.",
    "confidence", lower_is_better=True, low=-1.0, fmt="+.3f", per_class=False, per_image="overconfidence",
    ranking="most overconfident",
))  # fmt: skip
register_metric(MetricSpec(
    "flip_label_change", "Labels changed by flips", "flips",
    "Share of pixels whose label changes between the flipped runs of test-time augmentation (the disagreement "
    "of test-time augmentation; Wang et al., Neurocomputing 2019): how unstable the prediction is.",
    "confidence", lower_is_better=True, fmt=".2%", per_class=False, per_split="uncertainty.flip_label_change",
))  # fmt: skip

# How far the outline is, how far the size is off (label maps, per image, then over the split).
register_metric(MetricSpec(
    "hd95", "HD95 pooled (pixels)", "HD95",
    "95% Hausdorff distance, pooled as MedPy's hd95 (Huttenlocher et al., 'Comparing Images Using the Hausdorff "
    "Distance', TPAMI 1993): the 95th percentile of the surface distances of both directions pooled together, "
    "in pixels; the mean over the images where the class is in both masks.",
    "distance", lower_is_better=True, high=None, fmt=".2f", unit="pixels", per_image="mean_hd95",
    per_split="mean_hd95", ranking="largest HD95 (pooled)",
))  # fmt: skip
register_metric(MetricSpec(
    "hd95_max", "HD95 max of directions (pixels)", "HD95max",
    "95% Hausdorff distance, max of directions as MONAI's compute_hausdorff_distance(percentile=95) (Cardoso et al., "
    "'MONAI: An open-source framework for deep learning in healthcare', arXiv 2022): the larger of the two directed "
    "95th percentiles (prediction to ground truth, ground truth to prediction), in pixels; the mean over the images "
    "where the class is in both masks. A one-sided miss of the outline weighs more than when pooled.",
    "distance", lower_is_better=True, high=None, fmt=".2f", unit="pixels", per_image="mean_hd95_max",
    per_split="mean_hd95_max", ranking="largest HD95 (max of directions)",
))  # fmt: skip
register_metric(MetricSpec(
    "assd", "ASSD (pixels)", "ASSD",
    "Average symmetric surface distance (Heimann et al., 'Comparison and Evaluation of Methods for Liver "
    "Segmentation From CT Datasets', IEEE TMI 2009): the mean of the pooled surface distances, in pixels; the "
    "mean over the images where the class is in both masks.",
    "distance", lower_is_better=True, high=None, fmt=".2f", unit="pixels", per_split="mean_assd",
))  # fmt: skip
register_metric(MetricSpec(
    "rad", "Relative area difference", "RAD",
    "Relative area difference (the relative volume difference of Heimann et al., IEEE TMI 2009): (predicted - "
    "true pixels) / true pixels over the whole split; above 0 over-segments, below 0 under-segments, 0 is best.",
    "distance", low=-1.0, high=None, fmt="+.1%", per_image_classes=True,
))  # fmt: skip
register_metric(MetricSpec(
    "abs_rad", "Absolute relative area difference", "|RAD|",
    "Absolute relative area difference (Heimann et al., IEEE TMI 2009): |predicted - true pixels| / true pixels "
    "over the whole split.",
    "distance", lower_is_better=True, high=None, fmt=".1%", derived_from="rad",
))  # fmt: skip
