"""Benchmarks print no ratio taken on a machine busier than its cores, unless --force."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS_DIR))
    import common as module

    yield module
    sys.modules.pop("common", None)


@pytest.mark.parametrize(("loads", "force", "refused"), [
    ([0.5, 1.9], False, False),
    ([0.5, 2.0], False, False),   # at the core count: still idle enough
    ([0.5, 2.1], False, True),    # the highest load seen counts
    ([6.0, 0.1], False, True),
    ([6.0, 6.0], True, False),
    ([None, None], False, False),  # the system does not say
])  # fmt: skip
def test_refusal_only_above_the_core_count(common, loads, force, refused):
    message = common.load_refusal(loads, force, cores=2)
    assert (message is not None) == refused
    if refused:
        assert message.startswith(f"ratio not reported: load {max(loads):.2f} > cores 2")


def _report(common):
    report = common.Report("guard")
    report.add_row(case="a", project_s=0.5, speedup=3.25, vs_sklearn=12.5)
    report.add_check("project vs baseline", 3.25, 1.5)
    report.add_check("peak memory", 10.0, 20.0, higher_is_better=False, unit=" MiB")
    return report


def test_busy_machine_prints_the_refusal_not_the_ratio(common, monkeypatch, capsys):
    monkeypatch.setattr(common, "load_average", lambda: 9.0)
    monkeypatch.setattr(common, "usable_cores", lambda: 2)
    report = _report(common)
    report.print_tables()
    out = capsys.readouterr().out
    assert "load average (1 min) at start, end: 9.00, 9.00 on 2 cores" in out
    assert "ratio not reported: load 9.00 > cores 2" in out
    assert "3.25" not in out and "12.5" not in out  # neither the rows' ratios nor the check's
    assert "0.5" in out and "10" in out  # seconds and memory still shown
    assert report.to_dict()["ratios_refused"].startswith("ratio not reported")
    assert "3.25" not in str(report.printable({"speedup": 3.25}))


def test_idle_machine_or_force_prints_the_ratio(common, monkeypatch, capsys):
    monkeypatch.setattr(common, "usable_cores", lambda: 2)
    monkeypatch.setattr(common, "load_average", lambda: 0.3)
    _report(common).print_tables()
    assert "3.25" in capsys.readouterr().out
    monkeypatch.setattr(common, "load_average", lambda: 9.0)
    report = _report(common)
    report.print_tables(force=True)
    out = capsys.readouterr().out
    assert "3.25" in out and "ratio not reported" not in out and report.refusal is None


@pytest.mark.slow
def test_large_folder_benchmark_runs(common, tmp_path):
    """The large-folder benchmark in its smoke size: the cached open and the flat memory are measured."""
    import json

    import bench_large_folder

    assert bench_large_folder.main(["--smoke", "--out-dir", str(tmp_path), "--workers", "2"]) == 0
    result = json.loads((tmp_path / "large_folder.json").read_text())
    measures = {row["measure"]: row for row in result["rows"]}
    assert measures["cached open (open_dataset, scan cached)"]["seconds"] > 0
    assert {"stats, 1 worker", "stats, 2 workers"} <= set(measures)
    assert any(row.get("peak_rss_mib") for row in result["rows"])
    sys.modules.pop("bench_large_folder", None)
