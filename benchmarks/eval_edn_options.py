"""What each Everybody Dance Now test-loop option does to the frames, on the demo dancer's held-out motions.

    python benchmarks/eval_edn_options.py [--pose2vid pretrained_weights/pose2vid_demo]
                                          [--lotayou-face DIR] [--motions 4] [--frames 16]

The pipeline follows each release's own test loop by default (hard paste, the official face models' enhanced
frame fed back, per-crop BatchNorm statistics, truncation to 8 bit); this script runs the departures side by
side on the same poses and prints, for each, the mean and largest change in 8-bit levels against the loop as
the originals run it, and PSNR against the true renders over the whole frame and inside the head boxes.

--lotayou-face names a face enhancer folder of Lotayou's variant (BatchNorm, the crop alone in), e.g. one
trained on the demo body with `train_pose2vid.py --config configs/demo_pose2vid_face.yaml model.variant=lotayou`,
for the BatchNorm rows. The last line is one JSON object of every row.
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager

import numpy as np
import torch
from eval_demo import ROOT
from eval_gan import case, demo_dancer
from results import record

from magicpose.models.face_enhancer import body_in_output, face_box
from magicpose.synthetic import split_ids

SIZE = 64


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@contextmanager
def rounded_uint8():
    """The pipeline's 8-bit conversion rounded instead of truncated (the earlier behaviour)."""
    from magicpose.pipelines import pipeline_pose2vid as module

    original = module.to_uint8
    module.to_uint8 = lambda frame: (
        ((frame.float() + 1) / 2 * 255).clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0)
    )
    try:
        yield
    finally:
        module.to_uint8 = original


def head_masks(pipe, keypoints) -> np.ndarray:
    face = pipe.face_enhancer
    rule = "lotayou" if face.config.variant == "lotayou" else "official"
    masks = np.zeros((len(keypoints), SIZE, SIZE), bool)
    for i, pose in enumerate(keypoints):
        box = face_box(
            body_in_output(pose, SIZE, SIZE), SIZE, SIZE, face.config.size_fraction, face.size_multiple, rule
        )
        if box is not None:
            masks[i][box.slices()] = True
    return masks


def run(pipe, cases, configure=None, **options) -> list[np.ndarray]:
    saved = dict(pipe.face_enhancer.config)
    if configure:
        pipe.face_enhancer.register_to_config(**configure)
    try:
        return [
            np.stack(list(pipe.iter_frames(maps, SIZE, SIZE, pose_keypoints=kps, **options)))
            for kps, maps, _ in cases
        ]
    finally:
        pipe.face_enhancer.register_to_config(**{k: saved[k] for k in configure or {}})


def row(frames, reference, cases, masks) -> dict:
    change = np.concatenate(
        [np.abs(f.astype(int) - r.astype(int)).ravel() for f, r in zip(frames, reference)]
    )
    truth = [np.stack(t) for _, _, t in cases]
    whole = np.mean([psnr(f[1:], t[1:]) for f, t in zip(frames, truth)])
    head = np.mean([psnr(f[1:][m[1:]], t[1:][m[1:]]) for f, t, m in zip(frames, truth, masks)])
    return {
        "mean_levels": round(float(change.mean()), 3),
        "max_levels": int(change.max()),
        "psnr": round(float(whole), 3),
        "psnr_head": round(float(head), 3),
    }


def table(name: str, pipe, cases, variants: dict) -> dict:
    masks = [head_masks(pipe, kps) for kps, _, _ in cases]
    reference = variants.pop("as the original")()
    rows = {"as the original": row(reference, reference, cases, masks)}
    for label, make in variants.items():
        rows[label] = row(make(), reference, cases, masks)
    print(
        f"\n{name}\n| option | mean change (levels) | max change | PSNR | PSNR in the head box |\n|---|---|---|---|---|"
    )
    for label, r in rows.items():
        print(
            f"| {label} | {r['mean_levels']} | {r['max_levels']} | {r['psnr']:.2f} | {r['psnr_head']:.2f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pose2vid", default=str(ROOT / "pretrained_weights" / "pose2vid_demo"))
    parser.add_argument("--lotayou-face", default=None, help="a Lotayou-variant FaceEnhancer folder")
    parser.add_argument("--motions", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from magicpose.models.pose2vid import FaceEnhancer
    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
    from magicpose.weights import load_pose2vid_pipeline

    pipe = load_pose2vid_pipeline(args.pose2vid)
    dancer = demo_dancer()
    cases = []
    for _, motion in split_ids(args.seed, "test", args.motions):
        keypoints, maps, truth, _ = case(dancer, motion, args.frames)
        cases.append((keypoints, maps, truth))
    original = dict(
        configure={"paste": "hard", "feedback": None}
    )  # the official test loop on the demo's face
    results = {
        "official_face": table(
            "demo (official-variant face, trained with body feedback)",
            pipe,
            cases,
            {
                "as the original": lambda: run(pipe, cases, **original),
                "--face-blend feather": lambda: run(
                    pipe, cases, configure={"paste": "feather", "feedback": None}
                ),
                "body frame fed back": lambda: run(
                    pipe, cases, configure={"paste": "hard", "feedback": "body"}
                ),
                "feather + body feedback (the demo's record)": lambda: run(pipe, cases),
                "rounded to 8 bit": lambda: _rounded(pipe, cases, original),
            },
        )
    }
    if args.lotayou_face:
        face = FaceEnhancer.from_pretrained(args.lotayou_face).eval()
        if face.config.variant != "lotayou":
            parser.error(f"--lotayou-face '{args.lotayou_face}' is a {face.config.variant} face enhancer")
        lotayou = Pose2VidPipeline(generator=pipe.generator, face_enhancer=face)
        plain = dict(configure={"paste": "hard", "feedback": None})
        results["lotayou_face"] = table(
            "Lotayou-variant face (BatchNorm) on the demo body",
            lotayou,
            cases,
            {
                "as the original": lambda: run(lotayou, cases, **plain),
                "running BatchNorm statistics": lambda: run(
                    lotayou, cases, face_norm_statistics="running", **plain
                ),
                "--face-blend feather": lambda: run(
                    lotayou, cases, configure={"paste": "feather", "feedback": None}
                ),
            },
        )
    print(json.dumps(results))
    record("eval_edn_options", results)


def _rounded(pipe, cases, original) -> list[np.ndarray]:
    with rounded_uint8():
        return run(pipe, cases, **original)


if __name__ == "__main__":
    main()
