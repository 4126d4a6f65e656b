"""Recognising which original release a checkpoint is, and refusing one given to the wrong mode."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from magicpose.errors import InputError

UNET = "model.diffusion_model."
VAE = "first_stage_model."
TEXT = "cond_stage_model.transformer."
CONTROL = "control_model."
APPEARANCE = "appearance_control_model."
POSE = "pose_control_model."

KINDS = ("magicpose", "stage1", "controlnet_init", "controlnet", "sd15", "unknown")
DESCRIPTIONS = {
    "magicpose": "a final MagicPose checkpoint (appearance_control_model.* and pose_control_model.*)",
    "stage1": "a MagicPose stage-1 checkpoint (SD 1.5 + control_model.* holding the appearance UNet)",
    "controlnet_init": "a ControlNet initialisation checkpoint (SD 1.5 + control_model.* with zero_convs, "
                       "like control_sd15_ini.ckpt)",
    "controlnet": "a ControlNet checkpoint (control_model.* with zero_convs)",
    "sd15": "a Stable Diffusion 1.5 checkpoint (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*)",
}
# What each mode expects, for "... is X, not <this>".
EXPECTED = {
    "magicpose": "a final MagicPose checkpoint",
    "stage1": "a MagicPose stage-1 checkpoint",
    "controlnet": "a ControlNet checkpoint",
    "sd15": "a Stable Diffusion 1.5 checkpoint",
}
ACCEPTED = {
    "magicpose": {"magicpose"},
    "stage1": {"stage1"},
    "controlnet": {"controlnet", "controlnet_init"},  # the init file's ControlNet part
    "sd15": {"sd15", "controlnet_init"},  # the init file's SD 1.5 part
}
SUGGESTION = {
    "magicpose": "`magicpose convert magicpose`",
    "stage1": "`magicpose convert stage1`",
    "controlnet": "`magicpose convert controlnet`",
    "controlnet_init": "`magicpose convert sd15` (its SD 1.5 part) or `magicpose convert controlnet` (its ControlNet)",
    "sd15": "`magicpose convert sd15`",
}
DIFFUSERS_MARKERS = ("time_embedding.linear_1.weight", "down_blocks.0.resnets.0.conv1.weight",
                     "encoder.down_blocks.0.resnets.0.conv1.weight", "controlnet_cond_embedding.conv_in.weight")


def _has(keys: Iterable[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def detect_kind(state_dict: dict) -> str:
    """One of :data:`KINDS`, from the key prefixes alone."""
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
    return "unknown"


def _looks_like(keys: list[str]) -> str:
    """What an unknown checkpoint seems to be, for the error message."""
    if any(k.endswith(marker) for k in keys for marker in DIFFUSERS_MARKERS):
        return ("already in diffusers layout (keys such as 'down_blocks.0...'): it needs no conversion, load its "
                "folder with from_pretrained")
    if _has(keys, "cond_stage_model.model."):
        return "a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder), which MagicPose (SD 1.5) cannot use"
    roots = sorted({k.split(".", 1)[0] + ("." if "." in k else "") for k in keys})
    shown = ", ".join(roots[:8]) + (f" and {len(roots) - 8} more" if len(roots) > 8 else "")
    return f"not an original MagicPose, ControlNet or SD 1.5 checkpoint (its keys start with: {shown})"


def check_kind(path: str | Path, state_dict: dict, mode: str) -> str:
    """The kind of ``state_dict``; raise :class:`InputError` unless ``mode`` converts it."""
    kind = detect_kind(state_dict)
    if kind in ACCEPTED[mode]:
        return kind
    if kind == "unknown":
        raise InputError(f"'{path}' is {_looks_like(list(state_dict))}; `magicpose convert {mode}` expects "
                         f"{EXPECTED[mode]}")
    raise InputError(f"'{path}' is {DESCRIPTIONS[kind]}, not {EXPECTED[mode]}: convert it with {SUGGESTION[kind]}")
