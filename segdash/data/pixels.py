"""One pixel-value policy: how any image's values become the values a model was trained on.

A checkpoint records the value range its training inputs had (``InputRange``: 0..255 for
8-bit photos, 0..1 for brain-mri's float slices) and their intensity statistics
(``IntensityStats``). Every path that feeds a model - ``segdash predict``, the dashboard's
uploads and samples, evaluation, training - maps images with ``to_input_range``, so an
8-bit PNG, a 16-bit PNG or TIFF and a float ``.npy`` of the same slice give the same input::

    image, notes = to_input_range(read_image("slice.png", mode="native"), meta.input_range)
    # uint8 0..255 -> float32 0..1, notes == ["8-bit image values 0..255 mapped to the model's 0..1"]

Where an image's values come from (``source_range``):

- ``bool``: 0..1; ``uint8``: 0..255; ``uint16``: 0..65535 (the type's full range, so a
  12-bit scan saved as 16-bit keeps its relative brightness);
- other integers within 0..255 or 0..65535: that range (Pillow reads some 16-bit files as int32);
- floats within 0..1: 0..1; floats within 0..255: 8-bit values stored as floats;
- anything else (raw MRI or CT intensities, z-scored data): the 0.5-99.5 percentile window,
  as NIfTI volumes are read, with a note, because no fixed range fits.

The source range is mapped linearly onto the model's range; nothing happens (and no note) when
they are equal. A model trained on floats of no fixed range (z-scored slices) takes float images
as they are (``InputRange.floats_as_is``), as do checkpoints from before the range was recorded
whose normalisation scale is 1; their integer images are still mapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Floats this far outside 0..1 (rounding in a saved file) still count as 0..1.
_TOLERANCE = 1e-3
#: Bins of the intensity histogram a checkpoint keeps of its training images.
HISTOGRAM_BINS = 32
#: Pixels (about) the out-of-distribution hint looks at: a regular grid over larger images.
HINT_PIXELS = 512 * 512
#: Percentile window for values no fixed range fits (the NIfTI reader's window).
WINDOW_PERCENTILES = (0.5, 99.5)


@dataclasses.dataclass(frozen=True)
class InputRange:
    """The value range (``low``..``high``) of a model's training inputs, before ``Normalization``.

    ``floats_as_is``: float images are taken unchanged (a model trained on floats of no fixed
    range, such as z-scored slices, or a checkpoint too old to say); integer images are still
    mapped onto ``low``..``high``.
    """

    low: float = 0.0
    high: float = 1.0
    floats_as_is: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.high > self.low):
            raise ValueError(f"an input range needs finite low < high, got {self.low}..{self.high}")

    def describe(self) -> str:
        return f"{_fmt(self.low)}..{_fmt(self.high)}"

    def to_dict(self) -> dict[str, Any]:
        return {"low": float(self.low), "high": float(self.high), "floats_as_is": bool(self.floats_as_is)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputRange:
        as_is = d.get("floats_as_is", False)
        if not isinstance(as_is, bool):
            raise TypeError("input_range.floats_as_is must be true or false")
        return cls(float(d["low"]), float(d["high"]), as_is)

    @classmethod
    def from_scale(cls, scale: float) -> InputRange:
        """The range a ``Normalization`` scale implies for checkpoints that did not record one:
        a scale of 1/255 means 8-bit inputs (0..255); a scale of 1 means integer images were
        scaled to 0..1 and float images used as they are (what those checkpoints' data had)."""
        scale = float(scale)
        if scale <= 0 or not np.isfinite(scale) or abs(scale - 1.0) < 1e-9:
            return cls(0.0, 1.0, floats_as_is=True)
        return cls(0.0, float(round(1.0 / scale, 6)))


UNIT = InputRange(0.0, 1.0)
EIGHT_BIT = InputRange(0.0, 255.0)


def _fmt(value: float) -> str:
    return f"{value:g}"


def training_range(image: np.ndarray) -> InputRange:
    """The range one training image is put in: 0..255 for 8-bit images (kept as uint8 in memory,
    four times smaller), 0..1 for other integers, and floats as they are (0..1 when they are)."""
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return EIGHT_BIT
    if array.dtype.kind == "f":
        return UNIT if source_range(array)[0] == UNIT else InputRange(0.0, 1.0, floats_as_is=True)
    return UNIT


def dataset_range(images: Iterable[np.ndarray]) -> InputRange:
    """The ``InputRange`` a model trained on ``images`` (a sample of a split) records: 0..255 for
    8-bit images, 0..1 for other integers and for floats within 0..1; for other floats (z-scored,
    raw intensities) the 0.5-99.5 percentile window of the sample, with floats taken as they are."""
    floats_low, floats_high, first = [], [], None
    for image in images:
        first = training_range(image) if first is None else first
        array = np.asarray(image)
        if array.dtype.kind == "f" and source_range(array)[0] != UNIT:
            finite = array[np.isfinite(array)]
            if finite.size:
                low, high = np.percentile(finite, WINDOW_PERCENTILES)
                floats_low.append(float(low))
                floats_high.append(float(high))
    if floats_low:
        low, high = min(floats_low), max(floats_high)
        return InputRange(low, high if high > low else low + 1.0, floats_as_is=True)
    return first if first is not None and not first.floats_as_is else UNIT


def source_range(image: np.ndarray) -> tuple[InputRange, str]:
    """``(range the image's values come from, how it was decided)`` for an image of any dtype."""
    array = np.asarray(image)
    kind = array.dtype.kind
    if kind == "b":
        return UNIT, "binary image"
    if array.dtype == np.uint8:
        return EIGHT_BIT, "8-bit image"
    if array.dtype == np.uint16:
        return InputRange(0.0, 65535.0), "16-bit image"
    finite = array
    if kind == "f":
        finite_mask = np.isfinite(array)
        finite = array if finite_mask.all() else array[finite_mask]
    if finite.size == 0:
        return UNIT, "empty image"
    low, high = float(finite.min()), float(finite.max())
    if kind in "iu":
        if low >= 0 and high <= 255:
            return EIGHT_BIT, "integer image within 0..255"
        if low >= 0 and high <= 65535:
            return InputRange(0.0, 65535.0), "integer image within 0..65535"
    elif low >= -_TOLERANCE and high <= 1 + _TOLERANCE:
        return UNIT, "float image"
    elif low >= -_TOLERANCE and high <= 255 + _TOLERANCE:
        return EIGHT_BIT, "float image with 8-bit values"
    window_low, window_high = (float(v) for v in np.percentile(finite, WINDOW_PERCENTILES))
    if window_high <= window_low:
        window_low, window_high = low, max(high, low + 1.0)
    return InputRange(window_low, window_high), f"values {_fmt(low)}..{_fmt(high)} windowed at the 0.5-99.5 percentiles"


def to_input_range(image: np.ndarray, target: InputRange) -> tuple[np.ndarray, list[str]]:
    """Map ``image`` (HxWxC or HxW, any dtype) onto ``target``: ``(image, notes)``.

    The image is returned unchanged (same array, no note) when its values already come
    from ``target``; otherwise float32 values in ``target``, with one note saying what was done.
    """
    if target.floats_as_is and np.asarray(image).dtype.kind == "f":
        return image, []
    source, how = source_range(image)
    if source == InputRange(target.low, target.high):
        return image, []
    array = np.asarray(image, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        array = np.nan_to_num(array, nan=source.low, posinf=source.high, neginf=source.low)
    factor = (target.high - target.low) / (source.high - source.low)
    mapped = (array - np.float32(source.low)) * np.float32(factor) + np.float32(target.low)
    if "windowed" in how:
        mapped = np.clip(mapped, target.low, target.high)
    note = f"{how}: values {source.describe()} mapped to the model's {target.describe()}"
    return mapped.astype(np.float32, copy=False), [note]


# --- intensity statistics and the out-of-distribution hint ---------------------------------------
@dataclasses.dataclass(frozen=True)
class IntensityStats:
    """Intensity statistics of a model's training inputs, in its ``InputRange``.

    ``mean``/``std``: per channel, over all pixels; ``image_mean``/``image_std``: the 1st and 99th
    percentile of the per-image mean and standard deviation (channels averaged); ``histogram``:
    the mean normalised histogram (``HISTOGRAM_BINS`` bins over the range) of the training images;
    ``histogram_distance``: the 99th percentile of their distances (total variation) to it.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_mean: tuple[float, float]
    image_std: tuple[float, float]
    histogram: tuple[float, ...]
    histogram_distance: float
    images: int

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntensityStats:
        return cls(
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            image_mean=tuple(float(v) for v in d["image_mean"])[:2],  # type: ignore[arg-type]
            image_std=tuple(float(v) for v in d["image_std"])[:2],  # type: ignore[arg-type]
            histogram=tuple(float(v) for v in d["histogram"]),
            histogram_distance=float(d["histogram_distance"]),
            images=int(d.get("images", 0)),
        )


def _histogram(image: np.ndarray, value_range: InputRange) -> np.ndarray:
    """(HISTOGRAM_BINS,) float64 summing to 1: the image's values (all channels) over the range."""
    values = np.asarray(image, dtype=np.float32).ravel()
    counts, _ = np.histogram(np.clip(values, value_range.low, value_range.high), bins=HISTOGRAM_BINS,
                             range=(value_range.low, value_range.high))
    return counts / max(1, counts.sum())


def intensity_stats(images: Iterable[np.ndarray], value_range: InputRange) -> IntensityStats | None:
    """Statistics of training images (each HxWxC, already in ``value_range``); None without images."""
    means, stds, hists, sums, squares, pixels = [], [], [], 0.0, 0.0, 0
    for image in images:
        x = np.asarray(image, dtype=np.float64)
        x = x[:, :, None] if x.ndim == 2 else x
        means.append(float(x.mean()))
        stds.append(float(x.std()))
        hists.append(_histogram(x, value_range))
        sums = sums + x.sum(axis=(0, 1))
        squares = squares + (x**2).sum(axis=(0, 1))
        pixels += x.shape[0] * x.shape[1]
    if not pixels:
        return None
    mean = np.asarray(sums) / pixels
    std = np.sqrt(np.maximum(np.asarray(squares) / pixels - mean**2, 0.0))
    histogram = np.mean(hists, axis=0)
    distances = [_distance(h, histogram) for h in hists]
    return IntensityStats(
        mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
        image_mean=(float(np.percentile(means, 1)), float(np.percentile(means, 99))),
        image_std=(float(np.percentile(stds, 1)), float(np.percentile(stds, 99))),
        histogram=tuple(float(v) for v in histogram), histogram_distance=float(np.percentile(distances, 99)),
        images=len(means),
    )


def _distance(a: np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Total variation distance of two normalised histograms, 0 (same) .. 1 (disjoint)."""
    return 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())


def intensity_hint(image: np.ndarray, stats: IntensityStats | None, value_range: InputRange) -> str | None:
    """A note when ``image`` (HxWxC, in ``value_range``) looks unlike the training images, else None.

    Far means: its mean or standard deviation lies outside the training images' 1-99 percentile
    band widened by half the band's width plus 5% of the range, or its intensity histogram is
    further from the training images' than 1.5x the distance 99% of them keep (and at least 0.25).
    """
    if stats is None:
        return None
    x = np.asarray(image)
    step = max(1, int(np.sqrt(x.shape[0] * x.shape[1] / HINT_PIXELS)))  # a grid of pixels is enough for statistics
    x = np.asarray(x[::step, ::step], dtype=np.float32)
    span = value_range.high - value_range.low
    reasons = []
    for name, value, (low, high) in (("mean", float(x.mean()), stats.image_mean),
                                     ("spread (std)", float(x.std()), stats.image_std)):
        margin = 0.5 * (high - low) + 0.05 * span
        if not low - margin <= value <= high + margin:
            reasons.append(f"{name} {value:.3g} (training images {low:.3g}..{high:.3g})")
    distance = _distance(_histogram(x, value_range), stats.histogram)
    if distance > max(0.25, 1.5 * stats.histogram_distance):
        reasons.append(f"intensity histogram {distance:.0%} different (training images up to "
                       f"{stats.histogram_distance:.0%})")
    if not reasons:
        return None
    return "this image looks unlike the model's training data: " + "; ".join(reasons) + "; treat the result with care"
