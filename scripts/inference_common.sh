# Sourced by inference_any_image_pose.sh and inference_driving_video.sh: their shared command line,
#   IMAGE INPUT [OUTPUT.mp4] [WEIGHTS_DIR] [extra magicpose infer flags...]
# run as `magicpose infer --image IMAGE <input flag> INPUT --output OUTPUT [--weights WEIGHTS_DIR] flags...`.
# A third or fourth argument starting with -- is already one of the extra flags.

# infer_from_reference INPUT_FLAG INPUT_NAME DEFAULT_OUTPUT "$@"
infer_from_reference() {
  local input_flag=$1 input_name=$2 default_output=$3
  shift 3
  if [ $# -lt 2 ]; then
    echo "error: missing arguments; usage: $0 IMAGE $input_name [OUTPUT.mp4] [WEIGHTS_DIR] [extra flags for 'magicpose infer']" >&2
    exit 2
  fi
  local image=$1 input=$2 output=${3:-$default_output}
  shift 2; [ $# -gt 0 ] && shift
  local args=(infer --image "$image" "$input_flag" "$input" --output "$output")
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then args+=(--weights "$1"); shift; fi
  exec python -m magicpose.cli "${args[@]}" "$@"
}
