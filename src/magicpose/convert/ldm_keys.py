"""Where each diffusers/transformers parameter lives in the original (LDM / ControlNet) key layout.

Each function takes the keys of a model's ``state_dict`` (of an empty model built from its config)
and returns ``{diffusers_key: ldm_key}`` without the checkpoint prefix. Walking the model's own keys
rather than the checkpoint's guarantees that every parameter gets a source; a key no rule knows raises
:class:`KeyMappingError` instead of being silently left at its initial value.

LDM layout of the UNet (``openaimodel.py``) in short: ``input_blocks`` is a flat list (``conv_in``,
then per level its res blocks, each optionally followed by a transformer, then a downsampler block);
``middle_block`` alternates res blocks and transformers; ``output_blocks`` is flat with the upsampler
inside the last block of a level. Transformer internals have the same names in both layouts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["KeyMappingError", "unet_key_map", "controlnet_key_map", "vae_key_map", "clip_text_key_map"]


class KeyMappingError(ValueError):
    """A model key that the LDM layout has no place for (an unsupported configuration)."""


UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
VAE_RESNET = {
    "norm1": "norm1",
    "conv1": "conv1",
    "norm2": "norm2",
    "conv2": "conv2",
    "conv_shortcut": "nin_shortcut",
}
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
EMBEDDINGS = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding": "label_emb",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _indices(keys: Iterable[str], pattern: str) -> dict[int, set[int]]:
    """``{block: {layer, ...}}`` for keys matching ``pattern`` with two integer groups."""
    found: dict[int, set[int]] = {}
    for key in keys:
        m = re.match(pattern, key)
        if m:
            found.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    return found


def _rename_first(rest: str, table: dict[str, str], key: str) -> str:
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    raise KeyMappingError(f"no LDM name for '{key}'")


def _first_blocks(layers: dict[int, set[int]], extra: set[int], first: int) -> dict[int, int]:
    """Flat index of each level's first block: levels hold their layers, plus one block if in ``extra``."""
    start, index = {}, first
    for level in sorted(layers):
        start[level] = index
        index += len(layers[level]) + (level in extra)
    return start


def _block_layer(block: str, kind: str, tail: str, key: str) -> str:
    """An input or output block's res block (its layer 0) or transformer (its layer 1)."""
    if kind == "resnets":
        return f"{block}.0." + _rename_first(tail, UNET_RESNET, key)
    return f"{block}.1.{tail}"


def _mid_block(rest: str, has_attention: bool, key: str) -> str:
    m = re.match(r"(resnets|attentions)\.(\d+)\.(.*)", rest)
    if not m:
        raise KeyMappingError(f"no LDM name for '{key}'")
    kind, j, tail = m.group(1), int(m.group(2)), m.group(3)
    if kind == "resnets":
        return f"middle_block.{2 * j if has_attention else j}." + _rename_first(tail, UNET_RESNET, key)
    return f"middle_block.{2 * j + 1}.{tail}"


def _unet_map(keys: list[str], extra) -> dict[str, str]:
    """Shared by the UNet and the ControlNet (whose encoder is a UNet's); ``extra`` maps the rest."""
    down_resnets = _indices(keys, r"down_blocks\.(\d+)\.resnets\.(\d+)\.")
    downsamplers = {
        int(m.group(1)) for k in keys if (m := re.match(r"down_blocks\.(\d+)\.downsamplers\.", k))
    }
    start = _first_blocks(down_resnets, downsamplers, first=1)  # input_blocks.0 is conv_in
    up_resnets = _indices(keys, r"up_blocks\.(\d+)\.resnets\.(\d+)\.")
    up_start = _first_blocks(up_resnets, set(), first=0)  # the upsampler sits inside a level's last block
    up_attention = {int(m.group(1)) for k in keys if (m := re.match(r"up_blocks\.(\d+)\.attentions\.", k))}
    mid_attention = any(k.startswith("mid_block.attentions.") for k in keys)

    mapping = {}
    for key in keys:
        if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)", key):
            level, kind, j, tail = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            if kind != "downsamplers":
                ldm = _block_layer(f"input_blocks.{start[level] + j}", kind, tail, key)
            else:  # the downsampler is a block of its own, after the level's res blocks
                ldm = f"input_blocks.{start[level] + len(down_resnets[level])}.0." + tail.replace(
                    "conv.", "op.", 1
                )
        elif m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)", key):
            level, kind, j, tail = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            if kind != "upsamplers":
                ldm = _block_layer(f"output_blocks.{up_start[level] + j}", kind, tail, key)
            else:  # inside the level's last block, after its res block and transformer (if any)
                last = up_start[level] + len(up_resnets[level]) - 1
                ldm = f"output_blocks.{last}.{2 if level in up_attention else 1}.{tail}"
        elif key.startswith("mid_block."):
            ldm = _mid_block(key[len("mid_block.") :], mid_attention, key)
        else:
            ldm = extra(key)
        mapping[key] = ldm
    return mapping


def _embeddings(key: str) -> str:
    return _rename_first(key, EMBEDDINGS, key)


def unet_key_map(keys: Iterable[str]) -> dict[str, str]:
    """``UNet2DConditionModel`` keys -> ``openaimodel.UNetModel`` keys (``model.diffusion_model.`` layout)."""
    return _unet_map(list(keys), _embeddings)


def controlnet_key_map(keys: Iterable[str]) -> dict[str, str]:
    """``ControlNetModel`` keys -> ``cldm.ControlNet`` keys (``control_model.`` layout).

    ``input_hint_block`` is a Sequential of convolutions and SiLUs: the convolutions sit at the even
    indices (conv_in, the blocks, conv_out). ``zero_convs.i`` follows input block ``i``.
    """
    keys = list(keys)
    blocks = {
        int(m.group(1)) for k in keys if (m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.", k))
    }
    conv_out_index = 2 * (len(blocks) + 1)

    def extra(key: str) -> str:
        if m := re.match(r"controlnet_cond_embedding\.(conv_in|conv_out|blocks\.(\d+))\.(.*)", key):
            index = (
                0
                if m.group(1) == "conv_in"
                else conv_out_index
                if m.group(1) == "conv_out"
                else 2 * (int(m.group(2)) + 1)
            )
            return f"input_hint_block.{index}.{m.group(3)}"
        if m := re.match(r"controlnet_down_blocks\.(\d+)\.(.*)", key):
            return f"zero_convs.{m.group(1)}.0.{m.group(2)}"
        if key.startswith("controlnet_mid_block."):
            return "middle_block_out.0." + key[len("controlnet_mid_block.") :]
        if key.startswith(("conv_norm_out.", "conv_out.")):  # a UNet head: a ControlNet has none
            raise KeyMappingError(f"no LDM name for '{key}'")
        return _embeddings(key)

    return _unet_map(keys, extra)


def vae_key_map(keys: Iterable[str]) -> dict[str, str]:
    """``AutoencoderKL`` keys -> LDM ``AutoencoderKL`` keys (``first_stage_model.`` layout).

    The decoder's levels are numbered from the lowest resolution in diffusers and from the highest in LDM.
    """
    keys = list(keys)
    up_levels = {int(m.group(1)) for k in keys if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", k))}
    mapping = {}
    for key in keys:
        if m := re.match(r"(encoder|decoder)\.(down_blocks|up_blocks|mid_block)\.(.*)", key):
            part, where, rest = m.groups()
            if where == "mid_block":
                r = re.match(r"(resnets|attentions)\.(\d+)\.(.*)", rest)
                if r is None:
                    raise KeyMappingError(f"no LDM name for '{key}'")
                if r.group(1) == "resnets":
                    ldm = f"{part}.mid.block_{int(r.group(2)) + 1}." + _rename_first(
                        r.group(3), VAE_RESNET, key
                    )
                else:
                    ldm = f"{part}.mid.attn_{int(r.group(2)) + 1}." + _rename_first(
                        r.group(3), VAE_ATTENTION, key
                    )
            else:
                r = re.match(r"(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.*)", rest)
                if r is None:
                    raise KeyMappingError(f"no LDM name for '{key}'")
                level, kind, j, tail = int(r.group(1)), r.group(2), int(r.group(3)), r.group(4)
                if where == "up_blocks":
                    level = len(up_levels) - 1 - level
                ldm_where = "down" if where == "down_blocks" else "up"
                if kind == "resnets":
                    ldm = f"{part}.{ldm_where}.{level}.block.{j}." + _rename_first(tail, VAE_RESNET, key)
                else:
                    ldm = f"{part}.{ldm_where}.{level}.{'downsample' if kind == 'downsamplers' else 'upsample'}.{tail}"
        elif m := re.match(r"(encoder|decoder)\.(conv_in|conv_out|conv_norm_out)\.(.*)", key):
            ldm = f"{m.group(1)}.{'norm_out' if m.group(2) == 'conv_norm_out' else m.group(2)}.{m.group(3)}"
        elif key.startswith(("quant_conv.", "post_quant_conv.")):
            ldm = key
        else:
            raise KeyMappingError(f"no LDM name for '{key}'")
        mapping[key] = ldm
    return mapping


def clip_text_key_map(keys: Iterable[str]) -> dict[str, str]:
    """``CLIPTextModel`` keys -> the original's (``cond_stage_model.transformer.`` + HF CLIPTextModel keys).

    The original saved transformers 4's ``text_model.``-rooted names; transformers 5 drops that root.
    """
    return {k: k if k.startswith("text_model.") else "text_model." + k for k in keys}
