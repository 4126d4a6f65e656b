#!/usr/bin/env bash
# Generate every video of a TikTok-layout test set, like the original MagicPose script:
# <root>/<split>_set/<video>/<frame> with pose maps in <root>/pose_map_<split>_set/<video>/<frame>.
# The first frame of each video is the reference; the other frames are generated and written
# to OUTPUT/<video>/{gen_images,gt_images,pose_maps}/ plus condition.png (gt_images are the real frames).
#   bash scripts/inference_tiktok_dataset.sh ROOT OUTPUT [WEIGHTS_DIR] [extra magicpose infer-dataset flags...]
# Example: bash scripts/inference_tiktok_dataset.sh ./TikTok-v4 outputs/tiktok pretrained_weights/magicpose-sd15 --split disco_test --height 512 --width 512
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "error: missing arguments; usage: $0 ROOT OUTPUT [WEIGHTS_DIR] [extra flags for 'magicpose infer-dataset']" >&2
  exit 2
fi
root=$1; output=$2; shift 2
args=(infer-dataset --root "$root" --output "$output")
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then args+=(--weights "$1"); shift; fi
exec python -m magicpose.cli "${args[@]}" "$@"
