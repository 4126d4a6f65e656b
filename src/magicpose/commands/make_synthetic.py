"""``magicpose make-synthetic``: a synthetic-dancers dataset (:mod:`magicpose.synthetic`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from magicpose.synthetic.motion import FPS

    parser = subparsers.add_parser(
        "make-synthetic", help="write a synthetic-dancers dataset (TikTok layout + OpenPose JSON)"
    )
    parser.add_argument("--output", required=True, help="dataset folder to write (TikTok layout + meta.json)")
    parser.add_argument(
        "--train-videos", type=int, default=200, help="number of training videos (default: 200)"
    )
    parser.add_argument(
        "--test-videos",
        type=int,
        default=20,
        help="number of test videos, with held-out identities and motions (default: 20)",
    )
    parser.add_argument(
        "--frames", type=int, default=24, help=f"frames per video, at {FPS:g} fps (default: 24)"
    )
    parser.add_argument(
        "--size", type=int, default=128, help="frame width and height in pixels (default: 128)"
    )
    parser.add_argument("--seed", type=int, default=0, help="picks the identities and motions (default: 0)")
    parser.add_argument(
        "--identity",
        type=int,
        default=None,
        help="one person in every video (an identity id, e.g. the example dancer's in "
        "example_data/README.md): a dataset for a person-specific generator (pose2vid)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from magicpose.synthetic import make_synthetic

    out = make_synthetic(
        args.output,
        num_train_videos=args.train_videos,
        num_test_videos=args.test_videos,
        frames_per_video=args.frames,
        size=args.size,
        seed=args.seed,
        identity=args.identity,
    )
    print(
        f"wrote {args.train_videos} train and {args.test_videos} test videos of {args.frames} frames "
        f"({args.size}x{args.size}) to {out}"
    )
    return 0
