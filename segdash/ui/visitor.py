"""What one visitor may see and use: the checkpoint catalogue and the training runs, for every page.

On a local install (one trusted user) that is everything: every shipped checkpoint and every run
under the runs folder. In public mode (``segdash.public``) a visitor's runs live in a folder of their
own, ``<runs>/.visitor-<token>/``, named by a token drawn for their browser session: the catalogue is
the shipped checkpoints plus the checkpoints in that folder, and the Train page lists the runs in it.
So a visitor sees nothing of another's by construction, not by a filter that a page could forget,
and run names are private to a session (two visitors may both name a run "test"; neither gets a
"test-2" that would tell them the other exists).

Every page takes its checkpoint and run lists from ``catalog()`` and ``runs()``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from segdash import public
from segdash.errors import SegdashError
from segdash.ui import cache, state

if TYPE_CHECKING:  # segdash.models imports torch: not before the first screen is drawn
    from segdash.models.catalog import CatalogEntry

#: A visitor's runs folder under the runs root: hidden, so local listings of the root leave it out.
VISITOR_PREFIX = ".visitor-"


def _session_token() -> str | None:
    """This browser session's token (drawn on first use), or None outside a session (a background thread)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx() is None:
        return None
    return st.session_state.setdefault(state.VISITOR, secrets.token_hex(8))


def runs_root() -> Path | None:
    """Where this visitor's runs are: the runs folder locally; in public mode this session's own folder
    (None outside a session: a background thread sees a fresh visitor's catalogue, with no runs)."""
    root = state.runs_dir()
    if not public.is_public():
        return root
    token = _session_token()
    return None if token is None else root / f"{VISITOR_PREFIX}{token}"


def catalog() -> list[CatalogEntry]:
    """The checkpoints this visitor may pick: shipped ones first, then those of the runs they may see."""
    from segdash.models.catalog import RUN, SHIPPED, find_catalog

    roots: list[tuple[str, Path]] = [(SHIPPED, state.weights_dir())]
    runs = runs_root()
    if runs is not None:
        roots.append((RUN, runs))
    return find_catalog(roots, read_meta=cache.checkpoint_meta)


def check_visible(path: str | Path) -> None:
    """Public mode: refuse any checkpoint folder this visitor's catalogue does not offer."""
    if public.is_public() and str(path) not in {e.path for e in catalog()}:
        raise SegdashError("that checkpoint is not available in this demo; pick one in the sidebar")


def runs():
    """The training runs this visitor may see and control (``RunState``), newest first."""
    from segdash.train.runs import list_runs

    root = runs_root()
    return list_runs(root) if root is not None else []


def owns_run(run_dir: str | Path) -> bool:
    """True when the run folder is one of this visitor's (always, locally)."""
    if not public.is_public():
        return True
    root = runs_root()
    return root is not None and Path(run_dir).resolve().parent == root.resolve()
