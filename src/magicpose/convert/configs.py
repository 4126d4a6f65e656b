"""Model configurations of the converted components: SD 1.5's (shipped JSON files) or a user's folder.

The original checkpoints store no configuration, so the SD 1.5 ones are shipped here; ``--config-from``
points at a diffusers folder whose ``config.json`` files describe another size (the tests' tiny models).
Models are instantiated with empty (meta) parameters, so neither building nor filling them costs an
initialisation of a billion random weights.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from magicpose.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SHIPPED = {
    "unet": "unet.json",
    "appearance_unet": "unet.json",
    "controlnet": "controlnet.json",
    "vae": "vae.json",
    "text_encoder": "text_encoder.json",
}
CLASSES = {
    "unet": UNet2DConditionModel,
    "appearance_unet": UNet2DConditionModel,
    "controlnet": ControlNetModel,
    "vae": AutoencoderKL,
    "text_encoder": CLIPTextModel,
}
# The pose-map embedding of ControlNet 1.x; one entry per UNet level (each after the first halves the size).
CONDITIONING_CHANNELS = (16, 32, 96, 256)


@dataclass
class ComponentConfig:
    """The configuration of one component and where it came from (recorded in magicpose_info.json)."""

    name: str
    config: dict
    source: str

    @property
    def model_class(self) -> type:
        return CLASSES[self.name]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(
            f"cannot read the model configuration '{path}' ({err}): pass a diffusers folder made by "
            "save_pretrained"
        ) from err
    if not isinstance(data, dict):
        raise InputError(
            f"model configuration '{path}' is not a JSON object: pass a diffusers folder made by "
            "save_pretrained"
        )
    return data


def _matches(name: str, config: dict) -> bool:
    if name == "text_encoder":
        return config.get("model_type") == "clip_text_model" or "CLIPTextModel" in config.get(
            "architectures", []
        )
    return config.get("_class_name") == CLASSES[name].__name__


def _controlnet_from_unet(unet: ComponentConfig) -> ComponentConfig:
    """A ControlNet configuration matching a UNet's encoder (what ControlNetModel.from_unet builds)."""
    accepted = set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}
    config = {k: v for k, v in unet.config.items() if k in accepted}
    config["conditioning_embedding_out_channels"] = list(
        CONDITIONING_CHANNELS[: len(config["block_out_channels"])]
    )
    return ComponentConfig("controlnet", config, f"derived from {unet.source}")


def component_config(name: str, config_from: str | Path | None = None) -> ComponentConfig:
    """The configuration of component ``name``: shipped SD 1.5, or from ``config_from``.

    ``config_from`` may be a pipeline-like folder (``<name>/config.json``; the appearance UNet falls back
    to ``unet/``, the ControlNet to one derived from the UNet) or a single model folder of that class.
    """
    if config_from is None:
        return ComponentConfig(name, _read_json(CONFIG_DIR / SHIPPED[name]), "SD 1.5")
    folder = Path(config_from)
    if not folder.is_dir():
        raise InputError(
            f"--config-from '{folder}' is not a folder: pass a diffusers folder (a saved pipeline, "
            "or one with unet/, vae/, text_encoder/ and controlnet/ subfolders)"
        )
    candidates = [folder / name / "config.json"]
    if name == "appearance_unet":
        candidates.append(folder / "unet" / "config.json")
    for path in candidates:
        if path.is_file():
            return ComponentConfig(name, _read_json(path), str(path))
    single = folder / "config.json"
    if single.is_file() and _matches(name, _read_json(single)):
        return ComponentConfig(name, _read_json(single), str(single))
    if name == "controlnet" and (folder / "unet" / "config.json").is_file():
        return _controlnet_from_unet(component_config("unet", folder))
    raise InputError(
        f"--config-from '{folder}' has no {name}/config.json (nor a config.json of a "
        f"{CLASSES[name].__name__}): pass a diffusers folder that describes the {name}"
    )


def _instantiate(cc: ComponentConfig) -> torch.nn.Module:
    if cc.config.get("_class_name") not in (None, cc.model_class.__name__) and cc.name != "text_encoder":
        raise InputError(
            f"model configuration '{cc.source}' describes a {cc.config['_class_name']}, not a "
            f"{cc.model_class.__name__}: pass the {cc.name} folder's configuration"
        )
    try:
        if cc.name == "text_encoder":
            return CLIPTextModel(CLIPTextConfig.from_dict(cc.config))
        return cc.model_class.from_config(cc.config)
    except Exception as err:  # a bad value in a user's config: name the file rather than a traceback
        raise InputError(
            f"cannot build a {cc.model_class.__name__} from '{cc.source}' ({err}): pass a "
            "configuration saved by diffusers/transformers"
        ) from err


def empty_model(cc: ComponentConfig) -> torch.nn.Module:
    """The model with meta parameters (no memory, no random init) and real buffers."""
    with init_empty_weights(include_buffers=False):
        return _instantiate(cc)


def expected_shapes(cc: ComponentConfig) -> dict[str, torch.Size]:
    """Every state-dict entry the diffusers/transformers model has, with its shape."""
    return {k: v.shape for k, v in empty_model(cc).state_dict().items()}


def build_model(cc: ComponentConfig, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The model holding exactly the tensors of ``state_dict`` (assigned, not copied)."""
    model = empty_model(cc)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.eval()


def parameter_count(cc: ComponentConfig) -> int:
    return sum(p.numel() for p in empty_model(cc).parameters())
