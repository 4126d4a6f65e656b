"""``magicpose infer``: animate a reference image with a pose sequence or a driving video. The job itself is
:mod:`magicpose.infer`, shared with the web page."""

from __future__ import annotations

import argparse

from magicpose.commands.infer_arguments import DEFAULTS, add_extraction_arguments, add_sampling_arguments
from magicpose.infer import DEFAULT_IMAGE, DEFAULT_OUTPUT, DEFAULT_POSE2VID_OUTPUT, GENERATORS, MRAA_MODES


def add_parser(subparsers) -> argparse.ArgumentParser:
    from magicpose.pose.align import ALIGN_MODES

    infer = subparsers.add_parser(
        "infer", help="animate a reference image with a pose sequence (or, with MRAA, a driving video)"
    )
    infer.add_argument(
        "--image",
        default=DEFAULTS.image,
        help=f"reference image of the person (default: the example's, {DEFAULT_IMAGE})",
    )
    infer.add_argument(
        "--poses",
        default=DEFAULTS.poses,
        help="folder of pose maps or OpenPose JSON files, or a .npy array (default: the example's "
        "pose maps, or its OpenPose JSON with --generator pose2vid)",
    )
    infer.add_argument(
        "--output",
        default=DEFAULTS.output,
        help="output mp4; frames go to <stem>_frames/, the preview to <stem>_preview.{mp4,png} "
        f"(default: {DEFAULT_OUTPUT}, or {DEFAULT_POSE2VID_OUTPUT} with --generator pose2vid)",
    )
    infer.add_argument(
        "--generator",
        choices=GENERATORS,
        default=DEFAULTS.generator,
        help="magicpose: anyone, from the reference image; pose2vid (Everybody Dance Now) and "
        "vid2vid (flow-warped, NVIDIA): the one person their --weights were trained on (--image "
        "is then only shown in the preview); mraa: the reference image moved as --driving-video "
        "moves, no poses involved (default: the example's driving frames)",
    )
    infer.add_argument(
        "--mode",
        choices=MRAA_MODES,
        default=DEFAULTS.mode,
        help="mraa: standard (the driver's regions as they are), relative (moved as the driver moved since "
        "its first frame; start in a similar pose) or avd (the reference's shape in the driver's pose, "
        f"for another person) (default: {DEFAULTS.mode})",
    )
    infer.add_argument(
        "--face-blend",
        choices=("hard", "feather"),
        default=DEFAULTS.face_blend,
        help="pose2vid's face enhancer: paste the enhanced face back hard (as Everybody Dance "
        "Now's code) or feathered into the frame (default: what the weights record: hard "
        "for converted releases, feather for magicpose-trained ones)",
    )
    infer.add_argument(
        "--normalize-to",
        default=DEFAULTS.normalize_to,
        metavar="TARGET_POSES",
        help="OpenPose JSON (file or folder) or keypoint .npy of the person to animate: map the "
        "driving poses onto that person's scale and floor position (Everybody Dance Now "
        "normalisation; --poses must then be keypoints too)",
    )
    infer.add_argument(
        "--driving-video",
        default=DEFAULTS.driving_video,
        metavar="VIDEO_OR_FOLDER",
        help="a dance video (or a folder of its frames) instead of --poses: its poses are "
        "extracted, smoothed and aligned to the reference person, and saved beside the output",
    )
    infer.add_argument(
        "--align",
        choices=ALIGN_MODES,
        default=DEFAULTS.align,
        help="with --driving-video: fit the driving skeleton to the reference's body: none, global "
        f"(one scale and shift) or bones (each bone's length ratio) (default: {DEFAULTS.align})",
    )
    infer.add_argument(
        "--reference-pose",
        default=DEFAULTS.reference_pose,
        metavar="JSON",
        help="the reference person's OpenPose JSON (default: extracted from --image)",
    )
    add_sampling_arguments(infer)
    add_extraction_arguments(infer, device=False)
    return infer


def run(args: argparse.Namespace) -> int:
    from magicpose.infer import (
        InferOptions,
        check_run_flags,
        count,
        generate_video,
        load_generator,
        output_size,
        prepare_inputs,
    )

    options = InferOptions.from_namespace(args)
    check_run_flags(options)
    inputs = prepare_inputs(options)
    pipe = load_generator(options)
    height, width = output_size(pipe, options)
    out = generate_video(pipe, height, width, inputs, options)
    print(
        f"wrote {out.video}, {out.frames_dir}/ ({count(out.num_frames, 'frame')}), {out.preview_mp4} and "
        f"{out.preview_png} in {out.seconds:.1f} s"
    )
    if inputs.driving is not None:
        stem = out.video.with_suffix("")
        print(
            f"wrote the driving poses to {stem}_poses/ (rerun with --poses {stem}_poses/pose_json) and the "
            f"alignment preview to {stem}_alignment.png"
        )
    return 0
