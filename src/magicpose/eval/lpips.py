"""LPIPS (Zhang et al., CVPR 2018), "vgg" variant, built here without torchvision or the ``lpips`` package.

DisCo and MagicPose report LPIPS with the VGG network. The computation matches the ``lpips`` package
(version 0.1): a fixed input scaling, VGG16 features at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3,
each normalised to unit length across channels, squared differences weighted per channel by the learned
linear heads, averaged over space and summed over the taps.

Weights come from two files the user downloads: torchvision's ``vgg16-397923af.pth`` (the backbone) and
the ``lpips`` package's ``weights/v0.1/vgg.pth`` (the heads); see :func:`load_lpips_vgg`.
Inputs are RGB images in [-1, 1], shape (B, 3, H, W). Use the module in eval mode (as
:func:`load_lpips_vgg` returns it): the heads carry a dropout, as in the original, that must be off.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from magicpose.errors import InputError, first_line
from magicpose.eval.state_dicts import read_weights, state_dict_problems

__all__ = ["LPIPS", "VGG16_CHANNELS", "VGG16Features", "load_lpips_vgg"]

# Maps the [-1, 1] input to roughly the ImageNet-normalised range VGG was trained on (lpips' ScalingLayer).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10

# torchvision's vgg16 "D" configuration up to relu5_3; "M" = 2x2 max-pool.
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Indices in ``features`` of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_VGG16_TAPS = (3, 8, 15, 22, 29)
VGG16_CHANNELS = (64, 128, 256, 512, 512)

_BACKBONE_WHAT = "torchvision's VGG16 weights (vgg16-397923af.pth)"
_HEADS_WHAT = "the lpips package's VGG linear heads (weights/v0.1/vgg.pth)"


def vgg_layers(cfg: Sequence[int | str], relu_inplace: bool) -> list[nn.Module]:
    """The layers of torchvision's VGG ``features`` (same indices) for a configuration: "M" is a 2x2 max-pool,
    a number a 3x3 convolution to that many channels followed by its ReLU."""
    layers: list[nn.Module] = []
    in_channels = 3
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [
                nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1),
                nn.ReLU(inplace=relu_inplace),
            ]
            in_channels = int(item)
    return layers


class VGG16Features(nn.Module):
    """The conv trunk of torchvision's ``vgg16().features`` up to relu5_3 (indices 0-29, same names).

    ``forward`` returns the five LPIPS taps (64, 128, 256, 512, 512 channels at H, H/2 ... H/16).
    """

    def __init__(self) -> None:
        super().__init__()
        # Not in-place: a tapped activation must not be overwritten by a later layer.
        self.features = nn.Sequential(*vgg_layers(_VGG16_CFG, relu_inplace=False))

    def forward(self, x: Tensor) -> list[Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG16_TAPS:
                taps.append(x)
        return taps


class _LinearHead(nn.Module):
    """lpips' NetLinLayer: dropout then a bias-free 1x1 conv to one channel (keys ``model.1.weight``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))
        # Ones: an unloaded head sums the channels (an unweighted "baseline" distance, up to scale).
        nn.init.ones_(self.model[1].weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def _unit_channels(f: Tensor) -> Tensor:
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + _EPS)


class LPIPS(nn.Module):
    """Learned perceptual distance between two batches of images in [-1, 1].

    ``backbone(x)`` must return one feature map per entry of ``channels``. The heads ``lin0 … linK`` have
    the names of the ``lpips`` package, so its ``vgg.pth`` loads into them directly. The learned head
    weights are non-negative (clamped in training); they are used as stored, as the original does.
    """

    def __init__(self, backbone: nn.Module, channels: Sequence[int]) -> None:
        super().__init__()
        self.backbone = backbone
        self.channels = tuple(int(c) for c in channels)
        # Constants, not weights: kept out of the state dict so backbone + heads files load strictly.
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        for k, c in enumerate(self.channels):
            setattr(self, f"lin{k}", _LinearHead(c))

    @property
    def heads(self) -> list[_LinearHead]:
        return [getattr(self, f"lin{k}") for k in range(len(self.channels))]

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """(B, 3, H, W) images in [-1, 1] -> (B,) distances (0 for identical images)."""
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise ValueError(
                f"expected two (B, 3, H, W) batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
            )
        # Separate passes, as the original: identical images then give bit-identical features.
        feats_a = self.backbone((a - self.shift) / self.scale)
        feats_b = self.backbone((b - self.shift) / self.scale)
        if len(feats_a) != len(self.channels):
            raise ValueError(
                f"the backbone gave {len(feats_a)} feature maps, the heads expect {len(self.channels)}"
            )
        total = a.new_zeros(a.shape[0])
        for head, fa, fb in zip(self.heads, feats_a, feats_b):
            diff = (_unit_channels(fa) - _unit_channels(fb)) ** 2
            total = total + head(diff).mean(dim=(1, 2, 3))
        return total


def _read(path: Path, what: str) -> dict:
    state = read_weights(path, "LPIPS", what)
    if not isinstance(state, dict):
        raise InputError(f"{path} is not {what}: it holds no state dict")
    return state


def _load_strict(module: nn.Module, state: dict, path: Path, what: str) -> None:
    """Load ``state`` into ``module`` strictly, with a one-line error naming what is wrong."""
    problems = state_dict_problems(module.state_dict(), state)
    if problems:
        raise InputError(f"{path} is not {what}: {'; '.join(problems)}")
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"{path} is not {what} ({first_line(err)})") from err


def load_lpips_vgg(backbone_path: str | Path, heads_path: str | Path) -> LPIPS:
    """LPIPS-vgg from torchvision's ``vgg16-397923af.pth`` and lpips' ``weights/v0.1/vgg.pth``.

    The backbone file's ``classifier.*`` entries are ignored; its ``features.*`` entries and the five heads
    must match exactly. Returns the model in eval mode with gradients off. A missing or wrong file raises
    a one-line :class:`InputError`.
    """
    backbone_path, heads_path = Path(backbone_path), Path(heads_path)
    backbone = VGG16Features()
    state = _read(backbone_path, _BACKBONE_WHAT)
    _load_strict(
        backbone,
        {k: v for k, v in state.items() if not k.startswith("classifier.")},
        backbone_path,
        _BACKBONE_WHAT,
    )

    model = LPIPS(backbone, VGG16_CHANNELS)
    heads = nn.ModuleDict({f"lin{k}": head for k, head in enumerate(model.heads)})
    _load_strict(heads, _read(heads_path, _HEADS_WHAT), heads_path, _HEADS_WHAT)
    return model.eval().requires_grad_(False)
