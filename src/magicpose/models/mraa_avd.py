"""MRAA's animation via disentanglement (AVD; clean-room, ref-mraa-and-peers.md §A.3, §A.4, §A.6).

Two MLPs encode the regions (centre and 2×2 shape each, 6K numbers): an identity code from the source's
regions, a pose code from the driving frame's; a third MLP decodes both into regions with the source's body
shape in the driving frame's pose. That keeps a tall driver from stretching a short source, which the
``standard`` mode cannot avoid and the ``relative`` mode only avoids when the first frames agree.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from magicpose.models.mraa_blocks import SyncedBatchNorm1d
from magicpose.models.mraa_regions import Regions, align_axes


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear → BatchNorm → ReLU for every hidden width, a plain Linear last."""
    layers: list[nn.Module] = []
    for i in range(len(widths) - 2):
        layers += [nn.Linear(widths[i], widths[i + 1]), SyncedBatchNorm1d(widths[i + 1]), nn.ReLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def regions_to_vector(regions: Regions) -> Tensor:
    """(B, 6K): each region's centre then its shape, row-major."""
    b, k = regions.shift.shape[:2]
    return torch.cat([regions.shift, regions.affine.reshape(b, k, 4)], dim=-1).reshape(b, 6 * k)


def vector_to_regions(vector: Tensor, num_regions: int) -> Regions:
    per_region = vector.view(vector.shape[0], num_regions, 6)
    affine = per_region[..., 2:].reshape(-1, num_regions, 2, 2)
    return Regions(per_region[..., :2], affine @ affine.transpose(-1, -2), affine)


class AVDNetwork(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, num_regions: int = 10, id_bottleneck: int = 64, pose_bottleneck: int = 64):
        super().__init__()
        self.num_regions = num_regions
        size = 6 * num_regions
        self.id_encoder = mlp([size, 256, 512, 1024, id_bottleneck])
        self.pose_encoder = mlp([size, 256, 512, 1024, pose_bottleneck])
        self.decoder = mlp([id_bottleneck + pose_bottleneck, 1024, 512, 256, size])

    def forward(self, source: Regions, driving: Regions) -> Regions:
        """Regions with ``source``'s shape in ``driving``'s pose. The source's axes are first aligned with the
        driving ones, so an SVD sign flip does not read as a different body."""
        source = source._replace(affine=align_axes(source.affine, driving.affine))
        identity = self.id_encoder(regions_to_vector(source))
        pose = self.pose_encoder(regions_to_vector(driving))
        return vector_to_regions(self.decoder(torch.cat([identity, pose], dim=1)), self.num_regions)
