"""What the MRAA model and loss tests share: random regions with well-conditioned shapes."""

import torch

from magicpose.models.mraa_regions import Regions


def random_regions(batch: int = 2, k: int = 3, seed: int = 0) -> Regions:
    """Centres in [-0.5, 0.5], shapes near 0.3·I (invertible), covariances A·Aᵀ."""
    g = torch.Generator().manual_seed(seed)
    shift = torch.rand(batch, k, 2, generator=g) - 0.5
    affine = torch.randn(batch, k, 2, 2, generator=g) * 0.2 + torch.eye(2) * 0.3
    return Regions(shift, affine @ affine.transpose(-1, -2), affine)
