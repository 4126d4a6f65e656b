"""Building blocks shared by the MRAA networks (clean-room, from the paper and ref-mraa-and-peers.md §A.3).

* conv → BatchNorm → ReLU blocks: the same size, halving (average pool) and doubling (nearest upsample);
* the pre-activation residual block of the generator's bottleneck;
* the hourglass: a U-Net whose decoder concatenates each encoder level, its output carrying
  ``block_expansion + in_channels`` channels;
* the anti-aliased downsampler (Gaussian blur, then strided subsampling) the region and flow predictors
  run their inputs through;
* the coordinate grid: x and y in [-1, 1], the ends at the outer pixels' centres.

The sampling helper keeps one deliberate quirk of the original: the grid follows align-corners semantics
while ``grid_sample`` runs with ``align_corners=False``; checkpoints trained that way expect it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def coordinate_grid(height: int, width: int, like: Tensor | None = None) -> Tensor:
    """(height, width, 2) grid of (x, y) in [-1, 1]; -1 and 1 fall on the first and last pixels' centres."""
    options = {"dtype": like.dtype, "device": like.device} if like is not None else {}
    xs = torch.arange(width, **options) / max(width - 1, 1) * 2 - 1
    ys = torch.arange(height, **options) / max(height - 1, 1) * 2 - 1
    return torch.stack(
        [xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)], -1
    )


def sample(image: Tensor, grid: Tensor) -> Tensor:
    """Backward warp of ``image`` (N, C, H, W) by an absolute (N, h, w, 2) grid, as the original samples."""
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class ConvNormReLU(nn.Module):
    """conv → BatchNorm → ReLU, then ``resample``: ``"same"``, ``"down"`` (2×2 average pool) or ``"up"``
    (nearest ×2 before the convolution)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, resample: str = "same"):
        super().__init__()
        if resample not in ("same", "down", "up"):
            raise ValueError(f"resample must be same, down or up, not {resample!r}")
        self.resample = resample
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.relu(self.norm(self.conv(x)))
        return F.avg_pool2d(x, 2) if self.resample == "down" else x


class ResidualBlock(nn.Module):
    """x + conv(relu(norm(conv(relu(norm(x)))))), channel count and size kept."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels, affine=True)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.norm2 = nn.BatchNorm2d(channels, affine=True)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return x + self.conv2(F.relu(self.norm2(out)))


def level_channels(block_expansion: int, max_features: int, level: int) -> int:
    """Channels at depth ``level`` of an encoder that doubles ``block_expansion`` per level, capped."""
    return min(max_features, block_expansion * 2**level)


class HourglassEncoder(nn.Module):
    """``num_blocks`` halving blocks; returns the input and every level's output, shallowest first."""

    def __init__(self, in_channels: int, block_expansion: int, max_features: int, num_blocks: int):
        super().__init__()
        widths = [in_channels] + [
            level_channels(block_expansion, max_features, i + 1) for i in range(num_blocks)
        ]
        self.blocks = nn.ModuleList(
            ConvNormReLU(widths[i], widths[i + 1], resample="down") for i in range(num_blocks)
        )
        self.out_channels = widths[-1]

    def forward(self, x: Tensor) -> list[Tensor]:
        levels = [x]
        for block in self.blocks:
            levels.append(block(levels[-1]))
        return levels


class HourglassDecoder(nn.Module):
    """Doubling blocks from the deepest level up, each output concatenated with the encoder level of its size."""

    def __init__(self, in_channels: int, block_expansion: int, max_features: int, num_blocks: int):
        super().__init__()
        blocks = []
        for level in reversed(range(num_blocks)):
            deepest = level == num_blocks - 1
            # Below the deepest level the input is the previous block's output plus the same-sized skip.
            block_in = (1 if deepest else 2) * level_channels(block_expansion, max_features, level + 1)
            blocks.append(
                ConvNormReLU(block_in, level_channels(block_expansion, max_features, level), resample="up")
            )
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = block_expansion + in_channels

    def forward(self, levels: list[Tensor]) -> Tensor:
        skips = list(levels)
        out = skips.pop()
        for block in self.blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net with concatenated skips; the output has ``block_expansion + in_channels`` channels."""

    def __init__(self, in_channels: int, block_expansion: int, max_features: int = 1024, num_blocks: int = 5):
        super().__init__()
        self.encoder = HourglassEncoder(in_channels, block_expansion, max_features, num_blocks)
        self.decoder = HourglassDecoder(in_channels, block_expansion, max_features, num_blocks)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


def gaussian_kernel(scale: float) -> Tensor:
    """The blur the anti-aliased downsampler applies before keeping every ``1/scale``-th pixel:
    σ = (1/scale - 1) / 2, size 2·round(4σ) + 1, normalised to sum 1."""
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = profile.view(-1, 1) * profile.view(1, -1)
    return kernel / kernel.sum()


class AntiAliasDownsample(nn.Module):
    """Gaussian blur per channel, then every ``1/scale``-th pixel. The kernel is a persistent buffer, so a
    checkpoint carries the blur it was trained with."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        if not 0 < scale <= 1 or abs(1 / scale - round(1 / scale)) > 1e-6:
            raise ValueError(f"scale must be 1/n for a whole n, not {scale}")
        self.scale = scale
        self.step = round(1 / scale)
        kernel = gaussian_kernel(scale) if scale < 1 else torch.ones(1, 1)
        self.register_buffer("weight", kernel.expand(channels, 1, *kernel.shape).clone())
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        if self.step == 1:
            return x
        pad = self.weight.shape[-1] // 2
        x = F.pad(x, (pad, pad, pad, pad))
        x = F.conv2d(x, self.weight.to(x.dtype), groups=self.channels)
        return x[:, :, :: self.step, :: self.step]
