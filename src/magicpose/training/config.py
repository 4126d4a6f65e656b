"""Training configuration: a typed OmegaConf schema, YAML files in configs/, ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from magicpose.errors import InputError, first_line
from magicpose.files import check_regular_file

STAGES = ("appearance", "pose_control")


@dataclass
class ModelConfig:
    # A folder with vae/ and unet/ subfolders, and the empty prompt's embedding: stored
    # (empty_prompt/, as `magicpose convert` writes it) or text_encoder/ (+ tokenizer/).
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


# -- reading a config: shared by `magicpose train`, `train-pose2vid` and `train-base` ------------------------


def read_yaml(path: str | Path, example: str) -> DictConfig:
    """A YAML config file as one mapping; anything else (missing, a folder, a pipe, not text, not YAML, not a
    mapping of keys) is one InputError line naming the file. ``example`` names a good one, for the fix."""
    fix = f"pass a YAML file such as {example}"
    path = Path(path)
    if not path.exists():
        raise InputError(f"config '{path}' does not exist: {fix}")
    if path.is_dir():
        raise InputError(f"config '{path}' is a folder: {fix}")
    check_regular_file(path, "config", fix)
    try:
        loaded = OmegaConf.load(path)
    except UnicodeDecodeError:
        raise InputError(f"config '{path}' is not a text file (it is not UTF-8): {fix}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or first_line(err)
        raise InputError(
            f"config '{path}' is not valid YAML ({problem}{where}): fix the file or {fix}"
        ) from None
    except OSError as err:
        raise InputError(
            f"cannot read config '{path}' ({err.strerror or type(err).__name__}): {fix}"
        ) from None
    except OmegaConfBaseException as err:
        raise InputError(f"config '{path}' cannot be read ({first_line(err)}): {fix}") from None
    if not isinstance(loaded, DictConfig):
        raise InputError(f"config '{path}' is not a mapping of keys (it holds a list): {fix}")
    return loaded


def read_layers(path: str | Path | None, overrides, example: str) -> list[DictConfig]:
    """The config file's layer (if any) and the ``key=value`` overrides' layer, in that order."""
    layers = [] if path is None else [read_yaml(path, example)]
    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise InputError(f"override '{item}' is not key=value: pass e.g. train.max_steps=100")
    try:
        layers.append(OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as err:
        raise InputError(
            f"bad key=value override ({first_line(err)}): pass e.g. train.max_steps=100"
        ) from None
    return layers


def config_error(err: OmegaConfBaseException, what: str, path: str | Path | None) -> InputError:
    """One line for a schema error (a key typo, a value of the wrong type), naming the key."""
    source = f"'{path}' or the key=value overrides" if path is not None else "the key=value overrides"
    key = getattr(err, "full_key", None)
    message = first_line(getattr(err, "msg", None) or err)
    named = f"{key}: " if key and str(key) not in message else ""
    return InputError(f"bad {what} config in {source} ({named}{message}): correct that key or value")


def merge_config(layers: list, what: str, path: str | Path | None):
    """Merge the layers (the schema first) and return the config as its dataclasses: a key typo, a value of the
    wrong type, a required key left unset is one InputError line naming the key."""
    try:
        cfg = OmegaConf.merge(*layers)
        missing = sorted(OmegaConf.missing_keys(cfg))
        if not missing:
            return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        raise config_error(err, what, path) from None
    where = f"config '{path}'" if path is not None else "the config"
    raise InputError(f"{where} does not set {', '.join(missing)}: add them to the file or pass key=value")


# -- numbers ----------------------------------------------------------------------------------------------------


def _value(cfg, name: str):
    for part in name.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _floats(obj, prefix: str = ""):
    """(name, value) of every float in a config object: dataclass fields, lists of floats included."""
    for f in dataclasses.fields(obj):
        value, name = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _floats(value, f"{name}.")
        elif isinstance(value, float):
            yield name, value
        elif isinstance(value, list | tuple) and any(isinstance(v, float) for v in value):
            yield from ((name, v) for v in value if isinstance(v, float))


def check_numbers(
    cfg,
    at_least: dict | None = None,
    above: dict | None = None,
    below: dict | None = None,
    at_most: dict | None = None,
) -> None:
    """Every float of ``cfg`` finite, then each named key within its bounds (None: a default chosen elsewhere):
    ``at_least`` (>=), ``above`` (>), ``below`` (<), ``at_most`` (<=). One InputError line naming the key."""
    for name, value in _floats(cfg):
        if not math.isfinite(value):
            shown = _value(cfg, name)
            raise InputError(f"{name}={shown} must be a finite number")
    for bounds, test, words in (
        (at_least, lambda v, b: v >= b, "at least"),
        (above, lambda v, b: v > b, "greater than"),
        (below, lambda v, b: v < b, "less than"),
        (at_most, lambda v, b: v <= b, "at most"),
    ):
        for name, bound in (bounds or {}).items():
            value = _value(cfg, name)
            if value is not None and not test(value, bound):
                raise InputError(f"{name}={value} must be {words} {bound}")


SEED_MAX = 2**32 - 1  # numpy's seeds (accelerate's set_seed seeds numpy too)
COMMON_AT_LEAST = {
    "train.batch_size": 1,
    "train.max_steps": 0,
    "train.seed": 0,
    "train.max_grad_norm": 0,
    "train.adam_beta1": 0,
    "train.adam_beta2": 0,
    "data.num_workers": 0,
    "checkpoint.every_steps": 0,
    "checkpoint.keep_last": 0,
    "validation.every_steps": 0,
    "logging.log_every": 0,
}
COMMON_ABOVE = {"train.learning_rate": 0}
COMMON_BELOW = {"train.adam_beta1": 1, "train.adam_beta2": 1}
COMMON_AT_MOST = {"train.seed": SEED_MAX}


def _check(cfg: TrainingConfig) -> None:
    """The ranges of every number (before any work: a bad value is one line naming its key)."""
    check_numbers(
        cfg,
        at_least={
            **COMMON_AT_LEAST,
            "data.height": 8,
            "data.width": 8,
            "data.max_frame_distance": 0,
            "train.gradient_accumulation_steps": 1,
            "train.appearance_learning_rate": 0,
            "train.weight_decay": 0,
            "validation.num_frames": 1,
            "validation.num_inference_steps": 1,
        },
        above={**COMMON_ABOVE, "train.adam_epsilon": 0},
        below=COMMON_BELOW,
        at_most=COMMON_AT_MOST,
    )
    scale = list(cfg.data.crop_scale)
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
        raise InputError(
            f"data.crop_scale={scale} must be two area fractions [min, max] with 0 < min <= max <= 1"
        )
    if cfg.data.height % 8 or cfg.data.width % 8:
        raise InputError(
            f"data.height and data.width must be multiples of 8, got {cfg.data.height}x{cfg.data.width}"
        )


def load_config(
    path: str | Path | None, overrides: list[str] = (), stage: str | None = None
) -> TrainingConfig:
    """Schema defaults <- YAML file <- ``key=value`` overrides; the stage is fixed by the entry script."""
    layers = [
        OmegaConf.structured(TrainingConfig),
        *read_layers(path, overrides, "configs/tiny_appearance.yaml"),
    ]
    if stage is not None:
        layers.append(OmegaConf.create({"stage": stage}))
    cfg = merge_config(layers, "training", path)
    if cfg.stage not in STAGES:
        raise InputError(f"config stage '{cfg.stage}' is not one of {', '.join(STAGES)}")
    cfg.train.mixed_precision = _mixed_precision(cfg.train.mixed_precision)
    _check(cfg)
    return cfg
