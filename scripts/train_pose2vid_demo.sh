#!/usr/bin/env bash
# Reproduce the Everybody Dance Now demo weights on a CPU: a one-dancer synthetic dataset (the example's
# dancer, with training motions; held-out motions in the test split), the body stage, the face stage, the
# float16 export to pretrained_weights/pose2vid_demo. Every stage resumes: rerun after an interruption.
#   bash scripts/train_pose2vid_demo.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-outputs/pose2vid_demo}
dancer=1870260047  # example_data/README.md
[ -f "$work/data/meta.json" ] || magicpose make-synthetic --output "$work/data" --identity "$dancer" \
  --train-videos 40 --test-videos 4 --frames 24 --size 128 --seed 11
python train_pose2vid.py --config configs/demo_pose2vid.yaml --resume latest data.root="$work/data" \
  output_dir="$work/body"
python train_pose2vid.py --config configs/demo_pose2vid_face.yaml --resume latest data.root="$work/data" \
  model.init_from="$work/body" output_dir="$work/face"
python scripts/export_demo_weights.py "$work/face/final" pretrained_weights/pose2vid_demo
