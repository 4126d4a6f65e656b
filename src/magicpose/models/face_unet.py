"""The official Everybody Dance Now U-Net face generator (``--faceGtype unet``, the official default).

A pix2pix U-Net of five levels: each level halves the crop with a 4x4 stride-2 conv and doubles it back
with a 4x4 transposed conv, and every level but the outermost returns ``cat(input, level(input))``, so the
decoder sees the encoder's features. Channels ``ngf, 2 ngf, 4 ngf, 8 ngf, 8 ngf`` (the official code passes
``num_downs=3``, which is below its five fixed levels, so all published files have exactly five). BatchNorm
with affine parameters; convs followed by BatchNorm have no bias. The official face model takes
``cat(pose crop, generated crop)`` (6 channels) and returns a residual in [-1, 1] (Tanh).

Attribute names follow the published file (``model.model.1.model.3...``: each level is a ``model``
Sequential whose inner level sits between its down and up halves), so its state dict loads unchanged.
"""

from __future__ import annotations

from torch import Tensor, cat, nn

LEVELS = 5  # the official UnetGenerator's fixed depth at num_downs <= 5


class UnetLevel(nn.Module):
    """One level: ``x -> cat(x, up(inner(down(x))))`` (the outermost level returns ``up(...)`` alone)."""

    def __init__(
        self,
        outer: int,
        inner: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        down = nn.Conv2d(input_nc or outer, inner, kernel_size=4, stride=2, padding=1, bias=False)
        if outermost:
            layers = [
                down,
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1),
                nn.Tanh(),
            ]
        elif submodule is None:  # innermost: no norm on its way down, and nothing to concatenate below it
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False),
                nn.BatchNorm2d(outer),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.BatchNorm2d(inner),
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=False),
                nn.BatchNorm2d(outer),
            ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) if self.outermost else cat([x, self.model(x)], 1)


class UnetFaceGenerator(nn.Module):
    """The five-level U-Net (6 -> 3 channels for the official face model); crop sides must be multiples of
    ``2 ** LEVELS``."""

    def __init__(self, input_nc: int = 6, output_nc: int = 3, ngf: int = 64) -> None:
        super().__init__()
        level = UnetLevel(8 * ngf, 8 * ngf)
        for outer, inner in ((4 * ngf, 8 * ngf), (2 * ngf, 4 * ngf), (ngf, 2 * ngf)):
            level = UnetLevel(outer, inner, submodule=level)
        self.model = UnetLevel(output_nc, ngf, input_nc=input_nc, submodule=level, outermost=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
