"""The shared benchmark harness: interleaved timing, medians, ratios, a table, JSON results, peak memory.

Every benchmark times the project path and its baseline(s) in the same process, interleaved
(A B C, then B C A, then C A B, ...) so that load from other processes on a shared machine
falls on all of them alike. The ratio of medians is the figure reported, not the seconds.

    timings = time_interleaved({"project": run_project, "baseline": run_baseline}, repeats=5)
    report.add_row(case="...", **timings["project"].summary())
    report.add_check("project vs baseline", speedup(timings["baseline"], timings["project"]), 1.5)
    report.finish(args)   # prints the table and writes benchmarks/results/<name>.json atomically
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # the scripts run as `python benchmarks/x.py` without installing segdash
    sys.path.insert(0, str(REPO_ROOT))

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
MIB = 1024 * 1024


# --- timing ------------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    """Wall-clock seconds of the repetitions of one candidate."""

    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else math.nan

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else math.nan

    def summary(self) -> dict[str, Any]:
        return {"median_s": self.median, "min_s": self.best, "repeats": len(self.seconds)}


def time_interleaved(
    candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Timing]:
    """Run each candidate ``warmup`` times untimed, then ``repeats`` timed rounds in rotating order.

    Rotating the order (A B C, B C A, C A B, ...) spreads slow patches of a busy machine and
    cache effects evenly; garbage is collected outside the timed region.
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = time.perf_counter()
            candidates[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: Timing(name, samples[name]) for name in names}


def speedup(baseline: Timing, project: Timing) -> float:
    """How many times faster the project is: baseline median / project median."""
    return baseline.median / project.median


def cuda_synchronizer(device) -> Callable[[], None]:
    """A no-op on CPU; ``torch.cuda.synchronize`` on CUDA so timings include the queued kernels."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


# --- memory ------------------------------------------------------------------------------


def tracemalloc_peak(fn: Callable[[], object]) -> tuple[object, int]:
    """Run ``fn`` under tracemalloc; return (its result, peak bytes of Python + NumPy allocations).

    NumPy reports its array buffers to tracemalloc, so this is the right tool for NumPy code;
    torch's own allocator is invisible to it (measure RSS in a child process for that).
    """
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def read_proc_status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``kB`` field of /proc/<pid>/status (``VmRSS``, ``VmHWM`` = peak RSS), or None off Linux."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process so far (VmHWM), in bytes."""
    kib = read_proc_status_kib("VmHWM")
    return None if kib is None else kib * 1024


def run_python_child(args: Sequence[str], timeout: float = 1800) -> dict:
    """Run ``python <args>`` in a fresh process that prints one JSON object as its last stdout line.

    Used to measure peak RSS of a whole job from a clean start: the child reports its own
    ``peak_rss_bytes()`` in that JSON. Raises with the child's stderr if it fails.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO_ROOT)
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


# --- machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / MIB, 1)
    except OSError:
        pass
    return None


def machine_info(device: str | None = None) -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, load, memory, library versions, device."""
    import numpy as np

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "memory_total_gib": memory_total_gib(),
        "numpy": np.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    info["device"] = device or ("cuda" if info.get("cuda_available") else "cpu")
    return info


# --- load guard ------------------------------------------------------------------------------
# A ratio measured while other processes fight for the cores says more about them than about the code
# (eager PyTorch's thread barriers suffer most), so no ratio is printed from a busy machine unless asked.


def load_average() -> float | None:
    """The 1-minute load average, or None where the system does not say."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_refusal(loads: Sequence[float | None], force: bool = False, cores: int | None = None) -> str | None:
    """'ratio not reported: load X > cores Y' when the highest 1-minute load seen exceeds the core count
    (and ``force`` is off), else None."""
    cores = cores or usable_cores()
    seen = [x for x in loads if x is not None]
    if force or not seen or max(seen) <= cores:
        return None
    return f"ratio not reported: load {max(seen):.2f} > cores {cores} (rerun on an idle machine, or --force)"


def is_ratio(key: str) -> bool:
    """Row fields that hold a ratio between two timings (speedup, ratio, vs_<baseline>)."""
    return "speedup" in key or "ratio" in key or key.startswith("vs_")


# --- reporting ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """NaN/inf -> None (JSON has no NaN), numpy scalars -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value == 0 or 0.01 <= abs(value) < 10000:
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return f"{value:.2e}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain-text (also valid Markdown) table of ``rows``; missing cells show as '-'."""
    if not rows:
        return "(no rows)"
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(lines)


@dataclasses.dataclass
class Check:
    """A bar from the issue: ``value`` must be >= ``threshold`` (or <= when ``higher_is_better`` is False)."""

    name: str
    value: float | None
    threshold: float
    higher_is_better: bool = True
    unit: str = "x"
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.value is None or not math.isfinite(self.value):
            return None
        return bool(self.value >= self.threshold if self.higher_is_better else self.value <= self.threshold)

    def to_row(self) -> dict[str, Any]:
        bar = f"{'>=' if self.higher_is_better else '<='} {self.threshold:g}{self.unit}"
        return {"bar": self.name, "measured": self.value, "needed": bar, "met": self.passed, "note": self.note}


class Report:
    """Rows of measurements, the bars checked, and notes; printed as tables and written as JSON."""

    def __init__(self, name: str, params: dict[str, Any] | None = None, device: str | None = None):
        self.name = name
        self.params = dict(params or {})
        self.device = device
        self.rows: list[dict[str, Any]] = []
        self.checks: list[Check] = []
        self.notes: list[str] = []
        #: 1-minute load averages seen: at the start and when the tables are printed
        self.loads: list[float | None] = [load_average()]
        #: why the ratios are not printed (a busy machine), or None
        self.refusal: str | None = None

    def add_row(self, **fields: Any) -> dict[str, Any]:
        self.rows.append(fields)
        return fields

    def add_check(
        self, name: str, value: float | None, threshold: float, higher_is_better: bool = True, unit: str = "x",
        note: str = "",
    ) -> Check:
        check = Check(name, value, threshold, higher_is_better, unit, note)
        self.checks.append(check)
        return check

    def note(self, text: str) -> None:
        """A line printed now and kept in the JSON (e.g. why a case was skipped)."""
        self.notes.append(text)
        print(f"[{self.name}] {text}", flush=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "machine": machine_info(self.device),
            "params": self.params,
            "rows": self.rows,
            "checks": [dataclasses.asdict(c) | {"passed": c.passed} for c in self.checks],
            "notes": self.notes,
            "load_average_1min_seen": self.loads,
            "ratios_refused": self.refusal,
        }

    def printable(self, row: dict[str, Any], force: bool = False) -> dict[str, Any]:
        """``row`` for a progress line: its ratios replaced by the refusal while the machine is too busy."""
        refusal = load_refusal([*self.loads, load_average()], force)
        return {k: (refusal if refusal and is_ratio(k) else v) for k, v in row.items()}

    def print_tables(self, columns: Sequence[str] | None = None, force: bool = False) -> None:
        """The rows and checks; on a machine busier than its cores, ratios are blanked and the reason printed."""
        self.loads.append(load_average())
        self.refusal = load_refusal(self.loads, force)
        seen = ", ".join("-" if x is None else f"{x:.2f}" for x in self.loads)
        print(f"\n## {self.name}\n\nload average (1 min) at start, end: {seen} on {usable_cores()} cores\n")
        rows, checks = self.rows, [c.to_row() for c in self.checks]
        if self.refusal:
            print(self.refusal + "\n")
            rows = [{k: (self.refusal if is_ratio(k) else v) for k, v in row.items()} for row in rows]
            for check, row in zip(self.checks, checks):
                if check.unit == "x":
                    row.update(measured=None, met=None, note=self.refusal)
        print(format_table(rows, columns))
        if checks:
            print()
            print(format_table(checks))
        print(flush=True)

    def write(self, out_dir: str | Path | None = None) -> Path:
        from segdash.fsutil import atomic_write_json

        path = Path(out_dir or RESULTS_DIR) / f"{self.name}.json"
        atomic_write_json(path, _jsonable(self.to_dict()))
        return path

    def finish(self, args: argparse.Namespace, columns: Sequence[str] | None = None) -> Path:
        self.print_tables(columns, force=getattr(args, "force", False))
        path = self.write(args.out_dir)
        print(f"[{self.name}] results written to {path}", flush=True)
        return path


# --- command line ------------------------------------------------------------------------


def make_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (minutes -> seconds)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repetition: only checks the script runs")
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions per candidate (default by mode)")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), help="where <name>.json goes (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (for the jobs that run a model)")
    parser.add_argument("--force", action="store_true",
                        help="print ratios even when the 1-minute load average exceeds the core count")
    return parser


def pick(args: argparse.Namespace, full: Any, quick: Any, smoke: Any) -> Any:
    """The value for the run's mode: ``--smoke``, ``--quick`` or the full run."""
    if args.smoke:
        return smoke
    if args.quick:
        return quick
    return full


def repeats(args: argparse.Namespace, full: int = 7, quick: int = 3) -> int:
    return args.repeats or pick(args, full, quick, 1)


def mode_name(args: argparse.Namespace) -> str:
    return pick(args, "full", "quick", "smoke")


def project_missing(report: Report, what: str, exc: BaseException) -> None:
    """Record that a project path is not importable yet (teammates land it in parallel)."""
    report.note(f"project path {what} not available ({type(exc).__name__}: {exc}); measured the baselines only")
