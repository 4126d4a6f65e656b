#!/usr/bin/env bash
# Stage 1 (appearance control pretraining), like the original script of this name.
#   bash scripts/appearance_control_pretraining.sh SD15_DIR DATA_ROOT [NUM_GPUS] [key=value overrides...]
# One machine with NUM_GPUS GPUs (default 1). train.batch_size is per GPU: the run prints its global batch
# (per GPU x accumulation x GPUs); configs/sd15_appearance.yaml's header says how to keep the original's 32.
# For several machines run, on each node:
#   torchrun --nnodes N --nproc_per_node G --node_rank R --rdzv_backend c10d --rdzv_endpoint HOST:29500 \
#       train_appearance.py --config configs/sd15_appearance.yaml model.pretrained_dir=... data.root=...
# On CPU (tests, tiny configs): ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 ... syncs over gloo.
set -euo pipefail
# the checkout, found from this file: runs from any folder; relative arguments stay relative to the caller's
root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
if [ $# -lt 2 ]; then
  echo "error: missing arguments; usage: $0 SD15_DIR DATA_ROOT [NUM_GPUS] [key=value ...]" >&2
  exit 2
fi
sd15=$1; data=$2; shift 2
gpus=1
if [ $# -gt 0 ] && [ "${1#*=}" = "$1" ]; then gpus=$1; shift; fi
exec torchrun --nproc_per_node "$gpus" "$root/train_appearance.py" \
  --config "$root/configs/sd15_appearance.yaml" \
  --resume latest model.pretrained_dir="$sd15" data.root="$data" "$@"
