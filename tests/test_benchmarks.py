"""The benchmark scripts still run: each one in its --smoke mode (tiny sizes, one repetition).

The figures themselves are in benchmarks/README.md; these tests only keep the scripts from rotting.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module", autouse=True)
def _benchmarks_importable():
    """The scripts import their sibling ``common`` module, as they do when run as ``python benchmarks/x.py``."""
    sys.path.insert(0, str(BENCHMARKS_DIR))
    yield
    sys.path.remove(str(BENCHMARKS_DIR))


def run_smoke(name: str, out_dir: Path) -> dict:
    module = importlib.import_module(f"bench_{name}")
    assert module.main(["--smoke", "--out-dir", str(out_dir), "--device", "cpu"]) == 0
    result = json.loads((out_dir / f"{name}.json").read_text())
    assert result["benchmark"] == name
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["torch"]
    assert result["rows"], "a benchmark must measure something"
    return result


def test_harness_interleaves_and_reports_ratio():
    from common import Report, speedup, time_interleaved

    calls = []
    timings = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then rotating order
    assert all(len(t.seconds) == 3 for t in timings.values())
    assert speedup(timings["a"], timings["b"]) > 0
    report = Report("x")
    assert report.add_check("ratio", 2.0, 1.5).passed is True
    assert report.add_check("share", 30.0, 20.0, higher_is_better=False).passed is False
    assert report.add_check("not measured", None, 1.5).passed is None


def test_metrics_smoke(tmp_path):
    result = run_smoke("metrics", tmp_path)
    paths = [row["path"] for row in result["rows"]]
    assert "seed 000 one-hot per-class loop" in paths and "sklearn confusion_matrix" in paths


def test_stats_smoke(tmp_path):
    result = run_smoke("stats", tmp_path)
    assert result["checks"][0]["passed"] is True  # memory flat from 1x to 10x images


def test_stats_imbalance_smoke(tmp_path):
    result = run_smoke("stats_imbalance", tmp_path)
    assert result["rows"][0]["ratio"] > 0 and result["checks"][1]["passed"] is True  # memory flat


def test_inference_smoke(tmp_path):
    result = run_smoke("inference", tmp_path)
    row = result["rows"][0]
    assert row["label_agreement"] >= 0.999


def test_evaluate_smoke(tmp_path):
    result = run_smoke("evaluate", tmp_path)
    assert any(row.get("peak_rss_mib") for row in result["rows"])


def test_failure_metrics_smoke(tmp_path):
    result = run_smoke("failure_metrics", tmp_path)
    assert {row.get("kept_per_image_bytes") for row in result["rows"]} - {None}  # memory rows present


def test_train_smoke(tmp_path):
    result = run_smoke("train", tmp_path)
    assert result["rows"][0]["seed_loop_steps_per_s"] > 0


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_dashboard_smoke(tmp_path):
    result = run_smoke("dashboard", tmp_path)
    measures = {row["measure"]: row for row in result["rows"]}
    assert measures["streamlit run app.py -> start page shown"]["median_s"] > 0
