"""The metric table (segdash.metrics.specs): every registered metric has what the others have, and every place
that lists metrics (the pass, the result's frame, table and JSON, the CLI table, the figures, the rankings,
Compare's choices) reads it. A registered metric lacking a field or a hook fails here; so does one computed
without a spec. The JSON the CLI writes is the one it wrote before the table existed (a golden file made by
that code), apart from the new HD95 keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from segdash.infer.evaluate import evaluate
from segdash.metrics import specs
from segdash.metrics.specs import MetricSpec, list_metrics, metric_spec, register_metric, spec_for_column, split_value

GOLDEN = Path(__file__).parent / "golden" / "evaluation_small.json"
#: Keys added by the symmetric (MONAI) HD95: the only difference from the JSON written before.
NEW_KEYS = {"hd95_max", "mean_hd95_max"}


# --- a small deterministic evaluation with every family of metrics -------------------------------------
GOLDEN_CLASSES = ("background", "disc", "bar", "dot")


class GoldenDataset:
    """Four images (two 24x32, two 20x20); the red channel holds the label a fake model predicts, the green
    channel its confidence. The top row of every mask is ignored (255)."""

    name, classes, colors, ignore_index, in_channels, num_classes = "golden", GOLDEN_CLASSES, None, 255, 3, 4

    def __init__(self):
        rng = np.random.default_rng(7)
        self.masks, self.images = {}, {}
        for i, (h, w) in enumerate([(24, 32), (24, 32), (20, 20), (20, 20)]):
            yy, xx = np.mgrid[:h, :w]
            mask = np.zeros((h, w), np.int64)
            mask[(yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (3 + i) ** 2] = 1  # a disc
            mask[2:5, w - 12 : w - 2] = 2  # a bar
            if i != 2:
                mask[h - 4 : h - 2, 2:4] = 3  # a dot, never predicted
            mask[0, :] = 255
            truth = np.where(mask == 255, 0, mask)
            pred = np.where(truth == 3, 0, truth)
            pred = np.where(rng.random((h, w)) < 0.1, rng.integers(0, 3, (h, w)), pred)
            if i == 1:
                pred[pred == 2] = 0  # the bar missed in one image
            if i == 3:
                pred[h - 6 : h - 3, w - 6 : w - 3] = 2  # a spurious bar in another
            confidence = np.where(pred == truth, 210, 120) + rng.integers(0, 40, (h, w))
            self.images[f"g{i}"] = np.stack([pred, confidence, np.zeros_like(pred)], -1).astype(np.uint8)
            self.masks[f"g{i}"] = mask

    def check_split(self, split):
        return split

    def has_masks(self, split):
        return True

    def ids(self, split):
        return list(self.masks)

    def load(self, split, sample_id):
        return self.images[sample_id], self.masks[sample_id], sample_id

    def load_mask(self, split, sample_id):
        return self.masks[sample_id]


class GoldenModel:
    """Probabilities from the image: the red channel's class gets the green channel's confidence, the others
    share the rest; the pixels of class 1 count as changed by flips."""

    device = torch.device("cpu")

    def predict_probabilities(self, images):
        hint = torch.from_numpy(np.stack([img[:, :, 0] for img in images]).astype(np.int64))
        top = torch.from_numpy(np.stack([img[:, :, 1] for img in images]).astype(np.float32)) / 255
        probs = ((1 - top) / 3).unsqueeze(1).repeat(1, 4, 1, 1)
        probs.scatter_(1, hint.unsqueeze(1), top.unsqueeze(1))
        return probs, hint == 1

    def predict_labels(self, images):
        return self.predict_probabilities(images)[0].argmax(dim=1)


def golden_evaluation():
    return evaluate(GoldenDataset(), "test", predictor=GoldenModel(), batch_size=2)


@pytest.fixture(scope="module")
def evaluation():
    return golden_evaluation()


@pytest.fixture
def extra_metric():
    """Registers metrics for one test and takes them out again."""
    added = []

    def add(spec: MetricSpec) -> MetricSpec:
        added.append(register_metric(spec))
        return spec

    yield add
    for spec in added:
        specs._REGISTRY.pop(spec.key)


# --- the table itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", list_metrics(), ids=lambda s: s.key)
def test_every_metric_has_every_field(spec):
    assert spec.label.strip() and spec.short.strip() and len(spec.short) <= specs.SHORT_WIDTH
    assert re.search(r"\b(19|20)\d\d\b", spec.definition), "the definition names its paper (and its year)"
    assert spec.family in specs.FAMILIES and format(0.25, spec.fmt)
    assert spec.high is None or spec.high > spec.low
    if spec.per_image:
        assert spec.ranking and spec_for_column(spec.per_image) is spec
    if spec.per_split:
        assert spec_for_column(spec.per_split.split(".")[-1]) in (spec, None)
    assert metric_spec(spec.key) is spec and spec.format(float("nan")) == "n/a"


@pytest.mark.parametrize("missing, needs", [
    (dict(label=""), "empty label"),
    (dict(definition="  "), "empty definition"),
    (dict(family="vibes"), "family"),
    (dict(per_image="mean_new", ranking=None), "ranking text"),
    (dict(fmt="q"), "format"),
    (dict(short="a long header"), "short header"),
    (dict(per_class=False), "no place for its values"),
    (dict(paired=True), "paired metric"),
])  # fmt: skip
def test_a_metric_lacking_what_the_others_have_is_refused(missing, needs):
    fields = dict(key="new_metric", label="New", short="new", definition="New (Someone 2024).", family="distance")
    with pytest.raises(ValueError, match=needs):
        register_metric(MetricSpec(**{**fields, **missing}))
    with pytest.raises(ValueError, match="new identifier"):
        register_metric(metric_spec("dice"))
    with pytest.raises(KeyError, match="registered: pixel_accuracy, iou, dice"):
        metric_spec("dcie")


# --- the pass and the result: every metric has its hook, every computed value its spec --------------------


def _has_path(doc: dict, path: str) -> bool:
    """Whether the dotted ``path`` names a key of the document (its value may be null: undefined)."""
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return isinstance(doc, dict) and last in doc


def missing_hooks(evaluation) -> list[str]:
    """What the registry and an evaluation that computed every family disagree on."""
    from segdash.metrics.distance import DISTANCE_METRICS, distance_metrics

    problems = []
    doc = evaluation.to_json_dict()
    class_values = evaluation.class_values()
    kernel = set(distance_metrics(np.zeros((4, 4), int), np.zeros((4, 4), int), 2))
    for spec in list_metrics():
        if spec.per_class and spec.key not in class_values:
            problems.append(f"{spec.key}: no per-class value")
        if spec.per_image and spec.per_image not in evaluation.per_image:
            problems.append(f"{spec.key}: no per-image column {spec.per_image}")
        if spec.per_image_classes and f"{spec.key}/{evaluation.classes[0]}" not in evaluation.per_image:
            problems.append(f"{spec.key}: no per-image class columns")
        if spec.per_split and not _has_path(doc, spec.per_split):
            problems.append(f"{spec.key}: no {spec.per_split} in the JSON")
        if spec.family == "distance" and spec.derived_from is None and spec.key not in kernel:
            problems.append(f"{spec.key}: the distance kernel does not compute it")
    for column in evaluation.per_image.columns[1:]:
        if spec_for_column(column) is None:
            problems.append(f"per-image column {column}: no spec")
    problems += [f"{key}: computed without a spec" for key in class_values if not specs.is_metric(key)]
    problems += [f"{key}: the distance kernel computes it without a spec" for key in DISTANCE_METRICS
                 if not specs.is_metric(key)]  # fmt: skip
    return problems


def test_every_metric_has_its_hook_in_the_pass(evaluation):
    assert missing_hooks(evaluation) == []


def test_a_registered_metric_without_its_hook_fails(evaluation, extra_metric):
    extra_metric(MetricSpec("hd99", "HD99 (pixels)", "HD99", "99% Hausdorff distance (Huttenlocher et al. 1993).",
                            "distance", lower_is_better=True, high=None, per_image="mean_hd99",
                            ranking="largest HD99"))  # fmt: skip
    problems = missing_hooks(evaluation)
    assert "hd99: no per-class value" in problems and "hd99: the distance kernel does not compute it" in problems
    assert "hd99: no per-image column mean_hd99" in problems


def test_a_value_computed_without_a_spec_fails(evaluation):
    evaluation.per_image["mean_mystery"] = 0.5
    try:
        assert "per-image column mean_mystery: no spec" in missing_hooks(evaluation)
    finally:
        del evaluation.per_image["mean_mystery"]


def test_the_new_hd95_flows_through_every_place(evaluation):
    """The symmetric HD95 was added as a kernel, a spec and the distance hook; nothing else was edited for it."""
    from segdash.infer.evaluation import finite_class_mean
    from segdash.metrics.distance import hausdorff95_max

    ds = GoldenDataset()
    valid = [ds.masks[s] != 255 for s in evaluation.sample_ids]
    per_image = np.array([[hausdorff95_max((ds.images[s][:, :, 0] == c) & v, ds.masks[s] == c)
                           for c in range(4)] for s, v in zip(evaluation.sample_ids, valid)])  # fmt: skip
    np.testing.assert_allclose(evaluation.per_image["mean_hd95_max"], finite_class_mean(per_image))
    doc = evaluation.to_json_dict()
    finite = np.where(np.isfinite(per_image), per_image, np.nan)
    for c, row in enumerate(doc["per_class"]):
        expected = np.nanmean(finite[:, c]) if np.isfinite(finite[:, c]).any() else None
        assert row["hd95_max"] == (pytest.approx(expected) if expected is not None else None)
    assert doc["per_class"][3]["hd95_max"] is None and doc["per_class"][3]["missed"] == 3  # never found
    assert "hd95_max" in evaluation.class_table() and "mean_hd95_max" in evaluation.per_image
    assert evaluation.worst(1, by="mean_hd95_max")["mean_hd95_max"].iloc[0] == evaluation.per_image[
        "mean_hd95_max"].max()  # fmt: skip


# --- the JSON is the one the CLI wrote before the metric table -----------------------------------------------


def _same(new, old, where="$"):
    """Equal documents: the same keys in the same order, the same values (floats to 1e-9)."""
    if isinstance(old, dict):
        assert isinstance(new, dict) and list(new) == list(old), f"{where}: keys {list(new)} != {list(old)}"
        for key in old:
            _same(new[key], old[key], f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for k, (a, b) in enumerate(zip(new, old)):
            _same(a, b, f"{where}[{k}]")
    elif isinstance(old, float):
        assert new == pytest.approx(old, rel=1e-9, abs=1e-12), where
    else:
        assert new == old, where


def _without(doc, keys):
    if isinstance(doc, dict):
        return {k: _without(v, keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [_without(v, keys) for v in doc]
    return doc


def test_the_json_is_the_one_written_before_apart_from_the_new_hd95(evaluation):
    """``tests/golden/evaluation_small.json`` was written by segdash before the metric table (timings left out);
    today's document equals it key for key, in order, once the new HD95 keys are taken out."""
    old = json.loads(GOLDEN.read_text(encoding="utf-8"))
    new = evaluation.to_json_dict()
    del new["seconds"], new["forward_seconds"]
    assert NEW_KEYS <= set(new) | set(new["per_class"][0])
    _same(_without(new, NEW_KEYS), old)


# --- the places that list metrics ----------------------------------------------------------------------


def test_the_cli_table_has_a_column_per_metric_computed(evaluation):
    from segdash.cli.evaluate import format_table

    text = format_table(evaluation, evaluation.to_json_dict())
    header = text.splitlines()[0].split()
    expected = [s.short for s in list_metrics(per_class=True, tables=True)]
    assert [h for h in header if h not in ("class", "support")] == expected
    for spec in list_metrics(per_split=True):
        value = split_value(evaluation.to_json_dict(), spec)
        if value is not None:
            assert f"{spec.split_label} {format(value, spec.fmt)}" in text


def test_the_figures_label_and_bound_every_metric_by_its_spec(evaluation):
    from segdash.viz.figures import distance_metrics_figure, metric_label, per_class_bar_figure, unit_range

    for spec in list_metrics():
        assert metric_label(spec.key) == spec.label and unit_range(spec.key) == spec.unit_range
    table = evaluation.class_table()
    for spec in list_metrics(per_class=True, tables=True):
        if spec.unit_range:
            assert list(per_class_bar_figure(table, spec.key).layout.yaxis.range) == [0, 1.1]
    panels = [t.name for t in distance_metrics_figure(evaluation.distances).data if t.legendgroup != "missed"]
    assert panels == [s.label for s in list_metrics(family="distance", tables=True)]


def test_every_per_image_metric_is_a_ranking_in_its_direction(evaluation):
    pytest.importorskip("streamlit")
    from segdash.ui.evaluations import ranked_images, ranking_options

    options = ranking_options(evaluation)
    assert list(options)[0] == "mean_dice"
    assert set(options) == {s.per_image for s in list_metrics(per_image=True)}
    for column, text in options.items():
        spec = spec_for_column(column)
        assert text == spec.ranking
        ranked = ranked_images(evaluation, column)[column].to_numpy(float)
        defined = ranked[~np.isnan(ranked)]
        assert list(defined) == sorted(defined, reverse=spec.lower_is_better)
        assert np.isnan(ranked[len(defined):]).all()  # undefined last


def test_compare_offers_the_paired_metrics():
    import argparse

    from segdash.cli import compare
    from segdash.metrics.paired import METRICS

    parser = argparse.ArgumentParser()
    compare.register(parser.add_subparsers())
    choices = next(a for a in parser._subparsers._group_actions[0].choices["compare"]._actions
                   if a.dest == "metric").choices  # fmt: skip
    assert tuple(choices) == METRICS == specs.paired_metrics() == ("iou", "dice")
    assert all(metric_spec(m).paired and metric_spec(m).unit_range for m in METRICS)
