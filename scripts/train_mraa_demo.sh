#!/usr/bin/env bash
# Reproduce the MRAA demo weights on a CPU: the pose2vid demo's one-dancer synthetic dataset (the example's dancer,
# training motions; held-out motions in the test split), MRAA's train stage, then its AVD stage on the frozen
# regions, and the float16 export to pretrained_weights/mraa_demo. Training resumes: rerun after an interruption.
#   bash scripts/train_mraa_demo.sh [WORK_DIR]
set -euo pipefail
root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$root/outputs/mraa_demo}  # WORK_DIR: relative to the caller's folder; default in the checkout
dancer=1870260047  # example_data/README.md
[ -f "$work/data/meta.json" ] || magicpose make-synthetic --output "$work/data" --identity "$dancer" \
  --train-videos 40 --test-videos 4 --frames 24 --size 128 --seed 11
python "$root/train_mraa.py" --config "$root/configs/demo_mraa.yaml" --resume latest \
  data.root="$work/data" output_dir="$work/run"
python "$root/train_mraa.py" --config "$root/configs/demo_mraa.yaml" --mode train_avd --resume latest \
  data.root="$work/data" output_dir="$work/avd" model.init_from="$work/run" train.learning_rate=1e-3 \
  train.batch_size=64 train.max_steps=600 loss.l1_weight=0 validation.every_steps=0
python "$root/scripts/export_demo_weights.py" "$work/avd/final" "$root/pretrained_weights/mraa_demo"
