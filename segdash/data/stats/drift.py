"""Split drift: how far one split's class frequencies are from another's."""

from __future__ import annotations

import numpy as np

from segdash.data.stats.result import ClassStats
from segdash.jsonsafe import finite_or_none

#: a class is much rarer in a split when its share of pixels is under this fraction of the reference's
MUCH_RARER = 1 / 3


def split_drift(reference: ClassStats, other: ClassStats) -> dict:
    """How far ``other``'s class pixel frequencies are from ``reference``'s.

    ``js_divergence``: Jensen-Shannon divergence in bits (log base 2), so 0 for identical and 1 for
    disjoint distributions; null when either split has no labelled pixel. ``frequency_ratio``: per class
    other / reference (null when the class is absent from the reference). ``much_rarer``: classes whose
    share in ``other`` is under a third of their share in ``reference`` (absent ones included).
    """
    p, q = reference.frequency, other.frequency
    divergence = None
    if reference.labeled_pixels and other.labeled_pixels:
        m = (p + q) / 2
        divergence = float((_kl_bits(p, m) + _kl_bits(q, m)) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(p > 0, q / p, np.nan)
    return {
        "reference": reference.split,
        "js_divergence": divergence,
        "log_base": 2,
        "frequency_ratio": [finite_or_none(r) for r in ratio],
        "much_rarer": [int(c) for c in np.flatnonzero((p > 0) & (np.nan_to_num(ratio) < MUCH_RARER))],
    }


def _kl_bits(p: np.ndarray, q: np.ndarray) -> float:
    """Kullback-Leibler divergence sum p log2(p / q) over p > 0 (q > 0 wherever p > 0 here)."""
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / q[nz])))

