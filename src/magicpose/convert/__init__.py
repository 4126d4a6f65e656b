"""``magicpose convert``: the original MagicPose, ControlNet, SD 1.5 and Everybody Dance Now checkpoints to
diffusers folders.

Offline and bit-exact: tensors are only renamed (and 1x1-conv weights reshaped), never recomputed.
Attributes load lazily so that building the command-line parser does not import torch.
"""

from __future__ import annotations

from magicpose.lazy_exports import lazy_getattr

_EXPORTS = {
    "convert_magicpose": "api",
    "convert_stage1": "api",
    "convert_controlnet": "api",
    "convert_sd15": "api",
    "convert": "api",
    "MODES": "api",
    "convert_pose2vid": "pose2vid",
    "detect_kind": "kinds",
    "KINDS": "kinds",
    "load_checkpoint": "loading",
    "convert_vid2vid": "vid2vid",
    "convert_mraa": "mraa",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})
