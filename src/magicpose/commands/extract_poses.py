"""``magicpose extract-poses``: OpenPose JSON and pose maps from a video or a folder of frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from magicpose.commands.infer_arguments import add_extraction_arguments


def add_parser(subparsers) -> argparse.ArgumentParser:
    extract = subparsers.add_parser(
        "extract-poses", help="OpenPose JSON and pose maps from a video or frame folder"
    )
    extract.add_argument("source", help="a video or a folder of frames")
    extract.add_argument(
        "-o",
        "--output",
        required=True,
        help="output folder: <output>/pose_json/*_keypoints.json and <output>/poses/*.png",
    )
    add_extraction_arguments(extract, device=True)
    return extract


def run(args: argparse.Namespace) -> int:
    from magicpose.devices import check_device
    from magicpose.files import check_not_input, check_replaceable, check_writable, parents_removed_on_error
    from magicpose.infer import check_extraction_flags, count
    from magicpose.pose.driving import DEFAULT_FPS
    from magicpose.pose.extract import load_extractor
    from magicpose.pose.extract.frames import check_frame_source, extract_poses, write_pose_folder
    from magicpose.pose.smooth import smooth_keypoints

    check_extraction_flags(args)
    check_device(args.device)
    out = Path(args.output)
    check_replaceable(out, "--output", inputs=[args.source, args.weights_dir], kind="poses")
    check_not_input(out, (), "--output", input_folders=[args.source, args.weights_dir])
    check_writable(out / "keypoints.json")  # probes the folder itself
    check_frame_source(args.source)  # the input's own problems first, then the extractor's files
    extractor = load_extractor(args.backend, args.weights_dir, device=args.device)
    extracted = extract_poses(
        args.source, extractor, person=args.person, stride=args.stride, max_frames=args.max_frames
    )
    frames = extracted.frames
    if args.smooth:
        frames = smooth_keypoints(
            frames, extracted.fps or DEFAULT_FPS, min_cutoff=args.min_cutoff, beta=args.beta
        )
    with parents_removed_on_error(out.parent):
        write_pose_folder(frames, extracted.names, out)
    seen = sum(1 for f in frames if f.people)
    rate = f" at {extracted.fps:g} fps" if extracted.fps else ""
    print(
        f"wrote {out}/pose_json/ and {out}/poses/: {count(len(frames), 'frame')}{rate}, {seen} with a person"
        f"{', smoothed' if args.smooth else ''}"
    )
    return 0
