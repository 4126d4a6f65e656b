"""MRAA's image generator (clean-room, ref-mraa-and-peers.md §A.3): regions → a dense flow and an occlusion
map → the source's features warped, inpainted and decoded into the driving frame.

The pixel-wise flow predictor looks, for each of the K+1 motion slots (background first), at the difference of
the driving and source regions' Gaussians and at the source warped by that slot's motion; an hourglass
softmaxes the slots per pixel (flow F = Σ_k M_k·T_k) and predicts an occlusion map O.

The generator encodes the source (7×7 stem, halving blocks), warps the deepest features by F and weights
them by O, runs residual blocks and decodes; with ``skips`` every decoder level, the stem's output and the
final image blend ``warp(encoder level)·O + decoded·(1 - O)``, so where nothing is occluded the output is the
warped source itself and the network only paints in what the source does not show.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from magicpose.models.mraa_blocks import (
    AntiAliasDownsample,
    ConvNormReLU,
    Hourglass,
    ResidualBlock,
    level_channels,
    sample,
)
from magicpose.models.mraa_regions import Regions, gaussian_heatmaps, region_motions


class DenseMotion(NamedTuple):
    flow: Tensor  # (B, h, w, 2) absolute source coordinates for each driving pixel, at the predictor's scale
    occlusion: Tensor | None  # (B, 1, h, w) in (0, 1): 1 where the source shows the pixel
    masks: Tensor  # (B, K+1, h, w) per-pixel weights of the motion slots


class GeneratorOutput(NamedTuple):
    prediction: Tensor  # (B, 3, H, W) in [0, 1]
    deformed: Tensor  # the source warped by the flow alone
    occlusion: Tensor | None
    flow: Tensor


class PixelwiseFlowPredictor(nn.Module):
    def __init__(
        self,
        num_regions: int = 10,
        in_channels: int = 3,
        block_expansion: int = 64,
        max_features: int = 1024,
        num_blocks: int = 5,
        scale_factor: float = 0.25,
        region_var: float = 0.01,
        use_covar_heatmap: bool = True,
        use_deformed_source: bool = True,
        estimate_occlusion_map: bool = True,
        revert_axis_swap: bool = True,
    ):
        super().__init__()
        self.num_regions = num_regions
        self.region_var = region_var
        self.use_covar_heatmap = use_covar_heatmap
        self.use_deformed_source = use_deformed_source
        self.revert_axis_swap = revert_axis_swap
        per_slot = 1 + (in_channels if use_deformed_source else 0)
        self.downsample = AntiAliasDownsample(in_channels, scale_factor)
        self.hourglass = Hourglass((num_regions + 1) * per_slot, block_expansion, max_features, num_blocks)
        self.mask_head = nn.Conv2d(self.hourglass.out_channels, num_regions + 1, 7, padding=3)
        self.occlusion_head = (
            nn.Conv2d(self.hourglass.out_channels, 1, 7, padding=3) if estimate_occlusion_map else None
        )

    def heatmap_difference(self, source: Regions, driving: Regions, height: int, width: int) -> Tensor:
        """(B, K+1, h, w): where the driving regions are minus where the source ones are; zeros for slot 0."""
        covars = (driving.covar, source.covar) if self.use_covar_heatmap else (self.region_var,) * 2
        difference = gaussian_heatmaps(driving.shift, covars[0], height, width) - gaussian_heatmaps(
            source.shift, covars[1], height, width
        )
        return torch.cat([torch.zeros_like(difference[:, :1]), difference], dim=1)

    def forward(
        self, image: Tensor, source: Regions, driving: Regions, background: Tensor | None = None
    ) -> DenseMotion:
        image = self.downsample(image)
        b, c, h, w = image.shape
        slots = self.num_regions + 1
        motions = region_motions(
            source, driving, h, w, background, self.revert_axis_swap
        )  # (B, K+1, h, w, 2)
        inputs = [self.heatmap_difference(source, driving, h, w).unsqueeze(2)]
        if self.use_deformed_source:
            repeated = image.unsqueeze(1).expand(b, slots, c, h, w).reshape(b * slots, c, h, w)
            inputs.append(sample(repeated, motions.reshape(b * slots, h, w, 2)).view(b, slots, c, h, w))
        features = self.hourglass(torch.cat(inputs, dim=2).view(b, -1, h, w))
        masks = torch.softmax(self.mask_head(features), dim=1)
        flow = (masks.unsqueeze(-1) * motions).sum(dim=1)
        occlusion = torch.sigmoid(self.occlusion_head(features)) if self.occlusion_head is not None else None
        return DenseMotion(flow, occlusion, masks)


def warp_to(features: Tensor, flow: Tensor) -> Tensor:
    """``features`` warped by ``flow``, the flow resized (bilinear) to the features' size first."""
    if flow.shape[1:3] != features.shape[2:]:
        flow = F.interpolate(flow.permute(0, 3, 1, 2), size=features.shape[2:], mode="bilinear").permute(
            0, 2, 3, 1
        )
    return sample(features, flow)


def resized(occlusion: Tensor, like: Tensor) -> Tensor:
    if occlusion.shape[2:] == like.shape[2:]:
        return occlusion
    return F.interpolate(occlusion, size=like.shape[2:], mode="bilinear")


class MRAAGenerator(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(
        self,
        num_regions: int = 10,
        in_channels: int = 3,
        block_expansion: int = 64,
        max_features: int = 512,
        num_down_blocks: int = 2,
        num_bottleneck_blocks: int = 6,
        skips: bool = True,
        revert_axis_swap: bool = True,
        flow_params: dict | None = None,
        sample_size: int = 256,  # the frame size it was trained at: the pipeline's default
    ):
        super().__init__()
        self.skips = skips
        self.flow_predictor = PixelwiseFlowPredictor(
            num_regions, in_channels, revert_axis_swap=revert_axis_swap, **(flow_params or {})
        )
        self.stem = ConvNormReLU(in_channels, block_expansion, kernel_size=7)
        widths = [level_channels(block_expansion, max_features, i) for i in range(num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(
            ConvNormReLU(widths[i], widths[i + 1], resample="down") for i in range(num_down_blocks)
        )
        self.bottleneck = nn.Sequential(*(ResidualBlock(widths[-1]) for _ in range(num_bottleneck_blocks)))
        self.up_blocks = nn.ModuleList(
            ConvNormReLU(widths[i + 1], widths[i], resample="up") for i in reversed(range(num_down_blocks))
        )
        self.final = nn.Conv2d(block_expansion, in_channels, 7, padding=3)

    def blend(self, skip: Tensor, decoded: Tensor | None, motion: DenseMotion) -> Tensor:
        """warp(skip)·O + decoded·(1 - O); without a decoded input (the bottleneck's), warp(skip)·O."""
        warped = warp_to(skip, motion.flow)
        if motion.occlusion is None:
            return warped
        occlusion = resized(motion.occlusion, warped)
        if decoded is None:
            return warped * occlusion
        return warped * occlusion + decoded * (1 - occlusion)

    def forward(
        self, source_image: Tensor, source: Regions, driving: Regions, background: Tensor | None = None
    ) -> GeneratorOutput:
        levels = [self.stem(source_image)]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        motion = self.flow_predictor(source_image, source, driving, background)
        out = self.bottleneck(self.blend(levels[-1], None, motion))
        for block, skip in zip(self.up_blocks, reversed(levels[1:]), strict=True):
            out = block(self.blend(skip, out, motion) if self.skips else out)
        if self.skips:
            out = self.blend(levels[0], out, motion)
        out = torch.sigmoid(self.final(out))
        if self.skips:
            out = self.blend(source_image, out, motion)
        deformed = warp_to(source_image, motion.flow)
        return GeneratorOutput(out, deformed, motion.occlusion, motion.flow)
