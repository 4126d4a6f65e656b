"""Taking each component's tensors out of an original checkpoint, renamed, and accounting for the rest.

No arithmetic is done on any tensor: each is taken as stored, at most reshaped between a 1x1
convolution and a linear weight (same numbers in the same order), so the conversion is bit-exact.
Every checkpoint key ends up either used, known-ignored (schedule buffers, EMA copies, unused leftovers)
or reported as unexpected; every model key must be found or the file is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from magicpose.convert import ldm_keys
from magicpose.convert.configs import ComponentConfig, component_config, expected_shapes
from magicpose.errors import InputError

# The LDM DDPM wrapper's schedule buffers: derived from the beta schedule, which the scheduler recomputes.
SCHEDULE_BUFFERS = frozenset(
    {
        "betas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
        "logvar",
        "lvlb_weights",
    }
)
EMA_PREFIX = "model_ema."  # the EMA copy of the UNet (flattened names); the released weights are the raw ones
POSITION_IDS = ("text_model.embeddings.position_ids", "embeddings.position_ids")  # a constant arange buffer
SHOWN = 20


def key_list(keys: list[str], limit: int = SHOWN) -> str:
    """``a, b, c`` or ``a, b, ... and N more``: long lists stay one readable line."""
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _key_map(cc: ComponentConfig, keys: Iterable[str]) -> dict[str, str]:
    cls = cc.model_class.__name__
    mapper = {
        "UNet2DConditionModel": ldm_keys.unet_key_map,
        "ControlNetModel": ldm_keys.controlnet_key_map,
        "AutoencoderKL": ldm_keys.vae_key_map,
        "CLIPTextModel": ldm_keys.clip_text_key_map,
    }[cls]
    try:
        return mapper(keys)
    except ldm_keys.KeyMappingError as err:
        raise InputError(
            f"the {cc.name} configuration from {cc.source} has no original (LDM) key layout ({err}): "
            "magicpose convert handles SD 1.5-style UNets, ControlNets, VAEs and CLIP text encoders"
        ) from err


@dataclass
class Part:
    """One component to take from the checkpoint: its keys under ``prefix`` and its model's shapes."""

    name: str
    prefix: str
    config: ComponentConfig
    key_map: dict[str, str] = field(default_factory=dict)  # diffusers key -> checkpoint key without prefix
    shapes: dict[str, torch.Size] = field(default_factory=dict)
    may_be_missing: frozenset[str] = frozenset()  # filled afterwards (the appearance UNet's unused head)

    @classmethod
    def make(cls, name: str, prefix: str, config_from=None, may_be_missing: Iterable[str] = ()) -> Part:
        config = component_config(name, config_from)
        shapes = expected_shapes(config)
        return cls(name, prefix, config, _key_map(config, shapes), shapes, frozenset(may_be_missing))

    def source_key(self, key: str) -> str:
        return self.prefix + self.key_map[key]


def _adapt_clip_layout(part: Part, keys: set[str]) -> None:
    """Checkpoints made with old transformers have no ``text_model.`` level under the prefix."""
    if part.config.name != "text_encoder" or any(k.startswith(part.prefix + "text_model.") for k in keys):
        return
    if any(k.startswith(part.prefix + "embeddings.") for k in keys):
        part.key_map = {k: v.removeprefix("text_model.") for k, v in part.key_map.items()}


def _drop_trailing_ones(shape) -> tuple[int, ...]:
    dims = list(shape)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def _fit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """``tensor`` in ``shape`` when only trailing 1s differ (1x1 conv <-> linear), else None."""
    if tensor.shape == shape:
        return tensor
    return tensor.reshape(shape) if _drop_trailing_ones(tensor.shape) == _drop_trailing_ones(shape) else None


@dataclass
class Extraction:
    """The converted tensors per component and the account of every checkpoint key."""

    tensors: dict[str, dict[str, torch.Tensor]]
    ignored: list[str]
    unexpected: list[str]
    filled: dict[str, str] = field(default_factory=dict)


def is_known_ignored(key: str, ignore_prefixes: Iterable[str] = (), text_prefix: str | None = None) -> bool:
    if key in SCHEDULE_BUFFERS or key.startswith(EMA_PREFIX) or key.startswith(tuple(ignore_prefixes)):
        return True
    return text_prefix is not None and key in {text_prefix + p for p in POSITION_IDS}


def extract(
    state_dict: dict[str, torch.Tensor],
    parts: list[Part],
    path: str | Path,
    ignore_prefixes: Iterable[str] = (),
    warn: Callable[[str], None] | None = None,
) -> Extraction:
    """Each part's tensors under diffusers names; refuse missing keys, warn about unexpected ones."""
    keys = set(state_dict)
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    missing, used = [], set()
    text_prefix = next((p.prefix for p in parts if p.config.name == "text_encoder"), None)
    for part in parts:
        _adapt_clip_layout(part, keys)
        out = tensors[part.name] = {}
        for key, shape in part.shapes.items():
            source = part.source_key(key)
            if source not in state_dict:
                if key not in part.may_be_missing:
                    missing.append(source)
                continue
            used.add(source)
            fitted = _fit(state_dict[source], shape)
            if fitted is None:
                raise InputError(
                    f"'{path}': '{source}' has shape {tuple(state_dict[source].shape)} but the {part.name} "
                    f"configuration ({part.config.source}) expects {tuple(shape)}: the checkpoint is of another model "
                    "size; pass --config-from <a diffusers folder of that model>"
                )
            out[key] = fitted
    if missing:
        raise InputError(
            f"'{path}' lacks {len(missing)} keys the conversion needs: {key_list(missing)}; the file "
            "is incomplete or of another kind: download it again or pick the matching mode"
        )
    ignored, unexpected = [], []
    for key in sorted(keys - used):
        known = is_known_ignored(key, ignore_prefixes, text_prefix)
        (ignored if known else unexpected).append(key)
    if unexpected:
        (warn or stderr_line)(
            f"warning: ignored {len(unexpected)} unexpected keys of '{path}': {key_list(unexpected)}"
        )
    return Extraction(tensors, ignored, unexpected)


def fill_from(extraction: Extraction, target: str, source: str, keys: Iterable[str]) -> None:
    """Fill ``target``'s missing ``keys`` with copies of ``source``'s (recorded in ``filled``)."""
    for key in keys:
        if key not in extraction.tensors[target]:
            extraction.tensors[target][key] = extraction.tensors[source][key].clone()
            extraction.filled[f"{target}.{key}"] = f"copied from {source}.{key}"


def stderr_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
