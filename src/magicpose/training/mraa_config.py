"""MRAA training configuration: typed OmegaConf schema, YAML files in ``configs/*mraa*.yaml``, ``key=value``
overrides. Defaults are the original's 256² configs (ref-mraa-and-peers.md §A.5); lengths are in optimizer
steps (the original counts epochs of ``num_repeats`` passes), the learning-rate drops at fractions of the run.

Two stages, picked by ``stage``: ``train`` (region predictor, background predictor and generator together)
and ``train_avd`` (the AVD network on the frozen region predictor of a ``train`` run, ``model.init_from``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from magicpose.errors import InputError
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

STAGES = ("train", "train_avd")
BACKGROUND_TYPES = ("zero", "shift", "affine", "perspective")


@dataclass
class HourglassConfig:
    """A network's U-Net (or encoder): filters at the first level, the cap, the number of halvings."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5


@dataclass
class RegionPredictorConfig(HourglassConfig):
    temperature: float = 0.1
    scale_factor: float = 0.25
    pca_based: bool = True  # False: the paper's regression ablation
    pad: int = 0


@dataclass
class FlowPredictorConfig(HourglassConfig):
    block_expansion: int = 64
    scale_factor: float = 0.25
    region_var: float = 0.01  # the Gaussians' variance when use_covar_heatmap is off
    use_covar_heatmap: bool = True
    use_deformed_source: bool = True
    estimate_occlusion_map: bool = True


@dataclass
class GeneratorConfig:
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    skips: bool = True


@dataclass
class BackgroundConfig(HourglassConfig):
    bg_type: str = "affine"  # zero, shift, affine or perspective


@dataclass
class AVDConfig:
    id_bottleneck: int = 64
    pose_bottleneck: int = 64


@dataclass
class MRAAModelConfig:
    num_regions: int = 10
    revert_axis_swap: bool = True
    regions: RegionPredictorConfig = field(default_factory=RegionPredictorConfig)
    flow: FlowPredictorConfig = field(default_factory=FlowPredictorConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    avd: AVDConfig = field(default_factory=AVDConfig)
    # train_avd: the train stage's run folder (final/ is used) or an MRAA pipeline folder; train: start from
    # that run's weights with a fresh optimiser and schedule (a longer run after a finished one)
    init_from: str | None = None


@dataclass
class MRAADataConfig:
    root: str = "???"  # <root>/<split>_set/<video>/ (TikTok layout) or <root>/<split>/<video>/ or <video>.mp4
    split: str = "train"
    size: int = 256  # frames are centre-cropped to size x size
    num_repeats: int = 1  # passes over the videos per epoch (the original: 75 to 150)
    flip: bool = True
    time_flip: bool = True
    jitter: float = 0.1
    num_workers: int = 0


@dataclass
class MRAATrainConfig:
    batch_size: int = 14  # per process (the original's TaiChi/Vox batch)
    max_steps: int = 1000
    learning_rate: float = 2.0e-4  # train_avd: 1e-3 in the original's configs
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    # the learning rate is multiplied by lr_gamma at these fractions of max_steps (the original: epochs 60
    # and 90 of 100, and 20 and 25 of 30 for AVD)
    lr_decay_at: list[float] = field(default_factory=lambda: [0.6, 0.9])
    lr_gamma: float = 0.1
    max_grad_norm: float | None = None  # the original does not clip
    mixed_precision: str | None = "no"  # "no" or "bf16"
    seed: int = 42


@dataclass
class MRAALossConfig:
    perceptual_weights: list[float] = field(default_factory=lambda: [10.0] * 5)  # relu1_1 … relu5_1
    vgg19_path: str | None = None  # a torchvision vgg19 state dict; None needs l1_weight > 0
    # not in MRAA: the pyramid over pixels instead of VGG features, for runs without VGG19 weights
    l1_weight: float = 0.0
    equivariance_shift: float = 10.0
    equivariance_affine: float = 10.0
    sigma_affine: float = 0.05  # the random warp of the equivariance terms
    sigma_tps: float = 0.005
    points_tps: int = 5
    # train_avd: L1 weights of the predicted regions' centres and shapes, and the per-axis scale range of the
    # driving regions fed to the pose encoder (1 ± random_scale)
    avd_shift: float = 1.0
    avd_affine: float = 1.0
    random_scale: float = 0.25


@dataclass
class MRAAValidationConfig:
    every_steps: int = 0  # 0: never
    split: str | None = None  # default: the training split
    num_frames: int = 4


@dataclass
class MRAATrainingConfig:
    stage: str = "train"
    output_dir: str = "???"
    model: MRAAModelConfig = field(default_factory=MRAAModelConfig)
    data: MRAADataConfig = field(default_factory=MRAADataConfig)
    train: MRAATrainConfig = field(default_factory=MRAATrainConfig)
    loss: MRAALossConfig = field(default_factory=MRAALossConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: MRAAValidationConfig = field(default_factory=MRAAValidationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


AT_LEAST = {
    **COMMON_AT_LEAST,
    "model.num_regions": 1,
    "model.regions.block_expansion": 1,
    "model.regions.num_blocks": 1,
    "model.regions.pad": 0,
    "model.flow.block_expansion": 1,
    "model.flow.num_blocks": 1,
    "model.generator.block_expansion": 1,
    "model.generator.num_down_blocks": 0,
    "model.generator.num_bottleneck_blocks": 0,
    "model.background.block_expansion": 1,
    "model.background.num_blocks": 1,
    "model.avd.id_bottleneck": 1,
    "model.avd.pose_bottleneck": 1,
    "data.size": 16,
    "data.num_repeats": 1,
    "data.jitter": 0,
    "train.lr_gamma": 0,
    "loss.l1_weight": 0,
    "loss.equivariance_shift": 0,
    "loss.equivariance_affine": 0,
    "loss.sigma_affine": 0,
    "loss.sigma_tps": 0,
    "loss.points_tps": 2,
    "loss.avd_shift": 0,
    "loss.avd_affine": 0,
    "loss.random_scale": 0,
    "validation.num_frames": 1,
}
ABOVE = {
    **COMMON_ABOVE,
    "model.regions.temperature": 0,
    "model.regions.scale_factor": 0,
    "model.flow.scale_factor": 0,
    "model.flow.region_var": 0,
}
AT_MOST = {**COMMON_AT_MOST, "model.regions.scale_factor": 1, "model.flow.scale_factor": 1, "data.jitter": 1}
BELOW = {**COMMON_BELOW, "loss.random_scale": 1}


def size_multiple(cfg: MRAATrainingConfig) -> int:
    """Frame sides must be multiples of this: every hourglass level halves the predictors' inputs."""
    m = cfg.model
    return max(
        round(1 / m.regions.scale_factor) * 2**m.regions.num_blocks,
        round(1 / m.flow.scale_factor) * 2**m.flow.num_blocks,
        2**m.generator.num_down_blocks,
    )


def _check(cfg: MRAATrainingConfig) -> None:
    check_numbers(cfg, at_least=AT_LEAST, above=ABOVE, below=BELOW, at_most=AT_MOST)
    m, loss = cfg.model, cfg.loss
    if cfg.stage not in STAGES:
        raise InputError(f"stage '{cfg.stage}' must be one of {', '.join(STAGES)}")
    if m.background.bg_type not in BACKGROUND_TYPES:
        raise InputError(
            f"model.background.bg_type '{m.background.bg_type}' must be one of {', '.join(BACKGROUND_TYPES)}"
        )
    for name in ("regions", "flow"):
        scale = getattr(m, name).scale_factor
        if abs(1 / scale - round(1 / scale)) > 1e-6:
            raise InputError(f"model.{name}.scale_factor={scale} must be 1/n for a whole n (0.25, 0.5, 1)")
    if len(loss.perceptual_weights) != 5:
        raise InputError(
            f"loss.perceptual_weights has {len(loss.perceptual_weights)} values: give 5 (relu1_1 … relu5_1)"
        )
    if cfg.stage == "train" and not loss.vgg19_path and not loss.l1_weight:
        raise InputError(
            "the perceptual loss needs loss.vgg19_path (a torchvision vgg19 state dict); without VGG19 weights "
            "set loss.l1_weight > 0 to train on the pixel pyramid instead"
        )
    if cfg.stage == "train_avd" and not m.init_from:
        raise InputError("stage train_avd needs model.init_from: the folder of a finished train-stage run")
    if any(not 0 < f < 1 for f in cfg.train.lr_decay_at):
        raise InputError(
            f"train.lr_decay_at={list(cfg.train.lr_decay_at)} must be fractions of the run in (0, 1)"
        )
    multiple = size_multiple(cfg)
    if cfg.data.size % multiple:
        raise InputError(
            f"data.size={cfg.data.size} must be a multiple of {multiple} (the predictors' scale factors and "
            "hourglass depths halve it that many times)"
        )


def load_mraa_config(path: str | Path | None, overrides: list[str] = ()) -> MRAATrainingConfig:
    """Schema defaults <- YAML file <- ``key=value`` overrides, checked; a problem is one InputError line."""
    from omegaconf import OmegaConf

    layers = read_layers(path, overrides, "configs/tiny_mraa.yaml")
    cfg = merge_config([OmegaConf.structured(MRAATrainingConfig), *layers], "MRAA training", path)
    cfg.train.mixed_precision = _mixed_precision(cfg.train.mixed_precision)
    if cfg.train.mixed_precision == "fp16":
        raise InputError(
            "train.mixed_precision=fp16 is not supported for MRAA (its SVDs need float32): use bf16 or no"
        )
    _check(cfg)
    return cfg
