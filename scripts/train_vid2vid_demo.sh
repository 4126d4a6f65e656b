#!/usr/bin/env bash
# Reproduce the vid2vid demo weights on a CPU: the pose2vid demo's one-dancer synthetic dataset (the example's
# dancer, training motions; held-out motions in the test split), vid2vid training, the float16 export to
# pretrained_weights/vid2vid_demo. Training resumes: rerun after an interruption.
#   bash scripts/train_vid2vid_demo.sh [WORK_DIR]
set -euo pipefail
root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$root/outputs/vid2vid_demo}  # WORK_DIR: relative to the caller's folder; default in the checkout
dancer=1870260047  # example_data/README.md
[ -f "$work/data/meta.json" ] || magicpose make-synthetic --output "$work/data" --identity "$dancer" \
  --train-videos 40 --test-videos 4 --frames 24 --size 128 --seed 11
python "$root/train_vid2vid.py" --config "$root/configs/demo_vid2vid.yaml" --resume latest \
  data.root="$work/data" output_dir="$work/run"
python "$root/scripts/export_demo_weights.py" "$work/run/final" "$root/pretrained_weights/vid2vid_demo"
