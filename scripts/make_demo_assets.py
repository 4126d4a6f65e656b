"""Re-create the embedded example data (deterministic), and optionally random demo weights.

    python scripts/make_demo_assets.py                   # writes example_data/
    python scripts/make_demo_assets.py --random-weights  # also pretrained_weights/demo with random weights

example_data/reference.png  a held-out synthetic dancer (an identity never seen in training), 128x128
example_data/poses/         16 OpenPose maps of that dancer performing a held-out motion (`infer` reads them)
example_data/pose_json/     the same poses as OpenPose JSON
example_data/driving/       16 frames of another held-out dancer performing that motion (MRAA's driving video)
The trained demo weights come from scripts/train_demo.sh; --random-weights writes tiny seeded RANDOM
weights instead (they exercise the whole sampler, but their output is noise).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from PIL import Image

from magicpose.pose import FramePose, draw_pose, write_openpose_json
from magicpose.synthetic import Identity, Motion, pose_sequence, render_ground_truth, split_ids
from magicpose.tiny_models import make_pipeline
from magicpose.weights import INFO_FILE

ROOT = Path(__file__).resolve().parents[1]
SIZE = 128
NUM_FRAMES = 16
EXAMPLE_SEED = 7  # picks the held-out pair; eval_demo.py uses seed 1234, so the example is not in its set
RANDOM_WEIGHTS_NOTE = (
    "pretrained_weights/demo holds tiny seeded RANDOM weights (never trained): the run exercises the full "
    "MagicPose sampler but the frames are noise-like, not a retargeting result. Use converted MagicPose "
    "weights with --weights for real output."
)


def make_example_data(out: Path) -> None:
    """A held-out identity (reference: frame 0 of a held-out motion) and a second held-out motion."""
    (identity_id, motion_id), (driver_id, other_motion_id) = split_ids(EXAMPLE_SEED, "test", 2)
    identity = Identity.from_id(identity_id)
    reference = render_ground_truth(
        identity, pose_sequence(identity, Motion.from_id(motion_id), 1, SIZE), SIZE
    )[0]
    poses = pose_sequence(identity, Motion.from_id(other_motion_id), NUM_FRAMES, SIZE, fps=4.0)
    if out.exists():
        shutil.rmtree(out)
    (out / "poses").mkdir(parents=True)
    (out / "pose_json").mkdir()
    (out / "driving").mkdir()
    driver = Identity.from_id(driver_id)
    driving = render_ground_truth(
        driver, pose_sequence(driver, Motion.from_id(other_motion_id), NUM_FRAMES, SIZE, fps=4.0), SIZE
    )
    for k, frame in enumerate(driving):
        Image.fromarray(frame).save(out / "driving" / f"{k:04d}.png")
    Image.fromarray(reference).save(out / "reference.png")
    for k, person in enumerate(poses):
        frame = FramePose(SIZE, SIZE, [person])
        Image.fromarray(draw_pose(frame)).save(out / "poses" / f"{k:04d}.png")
        write_openpose_json(frame, out / "pose_json" / f"{k:04d}_keypoints.json")
    (out / "README.md").write_text(
        f"Synthetic dancer {identity_id} (held-out identity) in frame 0 of motion {motion_id}, and "
        f"{NUM_FRAMES} poses of held-out motion {other_motion_id} at 4 fps; driving/: dancer {driver_id} (held-out "
        f"identity) performing that motion, MRAA's driving video; made by scripts/make_demo_assets.py.\n"
    )


def make_random_demo_weights(out: Path) -> None:
    pipe = make_pipeline("tiny", seed=0)
    for unet in (pipe.unet, pipe.appearance_unet):
        unet.register_to_config(sample_size=32)  # 64x64 pixels with the tiny VAE (downsampling by 2)
    if out.exists():
        shutil.rmtree(out)
    pipe.save_pretrained(out)
    (out / INFO_FILE).write_text(
        json.dumps({"kind": "random", "seed": 0, "description": RANDOM_WEIGHTS_NOTE}, indent=2) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", default=str(ROOT))
    parser.add_argument("--random-weights", action="store_true", help="also write random demo weights")
    args = parser.parse_args()
    root = Path(args.root)
    # resolved: in a checkout these are links into src/magicpose/assets/ (the package data)
    make_example_data((root / "example_data").resolve())
    print(f"wrote {root / 'example_data'}")
    if args.random_weights:
        make_random_demo_weights((root / "pretrained_weights" / "demo").resolve())
        print(f"wrote {root / 'pretrained_weights' / 'demo'}")


if __name__ == "__main__":
    main()
