"""vid2vid pose2body training configuration: typed OmegaConf schema, YAML files in ``configs/vid2vid_*.yaml``,
``key=value`` overrides. Lengths are counted in optimizer steps (the original counts epochs); the trainer
prints what they amount to at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from magicpose.errors import InputError
from magicpose.training.config import read_layers
from magicpose.training.pose2vid_config import (
    GAN_AT_LEAST,
    DiscriminatorConfig,
    GanRunConfig,
    GanTrainConfig,
    Pose2VidDataConfig,
    check_gan_run,
    merge_gan_config,
)

NORMS = ("instance", "instance_affine")


@dataclass
class Vid2VidModelConfig:
    n_frames_G: int = 3  # pose maps per step; n_frames_G - 1 previous frames are fed back
    ngf: int = 64  # the original's pose scripts: 128 (64 in its g1 scripts)
    n_downsample_G: int = 3
    n_blocks: int = 9
    n_blocks_local: int = 3
    n_scales_spatial: int = 1  # 1: 256p; 2: 512p; 3: 1024p
    norm: str = (
        "instance"  # "instance_affine" is what the original's --norm batch computes (one video per batch)
    )
    no_flow: bool = False
    # Coarse to fine, as the original trains 512p from 256p and 1024p from 512p: a coarser run's generator
    # (its run folder, whose final/ is used, a Vid2VidPipeline folder or a checkpoint folder) with
    # n_scales_spatial one lower than this run's, loaded into this generator's coarser scales; the finest
    # scale starts from its own initialisation. None: every scale starts from the original init.
    init_from: str | None = None


@dataclass
class TemporalDiscriminatorConfig:
    n_frames_D: int = 3  # frames per clip the temporal discriminator judges
    n_scales_temporal: int = 1  # scale s judges frames n_frames_D**s apart (the original's code: 2)
    ndf: int = 64
    n_layers: int = 3
    num_D: int = 2


@dataclass
class Vid2VidLossConfig:
    lambda_feat: float = 10.0  # feature matching of both discriminators
    vgg_weight: float = 10.0  # VGG19 perceptual loss on the final and the raw frame; 0 turns it off
    vgg19_path: str | None = None  # a torchvision vgg19 state dict, for vgg_weight > 0
    l1_weight: float = (
        0.0  # not in vid2vid: L1 to the real frames (final and raw), for runs without VGG19 weights
    )
    lambda_F: float = 10.0  # flow: L1 to the reference flow, and the previous real frame warped by it
    lambda_T: float = 10.0  # warp: the generated frame to the previous one warped by the reference flow
    # The reference flow between real frames (FlowNet2 in the original): a RAFT state dict of torchvision's
    # raft_small / raft_large, read from this local file (needs torchvision). None: no reference flow; the
    # flow head then learns from the photometric warp of the real frames alone (its F_Warp term, unmasked)
    # and the temporal discriminator sees zero flows.
    flow_net_path: str | None = None
    flow_net: str = "raft_small"  # or "raft_large"
    conf_threshold: float = 0.02  # a pixel is confidently tracked where |real - warp(real_prev)|^2 < this


@dataclass
class Vid2VidTrainConfig(GanTrainConfig):
    n_frames_total: int = 6  # frames per training clip at the start (the original's --n_frames_total)
    max_frames_total: int = 12  # the clip length grows to this (min(128, sequence) - 2 in the original)
    grow_every: int = (
        0  # steps between doublings of the clip length (the original: --niter_step epochs); 0: fixed
    )
    max_frames_per_gpu: int = 3  # frames generated per optimizer step (the original's --max_frames_per_gpu)
    # For the first fix_global_steps steps only the finest spatial scale trains, the coarser ones (loaded from
    # model.init_from) stay fixed; G's optimizer then restarts over every scale (the original's
    # --niter_fix_global, in steps, and its update_fixed_params).
    fix_global_steps: int = 0


@dataclass
class Vid2VidDataConfig(Pose2VidDataConfig):
    width: int = 192  # the original's 256p crops: the central part of the width


@dataclass
class Vid2VidTrainingConfig(GanRunConfig):
    stage: str = "vid2vid"
    train: Vid2VidTrainConfig = field(default_factory=Vid2VidTrainConfig)
    model: Vid2VidModelConfig = field(default_factory=Vid2VidModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    temporal: TemporalDiscriminatorConfig = field(default_factory=TemporalDiscriminatorConfig)
    loss: Vid2VidLossConfig = field(default_factory=Vid2VidLossConfig)
    data: Vid2VidDataConfig = field(default_factory=Vid2VidDataConfig)


AT_LEAST = {
    **GAN_AT_LEAST,
    "model.n_frames_G": 2,
    "model.n_downsample_G": 1,
    "model.n_blocks": 0,
    "model.n_blocks_local": 0,
    "model.n_scales_spatial": 1,
    "temporal.n_frames_D": 2,
    "temporal.n_scales_temporal": 1,
    "temporal.ndf": 1,
    "temporal.n_layers": 1,
    "temporal.num_D": 1,
    "discriminator.num_D": 1,
    "train.n_frames_total": 2,
    "train.max_frames_total": 2,
    "train.grow_every": 0,
    "train.max_frames_per_gpu": 1,
    "train.fix_global_steps": 0,
    "loss.lambda_feat": 0,
    "loss.lambda_F": 0,
    "loss.lambda_T": 0,
}


def size_multiple(model: Vid2VidModelConfig) -> int:
    """Frame sides must be multiples of this (as ``Vid2VidGenerator.size_multiple``)."""
    return 2 ** (model.n_downsample_G + model.n_scales_spatial - 1)


def clip_length(train: Vid2VidTrainConfig, step: int) -> int:
    """Frames of the clip trained at ``step``: ``n_frames_total`` doubling every ``grow_every`` steps, at most
    ``max_frames_total`` (the original's growing sequence length, as a function of the step so that resume is
    exact)."""
    if not train.grow_every:
        return train.n_frames_total
    return min(train.max_frames_total, train.n_frames_total * 2 ** (step // train.grow_every))


def _check(cfg: Vid2VidTrainingConfig) -> None:
    check_gan_run(cfg, AT_LEAST)
    model, train = cfg.model, cfg.train
    if model.norm not in NORMS:
        raise InputError(f"model.norm '{model.norm}' must be one of {', '.join(NORMS)}")
    if cfg.loss.flow_net not in ("raft_small", "raft_large"):
        raise InputError(f"loss.flow_net '{cfg.loss.flow_net}' must be raft_small or raft_large")
    if train.max_frames_total < train.n_frames_total:
        raise InputError(
            f"train.max_frames_total {train.max_frames_total} is below train.n_frames_total "
            f"{train.n_frames_total}: the clips only grow"
        )
    if train.n_frames_total < model.n_frames_G:
        raise InputError(
            f"train.n_frames_total {train.n_frames_total} must be at least model.n_frames_G "
            f"{model.n_frames_G} (a clip's first frames fill the generator's window)"
        )
    multiple = size_multiple(model)
    if cfg.data.height % multiple or cfg.data.width % multiple:
        raise InputError(
            f"data.height and data.width must be multiples of {multiple} for a generator with "
            f"{model.n_downsample_G} downsamplings and {model.n_scales_spatial} scale(s), got "
            f"{cfg.data.height}x{cfg.data.width}"
        )
    _check_coarse_to_fine(model, train)


def _check_coarse_to_fine(model: Vid2VidModelConfig, train: Vid2VidTrainConfig) -> None:
    """model.init_from and train.fix_global_steps need a coarser scale to load and to hold."""
    for name, value in (
        ("model.init_from", model.init_from),
        ("train.fix_global_steps", train.fix_global_steps),
    ):
        if value and model.n_scales_spatial < 2:
            raise InputError(
                f"{name}={value} needs model.n_scales_spatial of at least 2 (it concerns the coarser "
                f"scales of a coarse-to-fine generator), got {model.n_scales_spatial}"
            )


def load_vid2vid_config(path: str | Path | None, overrides: list[str] = ()) -> Vid2VidTrainingConfig:
    """Schema defaults <- YAML file <- ``key=value`` overrides, checked; a problem is one InputError line."""
    from omegaconf import OmegaConf

    layers = read_layers(path, overrides, "configs/tiny_vid2vid.yaml")
    cfg = merge_gan_config([OmegaConf.structured(Vid2VidTrainingConfig), *layers], "vid2vid", path, "three")
    _check(cfg)
    return cfg
