"""segdash.viz: overlay pixels computed by hand, error/difference counts, display conversion, figures."""

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from segdash.errors import SegdashError
from segdash.viz.figures import (
    class_distribution_figure,
    class_weights_figure,
    confusion_matrix_figure,
    dice_curves_figure,
    distance_metrics_figure,
    frequency_vs_iou_figure,
    image_presence_figure,
    loss_curves_figure,
    metric_delta_figure,
    normalize_confusion,
    per_class_bar_figure,
    per_image_histogram_figure,
    runs_comparison_figure,
    smooth,
)
from segdash.viz.overlay import (
    BOTH_WRONG_COLOR,
    CORRECT_COLOR,
    FALSE_NEGATIVE_COLOR,
    FALSE_POSITIVE_COLOR,
    IGNORED_COLOR,
    WRONG_COLOR,
    colorize,
    confusion_pixels,
    difference_map,
    encode_png,
    error_counts,
    error_map,
    grid,
    highlight_pixels,
    overlay_mask,
    region_borders,
    side_by_side,
    to_display_rgb,
)
from segdash.viz.palette import default_palette, hex_color, legend_items, palette_for, visible_on_white
from segdash.viz.tables import metric_delta_frame

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
COLORS = [RED, GREEN, BLUE]
CLASSES = ["background", "road", "car"]


def _grey(value: int, shape=(4, 4)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def _decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


# --- palette ------------------------------------------------------------------------------------


def test_default_palette_is_distinct_for_many_classes():
    colors = default_palette(60)
    assert len(colors) == 60 and len(set(colors)) == 60
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colors)
    assert default_palette(3) == default_palette(60)[:3]  # stable prefix: colours don't shift with n


def test_hex_color_and_palette_padding():
    assert hex_color((255, 128, 0)) == "#ff8000"
    assert hex_color("#abc") == "#aabbcc"
    with pytest.raises(SegdashError):
        hex_color("#12")
    padded = palette_for(["a", "b", "c"], [RED])
    assert padded[0] == RED and len(padded) == 3 and len(set(padded)) == 3


def test_visible_on_white_darkens_only_light_colours():
    assert visible_on_white((40, 120, 240)) == hex_color((40, 120, 240))
    light = visible_on_white((250, 250, 250))
    assert light != "#fafafa"


def test_legend_items_pixel_shares_skip_ignored_pixels():
    labels = np.array([[0, 0, 1, 255], [0, 2, 2, 255]])
    items = legend_items(CLASSES, COLORS, labels=labels, ignore_index=255)
    assert [i["name"] for i in items] == CLASSES
    assert [i["color"] for i in items] == ["#ff0000", "#00ff00", "#0000ff"]
    assert [i["pixels"] for i in items] == [3, 1, 2]
    assert [i["share"] for i in items] == pytest.approx([0.5, 1 / 6, 2 / 6])
    no_labels = legend_items(CLASSES, COLORS)
    assert no_labels[0]["pixels"] is None and no_labels[0]["share"] is None
    all_ignored = legend_items(CLASSES, COLORS, labels=np.full((2, 2), 255), ignore_index=255)
    assert all(i["share"] is None for i in all_ignored)  # undefined, not 0


# --- display conversion ----------------------------------------------------------------------------


def test_uint8_rgb_is_unchanged_and_gray_is_repeated():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    assert np.array_equal(to_display_rgb(rgb), rgb)
    gray = rgb[:, :, :1]
    shown = to_display_rgb(gray)
    assert shown.shape == (5, 6, 3) and np.array_equal(shown[:, :, 2], gray[:, :, 0])
    assert np.array_equal(to_display_rgb(rgb[:, :, 0]), np.repeat(rgb[:, :, :1], 3, axis=2))
    rgba = np.dstack([rgb, np.zeros((5, 6), np.uint8)])
    assert np.array_equal(to_display_rgb(rgba), rgb)


def test_float_single_channel_is_stretched_by_percentiles():
    values = np.linspace(-3.0, 7.0, 101, dtype=np.float32).reshape(101, 1, 1)
    shown = to_display_rgb(values, percentiles=(0, 100))
    assert shown.dtype == np.uint8 and shown.shape == (101, 1, 3)
    assert shown[0, 0, 0] == 0 and shown[-1, 0, 0] == 255 and shown[50, 0, 0] == 128  # (2 + 3) / 10 * 255 = 127.5
    # One huge outlier does not flatten the rest with the default 1..99 percentiles.
    mri = np.tile(np.linspace(0, 1, 200, dtype=np.float32), (200, 1))[:, :, None]
    mri[0, 0, 0] = 1000.0
    stretched = to_display_rgb(mri)
    assert stretched[:, 100, 0].mean() > 100


def test_float_rgb_in_unit_range_keeps_its_colours_and_nan_is_black():
    image = np.zeros((2, 2, 3), np.float32)
    image[0, 0] = (1.0, 0.5, 0.0)
    image[1, 1] = np.nan
    shown = to_display_rgb(image)
    assert tuple(shown[0, 0]) == (255, 128, 0) and tuple(shown[1, 1]) == (0, 0, 0)


def test_constant_and_bad_images():
    assert not to_display_rgb(np.full((3, 3), 5.0, np.float32)).any()
    assert np.array_equal(to_display_rgb(np.array([[True, False]]))[0, :, 0], [255, 0])
    assert to_display_rgb(np.full((2, 2), 300, np.uint16)).shape == (2, 2, 3)
    with pytest.raises(SegdashError):
        to_display_rgb(np.zeros((2, 2, 2, 2)))


# --- overlays ------------------------------------------------------------------------------------------


def test_colorize_maps_classes_and_ignored_pixels():
    labels = np.array([[0, 1], [2, 255]])
    rgb = colorize(labels, COLORS, ignore_index=255, ignore_color=(9, 9, 9))
    assert [tuple(rgb[i, j]) for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]] == [RED, GREEN, BLUE, (9, 9, 9)]
    ignored_class_zero = colorize(labels, COLORS, ignore_index=0)
    assert tuple(ignored_class_zero[0, 0]) == (0, 0, 0)


def test_fill_overlay_blends_with_alpha_at_known_pixels():
    image = _grey(100, (2, 2))
    labels = np.array([[0, 1], [2, 255]])
    out = overlay_mask(image, labels, COLORS, alpha=0.25, ignore_index=255)
    # 0.75 * 100 + 0.25 * 255 = 138.75 -> 139; 0.75 * 100 + 0.25 * 0 = 75
    assert tuple(out[0, 0]) == (139, 75, 75)
    assert tuple(out[0, 1]) == (75, 139, 75)
    assert tuple(out[1, 0]) == (75, 75, 139)
    assert tuple(out[1, 1]) == (100, 100, 100)  # ignored: image untouched
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert np.array_equal(overlay_mask(image, labels, COLORS, alpha=0.0), image)
    assert tuple(overlay_mask(image, labels, COLORS, alpha=1.0)[0, 1]) == GREEN


def test_overlay_on_float_single_channel_image():
    image = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)[:, :, None]
    out = overlay_mask(image, np.array([[0, 0], [1, 1]]), COLORS, alpha=0.5, classes=[1])
    shown = to_display_rgb(image)
    assert np.array_equal(out[0], shown[0])  # class 0 hidden
    expected = np.rint(0.5 * shown[1].astype(float) + 0.5 * np.array(GREEN)).astype(np.uint8)
    assert np.array_equal(out[1], expected)


def test_class_subset_hides_other_classes():
    image = _grey(50, (3, 3))
    labels = np.array([[0, 1, 2]] * 3)
    out = overlay_mask(image, labels, COLORS, alpha=1.0, classes=[2])
    assert np.array_equal(out[:, :2], image[:, :2])
    assert (out[:, 2] == BLUE).all()
    assert np.array_equal(overlay_mask(image, labels, COLORS, classes=[]), image)
    with pytest.raises(SegdashError, match="out of range"):
        overlay_mask(image, labels, COLORS, classes=[3])


def test_contour_mode_paints_only_region_borders():
    labels = np.zeros((9, 9), np.int64)
    labels[2:7, 2:7] = 1  # a 5x5 square of class 1
    image = _grey(0, (9, 9))
    out = overlay_mask(image, labels, COLORS, alpha=1.0, classes=[1], mode="contour")
    painted = (out != 0).any(axis=2)
    expected = np.zeros((9, 9), bool)
    expected[2:7, 2:7] = True
    expected[3:6, 3:6] = False  # the inside stays the image
    assert np.array_equal(painted, expected)
    assert (out[painted] == GREEN).all()
    thick = overlay_mask(image, labels, COLORS, alpha=1.0, classes=[1], mode="contour", thickness=2)
    assert (thick != 0).any(axis=2).sum() == 25 - 1  # only the centre pixel is 2 px from the border


def test_region_borders_ignore_the_image_edge_and_both_mode():
    assert not region_borders(np.ones((4, 4), np.int64)).any()
    labels = np.array([[0, 0, 1, 1]] * 2)
    assert np.array_equal(region_borders(labels)[0], [False, True, True, False])
    out = overlay_mask(_grey(0, (2, 4)), labels, COLORS, alpha=0.5, mode="both")
    assert tuple(out[0, 0]) == (128, 0, 0)  # filled at alpha (127.5 rounds to even 128)
    assert tuple(out[0, 1]) == RED  # opaque contour
    with pytest.raises(SegdashError):
        overlay_mask(_grey(0, (2, 4)), labels, COLORS, mode="outline")


def test_overlay_size_mismatch_is_a_clear_error():
    with pytest.raises(SegdashError, match="same size"):
        overlay_mask(_grey(0, (4, 4)), np.zeros((4, 5), np.int64), COLORS)


def test_error_map_shows_only_the_wrong_pixels_over_a_dimmed_image():
    target = np.array([[0, 1, 2], [255, 1, 0]])
    pred = np.array([[0, 2, 2], [1, 1, 1]])
    rgb = error_map(pred, target, ignore_index=255)
    assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[0, 1]) == WRONG_COLOR  # right pixels stay dark
    assert tuple(rgb[1, 0]) == IGNORED_COLOR and tuple(rgb[1, 2]) == WRONG_COLOR
    assert error_counts(pred, target, ignore_index=255) == {"correct": 3, "wrong": 2, "ignored": 1, "accuracy": 0.6}
    over = error_map(pred, target, ignore_index=255, image=_grey(100, (2, 3)))
    assert tuple(over[0, 0]) == (35, 35, 35)  # right: the image at 35% brightness
    assert tuple(over[0, 1]) == WRONG_COLOR


def test_error_map_of_one_class_tells_false_positives_from_false_negatives():
    target = np.array([[1, 1, 0, 2, 1]])
    pred = np.array([[1, 0, 1, 1, 2]])
    rgb = error_map(pred, target, focus=1)
    assert tuple(rgb[0, 0]) == (0, 0, 0)  # right
    assert tuple(rgb[0, 1]) == FALSE_NEGATIVE_COLOR and tuple(rgb[0, 4]) == FALSE_NEGATIVE_COLOR  # class 1 missed
    assert tuple(rgb[0, 2]) == FALSE_POSITIVE_COLOR and tuple(rgb[0, 3]) == FALSE_POSITIVE_COLOR  # class 1 invented


def test_difference_map_counts_fixed_broken_and_both_wrong():
    target = np.array([[0, 0, 1, 1, 2, 255]])
    pred_a = np.array([[0, 1, 1, 0, 0, 0]])
    pred_b = np.array([[0, 0, 0, 2, 0, 1]])
    # pixel 0 both right, 1 fixed, 2 broken, 3 both wrong, 4 both wrong, 5 ignored
    diff = difference_map(pred_a, pred_b, target, ignore_index=255)
    assert diff.counts == {"both_correct": 1, "fixed": 1, "broken": 1, "both_wrong": 2, "ignored": 1}
    colours = [tuple(c) for c in diff.rgb[0]]
    assert colours == [(0, 0, 0), CORRECT_COLOR, WRONG_COLOR, BOTH_WRONG_COLOR, BOTH_WRONG_COLOR, IGNORED_COLOR]
    rgb, counts = difference_map(pred_a, pred_b, target, image=_grey(10, (1, 6)))
    assert tuple(rgb[0, 0]) == (10, 10, 10) and counts["ignored"] == 0


def test_confusion_pixels_and_highlight():
    target = np.array([[1, 1, 2], [1, 0, 1]])
    pred = np.array([[2, 1, 2], [2, 0, 2]])
    mask = confusion_pixels(pred, target, true_class=1, pred_class=2)
    assert np.array_equal(mask, [[True, False, False], [True, False, True]])
    out = highlight_pixels(_grey(200, (2, 3)), mask, color=(255, 0, 255), alpha=1.0, dim=0.5)
    assert tuple(out[0, 0]) == (255, 0, 255) and tuple(out[0, 1]) == (100, 100, 100)


def test_grid_and_side_by_side_layout():
    a, b = _grey(10, (20, 30)), _grey(200, (10, 10))
    row = side_by_side([a, b], gap=2)
    assert row.shape == (20, 30 + 2 + 30, 3)  # b scaled to height 20 (20x20), centred in a 30-wide cell
    assert (row[:, 37:52] == 200).all() and (row[:, 32:37] == 255).all()
    tiles = grid([a, b, a], columns=2, titles=["one", "two", "three"], gap=4)
    assert tiles.shape[1] == 30 + 4 + 30 and tiles.shape[0] > 2 * 20 + 4
    with pytest.raises(SegdashError):
        grid([a], titles=["x", "y"])


def test_encode_png_round_trips_labels_palettes_and_images():
    labels = np.array([[0, 1], [2, 3]], np.int64)
    plain = _decode(encode_png(labels))
    assert plain.mode == "L" and np.array_equal(np.asarray(plain), labels)
    coloured = _decode(encode_png(labels, palette=COLORS + [(9, 9, 9)]))
    assert coloured.mode == "P" and np.array_equal(np.asarray(coloured), labels)
    assert tuple(np.asarray(coloured.convert("RGB"))[0, 1]) == GREEN
    wide = _decode(encode_png(np.array([[0, 300]])))
    assert np.array_equal(np.asarray(wide), [[0, 300]])
    rgb = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(_decode(encode_png(rgb))), rgb)
    assert _decode(encode_png(np.random.rand(4, 4, 1).astype(np.float32))).mode == "RGB"
    with pytest.raises(SegdashError):
        encode_png(np.array([[-1, 0]]))


# --- figures -----------------------------------------------------------------------------------------


def test_confusion_heatmap_values_axes_and_hover():
    cm = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    fig = confusion_matrix_figure(cm, CLASSES, normalize="true")
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap)
    assert list(heat.x) == CLASSES and list(heat.y) == CLASSES
    expected = [[0.8, 0.2, 0.0], [0.25, 0.75, 0.0], [None, None, None]]  # empty row: undefined, not 0
    assert [list(r) for r in heat.z] == expected
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "ground-truth class"
    assert list(fig.layout.yaxis.range) == [2.5, -0.5]  # row 0 on top, like the printed matrix
    assert "pixels: 2" in heat.hovertext[0][1] and "20.00%" in heat.hovertext[0][1]
    assert "of predicted road: 40.00%" in heat.hovertext[0][1]
    assert "n/a" in heat.hovertext[2][0]
    assert list(heat.customdata[0][1]) == [0, 1]  # [true index, predicted index] for click handling
    assert heat.texttemplate == "%{text}" and heat.text[0][0] == "80.0"
    counts = confusion_matrix_figure(cm, CLASSES)
    assert [list(r) for r in counts.data[0].z] == cm.tolist()
    columns = normalize_confusion(cm, "pred")
    assert columns[0, 0] == pytest.approx(8 / 9) and math.isnan(columns[0, 2])
    nineteen = confusion_matrix_figure(np.eye(19, dtype=int), [f"c{i}" for i in range(19)])
    assert nineteen.data[0].texttemplate == "%{text}"  # Cityscapes' classes keep their numbers in the cells
    many = confusion_matrix_figure(np.eye(24, dtype=int), [f"c{i}" for i in range(24)])
    assert many.data[0].texttemplate is None
    with pytest.raises(SegdashError):
        confusion_matrix_figure(cm, CLASSES[:2])


def test_per_class_bars_show_nan_as_na_not_zero():
    frame = pd.DataFrame({"name": CLASSES, "iou": [0.9, np.nan, 0.5], "support": [10, 0, 5]})
    fig = per_class_bar_figure(frame, "iou", colors=COLORS)
    bar = fig.data[0]
    assert list(bar.y) == [0.9, None, 0.5]
    assert list(bar.marker.color) == ["#ff0000", "#00ff00", "#0000ff"]
    assert [a.text for a in fig.layout.annotations if a.text == "n/a"] == ["n/a"]
    assert fig.layout.yaxis.title.text == "IoU"
    assert "(dashed: mean 0.700, 1 n/a left out)" in fig.layout.title.text
    with pytest.raises(SegdashError, match="no column"):
        per_class_bar_figure(frame, "dice")


def test_class_distribution_grouped_by_split():
    stats = {
        "train": {"pixels": [90, 10, 0], "frequency": [0.9, 0.1, 0.0]},
        "val": {"pixels": [40, 0, 10]},
    }
    fig = class_distribution_figure(stats, CLASSES, COLORS)
    bars = [t for t in fig.data if t.showlegend is False]
    assert [t.name for t in bars] == ["train", "val"] and fig.layout.barmode == "group"
    assert list(bars[0].y) == [90, 10, 0] and list(bars[0].x) == CLASSES
    assert list(bars[0].marker.color) == ["#ff0000", "#00ff00", "#0000ff"]  # class colours
    assert bars[0].marker.pattern.shape != bars[1].marker.pattern.shape  # splits told apart by pattern
    assert [t.name for t in fig.data if t.showlegend] == ["train", "val"]
    freq = class_distribution_figure(stats, CLASSES, COLORS, value="frequency", log=True)
    val = [t for t in freq.data if t.showlegend is False and t.name == "val"][0]
    assert list(val.y) == [pytest.approx(0.8), None, pytest.approx(0.2)]  # log: zero is a gap
    assert freq.layout.yaxis.type == "log"
    presence = image_presence_figure({"train": {"image_presence": [1.0, 0.5, 0.25]}}, CLASSES, COLORS)
    assert list(presence.data[0].y) == [1.0, 0.5, 0.25] and presence.layout.yaxis.title.text == "share of images"


def test_class_weights_figure_marks_infinite_weights_na():
    fig = class_weights_figure({"inverse": [1.0, 2.0, np.inf], "median": [0.5, 1.0, np.nan]}, CLASSES, COLORS)
    bars = [t for t in fig.data if t.showlegend is False]
    assert list(bars[0].y) == [1.0, 2.0, None] and list(bars[1].y) == [0.5, 1.0, None]
    assert [a.text for a in fig.layout.annotations] == ["n/a"]
    single = class_weights_figure([1.0, 2.0, 3.0], CLASSES)
    assert len(single.data) == 1


def test_class_weights_figure_names_classes_without_pixels():
    """ClassStats gives a class absent from the split weight 0: the chart says why its bar is missing."""
    from segdash.data.stats import ClassStats

    stats = ClassStats("d", "train", tuple(CLASSES), 2, np.array([30, 10, 0]), np.array([2, 1, 0]), np.array([40, 20, 0]))
    weights = {"inverse": stats.class_weights("inverse"), "median": stats.class_weights("median")}
    fig = class_weights_figure(weights, CLASSES, COLORS)
    assert [(a.x, a.text) for a in fig.layout.annotations] == [(CLASSES[2], "no pixels")]


def test_frequency_vs_iou_uses_log_x_and_names_left_out_classes():
    fig = frequency_vs_iou_figure([0.9, 0.0, 0.1], [0.95, np.nan, 0.4], CLASSES, COLORS)
    scatter = fig.data[0]
    assert list(scatter.x) == [0.9, 0.1] and list(scatter.y) == [0.95, 0.4]
    assert list(scatter.text) == ["background", "car"]
    assert fig.layout.xaxis.type == "log"
    assert any("road (no pixels)" in a.text for a in fig.layout.annotations)


def test_metric_delta_figure_and_table():
    a = pd.DataFrame({"name": CLASSES, "iou": [0.5, 0.6, np.nan], "dice": [0.6, 0.7, np.nan]})
    b = pd.DataFrame({"name": CLASSES[::-1], "iou": [0.3, 0.7, 0.4], "dice": [0.4, 0.8, 0.5]})  # other order
    fig = metric_delta_figure(a, b, CLASSES, label_a="epoch 2", label_b="best")
    assert list(fig.data[0].y) == [pytest.approx(-0.1), pytest.approx(0.1), None]
    assert list(fig.data[0].marker.color) == ["#d62728", "#2ca02c", "#2ca02c"]
    assert "best" in fig.layout.yaxis.title.text
    table = metric_delta_frame(a, b, metrics=("iou",), label_a="A", label_b="B")
    assert list(table.columns) == ["name", "iou A", "iou B", "Δ iou"]
    assert table["Δ iou"].iloc[0] == pytest.approx(-0.1) and math.isnan(table["Δ iou"].iloc[2])


def test_distance_metrics_one_panel_per_metric():
    frame = pd.DataFrame({"name": CLASSES, "hd95": [1.0, np.nan, 3.0], "assd": [0.5, np.nan, 1.0]})
    fig = distance_metrics_figure(frame, colors=COLORS)
    assert len(fig.data) == 2 and list(fig.data[0].x) == [1.0, None, 3.0] and list(fig.data[0].y) == CLASSES
    assert fig.data[1].xaxis == "x2"
    as_dict = distance_metrics_figure({"road": {"hd95": 2.0}, "car": {"hd95": None}})
    assert list(as_dict.data[0].x) == [2.0, None]
    assert [a.text for a in as_dict.layout.annotations if a.text == "n/a"] == ["n/a"]  # absent from both sides


def test_a_missed_class_is_a_full_hatched_bar_and_every_class_is_labelled():
    """Never predicted where it is: no distance, drawn across the whole panel (not a 0-length bar that reads as
    perfect), with a legend entry; every class named on every panel, however many classes."""
    names = [f"class {k}" for k in range(13)]
    hd95 = np.linspace(1, 30, 13)
    hd95[[2, 5, 12]] = np.nan
    missed = np.zeros(13)
    missed[[2, 5, 12]] = [36, 28, 3]
    missed[7] = 4  # missed in some images, measured in others
    frame = pd.DataFrame({"name": names, "hd95": hd95, "hd95_max": hd95 * 1.1, "assd": hd95 / 4,
                          "rad": np.where(np.isnan(hd95), -1.0, 0.05), "missed": missed})  # fmt: skip
    fig = distance_metrics_figure(frame)
    assert [t.name for t in fig.data if t.showlegend] == ["missed: in the ground truth, never predicted there "
                                                          "(no distance)"]  # fmt: skip
    panels = [t for t in fig.data if t.name != fig.data[1].name]
    assert [t.name for t in panels] == ["HD95 pooled (pixels)", "HD95 max of directions (pixels)", "ASSD (pixels)",
                                        "Relative area difference"]  # fmt: skip
    missed_bars = [t for t in fig.data if t.legendgroup == "missed"]
    assert len(missed_bars) == 3  # the three distances; the area difference of a missed class is -100%, a value
    for bars, panel in zip(missed_bars, panels):
        axis = fig.layout[bars.xaxis.replace("x", "xaxis")]
        assert list(bars.y) == ["class 2", "class 5", "class 12"] and bars.marker.pattern.shape == "/"
        longest = max(x for x in panel.x if x is not None)
        assert all(x == axis.range[1] > longest for x in bars.x)  # the whole panel's width
        assert [panel.x[i] for i in (2, 5, 12)] == [None, None, None]  # and no 0-length bar under it
        assert bars.text[0] == "<b>missed</b> in 36 image(s)"
    assert panels[0].text[7].endswith("· 4 missed")
    assert list(panels[3].x)[2] == -1.0
    for axis in ("yaxis", "yaxis2", "yaxis3", "yaxis4"):  # every class ticked on every panel
        assert list(fig.layout[axis].tickvals) == names and fig.layout[axis].tickmode == "array"
    assert not [a for a in fig.layout.annotations if a.text in ("missed", "n/a")]  # no overlapping text labels


def test_loss_curves_steps_and_epochs():
    steps = pd.DataFrame(
        {"step": range(1, 7), "epoch": [1, 1, 1, 2, 2, 2], "train_loss": [1.0, 0.9, np.nan, 0.7, 0.6, 0.5]}
    )
    epochs = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.95, 0.6], "val_loss": [np.nan, 0.65]})
    fig = loss_curves_figure(steps, epochs)
    names = [t.name for t in fig.data]
    assert names == ["train loss (step)", "train loss (smoothed)", "train loss (epoch)", "val loss (epoch)"]
    assert list(fig.data[0].y) == [1.0, 0.9, None, 0.7, 0.6, 0.5]
    val = fig.data[3]
    assert list(val.x) == [3.0, 6.0] and list(val.y) == [None, 0.65]  # epoch points at the epoch's last step
    assert fig.layout.xaxis.title.text == "training step"
    only_epochs = loss_curves_figure(None, epochs)
    assert only_epochs.layout.xaxis.title.text == "epoch" and list(only_epochs.data[0].x) == [1.0, 2.0]
    assert loss_curves_figure(None, None).layout.annotations[0].text == "no training data yet"
    # An epoch whose steps were not logged is placed by extrapolation, not dropped.
    more = pd.concat([epochs, pd.DataFrame({"epoch": [3], "train_loss": [0.4], "val_loss": [0.5]})])
    assert list(loss_curves_figure(steps, more).data[3].x) == [3.0, 6.0, 9.0]


def test_smooth_is_debiased_and_skips_nan():
    out = smooth([1.0, np.nan, 1.0], 0.9)
    assert out[0] == pytest.approx(1.0) and math.isnan(out[1]) and out[2] == pytest.approx(1.0)


def test_dice_curves_mean_and_per_class_with_gaps():
    epochs = pd.DataFrame(
        {"epoch": [1, 2], "val_mean_dice": [0.5, 0.6], "val_dice": [[0.9, None, 0.1], [0.95, 0.4, 0.45]]}
    )
    fig = dice_curves_figure(epochs, CLASSES, COLORS)
    assert [t.name for t in fig.data] == CLASSES + ["mean Dice"]
    assert list(fig.data[1].y) == [None, 0.4]
    assert list(fig.data[3].y) == [0.5, 0.6]
    assert fig.data[0].line.color == "#ff0000"
    assert dice_curves_figure(epochs.iloc[:0], CLASSES).layout.annotations[0].text == "no finished epoch yet"


def test_runs_comparison_and_histogram():
    run_a = pd.DataFrame({"epoch": [1, 2], "val_mean_dice": [0.4, 0.5]})
    run_b = pd.DataFrame({"epoch": [1, 2, 3], "val_mean_dice": [0.3, np.nan, 0.7]})
    fig = runs_comparison_figure({"unet": run_a, "fpn": run_b, "empty": run_a.iloc[:0]})
    assert [t.name for t in fig.data] == ["unet", "fpn"]
    assert list(fig.data[1].y) == [0.3, None, 0.7]
    assert fig.layout.yaxis.title.text == "Validation mean Dice"
    hist = per_image_histogram_figure(pd.DataFrame({"mean_dice": [0.1, 0.5, np.nan]}))
    assert list(hist.data[0].x) == [0.1, 0.5] and "1 n/a" in hist.layout.title.text


def test_confusion_cells_are_clickable_scatter_points():
    cm = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    fig = confusion_matrix_figure(cm, CLASSES)
    heat, cells = fig.data
    assert heat.hoverinfo == "skip" and isinstance(cells, go.Scatter)
    k = 1 * 3 + 0  # ground truth road (1), predicted background (0)
    assert (cells.y[k], cells.x[k]) == ("road", "background") and list(cells.customdata[k]) == [1, 0]
    assert "pixels: 1" in cells.hovertext[k]
    assert len(confusion_matrix_figure(cm, CLASSES, clickable=False).data) == 1


def test_confusion_cell_from_selection_reads_every_point_shape():
    from segdash.viz.figures import confusion_cell_from_selection

    streamlit_point = {"customdata": {"0": 1, "1": 2}, "x": "car", "y": "road", "point_index": 5}
    assert confusion_cell_from_selection(streamlit_point, CLASSES) == (1, 2)
    assert confusion_cell_from_selection({"customdata": [2, 0]}, CLASSES) == (2, 0)
    assert confusion_cell_from_selection({"point_index": 7}, CLASSES) == (2, 1)
    assert confusion_cell_from_selection({"x": "background", "y": "car"}, CLASSES) == (2, 0)
    assert confusion_cell_from_selection({"x": 3}, CLASSES) is None


def test_distance_metrics_from_aggregate_distances_dict():
    aggregated = {
        "hd95": np.array([1.0, np.nan, 2.5]),
        "assd": np.array([0.5, np.nan, 1.0]),
        "rad": np.array([0.1, np.nan, -0.25]),
        "abs_rad": np.array([0.1, np.nan, 0.25]),
        "one_sided": np.array([0, 0, 2]),
        "images": np.array([3, 0, 1]),
    }
    fig = distance_metrics_figure(aggregated, CLASSES, COLORS)
    assert [t.name for t in fig.data] == ["HD95 pooled (pixels)", "ASSD (pixels)", "Relative area difference"]
    assert list(fig.data[2].x) == [0.1, None, -0.25] and fig.data[2].text[2] == "-25.0%"
    assert "one side only: 2" in fig.data[0].customdata[2]
    with pytest.raises(SegdashError):
        distance_metrics_figure(aggregated, CLASSES[:2])


def test_score_frames_indexed_by_class_name_work_too():
    a = pd.DataFrame({"iou": [0.5, 0.6, np.nan]}, index=pd.Index(CLASSES, name="class"))
    b = pd.DataFrame({"iou": [0.7, 0.6, 0.2]}, index=pd.Index(CLASSES, name="class"))
    table = metric_delta_frame(a, b, metrics=("iou",))
    assert list(table["name"]) == CLASSES and table["Δ iou"].iloc[0] == pytest.approx(0.2)
    assert list(metric_delta_figure(a, b)["data"][0].x) == CLASSES
    assert list(per_class_bar_figure(a, "iou").data[0].x) == CLASSES


def test_loss_curves_when_steps_lack_epochs():
    steps = pd.DataFrame({"step": [1, 2, 3, 4], "epoch": [np.nan] * 4, "train_loss": [1.0, 0.8, 0.7, 0.6]})
    epochs = pd.DataFrame({"epoch": [0, 1], "train_loss": [0.9, 0.65], "val_loss": [0.95, 0.7]})
    fig = loss_curves_figure(steps, epochs)
    assert list(fig.data[-1].x) == [2.0, 4.0]


def test_loss_curves_use_the_step_logged_with_each_epoch():
    steps = pd.DataFrame({"step": [5, 10, 15], "epoch": [1, 1, 2], "train_loss": [1.0, 0.8, 0.7]})
    epochs = pd.DataFrame({"epoch": [1, 2], "step": [12, 24], "train_loss": [0.9, 0.7], "val_loss": [0.8, 0.6]})
    assert list(loss_curves_figure(steps, epochs).data[-1].x) == [12.0, 24.0]


def test_float_rgb_in_byte_range_is_not_stretched():
    image = np.full((2, 2, 3), 100.0, np.float32)
    image[0, 0] = (10.0, 200.0, 30.4)
    assert tuple(to_display_rgb(image)[0, 0]) == (10, 200, 30)
    assert tuple(to_display_rgb(image)[1, 1]) == (100, 100, 100)


def test_viz_imports_neither_torch_nor_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, segdash.viz, segdash.viz.figures, segdash.viz.tables; "
        "bad = [m for m in ('torch', 'streamlit', 'segdash.infer', 'segdash.train') if m in sys.modules]; "
        "assert not bad, bad"
    )
    repo_root = str(Path(__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=repo_root)
    assert result.returncode == 0, result.stderr


def test_contours_stay_visible_on_large_images_and_at_low_opacity():
    from segdash.viz.overlay import CONTOUR_MIN_ALPHA, contour_thickness

    assert contour_thickness((192, 192)) == 1 and contour_thickness((1024, 2048)) == 10
    labels = np.zeros((9, 9), np.int64)
    labels[2:7, 2:7] = 1
    out = overlay_mask(_grey(0, (9, 9)), labels, COLORS, alpha=0.2, classes=[1], mode="contour")
    expected = np.rint(CONTOUR_MIN_ALPHA * np.array(COLORS[1])).astype(np.uint8)
    assert np.array_equal(out[2, 2], expected)  # drawn at 85% although the slider says 20%
