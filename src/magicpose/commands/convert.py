"""The ``magicpose convert`` subcommand (parser and runner); imports torch only when it runs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

MODE_HELP = {
    "magicpose": (
        "a final MagicPose checkpoint (model_state-110000.th)",
        "a complete MagicPosePipeline folder for `magicpose infer --weights`",
    ),
    "stage1": (
        "a MagicPose stage-1 checkpoint (model_state-10000.th)",
        "vae/ unet/ text_encoder/ appearance_unet/ for stage-2 training\n"
        "(model.pretrained_dir=OUT model.appearance_unet=OUT/appearance_unet)",
    ),
    "controlnet": (
        "a ControlNet 1.x checkpoint (control_v11p_sd15_openpose.pth)",
        "a ControlNetModel folder (model.controlnet=OUT for stage-2 training)",
    ),
    "sd15": (
        "a Stable Diffusion 1.5 single file (.ckpt or .safetensors),\nor the SD part of control_sd15_ini.ckpt",
        "vae/ unet/ text_encoder/ scheduler/ (model.pretrained_dir=OUT for training)",
    ),
    "pose2vid": (
        "an Everybody Dance Now generator (latest_net_G.pth, {epoch}_net_G.pth)\nand, with --face, "
        "its face enhancer (final_generator.pth, {epoch}_net_Gface.pth)",
        "a complete Pose2VidPipeline folder (generator/, face_enhancer/)",
    ),
    "vid2vid": (
        "NVIDIA vid2vid pose2body generator files ({epoch}_net_G0.pth; given any\nscale's file, "
        "its _G1, _G2 beside it are converted too)",
        "a complete Vid2VidPipeline folder (generator/)",
    ),
    "mraa": (
        "a checkpoint of the original MRAA training (a dict of region_predictor,\ngenerator, bg_predictor and "
        "avd_network state dicts; trained by you: Snap's own are not redistributable)",
        "a complete MRAAPipeline folder (region_predictor/, generator/, bg_predictor/, avd_network/)",
    ),
}
WRITTEN = {
    "magicpose": "a MagicPose pipeline",
    "stage1": "stage-1 weights (appearance_unet/ inside)",
    "controlnet": "a ControlNetModel",
    "sd15": "SD 1.5 components",
    "pose2vid": "an Everybody Dance Now pipeline",
    "vid2vid": "a vid2vid pipeline",
    "mraa": "an MRAA pipeline",
}

DESCRIPTION = (
    """\
Convert an original release to diffusers folders, offline and bit-exactly (tensors are renamed, never
recomputed). Each mode checks that the file is of its kind and names the right mode otherwise.

modes:
"""
    + "\n".join(
        f"  {mode:<11} " + f"takes {takes}\nwrites {writes}".replace("\n", "\n" + " " * 14)
        for mode, (takes, writes) in MODE_HELP.items()
    )
    + """

Modes with a text encoder also write empty_prompt/ (the CLIP embedding of "", MagicPose's prompt, a
pipeline component) and, with --tokenizer, tokenizer/. magicpose_info.json records the source, the
ignored keys (schedule buffers, EMA copies, unused leftovers) and any unexpected ones. The output
folder appears only once complete.

pose2vid reads the whole architecture from the tensors (global generator or local enhancer, input
channels, ngf, downsamplings, ResNet blocks, instance or batch norm; a DataParallel `module.` prefix
and missing BatchNorm num_batches_tracked are accepted). What the tensors cannot tell is how the pose
maps were scaled in training; --family sets it:
  lotayou   Lotayou/everybody_dance_now_pytorch: pose maps normalised to [-1, 1]
  official  carolineec/EverybodyDanceNow: label maps not normalised, [0, 1]
  auto      (default) the family of the --face file (final_generator.pth is Lotayou's,
            {epoch}_net_Gface.pth the official one, global or U-Net); without --face, a global
            generator is official (Lotayou published only the local enhancer); a local one alone
            cannot be told apart and needs --family.
The face enhancer keeps its release's test loop: its crop size (official 1/4 of the frame height,
Lotayou 1/6), a hard paste, per-crop BatchNorm statistics, and what is fed back (official: the
enhanced frame); `magicpose infer --face-blend feather` blends the face in instead.
magicpose_info.json records the family, why it was chosen, and the inferred configuration."""
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``convert`` to the ``magicpose`` subcommands."""
    parser = subparsers.add_parser(
        "convert",
        help="convert original MagicPose / ControlNet / SD 1.5 / Everybody Dance Now checkpoints",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=list(MODE_HELP), help="what the checkpoint is (see above)")
    parser.add_argument("checkpoint", help="the original file (.th, .pth, .ckpt or .safetensors)")
    parser.add_argument("output_dir", help="folder to create (refused if it exists and is not empty)")
    parser.add_argument(
        "--dtype",
        choices=("fp32", "fp16", "bf16"),
        default=None,
        help="cast floating tensors before saving (default: keep the stored dtype)",
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        metavar="DIR",
        help="a CLIP tokenizer folder (e.g. SD 1.5's tokenizer/): copied to OUT/tokenizer/ and used "
        'for the empty-prompt embedding (default: CLIP\'s known ids of "")',
    )
    parser.add_argument(
        "--config-from",
        default=None,
        metavar="DIR",
        help="a diffusers folder whose config.json files describe the models (default: SD 1.5)",
    )
    parser.add_argument(
        "--face",
        default=None,
        metavar="FACE_CHECKPOINT",
        help="pose2vid: the face enhancer to convert with the generator (final_generator.pth or "
        "{epoch}_net_Gface.pth); written to OUT/face_enhancer/",
    )
    parser.add_argument(
        "--family",
        choices=("auto", "lotayou", "official"),
        default=None,
        help="pose2vid: whose code trained the generator, which sets the pose maps' range: lotayou "
        "[-1, 1], official [0, 1] (default: auto, see above)",
    )
    parser.add_argument(
        "--allow-unsafe-pickle",
        action="store_true",
        help="load a pickle holding Python objects beyond tensors: this can run arbitrary code, "
        "use it only for a file whose origin you trust",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return parser


def run(args) -> int:
    from magicpose.commands import keywords
    from magicpose.convert.api import convert

    started = time.perf_counter()
    options = keywords(args, "dtype", "tokenizer", "config_from", "allow_unsafe_pickle", "overwrite")
    out = convert(args.mode, args.checkpoint, args.output_dir, **options, face=args.face, family=args.family)
    sources = Path(args.checkpoint).name + (f" and {Path(args.face).name}" if args.face else "")
    print(
        f"wrote {WRITTEN[args.mode]} converted from {sources} to {out} in {time.perf_counter() - started:.1f} s"
    )
    return 0
