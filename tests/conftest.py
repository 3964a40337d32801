"""Shared test set-up: the whole session uses its own segdash cache folder, never ~/.cache.

The variable is set when pytest loads this file, before any fixture of any scope
runs, so module- and session-scoped fixtures that build caches are isolated too.
Set SEGDASH_TEST_CACHE to reuse a cache between runs while developing.
"""

import os
import tempfile

os.environ["SEGDASH_CACHE"] = os.environ.get("SEGDASH_TEST_CACHE") or tempfile.mkdtemp(prefix="segdash-test-cache-")
