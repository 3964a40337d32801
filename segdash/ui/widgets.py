"""Small widgets every page reuses: overlay controls, the class legend, error display."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import streamlit as st

from segdash import public
from segdash.errors import SegdashError
from segdash.ui import state

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class OverlaySettings:
    """How label maps are drawn on images."""

    alpha: float = 0.5
    mode: str = "fill"  # "fill" | "contour"
    visible: tuple[int, ...] | None = None  # class indices drawn; None = all


#: An absolute path in a message: "/srv/app/weights/x", "C:\\data\\x" (up to a quote, space or colon).
_PATH = re.compile(r"(?<![\w.])(?:/[^\s'\":,;()]+)+|[A-Za-z]:\\[^\s'\":,;()]+")


def public_text(text: str) -> str:
    """In public mode, every absolute server path in ``text`` shortened to its last part ('.../best')."""
    if not public.is_public():
        return text
    return _PATH.sub(lambda m: ".../" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)


def show_error(exc: BaseException, what: str = "") -> None:
    """The one way the dashboard reports a failure.

    A user error (``SegdashError``) is a plain message. Anything else is a bug: the traceback goes
    to the server log, and the page says so (on a local install with the traceback in an expander;
    in public mode with the exception's type only, since its text may hold server paths or data).
    """
    prefix = f"{what}: " if what else ""
    if isinstance(exc, SegdashError):
        st.error(public_text(f"{prefix}{exc}"), icon=":material/error:")
        return
    log.error("unexpected error %s", what, exc_info=(type(exc), exc, exc.__traceback__))
    if public.is_public():
        st.error(f"{prefix}unexpected error ({type(exc).__name__}); it has been logged.", icon=":material/bug_report:")
        return
    st.error(f"{prefix}unexpected error ({type(exc).__name__}: {exc}). This is a bug in segdash.", icon=":material/bug_report:")
    with st.expander("Details"):
        st.exception(exc)


@dataclasses.dataclass
class Outcome:
    """What ``reported_errors`` saw: ``failed`` once the block raised (and the error was shown)."""

    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@contextlib.contextmanager
def reported_errors(what: str = "") -> Iterator[Outcome]:
    """Run a block; a failure inside it is shown by ``show_error`` and the rest of the page still draws.

    The one error path of the dashboard: a user error (``SegdashError``) is a message; anything else is
    a bug, a short message on the page and its traceback in the server log. Where the page goes on
    differently after a failure, ask the outcome::

        with reported_errors("dataset") as outcome:
            dataset = cache.dataset(choice)
        if outcome.failed:
            return None
    """
    outcome = Outcome()
    try:
        yield outcome
    except Exception as exc:  # st.stop() and st.rerun() raise BaseExceptions: they pass through
        outcome.error = exc
        show_error(exc, what)


def skipped_note(skipped, shown: int = 5) -> None:
    """A warning naming the samples a pass over a split left out ((sample id, why) pairs), when there are any."""
    if not skipped:
        return
    lines = "\n".join(f"- `{sid}`: {public_text(why)}" for sid, why in list(skipped)[:shown])
    more = f"\n- … and {len(skipped) - shown} more" if len(skipped) > shown else ""
    st.warning(f"{len(skipped)} sample(s) could not be read or did not fit and were left out; the rest was "
               f"used.\n{lines}{more}", icon=":material/warning:")  # fmt: skip


def overlay_controls(classes: Sequence[str], container=None) -> OverlaySettings:
    """Opacity slider, fill/contour switch and per-class toggles; the values outlive page switches."""
    where = container or st
    # Opacity and the fill/contour switch share a row; the class toggles get a row of their own, where
    # they wrap, so 13 or 19 classes stay visible at 1100 px.
    cols = where.columns([3, 2, 3], vertical_alignment="bottom")
    alpha = cols[0].slider("Opacity", 0.0, 1.0, 0.5, step=0.05, key=state.OVERLAY_ALPHA, persist_state="session")
    mode = cols[1].segmented_control(
        "Draw", ["fill", "contour"], default="fill", key=state.OVERLAY_MODE, format_func=str.capitalize, required=True,
        persist_state="session",
    )
    shown = where.pills(
        "Classes drawn",
        list(classes),
        selection_mode="multi",
        default=list(classes),
        key=f"{state.OVERLAY_CLASSES}.{'|'.join(classes)}",
        persist_state="session",
    )
    shown = set(shown or [])
    visible = tuple(i for i, name in enumerate(classes) if name in shown)
    return OverlaySettings(float(alpha), str(mode or "fill"), visible)


def legend(
    classes: Sequence[str],
    colors: Sequence[Sequence[int]],
    labels: np.ndarray | None = None,
    ignore_index: int | None = None,
    visible: Sequence[int] | None = None,
    container=None,
    title: str = "",
) -> None:
    """A row of colour swatches with class names and, given an ``HxW`` label map, each class's share of its pixels;
    ``title`` says whose shares they are ("Prediction, share of pixels:")."""
    from segdash.viz.palette import legend_items

    where = container or st
    items = []
    for item in legend_items(classes, colors, labels, ignore_index):
        dim = visible is not None and item["index"] not in visible
        share = "" if item["share"] is None else f" {100 * item['share']:.1f}%"
        items.append(
            f"<span style='white-space:nowrap;margin-right:0.9em;opacity:{0.35 if dim else 1}'>"
            f"<span style='display:inline-block;width:0.9em;height:0.9em;border-radius:2px;"
            f"background:{item['color']};border:1px solid #8884;vertical-align:middle;margin-right:0.3em'></span>"
            f"{html.escape(item['name'])}{share}</span>"
        )
    heading = f"<span style='margin-right:0.7em;opacity:0.7'>{html.escape(title)}</span>" if title else ""
    where.markdown(f"<div class='sd-legend'>{heading}{''.join(items)}</div>", unsafe_allow_html=True)


def format_seconds(seconds: float) -> str:
    """1.234 -> '1.23 s', 0.0123 -> '12 ms', 75 -> '1 min 15 s'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def job_progress(job_key: str, describe: Callable[[Any], str], cancel_key: str) -> None:
    """Progress bar with time left and a Cancel button for a background job; a full rerun once it ends.

    Call it inside an ``st.fragment(run_every=...)``; ``describe(job)`` says what is being done.
    """
    from segdash.ui import jobs

    job = jobs.job_board().get(job_key)
    if job is None:
        return
    if not job.is_running:
        st.rerun()
    eta = job.eta_seconds()
    text = describe(job) + (f" · about {format_seconds(eta)} left" if eta is not None else "")
    cols = st.columns([5, 1], vertical_alignment="center")
    cols[0].progress(job.fraction, text=text)
    cols[1].button("Cancel", icon=":material/stop:", on_click=job.cancel, key=cancel_key)
