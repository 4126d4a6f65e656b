#!/usr/bin/env bash
# Reproduce the CPU demo weights (about 110 minutes on 2 cores): synthetic dancers, stage 0 (small VAE and
# base UNet standing in for SD 1.5), stage 1 (appearance), stage 2 (pose control), export to
# pretrained_weights/demo, evaluation on held-out identities and motions.
#   bash scripts/train_demo.sh [WORK_DIR]
# Every stage resumes: rerun the script after an interruption.
set -euo pipefail
# the checkout, found from this file: runs from any folder; relative arguments stay relative to the caller's
root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$root/outputs/demo_training}  # WORK_DIR: relative to the caller's folder; default in the checkout
mkdir -p "$work"
[ -f "$work/data/meta.json" ] || magicpose make-synthetic --output "$work/data" --train-videos 200 \
  --test-videos 20 --frames 24 --size 128 --seed 0
[ -f "$work/base/unet/config.json" ] || python "$root/train_base.py" --config "$root/configs/demo_base.yaml" \
  data_root="$work/data" output_dir="$work/base"
python "$root/train_appearance.py" --config "$root/configs/demo_appearance.yaml" --resume latest \
  model.pretrained_dir="$work/base" data.root="$work/data" output_dir="$work/stage1"
python "$root/train_pose_control.py" --config "$root/configs/demo_pose_control.yaml" --resume latest \
  model.pretrained_dir="$work/base" model.appearance_unet="$work/stage1/final/appearance_unet" \
  data.root="$work/data" output_dir="$work/stage2"
python "$root/scripts/export_demo_weights.py" "$work/stage2/pipeline" "$root/pretrained_weights/demo"
python "$root/benchmarks/eval_demo.py" --weights "$root/pretrained_weights/demo" \
  --save-grid "$work/eval_grid.png" | tee "$work/eval.txt"
