"""Everybody Dance Now (pose2vid) training configuration: typed OmegaConf schemas of their own (the MagicPose
schema in :mod:`magicpose.training.config` is separate), YAML files in ``configs/pose2vid_*.yaml``,
``key=value`` overrides. Every schedule length is counted in optimizer steps; the trainer prints what they
amount to in epochs of the dataset at start-up.

Two schemas, picked by the top-level ``stage`` key: ``body`` (the default: the global or the local pose2vid
generator, :class:`Pose2VidTrainingConfig`) and ``face`` (the face enhancer trained on a frozen body
generator, :class:`Pose2VidFaceTrainingConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from magicpose.errors import InputError, first_line
from magicpose.training.config import (
    COMMON_ABOVE,
    COMMON_AT_LEAST,
    COMMON_AT_MOST,
    COMMON_BELOW,
    CheckpointConfig,
    LoggingConfig,
    _mixed_precision,
    check_numbers,
    merge_config,
    read_layers,
)

STAGES = ("body", "face")
ARCHITECTURES = ("global", "local")
FACE_VARIANTS = ("official", "lotayou")
NORMS = ("instance", "batch")
POSE_RANGES = ("signed", "unit")


@dataclass
class Pose2VidModelConfig:
    # "global": pix2pixHD's global generator alone (EDN stage 1); "local": a global branch at 2 * ngf plus
    # one local enhancer at ngf (EDN stage 2).
    architecture: str = "global"
    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 9
    n_blocks_local: int = 3
    norm: str = "instance"
    # Pose maps are fed in [-1, 1] ("signed", as frames) or [0, 1] ("unit", the official EDN code's labels).
    pose_range: str = "signed"
    # A previous stage's output: its run folder (final/ is used), a Pose2VidPipeline folder or a generator
    # folder. A global generator seeds a local one's global branch (EDN's --load_pretrain); a generator of
    # the configured architecture is loaded whole (to continue training). None: the original init.
    init_from: str | None = None


@dataclass
class DiscriminatorConfig:
    ndf: int = 64
    n_layers: int = 3
    num_D: int = 2  # EDN: 2 in the global stage, 3 in the local one


@dataclass
class LossConfig:
    lambda_feat: float = 10.0  # discriminator feature matching
    vgg_weight: float = 10.0  # VGG19 perceptual loss (EDN: lambda_feat); 0 turns it off
    vgg19_path: str | None = None  # a torchvision vgg19 state dict (.pth or .safetensors), for vgg_weight > 0
    # Not in EDN: an L1 term to the real frames (both frames of the pair), for training where no VGG19
    # weights can be had (the CPU demo); 0 (the default) keeps the original objective.
    l1_weight: float = 0.0


@dataclass
class GanTrainConfig:
    # Samples per optimizer step = batch_size x number of processes (EDN: 1 on one GPU).
    batch_size: int = 1  # per process
    max_steps: int = 1000
    # The learning rate falls linearly to 0 over the last decay_steps steps (pix2pixHD's niter_decay, in
    # steps); 0: constant.
    decay_steps: int = 0
    learning_rate: float = 2.0e-4  # generator and discriminator alike
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    max_grad_norm: float | None = None  # EDN does not clip; a number clips G's and D's gradients separately
    mixed_precision: str | None = "no"  # "no", "fp16" or "bf16"
    seed: int = 42


@dataclass
class Pose2VidTrainConfig(GanTrainConfig):
    # Local architecture only: for the first fix_global_steps steps only the local enhancer's own layers
    # train (EDN's niter_fix_global, in steps); the optimizer is then restarted over all the generator's
    # parameters, as EDN's update_fixed_params does.
    fix_global_steps: int = 0


@dataclass
class Pose2VidDataConfig:
    root: str = "???"  # TikTok layout: <root>/<split>_set/<video>/, <root>/pose_map_<split>_set/<video>/
    split: str = "train"
    height: int = 256
    width: int = 512
    num_workers: int = 0


@dataclass
class Pose2VidValidationConfig:
    every_steps: int = 0  # 0: never
    split: str | None = None  # default: the training split
    num_frames: int = 8  # frames of the split's first video, generated one after another from a zero frame


@dataclass
class GanRunConfig:
    """The sections every pose2vid stage has; each stage's schema adds its networks and losses."""

    stage: str = "body"
    output_dir: str = "???"
    train: GanTrainConfig = field(default_factory=GanTrainConfig)
    data: Pose2VidDataConfig = field(default_factory=Pose2VidDataConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: Pose2VidValidationConfig = field(default_factory=Pose2VidValidationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


@dataclass
class Pose2VidTrainingConfig(GanRunConfig):
    """The body stages (global, local)."""

    train: Pose2VidTrainConfig = field(default_factory=Pose2VidTrainConfig)
    model: Pose2VidModelConfig = field(default_factory=Pose2VidModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)


@dataclass
class FaceModelConfig:
    # The body stage this one starts from: its run folder (final/ is used), a Pose2VidPipeline folder or a
    # generator folder. That generator is frozen (eval mode, no gradient) and exported unchanged.
    init_from: str = "???"
    # The face residual generator: "official" (EDN's faceGtype global: cat(pose crop, generated crop) in,
    # instance norm) or "lotayou" (the generated crop alone, BatchNorm). Its face D then sees
    # cat(pose crop, face crop) (6 channels) or the face crop alone (3).
    variant: str = "official"
    # The generator's size; None: the variant's published one (official 64, 3, 5; lotayou 64, 2, 6).
    ngf: int | None = None
    n_downsampling: int | None = None
    n_blocks: int | None = None
    # Side of the square head crop, as a fraction of data.height, rounded to a multiple of 2^n_downsampling
    # (EDN: 128 px in 512 px-high frames). One size for the whole run, so that crops batch; saved with the
    # face enhancer, so that inference crops the same.
    size_fraction: float = 0.25


@dataclass
class FaceDiscriminatorConfig:
    # EDN's face D: one PatchGAN (no multiscale), BatchNorm, LSGAN, ndf 64, 3 layers
    ndf: int = 64
    n_layers: int = 3


@dataclass
class FaceLossConfig:
    vgg_weight: float = 10.0  # VGG19 perceptual loss on the face crops (EDN: lambda_feat); 0 turns it off
    vgg19_path: str | None = None  # a torchvision vgg19 state dict (.pth or .safetensors), for vgg_weight > 0
    # Not in EDN: an L1 term to the real face crops, for training where no VGG19 weights can be had (the CPU
    # demo); 0 (the default) keeps the original objective.
    l1_weight: float = 0.0


@dataclass
class Pose2VidFaceTrainingConfig(GanRunConfig):
    """The face-enhancer stage, on a trained body stage."""

    stage: str = "face"
    model: FaceModelConfig = field(default_factory=FaceModelConfig)
    discriminator: FaceDiscriminatorConfig = field(default_factory=FaceDiscriminatorConfig)
    loss: FaceLossConfig = field(default_factory=FaceLossConfig)


# The ranges of the numbers (checked before any work; None: a default chosen elsewhere); GAN_AT_LEAST: those of
# every GAN run (vid2vid's too).
GAN_AT_LEAST = {
    **COMMON_AT_LEAST,
    "data.height": 1,
    "data.width": 1,
    "train.decay_steps": 0,
    "loss.vgg_weight": 0,
    "loss.l1_weight": 0,
    "discriminator.ndf": 1,
    "discriminator.n_layers": 1,
    "model.ngf": 1,
}
BODY_AT_LEAST = {
    **GAN_AT_LEAST,
    "model.n_downsample_global": 1,
    "model.n_blocks_global": 0,
    "model.n_blocks_local": 0,
    "discriminator.num_D": 1,
    "train.fix_global_steps": 0,
    "loss.lambda_feat": 0,
}
FACE_AT_LEAST = {**GAN_AT_LEAST, "model.n_downsampling": 1, "model.n_blocks": 0}


def size_multiple(model: Pose2VidModelConfig) -> int:
    """Frame sides must be multiples of this (as ``Pose2VidGenerator.size_multiple``)."""
    return 2 ** (model.n_downsample_global + (model.architecture == "local"))


def check_gan_run(cfg: GanRunConfig, at_least: dict) -> None:
    """What every GAN run checks (pose2vid's stages, vid2vid): the numbers (``at_least`` beside the common
    bounds), validation, the schedule, the VGG term."""
    check_numbers(cfg, at_least=at_least, above=COMMON_ABOVE, below=COMMON_BELOW, at_most=COMMON_AT_MOST)
    if cfg.validation.every_steps and cfg.validation.num_frames < 1:
        raise InputError(f"validation.num_frames must be at least 1, got {cfg.validation.num_frames}")
    if cfg.train.decay_steps > cfg.train.max_steps:
        raise InputError(
            f"train.decay_steps {cfg.train.decay_steps} exceeds train.max_steps "
            f"{cfg.train.max_steps}: the decay happens within the run"
        )
    if cfg.loss.vgg_weight > 0 and not cfg.loss.vgg19_path:
        raise InputError(
            f"loss.vgg_weight={cfg.loss.vgg_weight:g} needs loss.vgg19_path: pass a torchvision "
            "vgg19 state dict (.pth or .safetensors), or set loss.vgg_weight=0"
        )


def _check(cfg: Pose2VidTrainingConfig) -> None:
    model, train = cfg.model, cfg.train
    for name, value, allowed in (
        ("model.architecture", model.architecture, ARCHITECTURES),
        ("model.norm", model.norm, NORMS),
        ("model.pose_range", model.pose_range, POSE_RANGES),
    ):
        if value not in allowed:
            raise InputError(f"{name} '{value}' must be one of {', '.join(allowed)}")
    check_gan_run(cfg, BODY_AT_LEAST)
    if train.fix_global_steps and model.architecture != "local":
        raise InputError(
            f"train.fix_global_steps={train.fix_global_steps} needs model.architecture=local "
            "(it holds the local enhancer's global branch): set it to 0"
        )
    multiple = size_multiple(model)
    if cfg.data.height % multiple or cfg.data.width % multiple:
        raise InputError(
            f"data.height and data.width must be multiples of {multiple} for a "
            f"{model.architecture} generator with {model.n_downsample_global} downsamplings, "
            f"got {cfg.data.height}x{cfg.data.width}"
        )


def _check_face(cfg: Pose2VidFaceTrainingConfig) -> None:
    """The face stage's own checks; those that need the body generator (its size multiple) are the
    trainer's, once it is loaded."""
    if cfg.model.variant not in FACE_VARIANTS:
        raise InputError(f"model.variant '{cfg.model.variant}' must be one of {', '.join(FACE_VARIANTS)}")
    check_gan_run(cfg, FACE_AT_LEAST)
    if not 0 < cfg.model.size_fraction <= 1:
        raise InputError(
            f"model.size_fraction={cfg.model.size_fraction} must be in (0, 1] (the head crop's side "
            "over the frame height)"
        )


def _stage(layers: list) -> str:
    """The ``stage`` the YAML file and the overrides ask for (``body`` when neither says)."""
    try:
        stage = OmegaConf.merge(*layers).get("stage", "body")
    except OmegaConfBaseException as err:
        raise InputError(f"bad key=value override or config file ({first_line(err)}): correct it") from None
    if stage not in STAGES:
        raise InputError(
            f"stage '{stage}' must be one of {', '.join(STAGES)} (body: the global or local "
            "pose2vid generator; face: the face enhancer on a trained body stage)"
        )
    return stage


def merge_gan_config(layers: list, what: str, path: str | Path | None, optimizers: str):
    """The merged config of a GAN run (``what``: pose2vid, vid2vid), its mixed precision read; fp16 refused:
    accelerate has one loss scaler for the whole run, and the GAN step scales, unscales and steps several
    optimizers in turn, which one scaler does not support. bf16 needs no loss scaling."""
    cfg = merge_config(layers, f"{what} training", path)
    cfg.train.mixed_precision = _mixed_precision(cfg.train.mixed_precision)
    if cfg.train.mixed_precision == "fp16":
        raise InputError(
            f"train.mixed_precision=fp16 is not supported for {what} training (its {optimizers} optimizers "
            "would share one loss scaler): use bf16 or no"
        )
    return cfg


def load_pose2vid_config(
    path: str | Path | None, overrides: list[str] = ()
) -> Pose2VidTrainingConfig | Pose2VidFaceTrainingConfig:
    """Schema defaults <- YAML file <- ``key=value`` overrides, checked; a problem is one InputError line. The
    top-level ``stage`` picks the schema: :class:`Pose2VidTrainingConfig` (``body``, the default) or
    :class:`Pose2VidFaceTrainingConfig` (``face``)."""
    layers = read_layers(path, overrides, "configs/tiny_pose2vid.yaml")
    face = _stage(layers) == "face"
    schema = OmegaConf.structured(Pose2VidFaceTrainingConfig if face else Pose2VidTrainingConfig)
    cfg = merge_gan_config([schema, *layers], "pose2vid", path, optimizers="two")
    (_check_face if face else _check)(cfg)
    return cfg
