"""How many worker processes to use by default (``segdash stats --workers``)."""

from __future__ import annotations

import os


def default_workers(limit: int = 8) -> int:
    """Worker processes by default: one per CPU this process may use, at most ``limit``."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(limit, usable))
