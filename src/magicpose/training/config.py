"""Training configuration: a typed OmegaConf schema, YAML files in configs/, ``key=value`` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from magicpose.errors import InputError

STAGES = ("appearance", "pose_control")


@dataclass
class ModelConfig:
    # A folder with vae/ and unet/ subfolders, and the empty prompt's embedding: stored
    # (empty_prompt_embeds.safetensors, as `magicpose convert` writes it) or text_encoder/ (+ tokenizer/).
    # A converted SD 1.5, a MagicPose pipeline folder, or the demo base models. All of it stays frozen.
    pretrained_dir: str = "???"
    # Stage 2: the stage-1 appearance UNet folder (diffusers format). Stage 1: optional starting point;
    # by default the appearance UNet starts as a copy of the main UNet, as in the original.
    appearance_unet: str | None = None
    # Stage 2: a ControlNetModel folder (e.g. the converted OpenPose ControlNet); None builds it from
    # the main UNet with ControlNetModel.from_unet.
    controlnet: str | None = None


@dataclass
class DataConfig:
    root: str = "???"
    split: str = "train"
    height: int = 512
    width: int = 512
    max_frame_distance: int | None = None
    # "center"; "random_resized" (the original's RandomResizedCrop: a box of crop_scale of the frame's
    # area, centred square when none fits); "random" (crop_scale of the centred box's area). A target
    # and its pose always share one box; the reference gets its own.
    crop: str = "center"
    crop_scale: list[float] = field(default_factory=lambda: [0.9, 1.0])
    num_workers: int = 0


@dataclass
class TrainConfig:
    # Samples per optimizer step = batch_size x gradient_accumulation_steps x number of processes.
    batch_size: int = 8  # per process and micro-batch
    gradient_accumulation_steps: int = 1
    max_steps: int = 1000
    learning_rate: float = 1e-5
    appearance_learning_rate: float | None = None  # None: learning_rate
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    weight_decay: float = 0.0
    max_grad_norm: float | None = 0.5  # clipped under every precision (the original skipped it with fp16)
    mixed_precision: str | None = "no"  # "no", "fp16" or "bf16" (false, off, none, fp32: "no")
    gradient_checkpointing: bool = False
    seed: int = 42


@dataclass
class CheckpointConfig:
    every_steps: int = 500  # and at the last step; 0: no checkpoints (the final export is still written)
    keep_last: int = 3


@dataclass
class ValidationConfig:
    every_steps: int = 0  # 0: never
    split: str | None = None  # default: the training split
    num_frames: int = 4
    num_inference_steps: int = 20
    guidance_scale: float = 7.0


@dataclass
class LoggingConfig:
    report_to: str = "none"  # or "tensorboard" (pip install 'magicpose[tensorboard]')
    log_every: int = 10
    record_samples: bool = False  # write the dataset indices each process trained on to seen_samples/


@dataclass
class TrainingConfig:
    stage: str = "???"
    output_dir: str = "???"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


# YAML 1.1 reads a bare `no`, `off` or `false` as a boolean, which OmegaConf stores in a str field as "False".
_NO_MIXED_PRECISION = ("no", "false", "off", "none", "fp32", "float32")


def _mixed_precision(value) -> str:
    text = str(value).strip().lower()
    if text in _NO_MIXED_PRECISION:
        return "no"
    if text in ("fp16", "bf16"):
        return text
    raise InputError(f"train.mixed_precision '{value}' must be no, fp16 or bf16")


def load_config(path: str | Path | None, overrides: list[str] = (), stage: str | None = None) -> TrainingConfig:
    """Schema defaults <- YAML file <- ``key=value`` overrides; the stage is fixed by the entry script."""
    schema = OmegaConf.structured(TrainingConfig)
    try:
        layers = [schema]
        if path is not None:
            if not Path(path).is_file():
                raise InputError(f"config '{path}' does not exist: pass a YAML file such as configs/tiny_appearance.yaml")
            layers.append(OmegaConf.load(path))
        layers.append(OmegaConf.from_dotlist(list(overrides)))
        if stage is not None:
            layers.append(OmegaConf.create({"stage": stage}))
        cfg = OmegaConf.merge(*layers)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except OmegaConfBaseException as err:
        raise InputError(f"bad training config '{path}': {str(err).splitlines()[0]}") from err
    if missing:
        raise InputError(f"config '{path}' does not set {', '.join(missing)}: add them to the file or pass key=value")
    if cfg.stage not in STAGES:
        raise InputError(f"config stage '{cfg.stage}' is not one of {', '.join(STAGES)}")
    cfg.train.mixed_precision = _mixed_precision(cfg.train.mixed_precision)
    if cfg.data.height % 8 or cfg.data.width % 8:
        raise InputError(f"data.height and data.width must be multiples of 8, got {cfg.data.height}x{cfg.data.width}")
    return OmegaConf.to_object(cfg)
