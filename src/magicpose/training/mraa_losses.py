"""MRAA's training losses (clean-room, ref-mraa-and-peers.md §A.4): the perceptual pyramid and the two
equivariance terms, with the random warp the equivariance terms need.

There is no GAN: the generator learns from the perceptual pyramid alone, and the regions learn to be
consistent under a random warp 𝒯 of the driving frame (regions detected on 𝒯(frame) and mapped back by 𝒯
must match the frame's own, in centre and in shape).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from magicpose.models.losses import VGGPerceptualLoss
from magicpose.models.mraa_blocks import AntiAliasDownsample, coordinate_grid
from magicpose.models.mraa_regions import Regions

PYRAMID_SCALES = (1.0, 0.5, 0.25, 0.125)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImagePyramid(nn.Module):
    """The image at each of ``scales`` (anti-aliased), largest first."""

    def __init__(self, scales=PYRAMID_SCALES, channels: int = 3):
        super().__init__()
        self.levels = nn.ModuleList(AntiAliasDownsample(channels, s) for s in scales)

    def forward(self, x: Tensor) -> list[Tensor]:
        return [level(x) for level in self.levels]


class PerceptualPyramidLoss(nn.Module):
    """Σ_scale Σ_layer w · mean|φ_layer(pred) - φ_layer(target)| over relu1_1…relu5_1 of an ImageNet-normalised
    VGG19, ``w = 10`` for every layer (the original's weights). Images in [0, 1].

    ``vgg=None`` gives the same pyramid over the pixels themselves (one term per scale, weight ``l1_weight``):
    for runs without VGG19 weights (tests, the CPU demo), not in MRAA.
    """

    def __init__(
        self,
        vgg: VGGPerceptualLoss | None,
        layer_weights=(10.0,) * 5,
        scales=PYRAMID_SCALES,
        l1_weight: float = 10.0,
    ):
        super().__init__()
        self.vgg = vgg
        self.layer_weights = tuple(layer_weights)
        self.l1_weight = l1_weight
        self.pyramid = ImagePyramid(scales)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        total = prediction.new_zeros(())
        target = target.detach()
        for pred_level, target_level in zip(self.pyramid(prediction), self.pyramid(target), strict=True):
            if self.vgg is None:
                total = total + self.l1_weight * (pred_level - target_level).abs().mean()
                continue
            pred_maps = self.vgg.feature_maps((pred_level - self.mean) / self.std)
            target_maps = self.vgg.feature_maps((target_level - self.mean) / self.std)
            for w, p, t in zip(self.layer_weights, pred_maps, target_maps, strict=True):
                total = total + w * (p - t.detach()).abs().mean()
        return total


class RandomWarp:
    """A random smooth warp 𝒯 of the plane, one per batch row: an affine map perturbed by ``sigma_affine``
    plus a thin-plate spline on a ``points × points`` grid of control points with ``sigma_tps`` weights.
    Points are (x, y) in [-1, 1]; :meth:`warp_image` samples the image at 𝒯(z) for each pixel z."""

    def __init__(
        self,
        batch: int,
        sigma_affine: float = 0.05,
        sigma_tps: float = 0.005,
        points: int = 5,
        generator: torch.Generator | list[torch.Generator] | None = None,
        device=None,
    ):
        # a list gives each row its own generator, so a row's warp does not depend on the rows beside it
        generators = generator if isinstance(generator, list) else None
        if generators is not None and len(generators) != batch:
            raise ValueError(f"one generator per row: got {len(generators)} for {batch} rows")

        def draw(*shape):
            if generators is None:
                return torch.randn(batch, *shape, generator=generator)
            return torch.stack([torch.randn(*shape, generator=g) for g in generators])

        self.theta = (draw(2, 3) * sigma_affine + torch.eye(2, 3)).to(device)
        self.control = coordinate_grid(points, points).reshape(1, -1, 2).to(device)
        self.weights = (draw(1, points * points) * sigma_tps).to(device)

    def warp_points(self, points: Tensor) -> Tensor:
        """𝒯 of ``points`` (B, ..., 2)."""
        b, shape = points.shape[0], points.shape
        flat = points.reshape(b, -1, 2)
        theta = self.theta.to(flat.dtype)
        moved = flat @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)
        # r² log r as ½ r² log r², which stays differentiable where a point sits on a control point
        squared = (flat.unsqueeze(2) - self.control.to(flat.dtype).unsqueeze(1)).pow(2).sum(-1)  # (B, N, P)
        radial = 0.5 * squared * torch.log(squared + 1e-12)
        moved = moved + (radial * self.weights.to(flat.dtype)).sum(dim=-1, keepdim=True)
        return moved.reshape(shape)

    def warp_image(self, image: Tensor) -> Tensor:
        b, _, h, w = image.shape
        grid = coordinate_grid(h, w, like=image).expand(b, h, w, 2)
        # align_corners=True matches the grid's pixel-centre convention, so the identity warp is the identity
        # and regions found on the warped frame map back exactly by warp_points
        return F.grid_sample(image, self.warp_points(grid), padding_mode="reflection", align_corners=True)

    def jacobian(self, points: Tensor) -> Tensor:
        """d𝒯/dz at ``points`` (B, K, 2) as (B, K, 2, 2), differentiable (the loss backpropagates through it)."""
        if not points.requires_grad:
            points = points.detach().requires_grad_(True)
        moved = self.warp_points(points)
        rows = [
            torch.autograd.grad(moved[..., i].sum(), points, create_graph=True)[0].unsqueeze(-2)
            for i in range(2)
        ]
        return torch.cat(rows, dim=-2)


def equivariance_losses(
    driving: Regions, warped: Regions, warp: RandomWarp, revert_axis_swap: bool = True
) -> tuple[Tensor, Tensor]:
    """``(shift, affine)``: mean|μ - 𝒯(μ_𝒯)| and mean|I - A⁻¹ · J_𝒯(μ_𝒯) · A_𝒯|, where the regions ``warped`` were
    detected on 𝒯's warp of the frame whose regions are ``driving``."""
    shift = (driving.shift - warp.warp_points(warped.shift)).abs().mean()
    mapped = warp.jacobian(warped.shift) @ warped.affine
    relative = torch.linalg.inv(driving.affine) @ mapped
    if revert_axis_swap:
        relative = relative * torch.sign(relative[..., :1, :1])
    eye = torch.eye(2, dtype=relative.dtype, device=relative.device)
    return shift, (eye - relative).abs().mean()
