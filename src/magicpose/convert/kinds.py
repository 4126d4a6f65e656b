"""Recognising which original release a checkpoint is, and refusing one given to the wrong mode.

MagicPose/ControlNet/SD files are told apart by their key prefixes; Everybody Dance Now (pix2pixHD) files,
whose keys are flat ``model.N.*`` indices, by their key structure and shapes (:mod:`.edn_layout`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from magicpose.convert import edn_layout
from magicpose.errors import InputError

UNET = "model.diffusion_model."
VAE = "first_stage_model."
TEXT = "cond_stage_model.transformer."
CONTROL = "control_model."
APPEARANCE = "appearance_control_model."
POSE = "pose_control_model."

EDN_GENERATORS = ("edn_local", "edn_global")
EDN_FACES = ("edn_face_official", "edn_face_official_unet", "edn_face_lotayou")
VID2VID = ("vid2vid_generator", "vid2vid_local")
KINDS = (
    "magicpose",
    "stage1",
    "controlnet_init",
    "controlnet",
    "sd15",
    *EDN_GENERATORS,
    *EDN_FACES,
    "edn_discriminator",
    *VID2VID,
    "unknown",
)
DESCRIPTIONS = {
    "magicpose": "a final MagicPose checkpoint (appearance_control_model.* and pose_control_model.*)",
    "stage1": "a MagicPose stage-1 checkpoint (SD 1.5 + control_model.* holding the appearance UNet)",
    "controlnet_init": "a ControlNet initialisation checkpoint (SD 1.5 + control_model.* with zero_convs, "
    "like control_sd15_ini.ckpt)",
    "controlnet": "a ControlNet checkpoint (control_model.* with zero_convs)",
    "sd15": "a Stable Diffusion 1.5 checkpoint (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*)",
    "edn_local": "an Everybody Dance Now local-enhancer generator (model.*, model1_1.*, model1_2.*, as in "
    "latest_net_G.pth)",
    "edn_global": "an Everybody Dance Now / pix2pixHD global generator (model.* only, as in "
    "{epoch}_net_G.pth of the official code's first stage)",
    "edn_face_official": "the official Everybody Dance Now face enhancer (latest_net_Gface.pth: 6 inputs, ngf 64, "
    "3 downsamplings, 5 blocks, instance norm)",
    "edn_face_lotayou": "Lotayou's Everybody Dance Now face enhancer (final_generator.pth: 3 inputs, ngf 64, "
    "2 downsamplings, 6 blocks, BatchNorm)",
    "edn_face_official_unet": "the official Everybody Dance Now U-Net face enhancer (latest_net_Gface.pth of "
    "--faceGtype unet, the official default: 6 inputs, ngf 64, 5 levels, BatchNorm)",
    "edn_discriminator": "an Everybody Dance Now / pix2pixHD discriminator (as latest_net_D.pth or "
    "latest_net_Dface.pth)",
    "vid2vid_generator": "a vid2vid generator (model_down_seg.*, model_res_img.*, as in {epoch}_net_G0.pth)",
    "vid2vid_local": "a finer scale of a vid2vid generator (model_down_seg.* without model_res_img.*, as in "
    "{epoch}_net_G1.pth)",
}
# What each mode expects, for "... is X, not <this>".
EXPECTED = {
    "magicpose": "a final MagicPose checkpoint",
    "stage1": "a MagicPose stage-1 checkpoint",
    "controlnet": "a ControlNet checkpoint",
    "sd15": "a Stable Diffusion 1.5 checkpoint",
    "pose2vid": "an Everybody Dance Now generator (latest_net_G.pth)",
    "vid2vid": "a vid2vid generator ({epoch}_net_G0.pth)",
}
ACCEPTED = {
    "magicpose": {"magicpose"},
    "stage1": {"stage1"},
    "controlnet": {"controlnet", "controlnet_init"},  # the init file's ControlNet part
    "sd15": {"sd15", "controlnet_init"},  # the init file's SD 1.5 part
    "pose2vid": set(EDN_GENERATORS),
    "vid2vid": set(VID2VID),
}
SUGGESTION = {
    "magicpose": "`magicpose convert magicpose`",
    "stage1": "`magicpose convert stage1`",
    "controlnet": "`magicpose convert controlnet`",
    "controlnet_init": "`magicpose convert sd15` (its SD 1.5 part) or `magicpose convert controlnet` (its ControlNet)",
    "sd15": "`magicpose convert sd15`",
    "edn_local": "`magicpose convert pose2vid`",
    "edn_global": "`magicpose convert pose2vid`",
    "vid2vid_generator": "`magicpose convert vid2vid`",
    "vid2vid_local": "`magicpose convert vid2vid` (given any scale's file, it converts every scale beside it)",
    # a face enhancer is converted together with its body generator
    "edn_face_official": "`magicpose convert pose2vid GENERATOR OUT --face FILE` (with its generator, "
    "{epoch}_net_G.pth)",
    "edn_face_lotayou": "`magicpose convert pose2vid GENERATOR OUT --face FILE` (with its generator, "
    "latest_net_G.pth)",
    "edn_face_official_unet": "`magicpose convert pose2vid GENERATOR OUT --face FILE` (with its generator, "
    "{epoch}_net_G.pth)",
}
DIFFUSERS_MARKERS = (
    "time_embedding.linear_1.weight",
    "down_blocks.0.resnets.0.conv1.weight",
    "encoder.down_blocks.0.resnets.0.conv1.weight",
    "controlnet_cond_embedding.conv_in.weight",
)


def discriminator_message(path: str | Path, face: bool = False, mode: str = "pose2vid") -> str:
    """``face``: the file was given as the face enhancer (--face), so name the face generator's file."""
    wanted = (
        "pass the face generator saved beside it ({epoch}_net_Gface.pth, or Lotayou's final_generator.pth) "
        "with --face"
        if face
        else "convert the generator files saved beside it ({epoch}_net_G0.pth, ...) with `magicpose convert "
        "vid2vid`"
        if mode == "vid2vid"
        else "convert the generator saved beside it (latest_net_G.pth) with `magicpose convert pose2vid`"
    )
    return (
        f"'{path}' is {DESCRIPTIONS['edn_discriminator']}, which is only used in training and not needed for "
        f"inference: {wanted}"
    )


def _has(keys: Iterable[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def detect_kind(state_dict: dict) -> str:
    """One of :data:`KINDS`: from the key prefixes, and for EDN files from their key structure and shapes."""
    keys = list(state_dict)
    if _has(keys, APPEARANCE) and _has(keys, POSE):
        return "magicpose"
    has_unet = _has(keys, UNET)
    control_zero = _has(keys, CONTROL + "zero_convs.")
    control_unet = _has(keys, CONTROL + "output_blocks.")
    if has_unet and control_unet and not control_zero:
        return "stage1"
    if has_unet and control_zero:
        return "controlnet_init"
    if control_zero and not has_unet:
        return "controlnet"
    if has_unet and _has(keys, VAE) and not _has(keys, CONTROL) and not _has(keys, "cond_stage_model.model."):
        return "sd15"  # (cond_stage_model.model.* is SD 2.x's OpenCLIP text encoder)
    stripped = [edn_layout.strip_module(k) for k in keys]
    if _has(stripped, "model_down_seg.") and _has(stripped, "model_down_img."):
        return "vid2vid_generator" if _has(stripped, "model_res_img.") else "vid2vid_local"
    edn = edn_layout.analyse(state_dict)
    return edn.kind if edn is not None else "unknown"


def looks_like(keys: list[str]) -> str:
    """What an unknown checkpoint seems to be, for the error message."""
    if any(k.endswith(marker) for k in keys for marker in DIFFUSERS_MARKERS):
        return (
            "already in diffusers layout (keys such as 'down_blocks.0...'): it needs no conversion, load its "
            "folder with from_pretrained"
        )
    if _has(keys, "cond_stage_model.model."):
        return (
            "a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder), which MagicPose (SD 1.5) cannot use"
        )
    roots = sorted({k.split(".", 1)[0] + ("." if "." in k else "") for k in keys})
    shown = ", ".join(roots[:8]) + (f" and {len(roots) - 8} more" if len(roots) > 8 else "")
    return (
        f"not an original MagicPose, ControlNet, SD 1.5 or Everybody Dance Now checkpoint (its keys start "
        f"with: {shown})"
    )


def check_kind(path: str | Path, state_dict: dict, mode: str) -> str:
    """The kind of ``state_dict``; raise :class:`InputError` unless ``mode`` converts it."""
    kind = detect_kind(state_dict)
    if kind in ACCEPTED[mode]:
        return kind
    if kind == "edn_discriminator":
        raise InputError(discriminator_message(path, mode=mode))
    if kind == "unknown":
        raise InputError(
            f"'{path}' is {looks_like(list(state_dict))}; `magicpose convert {mode}` expects {EXPECTED[mode]}"
        )
    raise InputError(
        f"'{path}' is {DESCRIPTIONS[kind]}, not {EXPECTED[mode]}: convert it with {SUGGESTION[kind]}"
    )
