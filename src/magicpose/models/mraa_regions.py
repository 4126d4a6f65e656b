"""MRAA's motion representation: K soft regions, each a centre and a 2×2 shape, and the motion they imply
(clean-room, from the paper and ref-mraa-and-peers.md §A.3 and §A.6).

A region is the heatmap H_k the predictor softmaxes over the image. Its centre is the heatmap's mean
μ_k = Σ_z H_k(z)·z, its covariance Σ_k = Σ_z H_k(z)(z-μ_k)(z-μ_k)ᵀ, and its shape the PCA square root
A_k = U·√S of Σ_k = U S Uᵀ. A pixel z of the driving frame moves to the source frame by
T_k(z) = A_src,k · A_drv,k⁻¹ · (z - μ_drv,k) + μ_src,k; slot 0 is the background's own (affine) motion.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from magicpose.models.mraa_blocks import AntiAliasDownsample, Hourglass, coordinate_grid


class Regions(NamedTuple):
    """K regions of a batch: ``shift`` (B, K, 2) centres in [-1, 1] xy, ``covar`` and ``affine`` (B, K, 2, 2);
    ``heatmap`` (B, K, h, w) when a predictor made them (None for regions made by a transfer mode)."""

    shift: Tensor
    covar: Tensor
    affine: Tensor
    heatmap: Tensor | None = None


def heatmap_moments(heatmap: Tensor) -> tuple[Tensor, Tensor]:
    """Centre (B, K, 2) and covariance (B, K, 2, 2) of heatmaps (B, K, h, w) that each sum to 1."""
    grid = coordinate_grid(*heatmap.shape[2:], like=heatmap)  # (h, w, 2)
    weights = heatmap.unsqueeze(-1)  # (B, K, h, w, 1)
    shift = (weights * grid).sum(dim=(2, 3))
    centred = grid - shift[:, :, None, None, :]
    covar = (weights.unsqueeze(-1) * centred.unsqueeze(-1) * centred.unsqueeze(-2)).sum(dim=(2, 3))
    return shift, covar


def pca_shape(covar: Tensor) -> Tensor:
    """A = U·√S of each covariance (…, 2, 2): the region's principal axes scaled by their spread."""
    u, s, _ = torch.linalg.svd(covar)
    return u * s.sqrt().unsqueeze(-2)


def align_axes(affine: Tensor, reference: Tensor) -> Tensor:
    """``affine`` with each region's sign flipped where A·R⁻¹ has a negative top-left entry: SVD may return an
    axis pair pointing the other way, which would mirror the region's motion."""
    relative = affine @ torch.linalg.inv(reference)
    return affine * torch.sign(relative[..., :1, :1])


class RegionPredictor(ModelMixin, ConfigMixin):
    """Image → K regions. The image is blurred and subsampled by ``scale_factor``, an hourglass and a
    ``pad``-padded 7×7 convolution give K heatmaps, softmaxed over space at ``temperature``.

    ``pca_based=False`` is the paper's regression ablation: a second 7×7 head predicts a 2×2 shape per pixel
    (starting at the identity), pooled by each heatmap, and the covariance is A·Aᵀ.
    """

    @register_to_config
    def __init__(
        self,
        num_regions: int = 10,
        in_channels: int = 3,
        block_expansion: int = 32,
        max_features: int = 1024,
        num_blocks: int = 5,
        temperature: float = 0.1,
        scale_factor: float = 0.25,
        pca_based: bool = True,
        pad: int = 0,
    ):
        super().__init__()
        self.num_regions = num_regions
        self.temperature = temperature
        self.pca_based = pca_based
        self.downsample = AntiAliasDownsample(in_channels, scale_factor)
        self.hourglass = Hourglass(in_channels, block_expansion, max_features, num_blocks)
        self.heatmap_head = nn.Conv2d(self.hourglass.out_channels, num_regions, 7, padding=pad)
        self.shape_head = None
        if not pca_based:
            self.shape_head = nn.Conv2d(self.hourglass.out_channels, 4, 7, padding=pad)
            nn.init.zeros_(self.shape_head.weight)
            with torch.no_grad():
                self.shape_head.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]))

    def forward(self, image: Tensor) -> Regions:
        features = self.hourglass(self.downsample(image))
        logits = self.heatmap_head(features).float()  # the region maths (SVD, inverses) runs in float32
        b, k, h, w = logits.shape
        heatmap = torch.softmax(logits.view(b, k, h * w) / self.temperature, dim=2).view(b, k, h, w)
        shift, covar = heatmap_moments(heatmap)
        if self.shape_head is None:
            affine = pca_shape(covar)
        else:
            shapes = self.shape_head(features).float().view(b, 1, 4, h, w)
            affine = (shapes * heatmap.unsqueeze(2)).sum(dim=(3, 4)).view(b, k, 2, 2)
            covar = affine @ affine.transpose(-1, -2)
        return Regions(shift, covar, affine, heatmap)


def gaussian_heatmaps(shift: Tensor, covar: Tensor | float, height: int, width: int) -> Tensor:
    """(B, K, height, width) unnormalised Gaussians exp(-½ (z-μ)ᵀ Σ⁻¹ (z-μ)) at each region; a float ``covar``
    is one isotropic variance for all."""
    grid = coordinate_grid(height, width, like=shift)
    offset = grid - shift[:, :, None, None, :]  # (B, K, h, w, 2)
    if isinstance(covar, float | int):
        return torch.exp(-0.5 * (offset**2).sum(-1) / covar)
    precision = torch.linalg.inv(covar)[:, :, None, None]  # (B, K, 1, 1, 2, 2)
    mahalanobis = (offset.unsqueeze(-2) @ precision @ offset.unsqueeze(-1)).squeeze(-1).squeeze(-1)
    return torch.exp(-0.5 * mahalanobis)


def to_homogeneous(points: Tensor) -> Tensor:
    return torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)


def region_motions(
    source: Regions,
    driving: Regions,
    height: int,
    width: int,
    background: Tensor | None = None,
    revert_axis_swap: bool = True,
) -> Tensor:
    """(B, K+1, height, width, 2): for each driving pixel, where it comes from in the source under slot 0 (the
    background's 3×3 matrix, identity when None) and under each region's affine motion T_k."""
    b = driving.shift.shape[0]
    grid = coordinate_grid(height, width, like=driving.shift)  # (h, w, 2)
    relative = source.affine @ torch.linalg.inv(driving.affine)  # (B, K, 2, 2)
    if revert_axis_swap:
        relative = relative * torch.sign(relative[..., :1, :1])
    offsets = grid - driving.shift[:, :, None, None, :]  # (B, K, h, w, 2)
    moved = (relative[:, :, None, None] @ offsets.unsqueeze(-1)).squeeze(-1) + source.shift[
        :, :, None, None, :
    ]
    back = grid.expand(b, 1, height, width, 2)
    if background is not None:
        projected = (background[:, None, None, None] @ to_homogeneous(back).unsqueeze(-1)).squeeze(-1)
        back = projected[..., :2] / projected[..., 2:]
    return torch.cat([back, moved], dim=1)


def hull_area(points: Tensor) -> Tensor:
    """Area of the convex hull of each batch row's points (B, K, 2) (Andrew's monotone chain, shoelace)."""
    areas = []
    for row in points.detach().double().cpu():
        ordered = sorted(map(tuple, row.tolist()))
        if len(ordered) < 3:
            areas.append(0.0)
            continue

        def half(sequence):
            chain: list[tuple[float, float]] = []
            for p in sequence:
                while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) <= 0:
                    chain.pop()
                chain.append(p)
            return chain[:-1]

        hull = half(ordered) + half(reversed(ordered))
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(hull, hull[1:] + hull[:1], strict=True))
        areas.append(abs(area) / 2)
    return torch.tensor(areas, dtype=points.dtype, device=points.device)


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def relative_regions(source: Regions, driving: Regions, driving_first: Regions) -> Regions:
    """The ``relative`` mode: the source's regions moved as the driving ones moved since the first driving
    frame, centres scaled by √(hull area of the source's centres / that of the first driving frame's).
    Assumes the source pose resembles the first driving frame."""
    scale = (hull_area(source.shift) / hull_area(driving_first.shift)).sqrt().view(-1, 1, 1)
    shift = source.shift + scale * (driving.shift - driving_first.shift)
    affine = driving.affine @ torch.linalg.inv(driving_first.affine) @ source.affine
    return Regions(shift, affine @ affine.transpose(-1, -2), affine)
