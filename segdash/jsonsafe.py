"""Numbers for strict JSON: NaN and infinities become ``null`` (JSON has no NaN), numpy scalars plain Python.

One policy for every file and document segdash writes: an undefined score is ``null``, never ``NaN``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_number(value: Any) -> Any:
    """One value for JSON: floats through ``finite_or_none``, numpy integers -> int, sequences element-wise;
    anything else unchanged."""
    if isinstance(value, (np.floating, float)):
        return finite_or_none(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_number(v) for v in value]
    return value


def json_tree(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, arrays, numbers, paths) safe for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): json_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_tree(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_tree(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return json_number(obj)
