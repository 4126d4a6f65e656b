"""pix2pixHD networks as used by Everybody Dance Now (EDN): generators, discriminators, face enhancers.

A re-implementation of the definitions in ``NVIDIA/pix2pixHD: models/networks.py`` and the two EDN ports
(``carolineec/EverybodyDanceNow``, ``Lotayou/everybody_dance_now_pytorch``), written from the papers and
a reading of those definitions, not copied. What is kept on purpose (fidelity):

* instance norm **without** affine parameters (BatchNorm only where the original used it);
* reflection padding in the generators, kernel 4 / **padding 2** in the discriminators;
* ``AvgPool2d(3, 2, 1, count_include_pad=False)`` between discriminator scales and in front of the local
  enhancer's global branch;
* the original init (:func:`init_weights`).

State-dict layouts. The published checkpoints (``latest_net_G.pth``, ``latest_net_D.pth``,
``latest_net_Gface.pth``, Lotayou's ``final_generator.pth``) map onto these modules as below;
:func:`convert_published_state_dict` does the renaming (a ``DataParallel`` ``module.`` prefix is stripped):

* global G, official face G, Lotayou face G: ``model.N.*`` -> :class:`GlobalGenerator`, **identical keys**
  (ResNet blocks as ``model.N.conv_block.{1,2,5,6}.*``; instance norm has no keys);
* local G: ``model.N.*`` -> ``global_branch.N.*`` (the global G without its last 3 layers),
  ``model1_1.N.*`` -> ``local_down.N.*``, ``model1_2.N.*`` -> ``local_up.N.*``;
* multiscale D: ``scaleI_layerJ.N.*`` -> ``scales.(num_D-1-I).layers.J.N.*`` (the published forward runs
  scale ``num_D-1`` on the full-resolution input; ours runs ``scales[0]`` there), and the
  no-intermediate-features variant ``layerI.K.*`` (one flat Sequential) to the same groups;
* official EDN face D (BatchNorm, flat): ``facemodel.K.*`` -> :class:`NLayerDiscriminator` ``layers.J.N.*``.

Only one local enhancer level is supported (``n_local_enhancers=1``), which is what EDN runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn

Norm = Literal["instance", "instance_affine", "batch"]

__all__ = [
    "GlobalGenerator",
    "LocalEnhancer",
    "MultiscaleDiscriminator",
    "NLayerDiscriminator",
    "ResnetBlock",
    "apply_face_residual",
    "convert_published_state_dict",
    "discriminator_pair_input",
    "generate_sequence",
    "init_weights",
    "local_enhancer_from_global_state_dict",
    "lotayou_face_generator",
    "official_face_generator",
    "step",
]


# ----------------------------------------------------------------------------------------------------------
# building blocks


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    # pix2pixHD's instance norm has no affine parameters and no running stats: it adds no state-dict keys
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if (
        norm == "instance_affine"
    ):  # vid2vid's BatchNorm as its generator runs it (train mode, one video at a time)
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    raise ValueError(f"norm must be 'instance', 'instance_affine' or 'batch', got {norm!r}")


def init_weights(module: nn.Module) -> None:
    """The original ``weights_init``: conv (and transposed conv) weights N(0, 0.02), BatchNorm weight
    N(1, 0.02) and bias 0. Conv biases keep PyTorch's default init, as in the original."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ResnetBlock(nn.Module):
    """``x + [pad, conv3, norm, relu, pad, conv3, norm](x)``: no ReLU after the add, no dropout."""

    def __init__(self, dim: int, norm: Norm = "instance") -> None:
        super().__init__()
        # indices 1, 2, 5, 6 hold the parameters, as ``conv_block.N`` in the published checkpoints
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            norm_layer(norm, dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            norm_layer(norm, dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


def _conv_norm_relu(cin: int, cout: int, norm: Norm, **conv: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, **conv), norm_layer(norm, cout), nn.ReLU(True)]


def _up_norm_relu(cin: int, cout: int, norm: Norm) -> list[nn.Module]:
    # output_padding=1 makes each upsampling exactly double the size
    return [
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
        norm_layer(norm, cout),
        nn.ReLU(True),
    ]


def _global_layers(
    input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int, norm: Norm
) -> list[nn.Module]:
    """The flat layer list of the global generator, in the published order (its indices are the keys)."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), *_conv_norm_relu(input_nc, ngf, norm, kernel_size=7)]
    for i in range(n_downsampling):
        c = ngf * 2**i
        layers += _conv_norm_relu(c, 2 * c, norm, kernel_size=3, stride=2, padding=1)
    layers += [ResnetBlock(ngf * 2**n_downsampling, norm) for _ in range(n_blocks)]
    for i in range(n_downsampling, 0, -1):
        c = ngf * 2**i
        layers += _up_norm_relu(c, c // 2, norm)
    return layers + [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]


def _avg_pool() -> nn.AvgPool2d:
    # the pyramid's downsampler: border pixels are averaged over the pixels that exist, not over zeros
    return nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)


# ----------------------------------------------------------------------------------------------------------
# generators


class GlobalGenerator(nn.Module):
    """pix2pixHD's global generator: c7 stem, ``n_downsampling`` stride-2 convs, ``n_blocks`` ResNet blocks,
    as many transposed convs, c7 head, tanh. Inputs whose sides are multiples of ``2**n_downsampling`` come
    out at the same size."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        norm: Norm = "instance",
    ) -> None:
        super().__init__()
        self.input_nc, self.output_nc = input_nc, output_nc
        self.model = nn.Sequential(*_global_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks, norm))
        self.apply(init_weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """pix2pixHD's coarse-to-fine generator with one local enhancer (as EDN runs it).

    The global branch is a :class:`GlobalGenerator` at ``2 * ngf`` without its c7 head and tanh; it sees the
    input average-pooled to half size and returns ``2 * ngf`` features at that half size. The local branch
    downsamples the full-size input once (``local_down``), **adds** the global features, and finishes with
    ResNet blocks, one upsampling and the c7 head (``local_up``).
    """

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 32,
        n_blocks_local: int = 3,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        norm: Norm = "instance",
    ) -> None:
        super().__init__()
        self.input_nc, self.output_nc = input_nc, output_nc
        global_layers = _global_layers(
            input_nc, output_nc, 2 * ngf, n_downsample_global, n_blocks_global, norm
        )
        self.global_branch = nn.Sequential(*global_layers[:-3])  # published: ``model``
        self.local_down = nn.Sequential(  # published: ``model1_1``
            nn.ReflectionPad2d(3),
            *_conv_norm_relu(input_nc, ngf, norm, kernel_size=7),
            *_conv_norm_relu(ngf, 2 * ngf, norm, kernel_size=3, stride=2, padding=1),
        )
        self.local_up = nn.Sequential(  # published: ``model1_2``
            *[ResnetBlock(2 * ngf, norm) for _ in range(n_blocks_local)],
            *_up_norm_relu(2 * ngf, ngf, norm),
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, output_nc, 7),
            nn.Tanh(),
        )
        self.downsample = _avg_pool()
        self.apply(init_weights)

    def forward(self, x: Tensor) -> Tensor:
        coarse = self.global_branch(self.downsample(x))
        return self.local_up(self.local_down(x) + coarse)


# ----------------------------------------------------------------------------------------------------------
# discriminators


# EDN's names for a generator's sizes, shared by Pose2VidGenerator's config, the training config's model
# section and a converted checkpoint's layout
GENERATOR_SIZES = ("ngf", "n_downsample_global", "n_blocks_global", "n_blocks_local", "norm")


def generator(
    architecture: str,
    input_nc: int,
    output_nc: int,
    ngf: int,
    n_downsample_global: int,
    n_blocks_global: int,
    n_blocks_local: int,
    norm: Norm,
) -> nn.Module:
    """EDN's ``netG`` by name, with its parameter names (:data:`GENERATOR_SIZES`): "local" (a
    :class:`LocalEnhancer`) or "global" (a :class:`GlobalGenerator`, which has no ``n_blocks_local``)."""
    if architecture == "local":
        return LocalEnhancer(
            input_nc, output_nc, ngf, n_blocks_local, n_downsample_global, n_blocks_global, norm
        )
    if architecture == "global":
        return GlobalGenerator(input_nc, output_nc, ngf, n_downsample_global, n_blocks_global, norm)
    raise ValueError(f"architecture must be 'local' or 'global', got {architecture!r}")


class NLayerDiscriminator(nn.Module):
    """PatchGAN with kernel 4 and padding 2: ``n_layers`` stride-2 convs (the first without norm), one
    stride-1 conv, a 1-channel stride-1 conv (logits, no sigmoid: LSGAN). ``layers`` holds the
    ``n_layers + 2`` groups whose outputs are the intermediate features used by feature matching."""

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm: Norm = "instance",
        get_intermediate: bool = True,
    ) -> None:
        super().__init__()
        self.n_layers, self.get_intermediate = n_layers, get_intermediate
        conv = dict(kernel_size=4, padding=2)
        groups = [[nn.Conv2d(input_nc, ndf, stride=2, **conv), nn.LeakyReLU(0.2, True)]]
        nf = ndf
        for n in range(1, n_layers + 1):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 2 if n < n_layers else 1  # the last hidden conv keeps the resolution
            groups.append(
                [nn.Conv2d(nf_prev, nf, stride=stride, **conv), norm_layer(norm, nf), nn.LeakyReLU(0.2, True)]
            )
        groups.append([nn.Conv2d(nf, 1, stride=1, **conv)])
        self.layers = nn.ModuleList(nn.Sequential(*g) for g in groups)
        self.apply(init_weights)

    def forward(self, x: Tensor) -> list[Tensor]:
        """All ``n_layers + 2`` outputs (the last is the patch logit map), or ``[logits]`` without
        ``get_intermediate``: a list either way, so the losses take both."""
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features if self.get_intermediate else features[-1:]


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` independent :class:`NLayerDiscriminator` s; ``scales[k]`` sees the input average-pooled
    ``k`` times. Returns one feature list per scale, full resolution first (as the original's output)."""

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 3,
        norm: Norm = "instance",
        get_intermediate: bool = True,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.scales = nn.ModuleList(
            NLayerDiscriminator(input_nc, ndf, n_layers, norm, get_intermediate) for _ in range(num_D)
        )
        self.downsample = _avg_pool()

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        outputs = []
        for k, scale in enumerate(self.scales):
            if k:
                x = self.downsample(x)
            outputs.append(scale(x))
        return outputs


# ----------------------------------------------------------------------------------------------------------
# EDN temporal smoothing


def _output_channels(generator: nn.Module) -> int:
    channels = getattr(generator, "output_nc", None)
    if channels is None:
        raise AttributeError(
            f"{type(generator).__name__} has no `output_nc`: the size of the zero frame "
            "fed with the first pose is unknown"
        )
    return channels


def step(generator: nn.Module, pose: Tensor, previous: Tensor | None = None) -> Tensor:
    """One EDN step: ``G(cat(pose_t, previous_output))``; the first frame (``previous=None``) sees zeros.

    The previous output is not detached: in training EDN back-propagates through both frames of a pair.
    """
    if previous is None:
        previous = pose.new_zeros(pose.shape[0], _output_channels(generator), *pose.shape[2:])
    return generator(torch.cat([pose, previous], dim=1))


def generate_sequence(
    generator: nn.Module, poses: Iterable[Tensor], first_previous: Tensor | None = None
) -> list[Tensor]:
    """Autoregressive generation over ``poses`` (each ``(B, C, H, W)``; a ``(T, B, C, H, W)`` tensor
    iterates that way): each output is fed back as the next frame's previous output.

    ``first_previous`` replaces the zero frame for the first pose (Lotayou's ``--use_first_frame`` feeds
    the first ground-truth frame). Wrap in ``torch.no_grad()`` for inference, or the graph spans the video.
    """
    outputs: list[Tensor] = []
    previous = first_previous
    for pose in poses:
        previous = step(generator, pose, previous)
        outputs.append(previous)
    return outputs


def discriminator_pair_input(pose_prev: Tensor, pose: Tensor, frame_prev: Tensor, frame: Tensor) -> Tensor:
    """The temporal discriminator's input ``cat(pose_{t-1}, pose_t, frame_{t-1}, frame_t)`` (12 channels
    for RGB), frames being either both real or both generated."""
    return torch.cat([pose_prev, pose, frame_prev, frame], dim=1)


# ----------------------------------------------------------------------------------------------------------
# face enhancers (networks only: cropping and paste-back live elsewhere)


def official_face_generator(
    norm: Norm = "instance", ngf: int = 64, n_downsampling: int = 3, n_blocks: int = 5
) -> GlobalGenerator:
    """EDN's pose-conditioned face residual generator (``faceGtype global``): ``cat(pose crop, generated
    crop)`` (6 channels) in, a 3-channel residual out. The defaults are the published size; smaller ones
    serve tests and trials."""
    return GlobalGenerator(6, 3, ngf=ngf, n_downsampling=n_downsampling, n_blocks=n_blocks, norm=norm)


def lotayou_face_generator(ngf: int = 64, n_downsampling: int = 2, n_blocks: int = 6) -> GlobalGenerator:
    """Lotayou's face residual generator: the generated crop alone in (no pose), BatchNorm, 2 downsamplings,
    6 blocks (``face_enhancer/main.py``; the defaults)."""
    return GlobalGenerator(3, 3, ngf=ngf, n_downsampling=n_downsampling, n_blocks=n_blocks, norm="batch")


def apply_face_residual(
    face_generator: nn.Module, generated_crop: Tensor, pose_crop: Tensor | None = None
) -> Tensor:
    """``generated_crop + residual``. With ``pose_crop`` (official EDN) the generator sees
    ``cat(pose_crop, generated_crop)``; without it (Lotayou) the crop alone. No clamp, as in both originals:
    the sum can leave [-1, 1], so clamp when converting to an image."""
    inputs = generated_crop if pose_crop is None else torch.cat([pose_crop, generated_crop], dim=1)
    return generated_crop + face_generator(inputs)


# ----------------------------------------------------------------------------------------------------------
# published checkpoints -> these modules

PublishedKind = Literal["global", "local", "face_official", "face_lotayou", "multiscale_d", "face_d"]

# local enhancer attributes: published -> ours (one enhancer level)
LOCAL_ENHANCER_PREFIXES = {"model.": "global_branch.", "model1_1.": "local_down.", "model1_2.": "local_up."}


def _strip_module(key: str) -> str:
    return key[len("module.") :] if key.startswith("module.") else key


def _grouped_index(flat: int, n_layers: int) -> tuple[int, int]:
    """Index ``flat`` of a discriminator built as one flat Sequential -> (group, index in group).

    The groups hold ``[conv, lrelu]``, then ``n_layers`` times ``[conv, norm, lrelu]``, then ``[conv]``.
    """
    for group, size in enumerate([2] + [3] * n_layers + [1]):
        if flat < size:
            return group, flat
        flat -= size
    raise KeyError(f"layer index beyond a {n_layers}-layer discriminator")


def _map_rename(state_dict: Mapping[str, Tensor], rename) -> dict[str, Tensor]:
    out = {}
    for key, value in state_dict.items():
        new = rename(_strip_module(key))
        if new in out:
            raise KeyError(f"two published keys map to {new!r}")
        out[new] = value
    return out


def _local_key(key: str) -> str:
    for old, new in LOCAL_ENHANCER_PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    raise KeyError(f"unexpected key in a published local enhancer: {key!r}")


def _multiscale_key(key: str, num_D: int, n_layers: int) -> str:
    if m := re.fullmatch(r"scale(\d+)_layer(\d+)\.(.+)", key):  # getIntermFeat=True (EDN, pix2pixHD)
        return f"scales.{num_D - 1 - int(m[1])}.layers.{m[2]}.{m[3]}"
    if m := re.fullmatch(r"layer(\d+)\.(\d+)\.(.+)", key):  # getIntermFeat=False: one flat Sequential
        group, index = _grouped_index(int(m[2]), n_layers)
        return f"scales.{num_D - 1 - int(m[1])}.layers.{group}.{index}.{m[3]}"
    raise KeyError(f"unexpected key in a published multiscale discriminator: {key!r}")


def _flat_d_key(key: str, n_layers: int) -> str:
    if m := re.fullmatch(r"(?:face)?model(\d+)\.(.+)", key):  # intermediate variant: modelJ.N
        return f"layers.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"(?:face)?model\.(\d+)\.(.+)", key):  # flat: model.K / facemodel.K
        group, index = _grouped_index(int(m[1]), n_layers)
        return f"layers.{group}.{index}.{m[2]}"
    raise KeyError(f"unexpected key in a published discriminator: {key!r}")


def convert_published_state_dict(
    state_dict: Mapping[str, Tensor], kind: PublishedKind, *, num_D: int = 3, n_layers: int = 3
) -> dict[str, Tensor]:
    """A published pix2pixHD/EDN state dict with its keys renamed for these modules (values untouched).

    ``kind``: ``global``/``face_official``/``face_lotayou`` -> :class:`GlobalGenerator` (same keys),
    ``local`` -> :class:`LocalEnhancer`, ``multiscale_d`` -> :class:`MultiscaleDiscriminator` (``num_D`` and
    ``n_layers`` as trained), ``face_d`` -> :class:`NLayerDiscriminator` (official EDN face D, BatchNorm).
    Checkpoints older than PyTorch 0.4.1 lack BatchNorm's ``num_batches_tracked``; ``load_state_dict`` fills
    it in. Raises ``KeyError`` on a key that does not belong to ``kind``.
    """
    if kind in ("global", "face_official", "face_lotayou"):
        return _map_rename(state_dict, lambda k: k)
    if kind == "local":
        return _map_rename(state_dict, _local_key)
    if kind == "multiscale_d":
        return _map_rename(state_dict, lambda k: _multiscale_key(k, num_D, n_layers))
    if kind == "face_d":
        return _map_rename(state_dict, lambda k: _flat_d_key(k, n_layers))
    raise ValueError(f"unknown published kind {kind!r}")


def local_enhancer_from_global_state_dict(
    global_state_dict: Mapping[str, Tensor], n_downsample_global: int = 4, n_blocks_global: int = 9
) -> dict[str, Tensor]:
    """Keys for :class:`LocalEnhancer`'s ``global_branch`` from a trained global-stage generator (ours or
    published: same keys), as EDN's ``--load_pretrain`` does: the c7 head is dropped. Load the result with
    ``strict=False``; the local branch keeps its init."""
    # the global G's Sequential: 4 stem layers, 3 per down/upsampling, 1 per block, then pad, conv, tanh
    head = 4 + 6 * n_downsample_global + n_blocks_global
    out = {}
    for key, value in global_state_dict.items():
        key = _strip_module(key)
        if m := re.fullmatch(r"model\.(\d+)\.(.+)", key):
            if int(m[1]) < head:
                out[f"global_branch.{m[1]}.{m[2]}"] = value
        else:
            raise KeyError(f"unexpected key in a global generator: {key!r}")
    return out
