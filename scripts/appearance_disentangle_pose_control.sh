#!/usr/bin/env bash
# Stage 2 (appearance-disentangled pose control), like the original script of this name.
#   bash scripts/appearance_disentangle_pose_control.sh SD15_DIR DATA_ROOT STAGE1_APPEARANCE_UNET CONTROLNET_DIR [NUM_GPUS] [key=value ...]
# STAGE1_APPEARANCE_UNET: <stage-1 output>/final/appearance_unet (or a converted model_state-10000.th);
# CONTROLNET_DIR: the converted control_v11p_sd15_openpose, or "none" to start from the UNet.
# train.batch_size is per GPU: the run prints its global batch (per GPU x accumulation x GPUs);
# configs/sd15_pose_control.yaml's header says how to keep the original's 8.
# DeepSpeed ZeRO-2 instead of DDP:
#   accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml train_pose_control.py --config ...
set -euo pipefail
# the checkout, found from this file: runs from any folder; relative arguments stay relative to the caller's
root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
if [ $# -lt 4 ]; then
  echo "error: missing arguments; usage: $0 SD15_DIR DATA_ROOT STAGE1_APPEARANCE_UNET CONTROLNET_DIR [NUM_GPUS] [key=value ...]" >&2
  exit 2
fi
sd15=$1; data=$2; appearance=$3; controlnet=$4; shift 4
[ "$controlnet" = "none" ] && controlnet=null
gpus=1
if [ $# -gt 0 ] && [ "${1#*=}" = "$1" ]; then gpus=$1; shift; fi
exec torchrun --nproc_per_node "$gpus" "$root/train_pose_control.py" \
  --config "$root/configs/sd15_pose_control.yaml" \
  --resume latest model.pretrained_dir="$sd15" data.root="$data" model.appearance_unet="$appearance" \
  model.controlnet="$controlnet" "$@"
