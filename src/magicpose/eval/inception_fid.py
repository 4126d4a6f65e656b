"""The Inception-v3 of pytorch-fid, the FID network the MagicPose and DisCo papers report, without torchvision.

DisCo's ``gen_eval.sh`` (which MagicPose reuses) computes FID with ``python -m pytorch_fid`` on the two frame
folders. pytorch-fid's network is a port of TensorFlow's 2015 Inception graph, saved as a state dict
(``pt_inception-2015-12-05-6726825d.pth``) in the parameter names of torchvision's ``Inception3`` without
the auxiliary classifier and with a 1008-class ``fc``. Its blocks differ from torchvision's where
TensorFlow's graph does:

- the 3x3 average pools inside Mixed_5b-5d, 6b-6e and 7b leave the zero padding out of the mean
  (``count_include_pad=False``);
- Mixed_7c pools its pool branch with a 3x3 *max* pool instead of an average.

Every convolution is bias-free and followed by BatchNorm (eps 0.001) and a ReLU. The features are the
2048-d output of the final global average pool. Input: (B, 3, 299, 299) RGB scaled to [-1, 1]
(magicpose.eval.preprocess.pytorch_fid_input does pytorch-fid's resize and scaling).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from magicpose.errors import InputError, first_line
from magicpose.eval.state_dicts import fill_batchnorm_counters, state_dict_problems

__all__ = ["FIDInceptionV3", "load_fid_inception", "FILENAME"]

FILENAME = "pt_inception-2015-12-05-6726825d.pth"
_WHAT = f"pytorch-fid's Inception-v3 weights ({FILENAME})"


class ConvBN(nn.Module):
    """torchvision's BasicConv2d: conv (no bias), BatchNorm with TensorFlow's eps, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: Tensor) -> Tensor:
    # TensorFlow's average pool divides by the number of real pixels under the window, not by 9.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class MixedA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool(x)),
            ],
            1,
        )


class MixedB(nn.Module):
    """Mixed_6a, the first grid reduction: 3x3/2 | 1x1-3x3-3x3/2 | max pool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            1,
        )


class MixedC(nn.Module):
    """Mixed_6b-6e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool-1x1 (192 channels each)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c = channels_7x7
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c, 1)
        self.branch7x7_2 = ConvBN(c, c, **row)
        self.branch7x7_3 = ConvBN(c, 192, **col)
        self.branch7x7dbl_1 = ConvBN(in_channels, c, 1)
        self.branch7x7dbl_2 = ConvBN(c, c, **col)
        self.branch7x7dbl_3 = ConvBN(c, c, **row)
        self.branch7x7dbl_4 = ConvBN(c, c, **col)
        self.branch7x7dbl_5 = ConvBN(c, 192, **row)
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        double = x
        for k in range(1, 6):
            double = getattr(self, f"branch7x7dbl_{k}")(double)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                double,
                self.branch_pool(_avg_pool(x)),
            ],
            1,
        )


class MixedD(nn.Module):
    """Mixed_7a, the second grid reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        seven = x
        for k in range(1, 5):
            seven = getattr(self, f"branch7x7x3_{k}")(seven)
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, kernel_size=3, stride=2)], 1
        )


class MixedE(nn.Module):
    """Mixed_7b/7c: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1; ``max_pool`` for 7c (TF's graph)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """pytorch-fid's FID Inception-v3 (parameter names of torchvision's Inception3, no AuxLogits).

    ``forward`` gives the 2048-d pool features FID uses; ``logits`` adds the 1008-class ``fc``.
    """

    def __init__(self, num_classes: int = 1008) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = MixedB(288)
        self.Mixed_6b = MixedC(768, channels_7x7=128)
        self.Mixed_6c = MixedC(768, channels_7x7=160)
        self.Mixed_6d = MixedC(768, channels_7x7=160)
        self.Mixed_6e = MixedC(768, channels_7x7=192)
        self.Mixed_7a = MixedD(768)
        self.Mixed_7b = MixedE(1280, max_pool=False)
        self.Mixed_7c = MixedE(2048, max_pool=True)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) in [-1, 1] (H = W = 299 for FID) -> (B, 2048)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def logits(self, x: Tensor) -> Tensor:
        return self.fc(self.forward(x))


def load_fid_inception(path: str | Path) -> FIDInceptionV3:
    """Load pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` strictly, in eval mode, from a local file.

    Anything else (another network's weights, a truncated file, a TorchScript) raises a one-line
    :class:`InputError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"'{path}' does not exist: pass the path of {_WHAT}")
    from magicpose.eval.torchscript import is_torchscript

    if is_torchscript(path):
        raise InputError(
            f"'{path}' is a TorchScript file, not {_WHAT}: a TorchScript Inception "
            "(inception-2015-12-05.pt) is clean-fid's; pass it as --inception with --fid-protocol "
            "clean-fid"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise InputError(
            f"cannot read '{path}' ({first_line(err)}): expected {_WHAT}; download it again if it "
            "was cut short"
        ) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise InputError(f"'{path}' is not {_WHAT}: it holds no state dict of tensors")
    with torch.device("meta"):  # the file replaces every weight: no time spent initialising 24M of them
        model = FIDInceptionV3()
    expected = model.state_dict()
    state = dict(state)
    fill_batchnorm_counters(expected, state)
    problems = state_dict_problems(expected, state)
    if problems:
        raise InputError(f"'{path}' is not {_WHAT}: {'; '.join(problems)}")
    model.to_empty(device="cpu")
    model.load_state_dict(state, strict=True)
    return model.eval()
