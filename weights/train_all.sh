#!/usr/bin/env bash
# Regenerate the checkpoints shipped in weights/ (see weights/README.md for the figures).
#
#   bash weights/train_all.sh            # all of them, one after the other
#   bash weights/train_all.sh brain      # only one: brain | deeplab | street | remedy | ship
#
# Runs go to runs/weights-* (git-ignored); the "ship" step copies the chosen
# checkpoints into weights/ in half precision and scores them on the test split.
# One thread per run: on a busy or 2-core machine that is faster than two.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
RUNS=${RUNS:-runs}
what=${1:-all}

if [[ $what == all || $what == brain ]]; then
  # Unet + offline-ImageNet EfficientNet-Lite0, native 192 px, 20 epochs (the "full" preset).
  nice $PY -m segdash train brain-mri --preset full --seed 0 --threads 1 --keep-checkpoints 0 \
    --out "$RUNS/weights-brain-unet"
fi
if [[ $what == all || $what == deeplab ]]; then
  # Another decoder for comparing models: the quick preset's settings at 192 px, 10 epochs.
  nice $PY -m segdash train brain-mri --arch DeepLabV3Plus --img-size 192 --epochs 10 --seed 0 --threads 1 \
    --keep-checkpoints 1 --out "$RUNS/weights-brain-deeplab"
fi
if [[ $what == all || $what == street ]]; then
  # Plain cross-entropy on purpose: the rare classes stay low, which is the story this model tells.
  nice $PY -m segdash train street-synth --img-size 192 --epochs 12 --loss ce --seed 0 --threads 1 \
    --keep-checkpoints 1 --out "$RUNS/weights-street-unet"
fi
if [[ $what == all || $what == remedy ]]; then
  # The same model and budget, trained for the imbalance: Dice + CE with median-frequency weights
  # raised to at least 0.25 (the frequent classes damped 4x, not 18x), images holding rare classes
  # drawn more often.
  nice $PY -m segdash train street-synth --img-size 192 --epochs 12 --loss ce+dice --class-weights median \
    --weight-floor 0.25 --rare-oversample 2 --seed 0 --threads 1 --keep-checkpoints 1 --out "$RUNS/weights-street-remedy"
fi
if [[ $what == all || $what == ship ]]; then
  $PY weights/ship.py --runs "$RUNS"
fi
