"""pix2pixHD / Everybody Dance Now losses: LSGAN, discriminator feature matching, VGG19 perceptual loss.

Faithful to ``NVIDIA/pix2pixHD``'s definitions:

* the GAN loss is LSGAN (MSE against constant 1 / 0 on the last output of each scale), **summed** over the
  discriminator's scales; the discriminator's loss is ``0.5 * (real + fake)``;
* feature matching weighs every scale by ``1 / num_D`` and every intermediate feature by
  ``4 / (n_layers + 1)``, times ``lambda_feat = 10``;
* the VGG19 loss runs on the **[-1, 1] images without ImageNet mean/std normalisation**, as the original
  does (the features are then not those of a normalised ImageNet input; kept for fidelity).

Discriminator outputs are what :class:`~magicpose.models.pix2pixhd.MultiscaleDiscriminator` returns: one
list of features per scale, the last being the patch logits. A single scale's list is accepted too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from magicpose.errors import InputError, first_line
from magicpose.eval.lpips import vgg_layers

__all__ = [
    "VGG19_SLICES",
    "VGG19_WEIGHTS",
    "VGGPerceptualLoss",
    "discriminator_loss",
    "feature_matching_loss",
    "lsgan_loss",
    "vgg19_features",
]

Outputs = Sequence[Sequence[Tensor]] | Sequence[Tensor]


def _per_scale(outputs: Outputs) -> list[Sequence[Tensor]]:
    # one discriminator (a list of tensors) counts as one scale
    return [outputs] if isinstance(outputs[0], Tensor) else list(outputs)  # type: ignore[list-item]


def lsgan_loss(outputs: Outputs, target_is_real: bool) -> Tensor:
    """``Σ_scales MSE(logits, 1 or 0)`` on the last output of each scale."""
    loss = 0.0
    for features in _per_scale(outputs):
        logits = features[-1]
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        loss = loss + F.mse_loss(logits, target)
    return loss  # type: ignore[return-value]


def discriminator_loss(real_outputs: Outputs, fake_outputs: Outputs) -> Tensor:
    """``0.5 * (LSGAN(real, 1) + LSGAN(fake, 0))``; compute ``fake_outputs`` on detached fakes."""
    return 0.5 * (lsgan_loss(real_outputs, True) + lsgan_loss(fake_outputs, False))


def feature_matching_loss(fake_outputs: Outputs, real_outputs: Outputs, lambda_feat: float = 10.0) -> Tensor:
    """``Σ_scales Σ_{j<last} (1/num_D)·(4/(n_layers+1))·L1(f_fake_j, f_real_j.detach())·lambda_feat``.

    ``n_layers`` is read off the outputs (a discriminator returns ``n_layers + 2`` of them); the logits
    (last output) are not matched.
    """
    fake_scales, real_scales = _per_scale(fake_outputs), _per_scale(real_outputs)
    scale_weight = 1.0 / len(fake_scales)
    loss = 0.0
    for fake, real in zip(fake_scales, real_scales, strict=True):
        feature_weight = 4.0 / (len(fake) - 2 + 1)
        for f_fake, f_real in zip(fake[:-1], real[:-1], strict=True):
            loss = loss + scale_weight * feature_weight * F.l1_loss(f_fake, f_real.detach()) * lambda_feat
    return loss  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------------------
# VGG19 perceptual loss

# torchvision's ``vgg19`` configuration "E": conv widths, "M" = 2x2 max-pool
_VGG19_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)
# ends of the slices of ``features`` giving relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
VGG19_SLICES = (2, 7, 12, 21, 30)
VGG19_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
_FIX = "pass a torchvision vgg19 state dict, or set the perceptual loss weight to 0"


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features`` (37 layers, same indices, randomly initialised), built here
    because torchvision is not importable beside this torch."""
    return nn.Sequential(*vgg_layers(_VGG19_CFG, relu_inplace=True))


class VGGPerceptualLoss(nn.Module):
    """pix2pixHD's ``VGGLoss`` times ``weight``: ``weight · Σ_i w_i · L1(φ_i(x), φ_i(y).detach())`` over
    relu1_1…relu5_1 of VGG19 with ``w = [1/32, 1/16, 1/8, 1/4, 1]``.

    Inputs are [-1, 1] images fed **without ImageNet normalisation** (faithful to the original). The VGG is
    frozen and stays in eval mode; gradients still flow to ``x``. Use :meth:`from_file` for real weights:
    the constructor's VGG is random.
    """

    def __init__(self, weight: float = 10.0, features: nn.Sequential | None = None) -> None:
        super().__init__()
        self.weight = weight
        # only the layers up to relu5_1 run; slicing an nn.Sequential keeps torchvision's key names
        self.features = (features if features is not None else vgg19_features())[: VGG19_SLICES[-1]]
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path, weight: float = 10.0) -> VGGPerceptualLoss:
        """Load a torchvision ``vgg19`` state dict (``.pth`` or ``.safetensors``) from a local file.

        Every ``features.N.weight/bias`` key must be there with its shape (strict); ``classifier.*`` keys
        are ignored. A missing or wrong file raises a one-line :class:`InputError`.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"VGG19 weights not found: {path}; {_FIX}")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"holds a {type(state).__name__}, not a state dict")
            features = vgg19_features()
            features.load_state_dict(_checked_features(state, features), strict=True)
        except Exception as err:  # any load failure is the user's file: one line naming it and the fix
            raise InputError(
                f"{path} is not a torchvision vgg19 state dict ({first_line(err)}); {_FIX}"
            ) from err
        return cls(weight, features)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        return super().train(False)  # frozen: always eval

    def feature_maps(self, x: Tensor) -> list[Tensor]:
        """relu1_1, relu2_1, relu3_1, relu4_1, relu5_1."""
        maps, start = [], 0
        for end in VGG19_SLICES:
            for index in range(start, end):
                x = self.features[index](x)
            maps.append(x)
            start = end
        return maps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        loss = 0.0
        for w, fx, fy in zip(VGG19_WEIGHTS, self.feature_maps(x), self.feature_maps(y), strict=True):
            loss = loss + w * F.l1_loss(fx, fy.detach())
        return self.weight * loss  # type: ignore[return-value]


def _checked_features(state: dict[str, Tensor], features: nn.Sequential) -> dict[str, Tensor]:
    """``features.N.*`` keys renamed ``N.*`` (the classifier dropped), checked against ``features`` so the
    error names the first bad key rather than ``load_state_dict``'s multi-line report."""
    out = {}
    for key, value in state.items():
        if key.startswith("features."):
            out[key[len("features.") :]] = value
        elif not key.startswith("classifier."):
            raise ValueError(f"unexpected key {key}")
    expected = features.state_dict()
    for key, tensor in expected.items():
        if key not in out:
            raise ValueError(f"missing key features.{key}")
        if tuple(out[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"features.{key} has shape {tuple(out[key].shape)}, expected {tuple(tensor.shape)}"
            )
    extra = sorted(set(out) - set(expected))
    if extra:
        raise ValueError(f"unexpected key features.{extra[0]}")
    return out
