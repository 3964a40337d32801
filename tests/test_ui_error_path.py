"""One error path in the dashboard: a user error is a message; a bug is a short message on the page and its
traceback in the server log, never swallowed and never dressed as a user error."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import weights_dir  # noqa: E402, F401

SCRIPT = """
import streamlit as st
from segdash.errors import SegdashError
from segdash.ui.widgets import reported_errors

with reported_errors("dataset") as first:
    raise SegdashError("the folder has no masks/")
with reported_errors("model") as second:
    raise KeyError("a bug")
with reported_errors("device") as third:
    value = 1
st.write(f"outcomes {first.failed} {second.failed} {third.failed}")
"""


def test_user_errors_are_messages_and_bugs_are_logged_with_their_traceback(monkeypatch, caplog):
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    with caplog.at_level(logging.ERROR, logger="segdash.ui.widgets"):
        at = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert shown[0] == "dataset: the folder has no masks/"
    assert shown[1] == "model: unexpected error (KeyError); it has been logged." and "a bug" not in shown[1]
    assert "outcomes True True False" in at.markdown[0].value  # the page draws on after each failure
    bugs = [r for r in caplog.records if r.exc_info]
    assert len(bugs) == 1 and bugs[0].exc_info[0] is KeyError  # the traceback is in the log, once


def test_the_catalogue_leaves_out_broken_folders_but_never_hides_a_bug(weights_dir, tmp_path):  # noqa: F811
    import shutil

    from segdash.models.catalog import SHIPPED, find_catalog
    from segdash.models.checkpoint import read_meta

    root = tmp_path / "weights"
    shutil.copytree(weights_dir, root)
    (root / "half").mkdir()
    (root / "half" / "segdash.json").write_text("{ not json")  # half-written: not offered
    entries = find_catalog([(SHIPPED, root)])
    assert sorted(e.name for e in entries) == ["fpn/best", "unet/best"]

    def buggy(path):
        if path.name == "best" and path.parent.name == "fpn":
            raise AttributeError("a bug in reading metadata")
        return read_meta(path)

    with pytest.raises(AttributeError, match="a bug in reading metadata"):
        find_catalog([(SHIPPED, root)], read_meta=buggy)
