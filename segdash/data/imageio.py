"""Reading images and label maps from disk (or from uploaded bytes), robustly.

Real folders are messy: JPEGs that are really grayscale, CMYK or RGBA, palette
PNGs, 16-bit TIFFs, macOS ``._`` resource files beside the images, ``.mat``
files mixed in. Everything here turns them into the two array kinds segdash
uses everywhere::

    image = read_image("pets/images/Abyssinian_1.jpg")    # H x W x 3 uint8 RGB
    labels = read_label_image("voc/SegmentationClass/2007_000032.png")  # H x W int64
    write_label_png("out/2007_000032.png", labels, colors=VOC_COLORS)

A file that cannot be decoded raises ``SegdashError`` naming the file; nothing
here ever returns half an image.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_bytes
from segdash.public import max_image_pixels, max_volume_voxels, megapixels, too_large

#: File extensions (lower case) that ``list_images`` and the formats treat as images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".npy"}
)

#: ``"rgb"``: always H x W x 3 uint8. ``"native"``: single-channel images stay
#: H x W x 1 in their own dtype (uint8, uint16, int32 or float32); others become RGB.
#: ``"gray"``: always H x W x 1 (colour images become luminance, uint8) - for 1-channel models.
ImageMode = Literal["rgb", "native", "gray"]
IMAGE_MODES = ("rgb", "native", "gray")

_PIXEL_LIMIT_ENV = "SEGDASH_MAX_IMAGE_PIXELS"
#: Largest channel count an image may declare in its header (RGBA is 4; more is a crafted file).
_MAX_CHANNELS = 4
# segdash checks every header against its own limit (``check_decoded_size``, configurable by the host);
# Pillow's fixed guard would refuse some files the host allowed and warn on others.
Image.MAX_IMAGE_PIXELS = None

_SINGLE_CHANNEL_MODES = {"L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N", "1"}


# --- listing ---------------------------------------------------------------------------------
def is_image_file(path: str | Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> bool:
    """True for a visible file whose extension is an image extension (``._x.jpg`` is not)."""
    path = Path(path)
    return not path.name.startswith(".") and path.suffix.lower() in set(extensions) and path.is_file()


def list_images(folder: str | Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Skips hidden files and macOS resource forks (names starting with ``.``,
    which covers ``._*``), folders, and files whose extension is not in
    ``extensions`` (``.mat``, ``.txt``, ``.xml`` ...).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SegdashError(f"image folder {str(folder)!r} does not exist or is not a folder")
    extensions = {e.lower() for e in extensions}
    found = [p for p in folder.iterdir() if is_image_file(p, extensions)]
    # A name that is not UTF-8 cannot become a sample id (ids are printed, hashed and written to JSON).
    unnamed = [p for p in found if not _is_utf8(p.name)]
    if unnamed:
        warnings.warn(
            f"{len(unnamed)} file(s) in {ascii(str(folder))} skipped because their names are not valid UTF-8 "
            f"(e.g. {ascii(unnamed[0].name)}); rename them to use them",
            stacklevel=2,
        )
    return sorted((p for p in found if p not in unnamed), key=lambda p: p.name)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as surrogates (PEP 383)
        return False
    return True


# --- the decoded-size limit -------------------------------------------------------------------
def check_decoded_size(name: str, shape: Sequence[int]) -> None:
    """Refuse an image whose header declares more pixels than the limit, before anything is allocated.

    ``shape`` is what the header says: (H, W), (H, W, C) or planar (C, H, W). A small compressed file can declare
    a huge image (a 1.6 MB tiled TIFF decodes to 40000 x 40000), so every reader calls this first.
    """
    dims = [int(d) for d in shape]
    if len(dims) < 2 or any(d < 0 for d in dims):
        raise SegdashError(f"{name}: the file declares an array of shape {tuple(dims)}, not a 2-D image")
    planar = len(dims) == 3 and dims[0] <= _MAX_CHANNELS < dims[2]
    height, width = dims[1:3] if planar else dims[:2]
    pixels = height * width
    limit = max_image_pixels()
    if pixels > limit:
        raise SegdashError(too_large(name, "image", f"{width} x {height} ({megapixels(pixels)})", megapixels(limit),
                                     _PIXEL_LIMIT_ENV))  # fmt: skip
    if len(dims) > 4 or math.prod(dims) > limit * _MAX_CHANNELS:
        raise SegdashError(f"{name}: the file declares an array of shape {tuple(dims)}, not a 2-D image")


def check_volume_size(name: str, shape: Sequence[int]) -> None:
    """Refuse a 3-D volume whose header declares more voxels than the limit, before reading it."""
    dims = [int(d) for d in shape]
    voxels = math.prod(dims)
    limit = max_volume_voxels()
    if any(d < 0 for d in dims) or voxels > limit:
        raise SegdashError(too_large(name, "volume", f"{' x '.join(map(str, dims))} ({voxels:,} voxels)",
                                     f"{limit:,} voxels", "SEGDASH_MAX_VOLUME_VOXELS"))  # fmt: skip


# --- decoding --------------------------------------------------------------------------------
def _open_pil(source: Path | io.BytesIO, name: str) -> Image.Image:
    """Open and fully decode an image with Pillow, turning every failure into SegdashError.

    The size in the header is checked against the limit before the pixels are decoded.
    """
    try:
        img = Image.open(source)
        width, height = img.size
        check_decoded_size(name, (height, width, len(img.getbands())))
        img.load()  # decode now: truncated/corrupt data fails here, not later
        return img
    except FileNotFoundError:
        raise SegdashError(f"{name}: file not found") from None
    except Image.UnidentifiedImageError:
        raise SegdashError(f"{name}: not an image file, or an image format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise SegdashError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None


def _tiff_shape(source: Path | io.BytesIO, name: str) -> tuple[int, ...]:
    """The first page's shape from a TIFF's header (nothing decoded), checked against the size limit."""
    import tifffile

    try:
        with tifffile.TiffFile(source) as tif:
            shape = tuple(int(d) for d in tif.pages[0].shape)
    except Exception as exc:  # tifffile raises many kinds; all mean "not readable"
        raise SegdashError(f"{name}: not a readable TIFF image ({type(exc).__name__})") from None
    if isinstance(source, io.BytesIO):
        source.seek(0)
    check_decoded_size(name, shape)
    return shape


def _read_tiff_array(source: Path | io.BytesIO, name: str) -> np.ndarray:
    """Fallback for TIFFs Pillow cannot decode (float multi-channel, odd compressions, stacks)."""
    import tifffile

    _tiff_shape(source, name)
    try:
        array = np.asarray(tifffile.imread(source, key=0))
    except Exception as exc:
        raise SegdashError(f"{name}: not a readable TIFF image ({type(exc).__name__})") from None
    if array.ndim == 3 and array.shape[0] <= 4 < array.shape[2]:
        array = np.moveaxis(array, 0, -1)  # planar C x H x W -> H x W x C
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] > 4):
        raise SegdashError(f"{name}: TIFF of shape {array.shape} is not a 2-D image with 1 to 4 channels")
    return array


def npy_shape(source: Path | io.BytesIO, name: str) -> tuple[int, ...]:
    """The shape a ``.npy`` file's header declares, read without loading the array."""
    try:
        handle = open(source, "rb") if isinstance(source, Path) else source
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(handle)
        finally:
            if isinstance(source, Path):
                handle.close()
            else:
                source.seek(0)
    except FileNotFoundError:
        raise SegdashError(f"{name}: file not found") from None
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        raise SegdashError(f"{name}: not a readable .npy array ({type(exc).__name__})") from None
    return tuple(int(d) for d in shape)


def _load_npy(source: Path | io.BytesIO, name: str) -> np.ndarray:
    check_decoded_size(name, npy_shape(source, name))
    try:
        return np.load(source, allow_pickle=False)
    except FileNotFoundError:
        raise SegdashError(f"{name}: file not found") from None
    except (OSError, ValueError, EOFError) as exc:
        raise SegdashError(f"{name}: not a readable .npy array ({exc})") from None


def _npy_image(array: np.ndarray, name: str) -> np.ndarray:
    """A .npy array as H x W x C: uint8 stays uint8, anything else becomes float32."""
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[2] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # saved channels-first
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] > 4 or array.dtype.kind not in "biuf":
        raise SegdashError(f"{name}: array of shape {array.shape} and dtype {array.dtype} is not an H x W (x C) image")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    return np.ascontiguousarray(array, dtype=np.float32)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Integer images scaled by their bit depth's full range; float images min-max stretched."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype.kind in "ui":
        top = max(255 if array.dtype.itemsize == 1 else 65535, int(array.max(initial=0)))
        scaled = np.clip(array.astype(np.float64), 0, top) * (255.0 / top)
        return np.rint(scaled).astype(np.uint8)
    finite = array[np.isfinite(array)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if 0.0 <= low and high <= 1.0:  # already 0..1
        low, high = 0.0, 1.0
    span = high - low or 1.0
    scaled = np.nan_to_num((array.astype(np.float64) - low) / span, nan=0.0)
    return np.rint(np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def _array_to_image(array: np.ndarray, mode: ImageMode) -> np.ndarray:
    """H x W or H x W x C array (any dtype) -> H x W x 3 uint8 or (native) H x W x 1."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        if mode == "native":
            return np.ascontiguousarray(array[:, :, None])
        return np.repeat(_to_uint8(array)[:, :, None], 3, axis=2)
    channels = array.shape[2]
    if channels == 2:  # gray + alpha
        return _array_to_image(array[:, :, 0], mode)
    return np.ascontiguousarray(_to_uint8(array[:, :, :3]))


def _pil_to_image(img: Image.Image, mode: ImageMode) -> np.ndarray:
    if img.mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    if img.mode == "1":
        img = img.convert("L")
    if img.mode == "L":
        gray = np.asarray(img, dtype=np.uint8)
        return gray[:, :, None].copy() if mode == "native" else np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in _SINGLE_CHANNEL_MODES:  # 16-bit, 32-bit int, float
        array = np.asarray(img)
        if array.dtype.byteorder not in ("=", "|"):
            array = array.astype(array.dtype.newbyteorder("="))
        return _array_to_image(array, mode)
    if img.mode in ("LA", "La"):
        return _pil_to_image(img.getchannel("L"), mode)
    # Palette (with or without transparency), RGBA, CMYK, YCbCr, LAB, HSV ...: Pillow knows the maths.
    # Transparency is dropped, not composited: the colours under it are what the model should see.
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _to_gray(image: np.ndarray) -> np.ndarray:
    """H x W x C -> H x W x 1: ITU-R 601 luminance (what Pillow's 'L' uses) for 3+ channels."""
    if image.shape[2] == 1:
        return image
    rgb = image[:, :, :3].astype(np.float32)
    luminance = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if image.dtype == np.uint8:
        return np.rint(luminance).clip(0, 255).astype(np.uint8)[:, :, None]
    return luminance[:, :, None]


def _decode(source: Path | io.BytesIO, name: str, mode: ImageMode) -> np.ndarray:
    if mode not in IMAGE_MODES:
        raise ValueError(f"mode must be one of {IMAGE_MODES}, got {mode!r}")
    if mode == "gray":
        return _to_gray(_decode(source, name, "native"))
    suffix = Path(name).suffix.lower()
    if suffix == ".npy":
        return _npy_image(_load_npy(source, name), name)
    try:
        img = _open_pil(source, name)
    except SegdashError:
        if suffix not in (".tif", ".tiff"):
            raise
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return _array_to_image(_read_tiff_array(source, name), mode)
    with img:
        return _pil_to_image(img, mode)


def read_image(path: str | Path, mode: ImageMode = "rgb") -> np.ndarray:
    """Read an image file as an H x W x C array.

    - JPEG/PNG/TIFF/BMP/WebP/GIF: ``H x W x 3`` uint8 RGB. Grayscale, CMYK,
      RGBA, palette and 16-bit images are converted (16-bit scaled by 255/65535,
      float images stretched to their min..max). With ``mode="native"`` a
      single-channel image stays ``H x W x 1`` in its own dtype instead; with
      ``mode="gray"`` every image is ``H x W x 1`` (colour -> luminance).
    - ``.npy``: ``H x W x C`` (``H x W`` becomes ``H x W x 1``), float32, or
      uint8 when saved as uint8.

    EXIF orientation is deliberately not applied: masks are stored unrotated.
    Raises ``SegdashError`` naming the file when it is missing or not an image.
    """
    path = Path(path)
    if path.is_dir():
        raise SegdashError(f"{path}: is a folder, not an image file")
    return _decode(path, str(path), mode)


def decode_image_bytes(data: bytes, name: str, mode: ImageMode = "rgb") -> np.ndarray:
    """Like ``read_image`` for an uploaded file's bytes; ``name`` (its file name) picks .npy/.tif handling."""
    if not data:
        raise SegdashError(f"{name}: the file is empty")
    return _decode(io.BytesIO(data), name, mode)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` from the file header only (cheap): a quick check while scanning folders.

    Raises ``SegdashError`` naming the file when it is not a readable image.
    """
    path = Path(path)
    name = str(path)
    if path.suffix.lower() == ".npy":
        shape = npy_shape(path, name)
        check_decoded_size(name, shape)
        if len(shape) not in (2, 3):
            raise SegdashError(f"{name}: array of shape {shape} is not an H x W (x C) image")
        if len(shape) == 3 and shape[0] in (1, 3) and shape[2] not in (1, 3, 4):
            return int(shape[1]), int(shape[2])
        return int(shape[0]), int(shape[1])
    try:
        with Image.open(path) as img:
            width, height = img.size
        check_decoded_size(name, (height, width))
        return height, width
    except FileNotFoundError:
        raise SegdashError(f"{name}: file not found") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if path.suffix.lower() in (".tif", ".tiff"):  # the header alone, as for every other format
            shape = _tiff_shape(path, name)
            planar = len(shape) == 3 and shape[0] <= _MAX_CHANNELS < shape[2]
            return shape[1:3] if planar else shape[:2]
        raise SegdashError(f"{name}: not an image file ({type(exc).__name__})") from None


# --- label maps ------------------------------------------------------------------------------
def as_label_map(array: np.ndarray, name: str) -> np.ndarray:
    """Raw label data (from ``read_raw_pixels``) -> H x W int64.

    A gray map saved as RGB (all channels equal) is accepted; alpha is dropped;
    a true colour image raises ``SegdashError`` naming ``name``.
    """
    if array.ndim == 3 and array.shape[2] in (2, 4):  # LA / RGBA: drop alpha
        array = array[:, :, : array.shape[2] - 1]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3:
        first = array[:, :, 0]
        if not all(np.array_equal(first, array[:, :, c]) for c in range(1, array.shape[2])):
            raise SegdashError(
                f"{name}: is a colour (RGB) image, not a label-index mask; colour-coded masks need a classes "
                f"file (names and colours) to map colours to class indices"
            )
        array = first
    if array.ndim != 2:
        raise SegdashError(f"{name}: array of shape {array.shape} is not an H x W label map")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise SegdashError(f"{name}: label map holds non-integer values; expected class indices")
    elif array.dtype.kind not in "biu":
        raise SegdashError(f"{name}: label map of dtype {array.dtype} is not numeric")
    return np.ascontiguousarray(array, dtype=np.int64)


def read_raw_pixels(path: str | Path) -> np.ndarray:
    """The stored pixel values without any colour conversion: H x W or H x W x C, native dtype.

    Palette images give their indices, RGB images their three channels. Formats
    whose masks are colour-coded (CARLA's red channel, RGB masks with a classes
    file) start from this.
    """
    path = Path(path)
    name = str(path)
    if path.suffix.lower() == ".npy":
        return _load_npy(path, name)
    try:
        img = _open_pil(path, name)
    except SegdashError:
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise
        return _read_tiff_array(path, name)
    with img:
        if img.mode in ("RGB", "RGBA", "L", "P", "PA", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"):
            array = np.asarray(img)
        else:  # "1", CMYK, YCbCr ...
            array = np.asarray(img.convert("L" if img.mode == "1" else "RGB"))
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def read_label_image(path: str | Path) -> np.ndarray:
    """Read a mask as an H x W int64 map of class indices.

    Index PNGs ('L', 16-bit) give their values, palette PNGs their palette
    indices (never the colours), ``.npy`` masks their integer values. A gray
    mask saved as RGB (all channels equal) is accepted; a true colour mask
    raises ``SegdashError`` (map it through a classes file instead).
    """
    path = Path(path)
    return as_label_map(read_raw_pixels(path), str(path))


#: The colour of index 255 (the usual ignore index) in a palette PNG whose classes leave it unset.
IGNORE_COLOR = (255, 255, 255)


def label_png_bytes(
    labels: np.ndarray,
    colors: Sequence[Sequence[int]] | None = None,
    ignore_color: Sequence[int] = IGNORE_COLOR,
    name: str = "label map",
) -> bytes:
    """PNG file bytes of an H x W label map whose pixel values stay the labels.

    Without ``colors``: an 8-bit grayscale ('L') PNG of the indices (16-bit when
    a label exceeds 255). With ``colors`` (one RGB triple per class): a palette
    PNG whose indices are the labels, so it reads back as labels and shows in
    colour; index 255 (the usual ignore) is drawn in ``ignore_color``. ``name``
    (a file name) starts the error messages.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise SegdashError(f"{name}: labels of shape {labels.shape} are not an H x W map")
    if labels.size and (labels.dtype.kind == "f" or labels.min() < 0):
        raise SegdashError(f"{name}: labels must be non-negative integers")
    top = int(labels.max(initial=0))
    if top > 255:
        if colors is not None:
            raise SegdashError(f"{name}: a palette PNG holds labels 0..255, got {top}")
        if top > 65535:
            raise SegdashError(f"{name}: labels up to {top} do not fit a 16-bit PNG")
        img = Image.fromarray(labels.astype(np.uint16))
    else:
        indices = np.ascontiguousarray(labels, dtype=np.uint8)
        if colors is None:
            img = Image.fromarray(indices)  # mode 'L'
        else:
            palette = np.zeros((256, 3), dtype=np.uint8)
            palette[255] = ignore_color
            table = np.asarray(colors, dtype=np.int64).reshape(-1, 3)[:256]  # classes past 255 cannot occur here
            palette[: len(table)] = np.clip(table, 0, 255)
            img = Image.frombytes("P", (indices.shape[1], indices.shape[0]), indices.tobytes())
            img.putpalette(palette.ravel().tolist())
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        img.save(buffer, format="PNG")
    return buffer.getvalue()


def write_label_png(
    path: str | Path,
    labels: np.ndarray,
    colors: Sequence[Sequence[int]] | None = None,
    ignore_color: Sequence[int] = IGNORE_COLOR,
) -> None:
    """Write an H x W label map as a PNG (``label_png_bytes``), atomically."""
    atomic_write_bytes(path, label_png_bytes(labels, colors, ignore_color, name=str(path)))
