"""The flag groups that ``infer``, ``infer-dataset``, ``extract-poses`` and ``ui`` share; every default is a field
of :class:`~magicpose.infer.InferOptions` (or, for ``ui``, of :class:`~magicpose.ui.jobs.UIConfig`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from magicpose.infer import DTYPES, InferOptions
from magicpose.pose.driving import DEFAULT_FPS

DEFAULTS = InferOptions()


def flag_default(defaults, flag: str):
    """The value of the field of ``defaults`` named as ``flag`` (``--frames-per-batch``: ``frames_per_batch``)."""
    return getattr(defaults, flag.removeprefix("--").replace("-", "_"))


def defaulted(p: argparse.ArgumentParser, defaults) -> Callable[..., None]:
    """``p.add_argument`` giving each flag the default of its field in ``defaults``: a default is written once,
    in ``InferOptions`` or ``UIConfig``."""

    def add(flag: str, **kwargs) -> None:
        p.add_argument(flag, default=flag_default(defaults, flag), **kwargs)

    return add


def add_device_arguments(p: argparse.ArgumentParser, defaults) -> None:
    """``--device`` and ``--dtype`` of a command that runs a generator."""
    add = defaulted(p, defaults)
    add("--device", help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    add("--dtype", choices=DTYPES, help="default: float16 on cuda, float32 elsewhere")


def add_pose_extractor_arguments(
    p: argparse.ArgumentParser, defaults, backend_flag: str, weights_flag: str, use: str = ""
) -> None:
    """The pose extractor and its weights folder, under the flag names a command gives them (``use``: what the
    extractor is for, said in the help)."""
    from magicpose.pose.extract import BACKENDS, WEIGHTS_ENV

    add = defaulted(p, defaults)
    add(
        backend_flag,
        choices=tuple(BACKENDS),
        help=f"pose extractor{use} (default: {flag_default(defaults, backend_flag)}, YOLOX + RTMPose "
        "whole-body on ONNX Runtime)",
    )
    add(
        weights_flag,
        help=f"folder of the extractor's weight files (default: ${WEIGHTS_ENV}, else pretrained_weights/pose)",
    )


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    add = defaulted(p, DEFAULTS)
    add(
        "--weights",
        help="MagicPose pipeline folder or training checkpoint folder (default: the embedded demo "
        "weights); with --generator pose2vid, a pose2vid folder (default: its demo weights)",
    )
    add("--steps", type=int, help=f"DDIM steps ({DEFAULTS.steps} in the original)")
    add(
        "--guidance-scale",
        type=float,
        help=f"image CFG scale ({DEFAULTS.guidance_scale:g} in the original); <=1 is off",
    )
    add("--seed", type=int, help=f"seed of the initial noise ({DEFAULTS.seed} in the original)")
    add("--height", type=int, help="output height, a multiple of 8 (default: the model's)")
    add("--width", type=int, help="output width, a multiple of 8 (default: the model's)")
    add(
        "--frames-per-batch", type=int, help=f"frames per network call (default: {DEFAULTS.frames_per_batch})"
    )
    add(
        "--appearance-timestep",
        choices=("same", "zero"),
        help="'zero' computes the reference features once (needs weights trained that way)",
    )
    add_device_arguments(p, DEFAULTS)
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
    add(
        "--fps",
        type=float,
        help=f"frame rate of the written videos (default: {DEFAULT_FPS:g}, or the driving video's rate / "
        "--stride)",
    )


def add_extraction_arguments(p: argparse.ArgumentParser, device: bool) -> None:
    """The pose extractor's flags; ``device``: add ``--device`` (cpu by default) for a command that extracts only."""
    add_pose_extractor_arguments(p, DEFAULTS, "--backend", "--weights-dir")
    add = defaulted(p, DEFAULTS)
    add(
        "--person",
        choices=("one", "all"),
        help="one: the largest, most confident dancer, tracked across frames (default); all: everyone",
    )
    add("--stride", type=int, help=f"keep every N-th frame of the driving video (default: {DEFAULTS.stride})")
    add("--max-frames", type=int, help="keep at most this many frames")
    p.add_argument(
        "--no-smooth",
        dest="smooth",
        action="store_false",
        help="do not One-Euro-filter the keypoints over time",
    )
    add(
        "--min-cutoff",
        type=float,
        help=f"One-Euro minimum cut-off in Hz: lower is smoother when still (default: {DEFAULTS.min_cutoff:g})",
    )
    add(
        "--beta",
        type=float,
        help=f"One-Euro speed coefficient: higher follows fast moves with less lag (default: {DEFAULTS.beta:g})",
    )
    if device:
        p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
