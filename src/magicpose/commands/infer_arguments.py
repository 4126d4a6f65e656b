"""The flag groups that ``infer``, ``infer-dataset`` and ``extract-poses`` share; every default is
:class:`~magicpose.infer.InferOptions`'."""

from __future__ import annotations

import argparse

from magicpose.infer import DTYPES, InferOptions
from magicpose.pose.driving import DEFAULT_FPS

DEFAULTS = InferOptions()


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--weights",
        default=DEFAULTS.weights,
        help="MagicPose pipeline folder or training checkpoint folder (default: the embedded demo "
        "weights); with --generator pose2vid, a pose2vid folder (default: its demo weights)",
    )
    p.add_argument(
        "--steps", type=int, default=DEFAULTS.steps, help=f"DDIM steps ({DEFAULTS.steps} in the original)"
    )
    p.add_argument(
        "--guidance-scale",
        type=float,
        default=DEFAULTS.guidance_scale,
        help=f"image CFG scale ({DEFAULTS.guidance_scale:g} in the original); <=1 is off",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help=f"seed of the initial noise ({DEFAULTS.seed} in the original)",
    )
    p.add_argument(
        "--height",
        type=int,
        default=DEFAULTS.height,
        help="output height, a multiple of 8 (default: the model's)",
    )
    p.add_argument(
        "--width",
        type=int,
        default=DEFAULTS.width,
        help="output width, a multiple of 8 (default: the model's)",
    )
    p.add_argument(
        "--frames-per-batch",
        type=int,
        default=DEFAULTS.frames_per_batch,
        help=f"frames per network call (default: {DEFAULTS.frames_per_batch})",
    )
    p.add_argument(
        "--appearance-timestep",
        choices=("same", "zero"),
        default=DEFAULTS.appearance_timestep,
        help="'zero' computes the reference features once (needs weights trained that way)",
    )
    p.add_argument(
        "--device", default=DEFAULTS.device, help="cpu, cuda, cuda:1, mps (default: cuda if available)"
    )
    p.add_argument(
        "--dtype", choices=DTYPES, default=DEFAULTS.dtype, help="default: float16 on cuda, float32 elsewhere"
    )
    p.add_argument(
        "--xformers", action="store_true", help="use xformers attention (pip install 'magicpose[xformers]')"
    )
    p.add_argument(
        "--cpu-offload",
        action="store_true",
        help="keep the models in CPU memory and move each to the GPU only while it runs "
        "(diffusers enable_model_cpu_offload: least GPU memory, a little slower)",
    )
    p.add_argument(
        "--vae-slicing", action="store_true", help="VAE-decode one frame at a time (vae.enable_slicing)"
    )
    p.add_argument(
        "--fps",
        type=float,
        default=DEFAULTS.fps,
        help=f"frame rate of the written videos (default: {DEFAULT_FPS:g}, or the driving video's rate / "
        "--stride)",
    )


def add_extraction_arguments(p: argparse.ArgumentParser, device: bool) -> None:
    """The pose extractor's flags; ``device``: add ``--device`` (cpu by default) for a command that extracts only."""
    from magicpose.pose.extract import BACKENDS, WEIGHTS_ENV

    p.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default=DEFAULTS.backend,
        help=f"pose extractor (default: {DEFAULTS.backend}, YOLOX + RTMPose whole-body on ONNX Runtime)",
    )
    p.add_argument(
        "--weights-dir",
        default=DEFAULTS.weights_dir,
        help=f"folder of the extractor's weight files (default: ${WEIGHTS_ENV}, else "
        "pretrained_weights/pose)",
    )
    p.add_argument(
        "--person",
        choices=("one", "all"),
        default=DEFAULTS.person,
        help="one: the largest, most confident dancer, tracked across frames (default); all: everyone",
    )
    p.add_argument(
        "--stride",
        type=int,
        default=DEFAULTS.stride,
        help=f"keep every N-th frame of the driving video (default: {DEFAULTS.stride})",
    )
    p.add_argument(
        "--max-frames", type=int, default=DEFAULTS.max_frames, help="keep at most this many frames"
    )
    p.add_argument(
        "--no-smooth",
        dest="smooth",
        action="store_false",
        help="do not One-Euro-filter the keypoints over time",
    )
    p.add_argument(
        "--min-cutoff",
        type=float,
        default=DEFAULTS.min_cutoff,
        help=f"One-Euro minimum cut-off in Hz: lower is smoother when still (default: "
        f"{DEFAULTS.min_cutoff:g})",
    )
    p.add_argument(
        "--beta",
        type=float,
        default=DEFAULTS.beta,
        help=f"One-Euro speed coefficient: higher follows fast moves with less lag (default: "
        f"{DEFAULTS.beta:g})",
    )
    if device:
        p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
