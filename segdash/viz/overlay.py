"""Images for people: label maps coloured and blended over their image, error and difference maps.

Every function is pure and vectorised (one look-up-table index per pixel, no per-class
Python loop over pixels) and returns ``HxWx3 uint8`` RGB ready for ``st.image`` or
``encode_png``::

    shown = overlay_mask(image, prediction.labels, ds.colors, alpha=0.5, mode="contour")
    errors = error_map(prediction.labels, mask, ignore_index=ds.ignore_index, image=image)
    diff = difference_map(labels_a, labels_b, mask, image=image)   # diff.rgb, diff.counts["fixed"]
    png_bytes = encode_png(prediction.labels, palette=ds.colors)  # an index PNG that looks coloured

Label maps are ``HxW`` integer arrays holding class indices ``0..C-1``; any other value
(the ignore index, 255, negatives) is "no class" and never painted.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from segdash.data.imageio import label_png_bytes
from segdash.errors import SegdashError
from segdash.viz.palette import ColorLike, as_rgb

#: Colours of the error map and the difference map.
CORRECT_COLOR = (46, 160, 67)
WRONG_COLOR = (255, 48, 48)
#: Errors of one class: predicted there but not (false positive), there but missed (false negative).
FALSE_POSITIVE_COLOR = (255, 170, 0)
FALSE_NEGATIVE_COLOR = (0, 200, 255)
#: Brightness of the image under an error map: dim enough that every wrong pixel stands out.
ERROR_DIM = 0.35
IGNORED_COLOR = (128, 128, 128)
BOTH_WRONG_COLOR = (255, 176, 0)
HIGHLIGHT_COLOR = (255, 0, 255)

OVERLAY_MODES = ("fill", "contour", "both")


# --- display conversion ------------------------------------------------------------------


def to_display_rgb(image: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.0)) -> np.ndarray:
    """Any image array -> ``HxWx3 uint8`` RGB for showing.

    - ``HxW``, ``HxWx1`` -> grey repeated to 3 channels; ``HxWx4`` -> alpha dropped;
      other channel counts -> the first channel as grey.
    - ``uint8`` (and integer arrays within 0..255) are shown as they are; ``bool`` as 0/255.
    - 3-channel floats within 0..1 are scaled by 255, within 0..255 taken as they are
      (colour images keep their colours).
    - Everything else (MRI floats, z-scored data, 16-bit) is stretched so that the given
      percentiles of the finite values map to 0 and 255 (robust to outliers);
      NaN/inf become 0.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise SegdashError(f"cannot show an array of shape {array.shape}: expected an HxW or HxWxC image")
    channels = array.shape[2]
    if channels == 4:
        array = array[:, :, :3]
    elif channels not in (1, 3):
        array = array[:, :, :1]

    if array.dtype == np.uint8:
        display = array
    elif array.dtype == np.bool_:
        display = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.integer) and array.size and array.min() >= 0 and array.max() <= 255:
        display = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.number):
        display = _stretch_to_uint8(array.astype(np.float32, copy=False), percentiles)
    else:
        raise SegdashError(f"cannot show an image of dtype {array.dtype}: expected numbers")

    if display.shape[2] == 1:
        display = np.repeat(display, 3, axis=2)
    return np.ascontiguousarray(display)


def _stretch_to_uint8(array: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    """Float ``HxWxC`` -> uint8, robust percentile stretch (see ``to_display_rgb``)."""
    finite = np.isfinite(array)
    values = array[finite]
    if values.size == 0:
        return np.zeros(array.shape, np.uint8)
    low, high = float(values.min()), float(values.max())
    if array.shape[2] == 3 and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0  # colour image as 0..1 floats: keep its colours
    elif array.shape[2] == 3 and low >= 0.0 and high <= 255.0:
        low, high = 0.0, 255.0  # colour image as 0..255 floats
    else:
        sample = values[:: max(1, values.size // 1_000_000)]  # percentiles of a 1M-value sample suffice
        p_low, p_high = np.percentile(sample, percentiles)
        if p_high > p_low:  # otherwise (mostly constant image) keep the full min..max range
            low, high = float(p_low), float(p_high)
    if high <= low:
        return np.zeros(array.shape, np.uint8)
    scaled = (np.where(finite, array, low) - low) * np.float32(255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


# --- label maps --------------------------------------------------------------------------


def _label_map(labels: np.ndarray) -> np.ndarray:
    """Check and return an ``HxW`` integer label map (integral floats accepted)."""
    array = np.asarray(labels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise SegdashError(f"a label map must be HxW, got shape {array.shape}")
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.mod(array[np.isfinite(array)], 1) == 0):
            raise SegdashError(f"a label map must hold integer class indices, got dtype {array.dtype}")
        array = np.where(np.isfinite(array), array, -1).astype(np.int64)
    return array


def _class_index(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Label map -> look-up-table index: class ``c`` -> ``c``, anything else -> ``num_classes``.

    The smallest unsigned dtype that holds ``num_classes`` (uint8 for up to 255 classes), so
    ``np.take`` and the OpenCV morphology stay fast on large images.
    """
    labels = _label_map(labels)
    valid = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        valid &= labels != ignore_index
    dtype = np.uint8 if num_classes < 255 else np.uint16 if num_classes < 65535 else np.intp
    return np.where(valid, labels, num_classes).astype(dtype)


def _color_table(colors: Sequence[ColorLike], extra: ColorLike = (0, 0, 0)) -> np.ndarray:
    """``(C+1, 3) uint8``: one row per class colour, then ``extra`` for "no class"."""
    return np.array([as_rgb(c) for c in colors] + [as_rgb(extra)], dtype=np.uint8)


def _check_same_size(image: np.ndarray, labels: np.ndarray, what: str = "label map") -> None:
    if image.shape[:2] != labels.shape[:2]:
        raise SegdashError(
            f"the {what} is {labels.shape[1]}x{labels.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]} (width x height); they must have the same size"
        )


def colorize(
    labels: np.ndarray,
    colors: Sequence[ColorLike],
    ignore_index: int | None = None,
    ignore_color: ColorLike = (0, 0, 0),
) -> np.ndarray:
    """``HxW`` label map -> ``HxWx3 uint8``: class ``c`` in ``colors[c]``, other values in ``ignore_color``."""
    index = _class_index(labels, len(colors), ignore_index)
    return np.take(_color_table(colors, ignore_color), index, axis=0)


def _blend(base: np.ndarray, paint: np.ndarray, where: np.ndarray, alpha: float) -> np.ndarray:
    """``base`` with ``round((1 - alpha) * base + alpha * paint)`` at pixels where ``where`` is true.

    base, paint: ``HxWx3 uint8``; where: ``HxW bool``. Blends the whole image with OpenCV
    (SIMD, rounds to nearest) and selects, which beats boolean gathers on scattered masks.
    """
    if alpha <= 0.0:
        return base.copy()
    mixed = paint if alpha >= 1.0 else cv2.addWeighted(base, 1.0 - alpha, paint, alpha, 0.0)
    return _paint(base.copy(), mixed, where)


def _paint(out: np.ndarray, source: np.ndarray | tuple[int, int, int], where: np.ndarray) -> np.ndarray:
    """``out`` (HxWx3 uint8, changed in place) with ``source`` (an image or one colour) where ``where``
    (HxW bool) is true. OpenCV's masked copy: 5-10x a NumPy boolean assignment on a 1024x512 panel."""
    if isinstance(source, tuple):
        source = np.broadcast_to(np.asarray(source, np.uint8), out.shape)
    return cv2.copyTo(np.ascontiguousarray(source), np.ascontiguousarray(where).view(np.uint8), out)


def region_borders(labels: np.ndarray, thickness: int = 1) -> np.ndarray:
    """``HxW bool``: pixels within ``thickness`` pixels of a different label (inside each region).

    Morphological gradient: a pixel is on a border when the max and min label in its
    ``(2t+1)x(2t+1)`` neighbourhood differ. The image edge is not a border.
    """
    if thickness < 1:
        raise SegdashError(f"contour thickness must be at least 1 pixel, got {thickness}")
    labels = _label_map(labels)
    if labels.dtype in (np.uint8, np.uint16):
        ranks = labels
    elif labels.size and labels.min() >= 0 and labels.max() <= 65535:
        ranks = labels.astype(np.uint16)
    else:  # cv2 morphology takes at most 16-bit integers: compress labels to their rank
        _, ranks = np.unique(labels, return_inverse=True)
        if ranks.max(initial=0) > 65535:
            raise SegdashError("too many distinct labels (> 65536) to draw contours")
        ranks = ranks.reshape(labels.shape).astype(np.uint16)
    kernel = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
    return cv2.dilate(ranks, kernel) != cv2.erode(ranks, kernel)


def _shown_classes(num_classes: int, classes: Collection[int] | None) -> np.ndarray:
    """``(C+1,) bool`` look-up table: which class indices to paint (the "no class" slot never)."""
    shown = np.zeros(num_classes + 1, dtype=bool)
    if classes is None:
        shown[:num_classes] = True
        return shown
    for c in classes:
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
            raise SegdashError(f"classes to show must be class indices (ints), got {c!r}")
        if not 0 <= c < num_classes:
            raise SegdashError(
                f"class index {c} is out of range: there are {num_classes} classes (0..{num_classes - 1})"
            )
        shown[c] = True
    return shown


#: A contour's least opacity (the Opacity slider's value governs fills; a faint 1-pixel line is invisible).
CONTOUR_MIN_ALPHA = 0.85


def contour_thickness(shape: tuple[int, ...]) -> int:
    """Contour width for an image of ``shape``: 1 px below 300 px, then about 1 px per 200 px of the longer
    side, so a contour stays visible when the picture is shown scaled down."""
    return max(1, round(max(shape[:2]) / 200))


def overlay_mask(
    image: np.ndarray,
    labels: np.ndarray,
    colors: Sequence[ColorLike],
    alpha: float = 0.5,
    classes: Collection[int] | None = None,
    mode: str = "fill",
    ignore_index: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Class colours blended over an image: ``HxWx3 uint8``.

    image: ``HxWxC`` (any dtype, see ``to_display_rgb``); labels: ``HxW`` int class indices.
    Painted pixels become ``round((1 - alpha) * image + alpha * colors[label])``.
    ``classes``: indices to show (others left as the image), ``None`` = all.
    ``mode``: ``"fill"`` paints whole regions, ``"contour"`` only the ``thickness``-pixel
    inner border of each region (default ``contour_thickness``; at least ``CONTOUR_MIN_ALPHA`` opaque), ``"both"`` fills at ``alpha`` and draws opaque contours.
    Pixels equal to ``ignore_index`` or outside ``0..len(colors)-1`` are never painted.
    """
    if mode not in OVERLAY_MODES:
        raise SegdashError(f"unknown overlay mode {mode!r}; choose one of {', '.join(OVERLAY_MODES)}")
    if not 0.0 <= alpha <= 1.0:
        raise SegdashError(f"opacity must be between 0 and 1, got {alpha}")
    base = to_display_rgb(image)
    labels = _label_map(labels)
    _check_same_size(base, labels)
    index = _class_index(labels, len(colors), ignore_index)
    paint = np.take(_color_table(colors), index, axis=0)
    visible = np.take(_shown_classes(len(colors), classes), index)
    if mode == "fill":
        return _blend(base, paint, visible, alpha)
    borders = visible & region_borders(index, contour_thickness(labels.shape) if thickness is None else thickness)
    if mode == "contour":
        # A contour is thin: drawn faintly it disappears, so it is at least 85% opaque whatever the fill opacity.
        return _blend(base, paint, borders, max(alpha, CONTOUR_MIN_ALPHA))
    return _blend(_blend(base, paint, visible, alpha), paint, borders, 1.0)


# --- drawing at the size shown ---------------------------------------------------------------

#: Longest side of the pictures drawn on a page. A 2048x1024 image is shown in panels a few hundred
#: pixels wide, so its overlays are drawn at this size (a quarter of the pixels) and the browser gets
#: small pictures; downloads are drawn at full size.
DISPLAY_MAX_SIDE = 1024


def display_shape(shape: tuple[int, ...], max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    """(height, width) to draw an image of ``shape`` at: unchanged within ``max_side``, else scaled to fit."""
    height, width = int(shape[0]), int(shape[1])
    if max(height, width) <= max_side:
        return height, width
    factor = max_side / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def nearest_resize(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, ...) array of any dtype -> (h, w, ...) taking the pixel nearest each new pixel's centre.

    For label maps, masks and confidences: every value shown is one that was there (no blend of two
    class indices). Two ``take`` calls, no per-class work.
    """
    values = np.asarray(values)
    height, width = values.shape[:2]
    if (height, width) == tuple(shape):
        return values
    rows = ((np.arange(shape[0]) + 0.5) * height / shape[0]).astype(np.intp)
    cols = ((np.arange(shape[1]) + 0.5) * width / shape[1]).astype(np.intp)
    return values.take(np.minimum(rows, height - 1), axis=0).take(np.minimum(cols, width - 1), axis=1)


def area_resize(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) by area averaging (OpenCV's INTER_AREA: no aliasing when shrinking)."""
    if rgb.shape[:2] == tuple(shape):
        return rgb
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def for_display(image: np.ndarray, *maps: np.ndarray | None,
                max_side: int = DISPLAY_MAX_SIDE) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The image as display RGB and each of ``maps`` (label maps, masks, confidences, or None) at the
    size shown (``display_shape``): the image area-averaged, the maps nearest. Overlays, contours and
    error maps drawn from these cost the pixels shown, not the pixels of the file."""
    rgb = to_display_rgb(image)
    shape = display_shape(rgb.shape, max_side)
    return area_resize(rgb, shape), [None if m is None else nearest_resize(m, shape) for m in maps]


# --- errors and differences ----------------------------------------------------------------


def _valid_pixels(target: np.ndarray, ignore_index: int | None) -> np.ndarray:
    return np.ones(target.shape, bool) if ignore_index is None else target != ignore_index


def _paint_codes(
    codes: np.ndarray, palette: Sequence[ColorLike], image: np.ndarray | None, alpha: float, keep: int | None
) -> np.ndarray:
    """``HxW`` small-int codes -> RGB via ``palette``; over ``image`` (blended by ``alpha``) when given.

    Pixels whose code equals ``keep`` show the bare image (or the palette colour without an image).
    """
    table = _color_table(palette[:-1], palette[-1])
    paint = np.take(table, codes, axis=0)
    if image is None:
        return paint
    base = to_display_rgb(image)
    _check_same_size(base, codes)
    where = np.ones(codes.shape, bool) if keep is None else codes != keep
    return _blend(base, paint, where, alpha)


def error_counts(pred: np.ndarray, target: np.ndarray, ignore_index: int | None = None) -> dict:
    """``{"correct", "wrong", "ignored", "accuracy"}`` pixel counts (accuracy ``None`` if nothing counted)."""
    pred, target = _label_map(pred), _label_map(target)
    _check_same_size(target, pred, "prediction")
    valid = _valid_pixels(target, ignore_index)
    correct = int(np.count_nonzero(valid & (pred == target)))
    counted = int(np.count_nonzero(valid))
    return {
        "correct": correct,
        "wrong": counted - correct,
        "ignored": int(valid.size - counted),
        "accuracy": correct / counted if counted else None,
    }


def error_map(
    pred: np.ndarray,
    target: np.ndarray,
    ignore_index: int | None = None,
    image: np.ndarray | None = None,
    focus: int | None = None,
    dim: float = ERROR_DIM,
) -> np.ndarray:
    """Only the wrong pixels, in strong colours over a dimmed image: ``HxWx3 uint8``.

    pred, target: ``HxW`` int label maps. Right pixels show the image at ``dim`` of its
    brightness (black without an image), so that errors are what the eye finds. With
    ``focus=None`` every wrong pixel is red; with ``focus=c`` only class ``c``'s errors
    are drawn: false positives (predicted ``c``, truly another class) in ``FALSE_POSITIVE_COLOR``,
    false negatives (truly ``c``, predicted another) in ``FALSE_NEGATIVE_COLOR``. Ignored
    pixels are grey.
    """
    pred, target = _label_map(pred), _label_map(target)
    _check_same_size(target, pred, "prediction")
    valid = _valid_pixels(target, ignore_index)
    wrong = valid & (pred != target)
    if image is None:
        shown = np.zeros((*target.shape, 3), np.uint8)
    else:
        base = to_display_rgb(image)
        _check_same_size(base, target)
        shown = cv2.convertScaleAbs(base, alpha=dim)  # rounds and saturates like the rest of the module
    if ignore_index is not None:
        shown = _paint(shown, IGNORED_COLOR, ~valid)
    if focus is None:
        return _paint(shown, WRONG_COLOR, wrong)
    shown = _paint(shown, FALSE_POSITIVE_COLOR, wrong & (pred == focus))
    return _paint(shown, FALSE_NEGATIVE_COLOR, wrong & (target == focus))


class DifferenceMap(NamedTuple):
    """What checkpoint B changed against checkpoint A, judged by the ground truth."""

    #: ``HxWx3 uint8``: fixed green, broken red, both wrong amber, ignored grey.
    rgb: np.ndarray
    #: Pixel counts: ``fixed``, ``broken``, ``both_wrong``, ``both_correct``, ``ignored``.
    counts: dict


def difference_map(
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    target: np.ndarray,
    ignore_index: int | None = None,
    image: np.ndarray | None = None,
    alpha: float = 0.6,
) -> DifferenceMap:
    """Compare two predictions pixel by pixel against the ground truth.

    fixed (A wrong, B right) green; broken (A right, B wrong) red; both wrong amber;
    ignored grey; both correct black, or the bare image when ``image`` is given.
    Returns ``DifferenceMap(rgb, counts)`` (unpacks as a tuple).
    """
    pred_a, pred_b, target = _label_map(pred_a), _label_map(pred_b), _label_map(target)
    _check_same_size(target, pred_a, "prediction A")
    _check_same_size(target, pred_b, "prediction B")
    valid = _valid_pixels(target, ignore_index)
    a_right, b_right = pred_a == target, pred_b == target
    # 0 both correct, 1 fixed, 2 broken, 3 both wrong, 4 ignored
    codes = np.where(a_right, np.where(b_right, 0, 2), np.where(b_right, 1, 3))
    codes = np.where(valid, codes, 4).astype(np.uint8)
    counts_by_code = np.bincount(codes.reshape(-1), minlength=5)
    counts = {
        name: int(counts_by_code[code])
        for code, name in enumerate(("both_correct", "fixed", "broken", "both_wrong", "ignored"))
    }
    palette = [(0, 0, 0), CORRECT_COLOR, WRONG_COLOR, BOTH_WRONG_COLOR, IGNORED_COLOR]
    return DifferenceMap(_paint_codes(codes, palette, image, alpha, keep=0), counts)


def confusion_pixels(
    pred: np.ndarray, target: np.ndarray, true_class: int, pred_class: int
) -> np.ndarray:
    """``HxW bool``: pixels whose ground truth is ``true_class`` and prediction ``pred_class``."""
    pred, target = _label_map(pred), _label_map(target)
    _check_same_size(target, pred, "prediction")
    return (target == true_class) & (pred == pred_class)


def highlight_pixels(
    image: np.ndarray,
    mask: np.ndarray,
    color: ColorLike = HIGHLIGHT_COLOR,
    alpha: float = 0.8,
    dim: float = 0.5,
) -> np.ndarray:
    """Make the pixels of a boolean ``HxW`` mask stand out: ``HxWx3 uint8``.

    Mask pixels are blended with ``color`` by ``alpha``; all other pixels are darkened
    by the factor ``dim`` (0 = untouched, 1 = black). For "ground truth A predicted as B".
    """
    base = to_display_rgb(image)
    mask = np.asarray(mask, dtype=bool)
    _check_same_size(base, mask, "mask")
    paint = np.broadcast_to(np.array(as_rgb(color), np.uint8), base.shape)
    black = np.zeros_like(base)
    dimmed = _blend(base, black, ~mask, dim)
    return _blend(dimmed, paint, mask, alpha)


# --- layout and export ---------------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """Scale to ``height`` keeping the aspect ratio; nearest neighbour when enlarging keeps labels crisp."""
    h, w = image.shape[:2]
    if h == height:
        return image
    width = max(1, round(w * height / h))
    interpolation = cv2.INTER_NEAREST if height > h else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=interpolation)


def grid(
    images: Sequence[np.ndarray],
    columns: int | None = None,
    titles: Sequence[str] | None = None,
    gap: int = 4,
    height: int | None = None,
    background: ColorLike = (255, 255, 255),
) -> np.ndarray:
    """Tile images into one ``uint8 RGB`` picture, ``columns`` per row (default: all in one row).

    Each image goes through ``to_display_rgb`` and is scaled to ``height`` (default: the
    tallest image) keeping its aspect ratio, centred in a cell as wide as the widest one;
    ``titles`` are written above the cells.
    """
    if not images:
        raise SegdashError("nothing to show: no images given")
    if titles is not None and len(titles) != len(images):
        raise SegdashError(f"{len(titles)} titles for {len(images)} images")
    pictures = [to_display_rgb(im) for im in images]
    height = height or max(p.shape[0] for p in pictures)
    pictures = [_fit_height(p, height) for p in pictures]
    columns = max(1, min(columns or len(pictures), len(pictures)))
    rows = -(-len(pictures) // columns)
    cell_w = max(p.shape[1] for p in pictures)
    font_size = max(10, min(20, cell_w // 16))
    title_h = font_size + 8 if titles else 0
    cell_h = height + title_h
    canvas = np.empty((rows * cell_h + (rows - 1) * gap, columns * cell_w + (columns - 1) * gap, 3), np.uint8)
    canvas[:] = as_rgb(background)
    for k, picture in enumerate(pictures):
        top = (k // columns) * (cell_h + gap) + title_h
        left = (k % columns) * (cell_w + gap) + (cell_w - picture.shape[1]) // 2
        canvas[top : top + height, left : left + picture.shape[1]] = picture
    if titles:
        page = Image.fromarray(canvas)
        draw = ImageDraw.Draw(page)
        font = _font(font_size)
        for k, title in enumerate(titles):
            x = (k % columns) * (cell_w + gap) + cell_w // 2
            y = (k // columns) * (cell_h + gap) + title_h // 2
            draw.text((x, y), str(title), fill=(20, 20, 20), font=font, anchor="mm")
        canvas = np.asarray(page)
    return canvas


def side_by_side(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    gap: int = 4,
    height: int | None = None,
) -> np.ndarray:
    """Images in one row, scaled to the same height, with optional titles (see ``grid``)."""
    return grid(images, columns=len(images), titles=titles, gap=gap, height=height)


def encode_png(array: np.ndarray, palette: Sequence[ColorLike] | None = None) -> bytes:
    """PNG file bytes (for downloads) of a label map or an image.

    - ``HxW`` integer label map -> 8-bit index PNG (16-bit if labels exceed 255); with
      ``palette`` (class colours) an 8-bit palette PNG whose pixel values stay the class
      indices but which image viewers show in colour (the same file ``segdash predict`` writes,
      ``label_png_bytes``). ``bool`` masks -> 0/1.
    - ``HxWx3``/``HxWx4 uint8`` -> RGB/RGBA PNG; other images go through ``to_display_rgb``.
    """
    array = np.asarray(array)
    if array.ndim == 2 and (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        colors = None if palette is None else [as_rgb(c) for c in palette]
        return label_png_bytes(array.astype(np.int64), colors)
    if array.ndim == 3 and array.dtype == np.uint8 and array.shape[2] in (3, 4):
        picture = Image.fromarray(np.ascontiguousarray(array))
    else:
        picture = Image.fromarray(to_display_rgb(array))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
