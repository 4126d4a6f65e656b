"""vid2vid's sequential pose-to-body generator (Wang et al., NeurIPS 2018) as a diffusers model.

Frame t is generated from the last ``n_frames_G`` pose maps (``s_{t-2..t}`` by default, oldest first, stacked
on channels) and the ``n_frames_G - 1`` frames generated before it. At each spatial scale:

* two encoders, one for the pose stack (``model_down_seg``) and one for the previous frames
  (``model_down_img``), whose features are **summed**;
* an image head that hallucinates the frame (``h``: ``model_res_img``, ``model_up_img``, ``model_final_img``,
  tanh) and a flow head (``model_res_flow``, ``model_up_flow``) ending in a flow (``w``: ``model_final_flow``,
  times 20, times ``2**s`` at the finer scales) and an occlusion weight (``m``: ``model_final_w``, sigmoid);
* the composite ``final = m * h + (1 - m) * warp(x_{t-1}, w)``, the warp being a bilinear ``grid_sample``
  with border padding on the ``align_corners=True`` grid (what the original's PyTorch did by default).

Coarse to fine (``n_scales_spatial``): scale 0 is the full generator at ``ngf``, run on inputs average-pooled
``n_scales_spatial - 1`` times; each finer scale s is a local generator at ``ngf / 2**s`` (one downsampling,
``n_blocks_local`` ResNet blocks) that adds the coarser scale's image and flow features to its own. Each scale
keeps its own previous outputs (the original's ``fake_B_prev`` pyramid); the finest scale's frame is the
result.

The first frames (``no_first_img``, how the pose scripts train): zeros stand in for the missing previous
frames and only the hallucinated frame is used (``use_raw_only``).

State-dict keys are the original's per scale with a ``scales.<s>.`` prefix (``{epoch}_net_G<s>.pth`` holds
scale s), so a checkpoint converts by renaming. Norms: ``"instance"`` (affine-free) or ``"instance_affine"``,
which is what the original's default ``--norm batch`` computes at test time (its generator is never put in
eval mode and sees one video at a time, so BatchNorm normalises each frame by itself, with its affine
parameters); the running statistics of a converted checkpoint are never used and are dropped.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from magicpose.models.pix2pixhd import (
    Norm,
    ResnetBlock,
    _avg_pool,
    _conv_norm_relu,
    _up_norm_relu,
    init_weights,
)

FLOW_SCALE = 20.0  # the flow head's output is multiplied by this (times 2**s at scale s)


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """``image`` (B, C, H, W) sampled at ``pixel + flow`` (B, 2, H, W; x then y, in pixels): bilinear, border
    padding, the grid from -1 to 1 through the pixel centres of the first and last pixels."""
    b, _, h, w = image.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype)
    grid = torch.stack([xs.view(1, 1, w).expand(b, h, w), ys.view(1, h, 1).expand(b, h, w)], dim=-1)
    offset = torch.stack([flow[:, 0] / ((w - 1.0) / 2.0), flow[:, 1] / ((h - 1.0) / 2.0)], dim=-1)
    return F.grid_sample(image, grid + offset, mode="bilinear", padding_mode="border", align_corners=True)


def downsample_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """``[x, pool(x), pool(pool(x)), ...]`` (``levels`` entries), finest first, with the border-aware 3x3
    average pool of the original's ``build_pyr``."""
    pool = _avg_pool()
    pyramid = [x]
    for _ in range(levels - 1):
        pyramid.append(pool(pyramid[-1]))
    return pyramid


def _head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(cin, cout, 7))


class CompositeScale(nn.Module):
    """One scale of the generator: the original's ``CompositeGenerator`` (``local=False``) or
    ``CompositeLocalGenerator`` (``local=True``), with the same submodule names."""

    def __init__(
        self,
        label_nc: int,
        prev_nc: int,
        output_nc: int,
        ngf: int,
        n_downsampling: int,
        n_blocks: int,
        norm: Norm,
        no_flow: bool,
        local: bool,
        scale: int,
    ) -> None:
        super().__init__()
        self.local, self.no_flow, self.scale = local, no_flow, scale

        def encoder(cin: int) -> list[nn.Module]:
            layers = [nn.ReflectionPad2d(3), *_conv_norm_relu(cin, ngf, norm, kernel_size=7)]
            for i in range(1 if local else n_downsampling):
                c = ngf * 2**i
                layers += _conv_norm_relu(c, 2 * c, norm, kernel_size=3, stride=2, padding=1)
            return layers

        depth = 1 if local else n_downsampling
        inner = ngf * 2**depth
        down_seg = encoder(label_nc)
        if not local:  # the deeper half of the ResNet blocks sits in each encoder
            down_seg += [ResnetBlock(inner, norm) for _ in range(n_blocks - n_blocks // 2)]
        down_img = encoder(prev_nc) + (
            [ResnetBlock(inner, norm) for _ in range(n_blocks - n_blocks // 2)] if not local else []
        )
        self.model_down_seg = nn.Sequential(*down_seg)
        self.model_down_img = nn.Sequential(*down_img)

        def decoder() -> list[nn.Module]:
            layers: list[nn.Module] = [ResnetBlock(inner, norm) for _ in range(n_blocks)] if local else []
            for i in range(depth, 0, -1):
                c = ngf * 2**i
                layers += _up_norm_relu(c, c // 2, norm)
            return layers

        if not local:
            self.model_res_img = nn.Sequential(*[ResnetBlock(inner, norm) for _ in range(n_blocks // 2)])
        self.model_up_img = nn.Sequential(*decoder())
        self.model_final_img = nn.Sequential(*_head(ngf, output_nc), nn.Tanh())
        if not no_flow:
            if not local:
                self.model_res_flow = nn.Sequential(*[ResnetBlock(inner, norm) for _ in range(n_blocks // 2)])
            self.model_up_flow = nn.Sequential(*decoder())
            self.model_final_flow = _head(ngf, 2)
            self.model_final_w = nn.Sequential(*_head(ngf, 1), nn.Sigmoid())

    def forward(
        self,
        labels: Tensor,
        previous: Tensor,
        img_feat_coarse: Tensor | None = None,
        flow_feat_coarse: Tensor | None = None,
        use_raw_only: bool = False,
    ):
        """-> (final, flow, weight, raw, img_feat, flow_feat); flow, weight and flow_feat are None without flow."""
        down = self.model_down_seg(labels) + self.model_down_img(previous)
        if self.local:
            img_feat = self.model_up_img(down + img_feat_coarse)
        else:
            img_feat = self.model_up_img(self.model_res_img(down))
        raw = self.model_final_img(img_feat)
        flow = weight = flow_feat = None
        if not self.no_flow:
            if self.local:
                flow_feat = self.model_up_flow(down + flow_feat_coarse)
            else:
                flow_feat = self.model_up_flow(self.model_res_flow(down))
            flow = self.model_final_flow(flow_feat) * (
                FLOW_SCALE * 2**self.scale if self.local else FLOW_SCALE
            )
            weight = self.model_final_w(flow_feat)
        if use_raw_only or self.no_flow:
            final = raw
        else:
            final = raw * weight + warp(previous[:, -raw.shape[1] :], flow) * (1 - weight)
        return final, flow, weight, raw, img_feat, flow_feat


class Vid2VidStep(NamedTuple):
    """One generated frame: ``frames[s]`` is scale s's composite (the last is the finest, the result); ``raw``
    (the hallucinated frame), ``flow`` (B, 2, H, W, pixels) and ``weight`` (B, 1, H, W) are the finest
    scale's (None without flow). A tuple, so that DDP finds the tensors in it."""

    frames: list[Tensor]
    raw: Tensor
    flow: Tensor | None
    weight: Tensor | None

    @property
    def frame(self) -> Tensor:
        return self.frames[-1]


class Vid2VidGenerator(ModelMixin, ConfigMixin):
    """vid2vid's pose2body generator (see the module notes); everything in [-1, 1].

    Args:
        pose_channels: channels of one pose map (3: an RGB rendering; the original's 6 is DensePose + OpenPose).
        image_channels: channels of a frame.
        n_frames_G: pose maps per step (the current one and ``n_frames_G - 1`` before it); ``n_frames_G - 1``
            previous frames are fed back.
        ngf: filters of scale 0 (the original's default 128, 64 in its ``g1`` scripts); scale s has
            ``ngf // 2**s``.
        n_downsample_G: downsamplings of scale 0 (3).
        n_blocks: ResNet blocks of scale 0 (9: 5 in each encoder, 4 in each head).
        n_blocks_local: ResNet blocks of each finer scale (3).
        n_scales_spatial: 1 (256p), 2 (512p), 3 (1024p) in the original's pose scripts.
        norm: "instance" or "instance_affine" (see the module notes).
        no_flow: only the hallucinated frame (the original turns flow off for OpenPose-only input).
        sample_size: the (height, width) it was trained at, the default output size (None: 256 x 192).
    """

    @register_to_config
    def __init__(
        self,
        pose_channels: int = 3,
        image_channels: int = 3,
        n_frames_G: int = 3,
        ngf: int = 128,
        n_downsample_G: int = 3,
        n_blocks: int = 9,
        n_blocks_local: int = 3,
        n_scales_spatial: int = 1,
        norm: str = "instance",
        no_flow: bool = False,
        sample_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if n_frames_G < 2:
            raise ValueError(
                f"n_frames_G must be at least 2 (the current pose and one before it), got {n_frames_G}"
            )
        if n_scales_spatial < 1:
            raise ValueError(f"n_scales_spatial must be at least 1, got {n_scales_spatial}")
        label_nc, prev_nc = pose_channels * n_frames_G, image_channels * (n_frames_G - 1)
        self.scales = nn.ModuleList(
            [
                CompositeScale(
                    label_nc,
                    prev_nc,
                    image_channels,
                    ngf // 2**s,
                    n_downsample_G,
                    n_blocks if s == 0 else n_blocks_local,
                    norm,
                    no_flow,
                    local=s > 0,
                    scale=s,
                )
                for s in range(n_scales_spatial)
            ]
        )
        self.apply(init_weights)

    @property
    def size_multiple(self) -> int:
        """Heights and widths must be multiples of this (scale 0 runs at 1 / 2**(scales - 1) of the size)."""
        return 2 ** (self.config.n_downsample_G + self.config.n_scales_spatial - 1)

    @property
    def default_size(self) -> tuple[int, int]:
        return tuple(self.config.sample_size) if self.config.sample_size else (256, 192)

    def initial_previous(self, batch: int, height: int, width: int) -> list[Tensor]:
        """The first frame's previous frames: zeros at every scale (coarsest first), as ``--no_first_img``."""
        n = self.config.n_scales_spatial
        frames = (self.config.n_frames_G - 1) * self.config.image_channels
        param = next(self.parameters())
        return [
            torch.zeros(
                batch,
                frames,
                height // 2 ** (n - 1 - s),
                width // 2 ** (n - 1 - s),
                device=param.device,
                dtype=param.dtype,
            )
            for s in range(n)
        ]

    def forward(self, poses: Tensor, previous: list[Tensor], use_raw_only: bool = False) -> Vid2VidStep:
        """One step. ``poses``: (B, n_frames_G * pose_channels, H, W), the pose maps oldest first at full size;
        ``previous``: per scale (coarsest first) its ``n_frames_G - 1`` previous frames, oldest first, stacked
        on channels, at that scale's size. Append each ``frames[s]`` to ``previous[s]`` (dropping the oldest)
        for the next step: :meth:`next_previous`."""
        n = self.config.n_scales_spatial
        labels = downsample_pyramid(poses, n)[::-1]  # coarsest first, as the scales run
        img_feat = flow_feat = None
        frames = []
        for s, net in enumerate(self.scales):
            final, flow, weight, raw, img_feat, flow_feat = net(
                labels[s], previous[s], img_feat, flow_feat, use_raw_only
            )
            frames.append(final)
        return Vid2VidStep(frames, raw, flow, weight)

    def next_previous(self, previous: list[Tensor], step: Vid2VidStep) -> list[Tensor]:
        """Each scale's previous frames after ``step``: the oldest dropped, the new frame appended."""
        c = self.config.image_channels
        return [torch.cat([p[:, c:], f], dim=1) for p, f in zip(previous, step.frames, strict=True)]
