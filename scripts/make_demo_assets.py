"""Re-create the embedded example data and the random demo weights (deterministic).

    python scripts/make_demo_assets.py            # writes example_data/ and pretrained_weights/demo/

example_data/reference.png  a procedurally drawn person (256x256)
example_data/poses/         16 rendered OpenPose maps of a small dance (what `infer` reads by default)
example_data/pose_json/     the same poses as OpenPose JSON
pretrained_weights/demo/    a MagicPosePipeline with tiny seeded RANDOM weights: it exercises the whole
                            sampler, but it was never trained, so its output is noise-like
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from magicpose.pose import FramePose, PersonPose, draw_pose, write_openpose_json
from magicpose.tiny import make_pipeline
from magicpose.weights import INFO_FILE

ROOT = Path(__file__).resolve().parents[1]
SIZE = 256
NUM_FRAMES = 16
RANDOM_WEIGHTS_NOTE = (
    "pretrained_weights/demo holds tiny seeded RANDOM weights (never trained): the run exercises the full "
    "MagicPose sampler but the frames are noise-like, not a retargeting result. Use converted MagicPose "
    "weights with --weights for real output."
)

# Rest pose (OpenPose-18 order) on a 256x256 canvas; the person faces the camera.
REST = np.array([
    [128, 50], [128, 80], [104, 82], [98, 112], [94, 140], [152, 82], [158, 112], [162, 140],
    [114, 148], [112, 190], [110, 232], [142, 148], [144, 190], [146, 232],
    [122, 44], [134, 44], [116, 48], [140, 48],
], dtype=np.float32)


def _rotate(points: np.ndarray, origin: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=np.float32)
    return (points - origin) @ rot.T + origin


def _hand(wrist: np.ndarray, elbow: np.ndarray) -> np.ndarray:
    """21 hand points fanned out beyond the wrist, along the forearm direction."""
    direction = (wrist - elbow) / (np.linalg.norm(wrist - elbow) + 1e-6)
    side = np.array([-direction[1], direction[0]])
    points = [wrist]
    for finger in range(5):
        spread = (finger - 2) * 2.5
        for joint in range(1, 5):
            points.append(wrist + direction * (3 + 3 * joint) + side * spread * (1 + 0.3 * joint))
    return np.array(points, dtype=np.float32)


def _face(nose: np.ndarray) -> np.ndarray:
    """70 face points: jaw, brows, nose, eyes, mouth, pupils, around the nose keypoint."""
    cx, cy = nose
    pts = [(cx + 13 * math.cos(a), cy + 2 + 14 * math.sin(a)) for a in np.linspace(0.1 * math.pi, 0.9 * math.pi, 17)]
    pts += [(cx - 10 + 2 * i, cy - 11 - (i % 2)) for i in range(5)] + [(cx + 2 + 2 * i, cy - 11 - (i % 2)) for i in range(5)]
    pts += [(cx, cy - 7 + 2 * i) for i in range(4)] + [(cx - 4 + 2 * i, cy + 1) for i in range(5)]
    for ex in (cx - 6, cx + 6):
        pts += [(ex + 3 * math.cos(a), cy - 5 + 1.5 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 6, endpoint=False)]
    pts += [(cx + 6 * math.cos(a), cy + 7 + 2 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 12, endpoint=False)]
    pts += [(cx + 4 * math.cos(a), cy + 7 + 1 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
    pts += [(cx - 6, cy - 5), (cx + 6, cy - 5)]
    return np.array(pts, dtype=np.float32)


def dance_pose(k: int) -> PersonPose:
    """Frame ``k`` of a looping dance: arms swing up in opposition, the body sways, knees bend."""
    phase = 2 * math.pi * k / NUM_FRAMES
    body = REST.copy()
    body[[2, 3, 4]] = _rotate(body[[2, 3, 4]], body[2], 70 * math.sin(phase) + 20)   # right arm
    body[[5, 6, 7]] = _rotate(body[[5, 6, 7]], body[5], 70 * math.sin(phase) - 20)   # left arm
    bend = 6 * (1 - math.cos(2 * phase))
    body[[0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 15, 16, 17], 1] += bend
    body[[9, 12], 1] += bend / 2
    body[:, 0] += 8 * math.sin(phase)
    score = np.ones((18, 1), dtype=np.float32)
    return PersonPose(
        body=np.hstack([body, score]),
        left_hand=np.hstack([_hand(body[7], body[6]), np.ones((21, 1), np.float32)]),
        right_hand=np.hstack([_hand(body[4], body[3]), np.ones((21, 1), np.float32)]),
        face=np.hstack([_face(body[0]), np.ones((70, 1), np.float32)]),
    )


def draw_person(pose: PersonPose) -> np.ndarray:
    """A simple drawn person in the given pose on a gradient backdrop (uint8 RGB)."""
    y = np.linspace(0, 1, SIZE, dtype=np.float32)[:, None, None]
    canvas = ((1 - y) * np.array([150, 190, 230]) + y * np.array([225, 205, 170])).repeat(SIZE, 1).astype(np.uint8)
    canvas[238:] = (120, 100, 80)
    b = pose.body[:, :2].round().astype(int)
    skin, shirt, trousers, hair = (235, 190, 160), (200, 40, 60), (40, 60, 130), (70, 45, 30)
    for hip, knee, ankle in ((8, 9, 10), (11, 12, 13)):
        cv2.line(canvas, tuple(b[hip]), tuple(b[knee]), trousers, 14)
        cv2.line(canvas, tuple(b[knee]), tuple(b[ankle]), trousers, 12)
    cv2.fillConvexPoly(canvas, np.array([b[2], b[5], b[11], b[8]]), shirt)
    for shoulder, elbow, wrist in ((2, 3, 4), (5, 6, 7)):
        cv2.line(canvas, tuple(b[shoulder]), tuple(b[elbow]), shirt, 11)
        cv2.line(canvas, tuple(b[elbow]), tuple(b[wrist]), skin, 8)
        cv2.circle(canvas, tuple(b[wrist]), 6, skin, -1)
    cv2.line(canvas, tuple(b[1]), tuple(b[0]), skin, 8)
    cv2.circle(canvas, tuple(b[0]), 17, skin, -1)
    cv2.ellipse(canvas, tuple(b[0] - [0, 4]), (18, 15), 0, 180, 360, hair, -1)
    for eye in (14, 15):
        cv2.circle(canvas, tuple(b[eye] + [0, 3]), 2, (30, 30, 30), -1)
    cv2.ellipse(canvas, tuple(b[0] + [0, 8]), (6, 3), 0, 0, 180, (150, 50, 50), 2)
    return canvas


def make_example_data(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    (out / "poses").mkdir(parents=True)
    (out / "pose_json").mkdir()
    Image.fromarray(draw_person(dance_pose(0))).save(out / "reference.png")
    for k in range(NUM_FRAMES):
        frame = FramePose(SIZE, SIZE, [dance_pose(k)])
        Image.fromarray(draw_pose(frame)).save(out / "poses" / f"{k:04d}.png")
        write_openpose_json(frame, out / "pose_json" / f"{k:04d}_keypoints.json")


def make_random_demo_weights(out: Path) -> None:
    pipe = make_pipeline("tiny", seed=0)
    for unet in (pipe.unet, pipe.appearance_unet):
        unet.register_to_config(sample_size=32)  # 64x64 pixels with the tiny VAE (downsampling by 2)
    if out.exists():
        shutil.rmtree(out)
    pipe.save_pretrained(out)
    (out / INFO_FILE).write_text(json.dumps({"kind": "random", "seed": 0, "description": RANDOM_WEIGHTS_NOTE},
                                            indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(ROOT))
    root = Path(parser.parse_args().root)
    make_example_data(root / "example_data")
    make_random_demo_weights(root / "pretrained_weights" / "demo")
    print(f"wrote {root / 'example_data'} and {root / 'pretrained_weights' / 'demo'}")


if __name__ == "__main__":
    main()
