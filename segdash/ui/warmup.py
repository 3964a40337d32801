"""Models loaded in background threads, so that a first prediction does not wait for them.

The server's start-up (the lifespan hook of ``app.py``'s ``st.App``) starts a thread that
loads the default checkpoint (the one a new session's sidebar shows) and opens its dataset
before anyone connects; on CPU that includes its one-time ONNX export. Where the app runs
without that hook (``AppTest``), the first run of ``app.py`` starts it instead, while the first
visitor is still reading the start page. The Home page does the same for a checkpoint picked
in the sidebar.

The threads fill ``cache.predictor``'s own cache entry: Streamlit computes a cache entry
once and makes every other caller wait for it, so a click that comes before the thread
is done waits for that load and never starts a second one. A thread that fails logs
why and gives up; the page that asks for the model later meets the error itself and
shows it as usual.
"""

from __future__ import annotations

import logging
import threading
import time

from segdash.errors import SegdashError
from segdash.ui import cache, sidebar, state

log = logging.getLogger(__name__)

THREAD_PREFIX = "segdash-warm-up"


class _NoScriptRunWarning(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for the warm-up threads: they have no
    script run by design, and each cached call with a spinner would log it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.threadName.startswith(THREAD_PREFIX)


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NoScriptRunWarning())

_lock = threading.Lock()
#: (checkpoint folder, device, its files' time) -> the thread loading it; never started twice in this process
_threads: dict[tuple[str, str, float], threading.Thread] = {}
_DEFAULT = ("<default>", "", 0.0)


#: Longest the default model's thread waits for the first page to draw its header.
HEADER_WAIT_S = 5.0


def start_default(wait_for_header: bool = True) -> threading.Thread | None:
    """Start loading the default checkpoint's predictor, once per process (None when already started).

    Started from a page run, the thread first waits for the page to draw its header
    (``sidebar.FIRST_DRAW``), so that the header's few imports do not share the interpreter with
    torch's; started with the server (``wait_for_header=False``) nobody is waiting for a header yet.
    """
    return _start(_DEFAULT, lambda: _load_default(wait_for_header))


def start(choice: state.ModelChoice) -> threading.Thread | None:
    """Start loading ``choice``'s predictor unless a thread of this process already has (then None).

    The caller has checked that the visitor may use the checkpoint (public mode needs the session for that).
    """
    if not choice.is_set:
        return None
    key = (choice.path, choice.device, cache.checkpoint_stamp(choice.path))  # a re-written checkpoint loads again
    return _start(key, lambda: _load(choice))


def _start(key: tuple[str, str, float], target) -> threading.Thread | None:
    with _lock:
        if key in _threads:
            return None
        thread = threading.Thread(target=target, name=f"{THREAD_PREFIX} {key[0]}", daemon=True)
        _threads[key] = thread
    thread.start()
    return thread


def _load_default(wait_for_header: bool = True) -> object | None:
    """The default checkpoint's predictor, loaded into the cache; None (logged) when there is none or it fails."""
    if wait_for_header:
        sidebar.FIRST_DRAW.wait(HEADER_WAIT_S)
    try:
        choice = sidebar.default_model_choice()
    except Exception:  # a thread has nobody to raise to; the sidebar shows the error itself
        log.warning("warm-up: cannot tell the default checkpoint", exc_info=True)
        return None
    if choice is None:
        log.info("warm-up: no checkpoint fits the default dataset; nothing to load")
        return None
    return _load(choice)


def _load(choice: state.ModelChoice) -> object | None:
    """``choice``'s predictor, loaded into ``cache.predictor``'s cache; None (logged) when it fails."""
    start = time.perf_counter()
    try:
        predictor = cache.load_predictor(choice)
    except SegdashError as exc:  # a missing or broken checkpoint: the page that asks for it says so
        log.warning("warm-up: %s not loaded: %s", choice.path, exc)
        return None
    except Exception:  # a bug, logged with its traceback; the page meets it too
        log.warning("warm-up: %s not loaded", choice.path, exc_info=True)
        return None
    log.info("warm-up: %s ready on %s in %.1f s", choice.path, choice.device, time.perf_counter() - start)
    return predictor
