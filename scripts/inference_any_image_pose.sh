#!/usr/bin/env bash
# Animate one reference image with a folder of pose maps (or OpenPose JSON files), like the
# original MagicPose script of the same name.
#   bash scripts/inference_any_image_pose.sh IMAGE POSE_FOLDER [OUTPUT.mp4] [WEIGHTS_DIR] [extra magicpose infer flags...]
# Example (GPU, converted SD 1.5 MagicPose weights):
#   bash scripts/inference_any_image_pose.sh me.png poses/ outputs/me.mp4 pretrained_weights/magicpose-sd15 --height 512 --width 512
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "error: missing arguments; usage: $0 IMAGE POSE_FOLDER [OUTPUT.mp4] [WEIGHTS_DIR] [extra flags for 'magicpose infer']" >&2
  exit 2
fi
image=$1; poses=$2; output=${3:-outputs/any_image_pose.mp4}
shift 2; [ $# -gt 0 ] && shift
args=(infer --image "$image" --poses "$poses" --output "$output")
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then args+=(--weights "$1"); shift; fi
exec python -m magicpose.cli "${args[@]}" "$@"
