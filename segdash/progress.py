"""The one progress callback type: ``progress(done, total, what="")``.

Long passes (statistics, evaluation, comparison, reading a split into memory) take an optional
``progress: Progress``, call it as work finishes, and say what they are doing in ``what`` when a
pass has several stages. The CLI draws it as a tqdm bar (``segdash.cli.common.progress_bar``), the
dashboard as a job's bar (``segdash.ui.jobs.Job.report``, which has this signature).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """``done`` of ``total`` items are finished; ``what`` names the current stage (may be empty)."""

    def __call__(self, done: int, total: int, what: str = "", /) -> None: ...
