"""Skipping what cannot be used, with one warning that counts and names it.

A file that is unreadable or has no partner (an image without mask) is skipped
while scanning, never fatal; a sample that cannot be read during a pass over a
split is left out the same way (``--strict`` stops instead).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence


class DatasetWarning(UserWarning):
    """A file was skipped while scanning a dataset folder (unreadable, or without its partner)."""


def warn_skipped_samples(skipped: Sequence[tuple[str, str]], shown: int = 3) -> None:
    """One warning naming the samples a pass over a split left out and why (the first few); the rest was used."""
    if not skipped:
        return
    first = "; ".join(f"{sid} ({why})" for sid, why in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    warnings.warn(f"{len(skipped)} sample(s) skipped, the rest used (--strict stops instead): {first}{more}",
                  DatasetWarning, stacklevel=3)


def warn_skipped(message: str, names: Sequence[str], limit: int = 5) -> None:
    """One warning for many skipped files: '3 images without mask skipped: a, b, c'."""
    if not names:
        return
    shown = ", ".join(names[:limit]) + (f" (and {len(names) - limit} more)" if len(names) > limit else "")
    warnings.warn(f"{len(names)} {message}: {shown}", DatasetWarning, stacklevel=3)
