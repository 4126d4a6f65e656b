"""Building blocks shared by the MRAA networks (clean-room, from the paper and ref-mraa-and-peers.md §A.3).

* conv → BatchNorm → ReLU blocks (batch statistics over all processes under DDP): the same size, halving (average pool) and doubling (nearest upsample);
* the pre-activation residual block of the generator's bottleneck;
* the hourglass: a U-Net whose decoder concatenates each encoder level, its output carrying
  ``block_expansion + in_channels`` channels;
* the anti-aliased downsampler (Gaussian blur, then strided subsampling) the region and flow predictors
  run their inputs through;
* the coordinate grid: x and y in [-1, 1], the ends at the outer pixels' centres.

Sampling follows the grid's own convention (``align_corners=True``), so the identity motion gives the source
back exactly. The original code samples with PyTorch's default since 1.3, ``align_corners=False``, which moves
every sample up to half a pixel outwards and blends the outer pixels with the zero padding (a darkened border:
19 dB against the source itself at 64x64); a checkpoint trained that way still works here, within that half
pixel.
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
    """Backward warp of ``image`` (N, C, H, W) by an absolute (N, h, w, 2) grid of :func:`coordinate_grid`'s
    convention. Always in float32: a bfloat16 grid would place samples half a pixel off at 256 px."""
    return F.grid_sample(
        image.float(), grid.float(), mode="bilinear", padding_mode="zeros", align_corners=True
    )


def _global_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    """Batch norm over the batches of every process: sums all-reduced (differentiably) across the group."""
    from torch.distributed.nn.functional import all_reduce

    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    xf = x.float()
    count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float32, device=x.device)
    stats = all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
    channels = x.shape[1]
    total = stats[-1]
    mean = stats[:channels] / total
    var = stats[channels : 2 * channels] / total - mean * mean
    with torch.no_grad():
        momentum = bn.momentum if bn.momentum is not None else 1 / float(bn.num_batches_tracked + 1)
        bn.num_batches_tracked += 1
        unbiased = var * total / max(total.item() - 1, 1)
        bn.running_mean.mul_(1 - momentum).add_(momentum * mean.detach().to(bn.running_mean.dtype))
        bn.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach().to(bn.running_var.dtype))
    out = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
    if bn.affine:
        out = out * bn.weight.view(shape) + bn.bias.view(shape)
    return out.to(x.dtype)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class SyncedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span every process's batch, as the original's synchronised
    batch norm (so N processes with batch b train as one with batch N*b; PyTorch's SyncBatchNorm needs a
    GPU). Alone, or in eval mode, it is exactly BatchNorm2d; its state dict keys are BatchNorm2d's."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and _distributed():
            return _global_batch_norm(self, x)
        return super().forward(x)


class SyncedBatchNorm1d(nn.BatchNorm1d):
    """:class:`SyncedBatchNorm2d` for (N, C) inputs (the AVD network's MLPs)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and _distributed():
            return _global_batch_norm(self, x)
        return super().forward(x)


class ConvNormReLU(nn.Module):
    """conv → BatchNorm → ReLU, then ``resample``: ``"same"``, ``"down"`` (2×2 average pool) or ``"up"``
    (nearest ×2 before the convolution)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, resample: str = "same"):
        super().__init__()
        if resample not in ("same", "down", "up"):
            raise ValueError(f"resample must be same, down or up, not {resample!r}")
        self.resample = resample
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = SyncedBatchNorm2d(out_channels, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.relu(self.norm(self.conv(x)))
        return F.avg_pool2d(x, 2) if self.resample == "down" else x


class ResidualBlock(nn.Module):
    """x + conv(relu(norm(conv(relu(norm(x)))))), channel count and size kept."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.norm1 = SyncedBatchNorm2d(channels, affine=True)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.norm2 = SyncedBatchNorm2d(channels, affine=True)
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
