"""Shared test set-up: the whole session uses its own segdash cache folder, never ~/.cache.

The variable is set when pytest loads this file, before any fixture of any scope
runs, so module- and session-scoped fixtures that build caches are isolated too.
Set SEGDASH_TEST_CACHE to reuse a cache between runs while developing.
"""

import os
import tempfile
import threading

import pytest

os.environ["SEGDASH_CACHE"] = os.environ.get("SEGDASH_TEST_CACHE") or tempfile.mkdtemp(prefix="segdash-test-cache-")

#: the dashboard's background model loads (segdash/ui/warmup.py THREAD_PREFIX)
WARM_UP_THREADS = "segdash-warm-up"


@pytest.fixture(autouse=True)
def _no_warm_up_left_running():
    """A test that ran the app may leave a background model load behind; it ends before the next test
    starts, so that test's timing and memory figures (tracemalloc counts every thread) are its own."""
    yield
    for thread in threading.enumerate():
        if thread.name.startswith(WARM_UP_THREADS) and thread not in _STUCK:
            thread.join(timeout=120)
            if thread.is_alive():  # waited once: a stuck load must not hold up every later test
                _STUCK.add(thread)


_STUCK: set[threading.Thread] = set()
