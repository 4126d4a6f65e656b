"""Everybody Dance Now and vid2vid beside MagicPose on the demo dancer: self-reenactment quality against the true
renders.

    python benchmarks/eval_gan.py [--pose2vid pretrained_weights/pose2vid_demo] [--magicpose pretrained_weights/demo]
                                  [--vid2vid pretrained_weights/vid2vid_demo] [--motions 4] [--frames 16]
                                  [--unseen 4] [--steps 50]

Self-reenactment: the dancer the pose2vid demo was trained on (the example's, example_data/README.md)
performs --motions held-out motions (ids from the test range; the demo trained on train-range motions only),
--frames + 1 consecutive frames each at the dance's 8 fps. Frame 0 is the reference (MagicPose's input and the
copy-the-reference baseline); frames 1..N are generated from their poses and compared with the true renders
of that dancer in those poses: foreground IoU (figure vs the dancer's known background), PSNR and
11x11-Gaussian SSIM, the metrics of benchmarks/eval_demo.py, at the models' 64x64, and the temporal consistency of
each generated sequence (magicpose.eval.temporal.frame_difference_error, lower is better). pose2vid runs
autoregressively over the whole sequence (frame 0's pose first, as a video would), with and without its face
enhancer; vid2vid (when its weights exist) streams the whole sequence too.

Unseen identity: --unseen held-out (identity, motion) pairs of other people. pose2vid still renders its own
dancer (it is person-specific), MagicPose takes the pair's first frame as its reference.

The last line of output is one JSON object: {"pose2vid": {"iou", "psnr", "ssim_gaussian"}, "pose2vid_face": {...},
"magicpose": {...}, "copy_reference": {...}, "unseen_identity": {method: {...}}}.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
from eval_demo import ROOT, dance, scores, true_renders
from results import record
from sampling import sample_uint8

from magicpose.pose import draw_pose
from magicpose.synthetic import split_ids

SIZE = 64  # the models' size: everything is resized to it as in training
FPS = 8.0  # the dance's own frame rate: pose2vid generates frame after frame
DEMO_WEIGHTS = {
    "magicpose": "demo",
    "pose2vid": "pose2vid_demo",
    "vid2vid": "vid2vid_demo",
    "mraa": "mraa_demo",
}


def add_weights_arguments(parser: argparse.ArgumentParser, helps: dict[str, str | None]) -> None:
    """One weights-folder flag per generator named in ``helps`` (``--pose2vid`` ...), in that order, each
    defaulting to the generator's demo weights under pretrained_weights/."""
    for name, text in helps.items():
        parser.add_argument(
            f"--{name}", default=str(ROOT / "pretrained_weights" / DEMO_WEIGHTS[name]), help=text
        )


def demo_dancer() -> int:
    """The example dancer's identity id, read from example_data/README.md (the pose2vid demo's subject)."""
    text = (ROOT / "example_data" / "README.md").read_text()
    return int(re.search(r"Synthetic dancer (\d+)", text).group(1))


def case(identity_id: int, motion_id: int, frames: int):
    """Keypoints (128 px canvas), pose maps, true frames (64 px) and background of frames 0..frames."""
    identity, keypoints = dance(identity_id, motion_id, frames + 1, FPS)
    truth, background = true_renders(identity, keypoints, SIZE)
    return keypoints, [draw_pose(k) for k in keypoints], truth, background


def run_pose2vid(pipe, maps, keypoints) -> list[np.ndarray]:
    """The whole sequence, frame 0 included (the recursion starts there), as uint8 frames."""
    return list(pipe.iter_frames(maps, SIZE, SIZE, pose_keypoints=keypoints))


def run_vid2vid(pipe, maps) -> list[np.ndarray]:
    """The whole sequence, frame 0 included (hallucinated from its poses alone), as uint8 frames."""
    return list(pipe.iter_frames(maps, SIZE, SIZE))


def run_mraa(pipe, source, driving, mode: str) -> list[np.ndarray]:
    """The source moved as the driving frames move (MRAA needs frames, not poses), as uint8 frames."""
    return list(pipe.iter_frames(source, driving, mode=mode, height=SIZE, width=SIZE))


def run_magicpose(pipe, reference, maps, steps: int, seed: int) -> list[np.ndarray]:
    return sample_uint8(pipe, reference, maps, SIZE, steps, seed)


def accumulate(table: dict, name: str, predicted, truth, background) -> None:
    from magicpose.eval.temporal import frame_difference_error

    for metric, values in scores(predicted, truth, background).items():
        table.setdefault(name, {}).setdefault(metric, []).extend(values)
    table[name].setdefault("temporal", []).append(frame_difference_error(predicted, truth))


def evaluate(pairs, frames: int, pose2vid, pose2vid_body, magicpose, steps: int, vid2vid=None) -> dict:
    table: dict = {}
    for n, (identity_id, motion_id) in enumerate(pairs):
        keypoints, maps, truth, background = case(identity_id, motion_id, frames)
        reference = truth[0]
        accumulate(table, "pose2vid", run_pose2vid(pose2vid_body, maps, keypoints)[1:], truth[1:], background)
        if vid2vid is not None:
            accumulate(table, "vid2vid", run_vid2vid(vid2vid, maps)[1:], truth[1:], background)
        if pose2vid.face_enhancer is not None:
            accumulate(
                table, "pose2vid_face", run_pose2vid(pose2vid, maps, keypoints)[1:], truth[1:], background
            )
        if magicpose is not None:
            accumulate(
                table,
                "magicpose",
                run_magicpose(magicpose, reference, maps[1:], steps, n),
                truth[1:],
                background,
            )
        accumulate(table, "copy_reference", [reference] * frames, truth[1:], background)
    return {
        name: {m: round(float(np.mean(v)), 5) for m, v in metrics.items()} for name, metrics in table.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_weights_arguments(
        parser,
        {
            "pose2vid": None,
            "magicpose": "MagicPose weights, or 'none' to skip it",
            "vid2vid": "vid2vid weights ('none', or a folder that does not exist, skips it)",
        },
    )
    parser.add_argument("--motions", type=int, default=4, help="held-out motions of the demo dancer")
    parser.add_argument("--frames", type=int, default=16, help="generated frames per motion (after frame 0)")
    parser.add_argument("--unseen", type=int, default=4, help="held-out pairs of other identities (0: skip)")
    parser.add_argument("--steps", type=int, default=50, help="MagicPose DDIM steps")
    parser.add_argument("--seed", type=int, default=1234, help="picks the held-out motions and pairs")
    args = parser.parse_args()

    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
    from magicpose.weights import load_pipeline, load_pose2vid_pipeline, load_vid2vid_pipeline

    started = time.perf_counter()
    pose2vid = load_pose2vid_pipeline(args.pose2vid)
    body_only = Pose2VidPipeline(generator=pose2vid.generator)
    magicpose = None if args.magicpose == "none" else load_pipeline(args.magicpose)
    if magicpose is not None:
        magicpose.set_progress_bar_config(disable=True)
    has_vid2vid = args.vid2vid != "none" and (Path(args.vid2vid) / "model_index.json").is_file()
    vid2vid = load_vid2vid_pipeline(args.vid2vid) if has_vid2vid else None
    dancer = demo_dancer()
    own = [(dancer, motion) for _, motion in split_ids(args.seed, "test", args.motions)]
    result = evaluate(own, args.frames, pose2vid, body_only, magicpose, args.steps, vid2vid)
    if args.unseen:
        others = [pair for pair in split_ids(args.seed + 1, "test", args.unseen + 1) if pair[0] != dancer]
        result["unseen_identity"] = evaluate(
            others[: args.unseen], args.frames, pose2vid, body_only, magicpose, args.steps, vid2vid
        )
    print(
        f"demo dancer {dancer}: {args.motions} held-out motions x {args.frames} frames at {SIZE}x{SIZE}; "
        f"{args.unseen} unseen identities; {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    for title, table in (("own subject", result), ("unseen identity", result.get("unseen_identity", {}))):
        for name, values in table.items():
            if name != "unseen_identity":
                print(
                    f"  {title:15s} {name:15s} IoU {values['iou']:.3f}  PSNR {values['psnr']:6.2f} dB  "
                    f"SSIM-Gaussian {values['ssim_gaussian']:.3f}  temporal {values['temporal']:.4f}",
                    flush=True,
                )
    print(json.dumps(result))
    record("eval_gan", result)


if __name__ == "__main__":
    main()
