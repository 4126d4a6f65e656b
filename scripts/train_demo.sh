#!/usr/bin/env bash
# Reproduce the CPU demo weights (about 110 minutes on 2 cores): synthetic dancers, stage 0 (small VAE and
# base UNet standing in for SD 1.5), stage 1 (appearance), stage 2 (pose control), export to
# pretrained_weights/demo, evaluation on held-out identities and motions.
#   bash scripts/train_demo.sh [WORK_DIR]
# Every stage resumes: rerun the script after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-outputs/demo_training}
mkdir -p "$work"
[ -f "$work/data/meta.json" ] || magicpose make-synthetic --output "$work/data" --train-videos 200 \
  --test-videos 20 --frames 24 --size 128 --seed 0
[ -f "$work/base/unet/config.json" ] || python train_base.py --config configs/demo_base.yaml \
  data_root="$work/data" output_dir="$work/base"
python train_appearance.py --config configs/demo_appearance.yaml --resume latest \
  model.pretrained_dir="$work/base" data.root="$work/data" output_dir="$work/stage1"
python train_pose_control.py --config configs/demo_pose_control.yaml --resume latest \
  model.pretrained_dir="$work/base" model.appearance_unet="$work/stage1/final/appearance_unet" \
  data.root="$work/data" output_dir="$work/stage2"
python scripts/export_demo_weights.py "$work/stage2/pipeline" pretrained_weights/demo
python benchmarks/eval_demo.py --weights pretrained_weights/demo --save-grid "$work/eval_grid.png" | tee "$work/eval.txt"
