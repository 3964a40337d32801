"""Run every benchmark (or some), then print one summary of the bars.

    python benchmarks/run.py                  # the full run (about 15-25 minutes on a busy 2-core CPU)
    python benchmarks/run.py --quick          # a few minutes
    python benchmarks/run.py --smoke          # seconds: checks the scripts still run
    python benchmarks/run.py --only metrics stats --device cuda

Each benchmark prints its own table and writes ``benchmarks/results/<name>.json`` (or ``--out-dir``).
A missed bar is reported, not an error; the exit status is non-zero only when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from common import RESULTS_DIR, format_table

#: name -> module; the order runs the cheap jobs first.
BENCHMARKS = {
    "metrics": "bench_metrics",
    "stats": "bench_stats",
    "stats_imbalance": "bench_stats_imbalance",
    "inference": "bench_inference",
    "evaluate": "bench_evaluate",
    "failure_metrics": "bench_failure_metrics",
    "train": "bench_train",
    "dashboard": "bench_dashboard",
    "large_folder": "bench_large_folder",
    "render": "bench_render",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--skip", nargs="+", choices=list(BENCHMARKS), default=[], help="leave these out")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), help="where the JSON results go")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--time-to-quality", action="store_true", help="bench_train: also run the whole quick preset")
    parser.add_argument("--force", action="store_true", help="print ratios even from a machine busier than its cores")
    args = parser.parse_args(argv)

    common_argv = ["--out-dir", args.out_dir, "--device", args.device]
    common_argv += ["--quick"] if args.quick else ["--smoke"] if args.smoke else []
    common_argv += ["--force"] if args.force else []
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    crashed, seconds = [], {}
    for name in names:
        extra = ["--time-to-quality"] if name == "train" and args.time_to_quality else []
        print(f"\n===== {name} =====", flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(BENCHMARKS[name]).main(common_argv + extra)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            crashed.append(name)
        seconds[name] = time.perf_counter() - start

    rows = []
    for name in names:
        path = Path(args.out_dir) / f"{name}.json"
        if name in crashed or not path.is_file():
            rows.append({"benchmark": name, "bar": "(crashed: see above)" if name in crashed else "(no results)"})
            continue
        result = json.loads(path.read_text())
        for check in result["checks"]:
            needed = (">= " if check["higher_is_better"] else "<= ") + f"{check['threshold']:g}{check['unit']}"
            refused = result.get("ratios_refused") if check["unit"] == "x" else None  # measured on a busy machine
            rows.append({"benchmark": name, "bar": check["name"], "measured": refused or check["value"],
                         "needed": needed, "met": None if refused else check["passed"]})
        if not result["checks"]:
            rows.append({"benchmark": name, "bar": "(figures only, no bar)"})
    print("\n===== summary =====\n")
    print(format_table(rows, ["benchmark", "bar", "measured", "needed", "met"]))
    print("\n" + ", ".join(f"{n} {s:.0f} s" for n, s in seconds.items()))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
