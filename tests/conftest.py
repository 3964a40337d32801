"""Shared test fixtures: every test gets its own segdash cache folder."""

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches (built-in datasets, statistics) go to a per-session temp folder, never ~/.cache."""
    root = os.environ.get("SEGDASH_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "segdash-cache")
    monkeypatch.setenv("SEGDASH_CACHE", root)
    yield
