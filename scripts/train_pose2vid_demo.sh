#!/usr/bin/env bash
# Reproduce the Everybody Dance Now demo weights on a CPU: a one-dancer synthetic dataset (the example's
# dancer, with training motions; held-out motions in the test split), the body stage, the face stage, the
# float16 export to pretrained_weights/pose2vid_demo. Every stage resumes: rerun after an interruption.
#   bash scripts/train_pose2vid_demo.sh [WORK_DIR]
set -euo pipefail
# the checkout, found from this file: runs from any folder; relative arguments stay relative to the caller's
root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$root/outputs/pose2vid_demo}  # WORK_DIR: relative to the caller's folder; default in the checkout
dancer=1870260047  # example_data/README.md
[ -f "$work/data/meta.json" ] || magicpose make-synthetic --output "$work/data" --identity "$dancer" \
  --train-videos 40 --test-videos 4 --frames 24 --size 128 --seed 11
python "$root/train_pose2vid.py" --config "$root/configs/demo_pose2vid.yaml" --resume latest \
  data.root="$work/data" output_dir="$work/body"
python "$root/train_pose2vid.py" --config "$root/configs/demo_pose2vid_face.yaml" --resume latest \
  data.root="$work/data" model.init_from="$work/body" output_dir="$work/face"
python "$root/scripts/export_demo_weights.py" "$work/face/final" "$root/pretrained_weights/pose2vid_demo"
