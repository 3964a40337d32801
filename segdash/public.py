"""Public mode and the limits a hosted demo needs, read from the environment in one place.

    SEGDASH_PUBLIC=1 streamlit run app.py

In public mode a visitor can never name a server path (no folder datasets, no checkpoint
folder input, no free-form dataset options), uploads are capped before they are decoded,
training is limited to the built-ins with a cap on runs, epochs and wall time, and each
visitor sees only the runs and evaluations their own session started. Every limit is an
environment variable, so whoever hosts the demo can raise or lower it::

    limit("SEGDASH_MAX_RUNS", public=1, local=None)   # 1 in public mode, unlimited locally

Nothing here imports streamlit: the CLI and the training engine read the same limits.
"""

from __future__ import annotations

import os

from segdash.errors import SegdashError

PUBLIC_ENV = "SEGDASH_PUBLIC"


def is_public() -> bool:
    """True when ``SEGDASH_PUBLIC`` is set to 1/true/yes/on (read each call: tests flip it)."""
    return os.environ.get(PUBLIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def limit(name: str, public: float | None, local: float | None) -> float | None:
    """The limit ``name`` from the environment, else ``public`` or ``local`` by mode; None = no limit.

    A value that is not a positive number is a configuration error of the host, said in one line.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return public if is_public() else local
    if raw.lower() in ("none", "off", "unlimited"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SegdashError(f"environment variable {name} must be a positive number or 'none', got {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise SegdashError(f"environment variable {name} must be a positive number or 'none', got {raw!r}")
    return value


def int_limit(name: str, public: int | None, local: int | None) -> int | None:
    """``limit`` as a whole number (counts of runs, epochs, pixels)."""
    value = limit(name, public, local)
    return None if value is None else int(value)


# --- the limits, with their defaults ------------------------------------------------------------
def max_upload_bytes() -> int | None:
    """Largest upload accepted, checked before decoding (``SEGDASH_MAX_UPLOAD_MB``; 20 MB in public mode).

    Megabytes of 1,000,000 bytes, the unit Streamlit's upload chip shows (``size_text``).
    """
    value = limit("SEGDASH_MAX_UPLOAD_MB", public=20, local=None)
    return None if value is None else int(value * 1_000_000)


def max_image_pixels() -> int:
    """Decoded pixels (height x width) any reader may allocate (``SEGDASH_MAX_IMAGE_PIXELS``).

    40 megapixels in public mode; locally 100 megapixels (a 10000 x 10000 scan fits; a
    decompression bomb of 40000 x 40000 or a 144-megapixel PNG of 140 KB does not, and either
    would take several GB once decoded and converted). Checked from the file header, before decoding.
    """
    return int_limit("SEGDASH_MAX_IMAGE_PIXELS", public=40_000_000, local=100_000_000)


def max_volume_voxels() -> int:
    """Voxels a 3-D volume (NIfTI) may declare (``SEGDASH_MAX_VOLUME_VOXELS``).

    A volume is read whole and sliced, so this bounds its memory: 64 M voxels in public mode,
    300 M locally (a 512 x 512 x 1000 CT fits). Checked from the header, before reading.
    """
    return int_limit("SEGDASH_MAX_VOLUME_VOXELS", public=64_000_000, local=300_000_000)


# --- what a visitor reads about a limit ----------------------------------------------------------
def size_text(size: int) -> str:
    """Bytes as Streamlit's upload chip writes them, so a page never shows two sizes for one file:
    decimal units (1 MB = 1,000,000 bytes, as on Linux and macOS browsers), one decimal, the largest
    unit the size is over half of ("38.4 KB", "27.0 MB")."""
    value, units = float(size), ["B", "KB", "MB", "GB"]
    unit = 0
    while unit < len(units) - 1 and value > 500:
        value, unit = value / 1000, unit + 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def megapixels(pixels: float) -> str:
    """40_000_000 -> '40 MP', 30_000 -> '0.03 MP'."""
    return f"{pixels / 1e6:.3g} MP"


def too_large(name: str, what: str, amount: str, limit: str, setting: str) -> str:
    """The message for an input over a limit. A visitor of a public demo reads what they can do
    ("use a smaller image"); the person running segdash locally reads the setting that raises it
    (``setting``), which public mode leaves to the README and the server log."""
    if is_public():
        return f"{name}: the {what} is {amount}, over this demo's {limit} limit; use a smaller {what}"
    return (f"{name}: the {what} is {amount}, larger than the limit of {limit}; if you trust the file, raise "
            f"the limit with the environment variable {setting}")


# --- training (the Train page; the command line is not capped) ------------------------------------
def max_runs() -> int | None:
    """Training runs alive at once over all visitors (``SEGDASH_MAX_RUNS``; 1 in public mode, else unlimited)."""
    return int_limit("SEGDASH_MAX_RUNS", public=1, local=None)


def max_epochs() -> int | None:
    """Epochs one run may plan (``SEGDASH_MAX_EPOCHS``; 5 in public mode, else unlimited)."""
    return int_limit("SEGDASH_MAX_EPOCHS", public=5, local=None)


def max_run_seconds() -> float | None:
    """Training time one run may use over all its resumes (``SEGDASH_MAX_RUN_SECONDS``; 600 in public mode)."""
    return limit("SEGDASH_MAX_RUN_SECONDS", public=600, local=None)
