"""The 3D ResNet-50 of Hara et al. (CVPR 2018), the feature network of the FID-VID metric.

DisCo and MagicPose report FID-VID as the Fréchet distance between the pooled 2048-d features of this
network (trained on Kinetics-400; checkpoint ``resnet-50-kinetics.pth`` of Hara's 3D-ResNets-PyTorch) on
real and generated clips. The architecture and parameter names are those of that checkpoint, so it loads
strictly (after dropping the ``module.`` prefix that ``nn.DataParallel`` left on its keys).

Input convention, applied by the caller and not by this module: 16-frame clips, each frame resized to
112x112, RGB in 0-255 minus the per-channel mean ``[114.7748, 107.7354, 99.4750]`` (no division by a
standard deviation), laid out as (B, 3, T, H, W) float. That mean is ActivityNet's, not Kinetics': Hara's
code subtracts ``get_mean(dataset="activitynet")`` by default, also when training on Kinetics (its
Kinetics mean, [110.6367, 103.1607, 96.2902], is an option), and DisCo subtracts the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from magicpose.errors import InputError, first_line
from magicpose.eval.state_dicts import fill_batchnorm_counters, read_weights, state_dict_problems

__all__ = ["ACTIVITYNET_MEAN", "ResNet3D", "load_resnet3d", "resnet3d_50"]

# Per-channel RGB mean (0-255 scale) the checkpoint was trained with (ActivityNet's, see above); the caller
# subtracts it.
ACTIVITYNET_MEAN = (114.7748, 107.7354, 99.4750)

_EXPANSION = 4
_WHAT = "a 3D ResNet-50 Kinetics checkpoint (resnet-50-kinetics.pth)"


class _Bottleneck(nn.Module):
    """1x1x1 reduce, 3x3x3 (carrying the stride), 1x1x1 expand by 4; projection shortcut ("type B")."""

    def __init__(self, in_channels: int, planes: int, stride: int) -> None:
        super().__init__()
        out_channels = planes * _EXPANSION
        self.conv1 = nn.Conv3d(in_channels, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet3D(nn.Module):
    """Bottleneck 3D ResNet; the defaults are the ResNet-50 of ``resnet-50-kinetics.pth``.

    ``forward`` returns the globally pooled features (the input of ``fc``), which FID-VID uses;
    ``logits`` adds the Kinetics-400 classifier. Smaller ``layers``/``width`` only serve tests.
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), width: int = 64, num_classes: int = 400) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give 4 stage depths, got {tuple(layers)}")
        self.conv1 = nn.Conv3d(3, width, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        in_channels = width
        for i, (depth, stride) in enumerate(zip(layers, (1, 2, 2, 2)), start=1):
            planes = width * 2 ** (i - 1)
            blocks = []
            for j in range(depth):
                blocks.append(_Bottleneck(in_channels, planes, stride if j == 0 else 1))
                in_channels = planes * _EXPANSION
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.feature_dim = in_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) normalised clips -> (B, feature_dim) pooled features."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected clips of shape (B, 3, T, H, W), got {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        # The original pools with AvgPool3d sized to the final map (1x4x4 for 16x112x112): a global mean.
        return x.mean(dim=(2, 3, 4))

    def logits(self, x: Tensor) -> Tensor:
        """Kinetics-400 class scores (B, num_classes)."""
        return self.fc(self.forward(x))


def resnet3d_50() -> ResNet3D:
    """The ResNet-50 (layers 3-4-6-3, width 64, 400 classes), randomly initialised."""
    return ResNet3D()


def load_resnet3d(path: str | Path) -> ResNet3D:
    """Load ``resnet-50-kinetics.pth`` into :func:`resnet3d_50`, strictly, in eval mode.

    Accepts the original file (``{"state_dict": {"module.conv1.weight": ...}, ...}``) or a bare state dict,
    with or without the ``module.`` prefix. Anything else raises a one-line :class:`InputError`.
    """
    path = Path(path)
    checkpoint = read_weights(path, "FID-VID", _WHAT)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise InputError(f"{path} is not {_WHAT}: it holds no state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}

    # Built on the meta device: no time spent initialising 47M weights that the file replaces.
    with torch.device("meta"):
        model = resnet3d_50()
    expected = model.state_dict()
    fill_batchnorm_counters(expected, state)
    problems = state_dict_problems(expected, state)
    if problems:
        raise InputError(f"{path} is not {_WHAT}: {'; '.join(problems)}")
    model.to_empty(device="cpu")  # every tensor is then overwritten by the strict load
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"{path} is not {_WHAT} ({first_line(err)})") from err
    return model.eval()
