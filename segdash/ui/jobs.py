"""Background jobs (evaluations) that outlive a page switch, a refresh or a second tab.

A Streamlit script run stops whenever the user touches a widget or changes
page, so a long evaluation inside the run would be lost. A job runs in a
thread of the server process instead; pages only read its progress (in a
``st.fragment(run_every=...)``) and set its cancel flag. The board is a
``st.cache_resource``, shared by every session: on a local install a second tab
sees the same job, and a finished result is kept until the server stops. In
public mode every job belongs to the session that started it (``owner()``), so a
visitor never sees or cancels another's, and ``SEGDASH_MAX_JOBS`` caps how many run
at once over all visitors.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from segdash import public
from segdash.errors import SegdashError

log = logging.getLogger(__name__)

RUNNING, FINISHED, CANCELLED, FAILED = "running", "finished", "cancelled", "failed"


@dataclasses.dataclass
class Job:
    """One background computation and what a page needs to show about it."""

    key: str
    label: str
    status: str = RUNNING
    done: int = 0
    total: int = 0
    message: str = ""
    result: Any = None
    #: why it failed: a SegdashError (the user's problem) or any other exception (a bug, logged with its traceback)
    error: BaseException | None = None
    started: float = dataclasses.field(default_factory=time.time)
    finished: float | None = None
    #: what the job is about, for finding it again (dataset, model, split, ...)
    tags: dict = dataclasses.field(default_factory=dict)
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = dataclasses.field(default=None, repr=False)

    # --- called from the worker thread -----------------------------------------------
    def report(self, done: int, total: int | None = None, message: str = "") -> None:
        """Progress callback: ``done`` of ``total`` items."""
        self.done = int(done)
        if total is not None:
            self.total = int(total)
        if message:
            self.message = message

    def should_stop(self) -> bool:
        return self.cancel_event.is_set()

    # --- read by pages -----------------------------------------------------------------
    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def is_running(self) -> bool:
        return self.status == RUNNING

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started

    def eta_seconds(self) -> float | None:
        if not self.total or not self.done or not self.is_running:
            return None
        return self.seconds / self.done * (self.total - self.done)

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests); True when it did."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.is_running


class JobBoard:
    """Thread-safe ``key -> Job`` map."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def start(self, key: str, label: str, work: Callable[[Job], Any], tags: dict | None = None) -> Job:
        """Start ``work(job)`` in a thread unless a job with this key is running or finished.

        Raises ``SegdashError`` when ``SEGDASH_MAX_JOBS`` jobs are already running on the server.
        """
        cap = max_jobs()
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.status in (RUNNING, FINISHED):  # cancelled / failed ones start again
                return job
            running = sum(j.is_running for j in self._jobs.values())
            if cap is not None and running >= cap:
                raise SegdashError(
                    f"{running} evaluation(s) are running on this server, the most it runs at once; "
                    f"try again when one has finished"
                )
            job = Job(key, label, tags=dict(tags or {}))
            self._jobs[key] = job
        job.thread = threading.Thread(target=self._run, args=(job, work), name=f"segdash-job-{label}", daemon=True)
        job.thread.start()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Job], Any]) -> None:
        try:
            result = work(job)
        except SegdashError as exc:
            job.error, job.status = exc, FAILED
        except Exception as exc:  # a bug: keep the server alive, log it, let the page show it as one
            log.exception("background job %s failed", job.label)
            job.error, job.status = exc, FAILED
        else:
            job.result = result
            job.status = CANCELLED if job.should_stop() else FINISHED
        finally:
            job.finished = time.time()


@st.cache_resource
def job_board() -> JobBoard:
    """The one board of the server process."""
    return JobBoard()


def max_jobs() -> int | None:
    """How many jobs may run at once over all sessions (``SEGDASH_MAX_JOBS``; 2 in public mode)."""
    return public.int_limit("SEGDASH_MAX_JOBS", public=2, local=None)


def owner() -> str:
    """Who a new job belongs to: this browser session in public mode, everyone on a local install."""
    if not public.is_public():
        return ""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""
