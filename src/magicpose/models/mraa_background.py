"""MRAA's background motion predictor (clean-room, ref-mraa-and-peers.md §A.3): source and driving frames
side by side → one 3×3 matrix moving the driving frame's background pixels to the source's.

It exists for training on moving-camera footage, so regions are not spent explaining camera motion;
animation leaves it out (the background slot is the identity), as the paper does.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from magicpose.models.mraa_blocks import HourglassEncoder

BACKGROUND_TYPES = {"zero": 0, "shift": 2, "affine": 6, "perspective": 8}


class BackgroundMotionPredictor(ModelMixin, ConfigMixin):
    """``bg_type``: ``zero`` (always the identity), ``shift`` (translation), ``affine`` (the default) or
    ``perspective``. The last layer starts at zero weights and an identity bias, so training starts from
    a still background."""

    @register_to_config
    def __init__(
        self,
        bg_type: str = "affine",
        in_channels: int = 3,
        block_expansion: int = 32,
        max_features: int = 1024,
        num_blocks: int = 5,
    ):
        super().__init__()
        if bg_type not in BACKGROUND_TYPES:
            raise ValueError(f"bg_type must be one of {', '.join(BACKGROUND_TYPES)}, not {bg_type!r}")
        self.bg_type = bg_type
        # the matrix every prediction starts from; a buffer so that even the parameter-free ``zero`` type saves
        # and loads as a diffusers model (whose weights file must hold a tensor)
        self.register_buffer("identity", torch.eye(3))
        self.encoder = self.head = None
        outputs = BACKGROUND_TYPES[bg_type]
        if outputs:
            self.encoder = HourglassEncoder(2 * in_channels, block_expansion, max_features, num_blocks)
            self.head = nn.Linear(self.encoder.out_channels, outputs)
            nn.init.zeros_(self.head.weight)
            with torch.no_grad():
                self.head.bias.copy_(
                    torch.eye(3).flatten()[:outputs] if bg_type != "shift" else torch.zeros(2)
                )

    def forward(self, source: Tensor, driving: Tensor) -> Tensor:
        b = source.shape[0]
        matrix = self.identity.to(source.dtype).repeat(b, 1, 1)
        if self.encoder is None:
            return matrix
        pooled = self.encoder(torch.cat([source, driving], dim=1))[-1].mean(dim=(2, 3))
        params = self.head(pooled)
        if self.bg_type == "shift":
            matrix[:, :2, 2] = params
        elif self.bg_type == "affine":
            matrix = torch.cat([params.view(b, 2, 3), matrix[:, 2:]], dim=1)
        else:
            matrix = torch.cat([params, torch.ones_like(params[:, :1])], dim=1).view(b, 3, 3)
        return matrix
