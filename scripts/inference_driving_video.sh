#!/usr/bin/env bash
# Animate one reference image with the dance of a driving video: poses are extracted (DWPose by default, weights
# from --weights-dir or $MAGICPOSE_POSE_WEIGHTS), smoothed, aligned to the reference body, then generated.
#   bash scripts/inference_driving_video.sh IMAGE VIDEO [OUTPUT.mp4] [WEIGHTS_DIR] [extra magicpose infer flags...]
# Example (GPU, converted SD 1.5 MagicPose weights, DWPose files in pretrained_weights/pose):
#   bash scripts/inference_driving_video.sh me.png dance.mp4 outputs/me.mp4 pretrained_weights/magicpose-sd15 --height 512 --width 512
# The poses it followed are saved in OUTPUT_poses/ (rerun with --poses OUTPUT_poses/pose_json).
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/inference_common.sh"
infer_from_reference --driving-video VIDEO outputs/driving_video.mp4 "$@"
