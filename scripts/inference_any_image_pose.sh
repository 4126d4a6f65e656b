#!/usr/bin/env bash
# Animate one reference image with a folder of pose maps (or OpenPose JSON files), like the
# original MagicPose script of the same name.
#   bash scripts/inference_any_image_pose.sh IMAGE POSE_FOLDER [OUTPUT.mp4] [WEIGHTS_DIR] [extra magicpose infer flags...]
# Example (GPU, converted SD 1.5 MagicPose weights):
#   bash scripts/inference_any_image_pose.sh me.png poses/ outputs/me.mp4 pretrained_weights/magicpose-sd15 --height 512 --width 512
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/inference_common.sh"
infer_from_reference --poses POSE_FOLDER outputs/any_image_pose.mp4 "$@"
