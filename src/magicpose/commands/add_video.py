"""``magicpose add-video``: a user's video and its OpenPose JSON as one training video
(:mod:`magicpose.data.from_video`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "add-video", help="add a video and its OpenPose JSON to a TikTok-layout training dataset"
    )
    parser.add_argument("--video", required=True, metavar="PATH", help="the dance video (.mp4/.mov/.avi)")
    parser.add_argument(
        "--pose-json",
        required=True,
        metavar="DIR",
        help="folder of OpenPose --write_json output for this video, one .json per frame",
    )
    parser.add_argument(
        "--root",
        required=True,
        metavar="DIR",
        help="dataset root: writes <root>/<split>_set/<name>/, "
        "<root>/pose_map_<split>_set/<name>/ and "
        "<root>/openpose_json_<split>_set/<name>/",
    )
    parser.add_argument("--name", default=None, help="video folder name (default: the video file's stem)")
    parser.add_argument("--split", default="train", help="split name (default: train)")
    parser.add_argument(
        "--every", type=int, default=1, metavar="N", help="keep every N-th frame (default: 1)"
    )
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="keep at most N frames")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing video of that name")
    return parser


def run(args: argparse.Namespace) -> int:
    from magicpose.commands import keywords
    from magicpose.data.from_video import add_video

    options = keywords(args, "name", "split", "every", "max_frames", "overwrite")
    frame_dir = add_video(args.video, args.pose_json, args.root, **options)
    root, split_set = frame_dir.parent.parent, frame_dir.parent.name
    pose_dir = root / f"pose_map_{split_set}" / frame_dir.name
    json_dir = root / f"openpose_json_{split_set}" / frame_dir.name
    count = sum(1 for p in frame_dir.iterdir() if p.suffix == ".png")
    print(f"wrote {count} frame pairs to {frame_dir} and {pose_dir}, their keypoints to {json_dir}")
    return 0
