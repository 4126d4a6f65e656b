"""Retargeting quality of the demo model on held-out synthetic dancers, against the true renders.

    python benchmarks/eval_demo.py [--weights pretrained_weights/demo] [--pairs 20] [--frames 8]

For each of --pairs held-out (identity, motion) pairs (ids from the test range, never trained on),
the first frame of the identity performing the motion is the reference and the next --frames pose
maps drive the model, as in the MagicPose test protocol. Each output frame is compared with the true
render of that identity in that pose: foreground IoU (figure vs the identity's known background),
PSNR (also split into the true figure's pixels and the room's) and SSIM with an 11x11 Gaussian window
(not the papers' SSIM: see magicpose.eval.metrics). Two baselines are computed in the same run: copying
the reference image, and the pose map itself. The last line of output is one JSON object with the figures
per method.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
from results import record
from sampling import sample_uint8

from magicpose.eval import foreground_iou, foreground_mask, psnr, ssim_gaussian
from magicpose.image_utils import center_crop_resize
from magicpose.pose import FramePose, draw_pose
from magicpose.synthetic import (
    Identity,
    Motion,
    pose_sequence,
    render_background,
    render_ground_truth,
    split_ids,
)

ROOT = Path(__file__).resolve().parents[1]
RENDER_SIZE = 128  # the synthetic dataset's size; frames are resized to the model's size as in training


def resized(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` centre-cropped and resized to ``size`` x ``size``, as the models' training data is."""
    return np.asarray(center_crop_resize(image, size, size))


def dance(identity_id: int, motion_id: int, frames: int, fps: float) -> tuple[Identity, list[FramePose]]:
    """A synthetic identity and its exact keypoints doing a motion: ``frames`` frames at ``fps``, one person
    per frame on the RENDER_SIZE canvas."""
    identity = Identity.from_id(identity_id)
    people = pose_sequence(identity, Motion.from_id(motion_id), frames, RENDER_SIZE, fps=fps)
    return identity, [FramePose(RENDER_SIZE, RENDER_SIZE, [p]) for p in people]


def true_renders(
    identity: Identity, poses: list[FramePose], size: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """The true frames of ``identity`` in ``poses`` and its background, rendered on the canvas, at ``size``."""
    frames = render_ground_truth(identity, [pose.people[0] for pose in poses], RENDER_SIZE)
    return [resized(f, size) for f in frames], resized(render_background(identity, RENDER_SIZE), size)


def held_out_case(identity_id: int, motion_id: int, frames: int, size: int, fps: float):
    """Reference, pose maps, true frames and background of one held-out pair, at ``size``."""
    identity, poses = dance(identity_id, motion_id, frames + 1, fps)
    truth, background = true_renders(identity, poses, size)
    return truth[0], [resized(draw_pose(p), size) for p in poses[1:]], truth[1:], background


def with_trained_modules(pipe, folder: Path):
    """``pipe`` with the appearance UNet and ControlNet of a training checkpoint folder."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

    parts = dict(
        pipe.components, appearance_unet=UNet2DConditionModel.from_pretrained(folder / "appearance_unet")
    )
    if (folder / "controlnet").is_dir():
        parts["controlnet"] = ControlNetModel.from_pretrained(folder / "controlnet")
    swapped = MagicPosePipeline(**parts)
    swapped.empty_prompt_embeds = pipe.empty_prompt_embeds
    return swapped


def scores(
    predicted: list[np.ndarray], truth: list[np.ndarray], background: np.ndarray
) -> dict[str, list[float]]:
    """Per frame: foreground IoU, PSNR and 11x11-Gaussian SSIM, and PSNR split into the true figure's pixels
    and the rest (where the error is: the figure, or the room around it)."""
    out = {"iou": [], "psnr": [], "ssim_gaussian": [], "psnr_figure": [], "psnr_room": []}
    for p, t in zip(predicted, truth):
        figure = foreground_mask(t, background)
        out["iou"].append(foreground_iou(foreground_mask(p, background), figure))
        out["psnr"].append(psnr(p, t))
        out["ssim_gaussian"].append(ssim_gaussian(p, t))
        out["psnr_figure"].append(psnr(p[figure], t[figure]))
        out["psnr_room"].append(psnr(p[~figure], t[~figure]))
    return out


def evaluate(
    pipe, pairs: int, frames: int, fps: float, steps: int, guidance_scale: float | None, seed: int, log=None
) -> tuple[dict, list[np.ndarray]]:
    """Mean figures per method over ``pairs`` held-out pairs, and four reference | pose | output | truth rows."""
    from magicpose.video import make_preview_frame

    log = log or functools.partial(print, flush=True)

    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    extra = {} if guidance_scale is None else {"guidance_scale": guidance_scale}
    methods = {"magicpose": {}, "copy_reference": {}, "pose_map": {}}
    rows, started = [], time.perf_counter()
    for n, (identity_id, motion_id) in enumerate(split_ids(seed, "test", pairs)):
        reference, maps, truth, background = held_out_case(identity_id, motion_id, frames, size, fps)
        generated = sample_uint8(pipe, reference, maps, size, steps, n, **extra)
        for name, predicted in (
            ("magicpose", generated),
            ("copy_reference", [reference] * len(truth)),
            ("pose_map", maps),
        ):
            for metric, values in scores(predicted, truth, background).items():
                methods[name].setdefault(metric, []).extend(values)
        if n < 4:
            rows.append(
                np.concatenate(
                    [
                        make_preview_frame(reference, maps[-1], generated[-1]),
                        np.zeros((size, 4, 3), np.uint8),
                        truth[-1],
                    ],
                    axis=1,
                )
            )
        log(
            f"pair {n + 1}/{pairs} (identity {identity_id}, motion {motion_id}): "
            f"IoU {np.mean(methods['magicpose']['iou'][-len(truth) :]):.3f}, "
            f"PSNR {np.mean(methods['magicpose']['psnr'][-len(truth) :]):.2f} dB"
        )
    result = {
        name: {m: round(float(np.mean(v)), 4) for m, v in values.items()} for name, values in methods.items()
    }
    log(
        f"{pairs} held-out pairs x {frames} frames at {size}x{size}, {steps} steps, "
        f"{time.perf_counter() - started:.0f} s"
    )
    for name, values in result.items():
        log(
            f"  {name:15s} IoU {values['iou']:.3f}  PSNR {values['psnr']:6.2f} dB (figure {values['psnr_figure']:6.2f},"
            f" room {values['psnr_room']:6.2f})  SSIM-Gaussian {values['ssim_gaussian']:.3f}"
        )
    return result, rows


def add_held_out_arguments(parser: argparse.ArgumentParser, pairs: int, frames: int) -> None:
    """--weights (the demo's by default), --pairs, --frames and --fps: which MagicPose weights drive how many
    held-out pairs, as this script samples them."""
    parser.add_argument("--weights", default=str(ROOT / "pretrained_weights" / "demo"))
    parser.add_argument("--pairs", type=int, default=pairs)
    parser.add_argument("--frames", type=int, default=frames)
    parser.add_argument(
        "--fps", type=float, default=2.0, help="spacing of the driving poses (the dance runs at 8)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_held_out_arguments(parser, pairs=20, frames=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance-scale", type=float, default=None, help="default: the pipeline's default")
    parser.add_argument("--seed", type=int, default=1234, help="picks the held-out pairs")
    parser.add_argument(
        "--save-grid", default=None, help="write a reference | pose | output | truth PNG here"
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="a training checkpoint (or final/) folder whose appearance_unet/ and controlnet/ replace "
        "those of --weights: one point of a quality-versus-steps curve",
    )
    args = parser.parse_args()

    from magicpose.video import write_preview_grid
    from magicpose.weights import load_pipeline

    pipe = load_pipeline(args.weights)
    if args.checkpoint:
        pipe = with_trained_modules(pipe, Path(args.checkpoint))
    result, rows = evaluate(
        pipe, args.pairs, args.frames, args.fps, args.steps, args.guidance_scale, args.seed
    )
    if args.save_grid:
        write_preview_grid(args.save_grid, rows)
    print(json.dumps(result))
    record("eval_demo", result)


if __name__ == "__main__":
    main()
