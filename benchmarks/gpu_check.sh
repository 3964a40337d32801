#!/usr/bin/env bash
# The GPU check, in one go of at most 8 minutes, on a machine with one or more CUDA GPUs:
#
#   bash benchmarks/gpu_check.sh [REPORT]      # default REPORT: benchmarks/results/gpu_check.md
#
# Steps, each under its own time limit (90 + 150 + 100 + 100 s: under 8 minutes with the start); a step that fails or runs out of time is recorded and the next
# one still runs, so the report always has every step's result:
#   1. cuda-tests   the tests that take the CUDA path (they skip without a GPU), -rs shows any skip
#   2. inference    bench_inference.py --device cuda: AMP + channels_last against fp32, batch 8, 512x512
#                   (the bar: >= 2x), plus the CPU-free rows it measures on the way
#   3. train-ddp    torchrun training on 1 or 2 GPUs (NCCL), the smoke preset, 2 epochs
#   4. eval-ddp     torchrun evaluation of that run's checkpoint, and the single-process JSON compared
# Logs go to benchmarks/results/gpu_check_logs/, the report to REPORT (Markdown).
# Exit status: 0 when every step passed, 1 otherwise.
# DEVICE=cpu runs the same steps on the CPU (gloo), to check the script itself on a machine without a GPU.

set -euo pipefail

cd "$(dirname "$0")/.."
REPORT=${1:-benchmarks/results/gpu_check.md}
LOGS=benchmarks/results/gpu_check_logs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/segdash-gpu-check.XXXXXX")
PYTHON=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
mkdir -p "$LOGS" "$(dirname "$REPORT")"
trap 'rm -rf "$WORK"' EXIT
export PYTHONUNBUFFERED=1 SEGDASH_CACHE="$WORK/cache"

GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
NPROC=1
if [ "$GPUS" -ge 2 ] || [ "$DEVICE" = cpu ]; then NPROC=2; fi
gpu_names() { nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sort | uniq -c | xargs; }
NAMES=$(gpu_names || true)
FAILED=0

{
  echo "# GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- GPUs: $GPUS (${NAMES:-nvidia-smi not found}); device: $DEVICE"
  echo "- torch: $("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null || echo 'not importable')"
  echo "- torchrun processes: $NPROC"
  echo
  echo "| step | result | seconds | last line of the log |"
  echo "|------|--------|---------|----------------------|"
} > "$REPORT"

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND under `timeout`, logs it, appends one report row.
step() {
  local name=$1 limit=$2 rc=0 start result last
  shift 2
  start=$(date +%s)
  echo "== $name (at most ${limit} s)"
  timeout --kill-after=15 "$limit" "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
  case $rc in
    0) result=passed ;;
    124 | 137) result="TIMED OUT after ${limit} s"; FAILED=1 ;;
    *) result="FAILED (exit $rc)"; FAILED=1 ;;
  esac
  last=$(grep -v '^[[:space:]]*$' "$LOGS/$name.log" | tail -n 1 | tr '|' '/' | cut -c1-160 || true)
  echo "| $name | $result | $(( $(date +%s) - start )) | ${last:-} |" >> "$REPORT"
  echo "   $result"
}

if [ "$GPUS" -lt 1 ] && [ "$DEVICE" = cuda ]; then
  echo "| (all) | NOT RUN: no CUDA GPU visible to torch | 0 | |" >> "$REPORT"
  echo "no CUDA GPU visible to torch: nothing run (report: $REPORT)"
  exit 1
fi

# 1. The tests that take the CUDA path: every test file that asks torch for CUDA (they skip without it).
mapfile -t CUDA_TESTS < <(grep -lE "torch\.cuda\.is_available|mark\.cuda|device=\"cuda\"" tests/test_*.py || true)
if [ "${#CUDA_TESTS[@]}" -gt 0 ]; then
  step cuda-tests 90 "$PYTHON" -m pytest -p no:xdist -q -rs -m "not slow and not browser" "${CUDA_TESTS[@]}"
else
  echo "| cuda-tests | no test file mentions CUDA | 0 | |" >> "$REPORT"
fi

# 2. Inference: AMP + channels_last vs fp32 at batch 8, 512x512 (the check row says whether >= 2x).
INFERENCE_SIZE=()
if [ "$DEVICE" = cpu ]; then INFERENCE_SIZE=(--smoke); fi  # the CPU dry run only checks the step runs
step inference 150 "$PYTHON" benchmarks/bench_inference.py --device "$DEVICE" --force --out-dir "$WORK/bench" \
  "${INFERENCE_SIZE[@]}"
if [ -f "$WORK/bench/inference.json" ]; then
  cp "$WORK/bench/inference.json" "$LOGS/inference.json"
  "$PYTHON" - "$WORK/bench/inference.json" > "$WORK/inference_summary.md" <<'EOF' || true
import json, sys
result = json.load(open(sys.argv[1]))
rows = [c for c in result["checks"] if "CUDA" in c["name"]]
for c in rows or [{"name": "AMP + channels_last vs fp32 (CUDA)", "value": None, "passed": None}]:
    value = "not measured" if c["value"] is None else f"{c['value']:.2f}x"
    verdict = {True: "met", False: "NOT met", None: "not measured"}[c["passed"]]
    print(f"- {c['name']}: {value} (bar >= 2x: {verdict})")
EOF
fi

# 3. Training under torchrun, one process per GPU (NCCL), the smoke preset.
RUN="$WORK/run"
step train-ddp 100 "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m segdash train brain-mri \
  --preset smoke --img-size 128 --batch-size 8 --limit 64 --epochs 2 --pretrained none --keep-checkpoints 1 \
  --device "$DEVICE" --out "$RUN"

# 4. Evaluation under torchrun of that checkpoint, then the single-process JSON compared with it.
eval_and_compare() {
  set -euo pipefail
  "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m segdash evaluate brain-mri \
    --checkpoint "$RUN/checkpoints/best" --limit 64 --device "$DEVICE" --json "$WORK/ddp.json"
  "$PYTHON" -m segdash evaluate brain-mri --checkpoint "$RUN/checkpoints/best" --limit 64 --device "$DEVICE" --json "$WORK/one.json"
  "$PYTHON" - "$WORK/ddp.json" "$WORK/one.json" <<'EOF'
import json, sys
ddp, one = (json.load(open(p)) for p in sys.argv[1:3])
for doc in (ddp, one):
    for key in ("seconds", "forward_seconds", "device"):
        doc.pop(key, None)
same_counts = ddp["confusion_matrix"] == one["confusion_matrix"]
print(f"images {ddp['images']}; confusion matrices identical: {same_counts}; whole JSON identical: {ddp == one}")
sys.exit(0 if same_counts else 1)
EOF
}
if [ -d "$RUN/checkpoints/best" ]; then
  export -f eval_and_compare
  export RUN WORK PYTHON NPROC DEVICE
  step eval-ddp 100 bash -c eval_and_compare
else
  echo "| eval-ddp | NOT RUN: no checkpoint from train-ddp | 0 | |" >> "$REPORT"
  FAILED=1
fi

echo >> "$REPORT"
if [ -s "$WORK/inference_summary.md" ]; then cat "$WORK/inference_summary.md" >> "$REPORT"; echo >> "$REPORT"; fi
echo "Logs: $LOGS/" >> "$REPORT"
echo "report: $REPORT"
exit "$FAILED"
