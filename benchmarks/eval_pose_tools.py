"""Pose tools on the synthetic dancers: One-Euro smoothing against exact keypoints, and pose alignment's
effect on retargeting (keypoints, and the demo model's frames against the true renders).

    python benchmarks/eval_pose_tools.py [--pairs 6] [--frames 8] [--steps 25] [--no-generate] [--tune]

Smoothing: --dances held-out dances of held-out dancers sampled at --smooth-fps (30, a video's rate) for
--smooth-frames frames; Gaussian noise of each --noise level (pixels on the 128 px canvas) is added to the
exact keypoints, which are then smoothed with ``smooth_keypoints`` at its defaults (and, for comparison, the
EDN median filter ``smooth_poses``, window 7, which looks ahead). Jitter = the RMS over points of the second
difference ``|p[t+1] - 2 p[t] + p[t-1]|`` (px, points visible in the three frames); error = the mean distance
to the true keypoints (px). --tune grid-searches min_cutoff x beta x d_cutoff and prints the best settings.

Alignment: --pairs held-out pairs (reference dancer A, driving dancer B of other body proportions, B's
motion M). The reference is A's first frame of M; the driving poses are B doing M, aligned to A's first pose
with mode none / global / bones (fitted on B's first frame, which shows the same pose as the reference);
the target is A doing M (``pose_sequence(A, M)``, the synthetic world's retargeting ground truth). Keypoint
error (px, body joints; all 130 points) against A's true keypoints over --kp-pairs pairs; then the demo
MagicPose weights (64x64) generate frames 1..--frames from each mode's pose maps and from A's true poses
(the oracle, the ceiling alignment could reach), scored with benchmarks/eval_demo.py's ``scores``
(foreground IoU, PSNR, 11x11-Gaussian SSIM) against ``render_ground_truth(A, ...)``; per pair the same seed for every mode,
so the differences are paired. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
from eval_demo import RENDER_SIZE, ROOT, dance, resized, scores, true_renders
from results import record
from sampling import sample_uint8

from magicpose.eval.keypoints import keypoint_jitter, mean_keypoint_error
from magicpose.pose import FramePose, align_poses, draw_pose, smooth_keypoints, smooth_poses
from magicpose.synthetic import split_ids

MODES = ("none", "global", "bones")


def log(*args) -> None:
    print(*args, flush=True)


# ------------------------------------------------------------------------------------------------ smoothing


def dances(count: int, frames: int, fps: float, seed: int) -> list[np.ndarray]:
    """Exact keypoints (frames, 130, 3) of ``count`` held-out dancers doing held-out dances."""
    return [
        as_array(dance(identity_id, motion_id, frames, fps)[1])
        for identity_id, motion_id in split_ids(seed, "test", count)
    ]


def as_frames(arr: np.ndarray) -> list[FramePose]:
    return [FramePose.from_array(a, RENDER_SIZE, RENDER_SIZE) for a in arr]


def as_array(frames: list[FramePose]) -> np.ndarray:
    return np.stack([f.people[0].to_array() for f in frames]).astype(np.float64)


def noisy_copies(truths: list[np.ndarray], sigma: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for t in truths:
        n = t.copy()
        n[..., :2] += rng.normal(0.0, sigma, n[..., :2].shape)
        out.append(n)
    return out


def smoothing_table(truths, noise_levels, fps: float, seed: int) -> dict:
    table = {"truth_jitter": round(float(np.mean([keypoint_jitter(t) for t in truths])), 4)}
    for sigma in noise_levels:
        noisy = noisy_copies(truths, sigma, seed)
        euro = [as_array(smooth_keypoints(as_frames(n), fps)) for n in noisy]
        median = [as_array(smooth_poses(as_frames(n), 7)) for n in noisy]
        row = {}
        for name, arrays in (("noisy", noisy), ("one_euro", euro), ("median7", median)):
            errors = [mean_keypoint_error(a, t) for a, t in zip(arrays, truths)]
            row[name] = {
                "jitter": round(float(np.mean([keypoint_jitter(a) for a in arrays])), 4),
                "error": round(float(np.mean(errors)), 4),
            }
        table[f"noise_{sigma:g}px"] = row
    return table


def tune(truths, noise_levels, fps: float, seed: int) -> list[tuple]:
    """Mean error relative to the noisy input, per noise level, for a grid of (min_cutoff, beta, d_cutoff)."""
    noisy = {s: noisy_copies(truths, s, seed) for s in noise_levels}
    base = {s: np.mean([mean_keypoint_error(n, t) for n, t in zip(noisy[s], truths)]) for s in noise_levels}
    rows = []
    for mc, beta, dc in itertools.product((0.5, 1, 2, 3, 5), (3, 10, 20, 30, 50, 100), (1, 3, 10)):
        rel = [
            np.mean(
                [
                    mean_keypoint_error(
                        as_array(smooth_keypoints(as_frames(n), fps, mc, beta, d_cutoff=dc)), t
                    )
                    for n, t in zip(noisy[s], truths)
                ]
            )
            / base[s]
            for s in noise_levels
        ]
        rows.append((float(np.mean(rel)), mc, beta, dc, [round(float(r), 3) for r in rel]))
    return sorted(rows)


# ------------------------------------------------------------------------------------------------ alignment


def alignment_pairs(count: int, seed: int) -> list[tuple[int, int, int]]:
    """(reference identity A, driving identity B, motion) triples from disjoint held-out pairs."""
    ids = split_ids(seed, "test", 2 * count)
    return [(ids[2 * k][0], ids[2 * k + 1][0], ids[2 * k + 1][1]) for k in range(count)]


def alignment_case(a: int, b: int, motion_id: int, frames: int, fps: float):
    """A's true poses (frames 0..frames), B's driving frames and A's identity."""
    identity_a, truth = dance(a, motion_id, frames + 1, fps)
    _, driving = dance(b, motion_id, frames + 1, fps)
    return identity_a, truth, driving


def keypoint_errors(aligned: list[FramePose], truth: list[FramePose]) -> tuple[float, float]:
    """Mean distance to the truth (px) over frames 1.., body joints and all points visible in both."""
    body, every = [], []
    for f, t in zip(aligned[1:], truth[1:]):
        p, q = f.people[0].to_array(), t.people[0].to_array()
        seen = (p[:, 2] > 0) & (q[:, 2] > 0)
        dist = np.linalg.norm(p[:, :2] - q[:, :2], axis=1)
        body.extend(dist[:18][seen[:18]])
        every.extend(dist[seen])
    return float(np.mean(body)), float(np.mean(every))


def keypoint_table(count: int, frames: int, fps: float, seed: int) -> dict:
    table = {m: {"body_px": [], "all_px": []} for m in MODES}
    for a, b, motion in alignment_pairs(count, seed):
        _, truth, driving = alignment_case(a, b, motion, frames, fps)
        for mode in MODES:
            body, every = keypoint_errors(align_poses(truth[0], driving, mode), truth)
            table[mode]["body_px"].append(body)
            table[mode]["all_px"].append(every)
    return {m: {k: round(float(np.mean(v)), 3) for k, v in d.items()} for m, d in table.items()}


def generation_table(
    pipe, count: int, frames: int, fps: float, steps: int, seed: int, oracle: bool = True
) -> dict:
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    methods = (*MODES, "oracle") if oracle else MODES
    per_pair = {m: {"iou": [], "psnr": [], "ssim_gaussian": []} for m in methods}
    started = time.perf_counter()
    for n, (a, b, motion) in enumerate(alignment_pairs(count, seed)):
        identity_a, truth, driving = alignment_case(a, b, motion, frames, fps)
        true_frames, background = true_renders(identity_a, truth, size)
        reference, target = true_frames[0], true_frames[1:]
        poses = {m: align_poses(truth[0], driving, m)[1:] for m in MODES}
        poses["oracle"] = truth[1:]
        line = []
        for m in methods:
            maps = [resized(draw_pose(f), size) for f in poses[m]]
            generated = sample_uint8(pipe, reference, maps, size, steps, n)
            s = scores(generated, target, background)
            for metric in per_pair[m]:
                per_pair[m][metric].append(float(np.mean(s[metric])))
            line.append(f"{m} IoU {per_pair[m]['iou'][-1]:.3f} PSNR {per_pair[m]['psnr'][-1]:.2f}")
        log(
            f"pair {n + 1}/{count} (A {a}, B {b}, motion {motion}) {time.perf_counter() - started:.0f} s: "
            + "; ".join(line)
        )
    result = {m: {k: round(float(np.mean(v)), 4) for k, v in d.items()} for m, d in per_pair.items()}
    # Paired differences against "none" and "global": mean and standard error over pairs.
    for other, base in (("global", "none"), ("bones", "none"), ("bones", "global"), ("oracle", "bones")):
        if other not in per_pair:
            continue
        for metric in ("iou", "psnr"):
            diff = np.subtract(per_pair[other][metric], per_pair[base][metric])
            se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
            result.setdefault("paired", {})[f"{other}-{base}_{metric}"] = [
                round(float(diff.mean()), 4),
                round(se, 4),
            ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default=str(ROOT / "pretrained_weights" / "demo"))
    parser.add_argument("--pairs", type=int, default=6, help="alignment pairs generated with the demo model")
    parser.add_argument("--kp-pairs", type=int, default=50, help="alignment pairs for the keypoint errors")
    parser.add_argument(
        "--frames", type=int, default=8, help="generated frames per pair (after the reference)"
    )
    parser.add_argument("--fps", type=float, default=2.0, help="spacing of the driving poses (as eval_demo)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--no-generate", action="store_true", help="skip the (slow) generation table")
    parser.add_argument("--no-oracle", action="store_true", help="do not generate from A's true poses")
    parser.add_argument("--dances", type=int, default=12, help="held-out dances for the smoothing table")
    parser.add_argument("--smooth-frames", type=int, default=90)
    parser.add_argument("--smooth-fps", type=float, default=30.0)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0], help="px at 128 px")
    parser.add_argument("--tune", action="store_true", help="grid-search the One-Euro parameters")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    result = {}
    started = time.perf_counter()
    truths = dances(args.dances, args.smooth_frames, args.smooth_fps, args.seed)
    smooth = smoothing_table(truths, args.noise, args.smooth_fps, args.seed)
    result["smoothing"] = smooth
    log(
        f"smoothing: {args.dances} dances x {args.smooth_frames} frames at {args.smooth_fps:g} fps, 128 px; "
        f"true motion's own jitter {smooth['truth_jitter']:.3f} px"
    )
    log(
        f"  {'noise':>8s} | {'jitter noisy':>12s} {'one-euro':>9s} {'median7':>8s} | "
        f"{'error noisy':>11s} {'one-euro':>9s} {'median7':>8s}   (px)"
    )
    for sigma in args.noise:
        row = smooth[f"noise_{sigma:g}px"]
        log(
            f"  {sigma:6.2f}px | {row['noisy']['jitter']:12.3f} {row['one_euro']['jitter']:9.3f} "
            f"{row['median7']['jitter']:8.3f} | {row['noisy']['error']:11.3f} "
            f"{row['one_euro']['error']:9.3f} {row['median7']['error']:8.3f}"
        )
    if args.tune:
        levels = [s for s in args.noise if s <= 2.0] or args.noise
        rows = tune(truths, levels, args.smooth_fps, args.seed)
        log(f"tuning (error / noisy error at {levels} px; mean): best 10 of {len(rows)}")
        for mean, mc, beta, dc, rel in rows[:10]:
            log(f"  min_cutoff {mc:4g} beta {beta:4g} d_cutoff {dc:3g}: {rel} mean {mean:.3f}")
        result["tune_best"] = {"min_cutoff": rows[0][1], "beta": rows[0][2], "d_cutoff": rows[0][3]}

    kp = keypoint_table(args.kp_pairs, args.frames, args.fps, args.seed)
    result["alignment_keypoints"] = kp
    log(
        f"alignment, keypoint error against A's true poses ({args.kp_pairs} pairs x {args.frames} frames, px "
        "on 128 px):"
    )
    for mode, values in kp.items():
        log(f"  {mode:7s} body {values['body_px']:7.3f}  all points {values['all_px']:7.3f}")

    if not args.no_generate:
        from magicpose.weights import load_pipeline

        pipe = load_pipeline(args.weights)
        pipe.set_progress_bar_config(disable=True)
        gen = generation_table(
            pipe, args.pairs, args.frames, args.fps, args.steps, args.seed, not args.no_oracle
        )
        result["alignment_generation"] = gen
        log(
            f"alignment, demo model ({args.pairs} pairs x {args.frames} frames, {args.steps} steps) against "
            "the true renders of A:"
        )
        for mode in (m for m in (*MODES, "oracle") if m in gen):
            v = gen[mode]
            log(
                f"  {mode:7s} IoU {v['iou']:.3f}  PSNR {v['psnr']:6.2f} dB  SSIM-Gaussian {v['ssim_gaussian']:.3f}"
            )
        for key, (mean, se) in gen["paired"].items():
            log(f"  paired {key:22s} {mean:+.4f} +- {se:.4f} (mean +- s.e. over pairs)")
    log(f"{time.perf_counter() - started:.0f} s")
    print(json.dumps(result))
    record("eval_pose_tools", result)


if __name__ == "__main__":
    main()
