"""``magicpose convert``: original-layout checkpoints of tiny models back to the very same tensors.

The original files are written here from tiny diffusers models with an inverse key mapping (diffusers
-> LDM) that this file defines on its own, validated against diffusers' single-file converters; the
converter under test must then give back every tensor bit for bit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_cases import convert_argv, refused_in_one_line
from conftest import check_convert_overwrite, clip_vocab_text_encoder, make_square_dataset
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from diffusers.loaders import single_file_utils as sfu
from PIL import Image
from safetensors.torch import load_file, save_file
from tiny_cases import magicpose_frames
from transformers import CLIPTextModel, CLIPTokenizer

from magicpose.cli import main
from magicpose.convert import (
    convert_controlnet,
    convert_magicpose,
    convert_sd15,
    convert_stage1,
    detect_kind,
    load_checkpoint,
)
from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline
from magicpose.tiny_models import make_components, offline_clip_tokenizer

UNET, VAE, TEXT = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer."
POSITION_IDS = TEXT + "text_model.embeddings.position_ids"

# -- the inverse mapping, diffusers -> original layout (independent of magicpose.convert) ---------------

RESNET = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("time_emb_proj", "emb_layers.1"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("conv_shortcut", "skip_connection"),
]
TOP = [
    ("time_embedding.linear_1.", "time_embed.0."),
    ("time_embedding.linear_2.", "time_embed.2."),
    ("conv_in.", "input_blocks.0.0."),
    ("conv_norm_out.", "out.0."),
    ("conv_out.", "out.2."),
]


def _resnet(rest: str, table=RESNET) -> str:
    name, _, tail = rest.partition(".")
    return dict(table)[name] + "." + tail


def _unet_key(key: str, per_level: int, up_attention: set[int]) -> str:
    """One UNet/ControlNet encoder key in ``openaimodel`` names (SD layout: a downsampler after every
    level but the last, which every level has here)."""
    p = key.split(".")
    if p[0] == "down_blocks":
        level, kind, j, rest = int(p[1]), p[2], int(p[3]), ".".join(p[4:])
        block = 1 + level * (per_level + 1) + j
        if kind == "resnets":
            return f"input_blocks.{block}.0.{_resnet(rest)}"
        if kind == "attentions":
            return f"input_blocks.{block}.1.{rest}"
        return f"input_blocks.{(level + 1) * (per_level + 1)}.0.op.{p[-1]}"
    if p[0] == "up_blocks":
        level, kind, j, rest = int(p[1]), p[2], int(p[3]), ".".join(p[4:])
        block = level * (per_level + 1) + j  # an up level has one res block more than a down level
        if kind == "resnets":
            return f"output_blocks.{block}.0.{_resnet(rest)}"
        if kind == "attentions":
            return f"output_blocks.{block}.1.{rest}"
        last = level * (per_level + 1) + per_level
        return f"output_blocks.{last}.{2 if level in up_attention else 1}.conv.{p[-1]}"
    if p[0] == "mid_block":
        j, rest = int(p[2]), ".".join(p[3:])
        return f"middle_block.{2 * j}.{_resnet(rest)}" if p[1] == "resnets" else f"middle_block.1.{rest}"
    for old, new in TOP:
        if key.startswith(old):
            return new + key[len(old) :]
    raise KeyError(key)


def unet_to_ldm(model) -> dict[str, torch.Tensor]:
    per_level = model.config.layers_per_block
    up_attention = {i for i, t in enumerate(model.config.up_block_types) if "CrossAttn" in t}
    return {_unet_key(k, per_level, up_attention): v for k, v in model.state_dict().items()}


def controlnet_to_ldm(model) -> dict[str, torch.Tensor]:
    per_level = model.config.layers_per_block
    n_blocks = 2 * (len(model.config.conditioning_embedding_out_channels) - 1)
    out = {}
    for key, value in model.state_dict().items():
        p = key.split(".")
        if key.startswith("controlnet_cond_embedding."):
            index = (
                {"conv_in": 0, "conv_out": 2 * n_blocks + 2}.get(p[1])
                if p[1] != "blocks"
                else 2 * int(p[2]) + 2
            )
            new = f"input_hint_block.{index}.{p[-1]}"
        elif p[0] == "controlnet_down_blocks":
            new = f"zero_convs.{p[1]}.0.{p[-1]}"
        elif p[0] == "controlnet_mid_block":
            new = f"middle_block_out.0.{p[-1]}"
        else:
            new = _unet_key(key, per_level, set())
        out[new] = value
    return out


def vae_to_ldm(model) -> dict[str, torch.Tensor]:
    levels = len(model.config.block_out_channels)
    out = {}
    for key, value in model.state_dict().items():
        new = key.replace("conv_norm_out", "norm_out")
        for i in range(levels):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.")
            new = new.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{levels - 1 - i}.block.")
            new = new.replace(
                f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample."
            )
        new = new.replace("mid_block.resnets.0.", "mid.block_1.").replace(
            "mid_block.resnets.1.", "mid.block_2."
        )
        new = new.replace("conv_shortcut", "nin_shortcut")
        if "mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            for old, name in (
                ("group_norm", "norm"),
                ("to_q", "q"),
                ("to_k", "k"),
                ("to_v", "v"),
                ("to_out.0", "proj_out"),
            ):
                new = new.replace(f".{old}.", f".{name}.")
            if value.ndim == 2:  # LDM stores them as 1x1 convolutions
                value = value[:, :, None, None]
        out[new] = value
    return out


def clip_to_ldm(model) -> dict[str, torch.Tensor]:
    out = {"text_model." + k: v for k, v in model.state_dict().items()}
    out["text_model.embeddings.position_ids"] = torch.arange(model.config.max_position_embeddings)[None]
    return out


def _prefixed(prefix: str, tensors: dict) -> dict:
    return {prefix + k: v for k, v in tensors.items()}


def _assert_same(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


@pytest.mark.parametrize("size", ["tiny", "sd-small"])
def test_inverse_mapping_agrees_with_diffusers_converters(size):
    c = make_components(size)
    unet = sfu.convert_ldm_unet_checkpoint(_prefixed(UNET, unet_to_ldm(c["unet"])), dict(c["unet"].config))
    _assert_same(unet, c["unet"].state_dict())
    vae = sfu.convert_ldm_vae_checkpoint(_prefixed(VAE, vae_to_ldm(c["vae"])), dict(c["vae"].config))
    _assert_same(vae, c["vae"].state_dict())
    controlnet = sfu.convert_controlnet_checkpoint(
        _prefixed("control_model.", controlnet_to_ldm(c["controlnet"])), dict(c["controlnet"].config)
    )
    expected = c["controlnet"].state_dict()
    if (
        size == "tiny"
    ):  # diffusers hard-codes SD's 8-convolution hint encoder (input_hint_block.14 = conv_out)
        controlnet = {k: v for k, v in controlnet.items() if not k.startswith("controlnet_cond_embedding.")}
        expected = {k: v for k, v in expected.items() if not k.startswith("controlnet_cond_embedding.")}
    _assert_same(controlnet, expected)


def test_converter_mapping_agrees_with_diffusers_on_sd15_layout():
    """The converter's own mapping of the full SD 1.5 models (built empty) against diffusers' converters."""
    from magicpose.convert.configs import component_config, empty_model, parameter_count
    from magicpose.convert.ldm_keys import controlnet_key_map, unet_key_map, vae_key_map

    checks = [
        ("unet", unet_key_map, sfu.convert_ldm_unet_checkpoint, UNET),
        ("controlnet", controlnet_key_map, sfu.convert_controlnet_checkpoint, "control_model."),
        ("vae", vae_key_map, sfu.convert_ldm_vae_checkpoint, VAE),
    ]
    for name, key_map, diffusers_convert, prefix in checks:
        cc = component_config(name)
        keys = list(empty_model(cc).state_dict())
        mapping = key_map(keys)
        tags = {prefix + ldm: torch.full((1, 1, 1, 1), float(i)) for i, ldm in enumerate(mapping.values())}
        theirs = diffusers_convert(tags, cc.config)
        assert sorted(theirs) == sorted(keys), name
        for i, key in enumerate(mapping):
            assert theirs[key].flatten()[0].item() == i, (name, key)
    counts = {n: parameter_count(component_config(n)) for n in ("unet", "vae", "text_encoder", "controlnet")}
    assert counts == {
        "unet": 859_520_964,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "controlnet": 361_279_120,
    }


# -- original-layout files ---------------------------------------------------------------------------


def _buffers() -> dict[str, torch.Tensor]:
    """What the LDM DDPM wrapper saves besides the models: the buffers its ``register_schedule`` derives from SD's
    beta schedule (in float64, stored as float32), ``logvar`` and the EMA's counters."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    cumprod = torch.cumprod(1 - betas, 0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), cumprod[:-1]])
    variance = betas * (1 - prev) / (1 - cumprod)
    schedule = {
        "betas": betas,
        "alphas_cumprod": cumprod,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1 - cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1 / cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / cumprod - 1).sqrt(),
        "posterior_variance": variance,
        "posterior_log_variance_clipped": variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * prev.sqrt() / (1 - cumprod),
        "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - cumprod),
    }
    out = {name: value.float() for name, value in schedule.items()}
    out["logvar"] = torch.zeros(1000)
    out["model_ema.decay"] = torch.tensor(0.9999)
    out["model_ema.num_updates"] = torch.tensor(0)
    return out


def _appearance(model) -> dict[str, torch.Tensor]:
    """The appearance UNet as stored by the original: no out.* head, a leftover unused hint encoder."""
    out = {k: v for k, v in unet_to_ldm(model).items() if not k.startswith("out.")}
    out["input_hint_block.0.weight"] = torch.randn(16, 3, 3, 3)
    out["input_hint_block.0.bias"] = torch.randn(16)
    return out


def _sd_part(c) -> dict[str, torch.Tensor]:
    return {
        **_prefixed(UNET, unet_to_ldm(c["unet"])),
        **_prefixed(VAE, vae_to_ldm(c["vae"])),
        **_prefixed(TEXT, clip_to_ldm(c["text_encoder"])),
    }


def original_files(c) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts of each original release, made from the components ``c``."""
    return {
        "magicpose": {
            **_sd_part(c),
            **_prefixed("appearance_control_model.", _appearance(c["appearance_unet"])),
            **_prefixed("pose_control_model.", controlnet_to_ldm(c["controlnet"])),
            **_buffers(),
        },
        "stage1": {
            **_sd_part(c),
            **_prefixed("control_model.", _appearance(c["appearance_unet"])),
            **_buffers(),
        },
        "controlnet": _prefixed("control_model.", controlnet_to_ldm(c["controlnet"])),
        "sd15": {**_sd_part(c), **_buffers()},
    }


def _config_folder(folder: Path, c) -> Path:
    for name in ("unet", "controlnet", "vae"):
        c[name].save_config(folder / name)
    c["text_encoder"].config.save_pretrained(folder / "text_encoder")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    c = make_components("tiny")
    files = original_files(c)
    paths = {
        "magicpose": root / "model_state-110000.th",
        "stage1": root / "model_state-10000.th",
        "controlnet": root / "control_v11p_sd15_openpose.pth",
        "sd15": root / "v1-5-pruned.ckpt",
    }
    for kind, path in paths.items():
        # Lightning-style nesting (and a non-tensor entry) for the .th/.ckpt files, flat for the ControlNet.
        torch.save(
            files[kind]
            if kind == "controlnet"
            else {"state_dict": {"state_dict": files[kind]}, "global_step": 7},
            path,
        )
    paths["diffusers"] = root / "diffusion_pytorch_model.safetensors"  # already converted: refused as unknown
    save_file(c["unet"].state_dict(), paths["diffusers"])
    paths["sd15_safetensors"] = root / "v1-5-pruned.safetensors"
    save_file({k: v.contiguous() for k, v in files["sd15"].items()}, paths["sd15_safetensors"])
    tokenizer_dir = root / "tokenizer"
    offline_clip_tokenizer().save_pretrained(str(tokenizer_dir))
    configs = _config_folder(root / "configs", c)
    return dict(c=c, files=files, paths=paths, tokenizer=tokenizer_dir, configs=configs, root=root)


def _load(cls, folder: Path):
    return cls.from_pretrained(folder, local_files_only=True)


def _check_components(out: Path, c, names, dtype=None) -> None:
    """The saved tensors (read raw from the files, and through from_pretrained) are the models' own."""
    classes = {
        "unet": UNet2DConditionModel,
        "appearance_unet": UNet2DConditionModel,
        "vae": AutoencoderKL,
        "controlnet": ControlNetModel,
        "text_encoder": CLIPTextModel,
    }
    for name in names:
        folder = out if name == "controlnet" and not (out / "controlnet").is_dir() else out / name
        expected = c[name].state_dict()
        if name == "appearance_unet":  # the original has no head: the main UNet's is copied in
            for key in expected:
                if key.startswith(("conv_norm_out.", "conv_out.")):
                    expected[key] = c["unet"].state_dict()[key]
        if dtype is not None:
            expected = {k: v.to(dtype) if v.is_floating_point() else v for k, v in expected.items()}
        stored = {}
        for file in folder.glob("*.safetensors"):
            stored.update(load_file(file))
        _assert_same(stored, expected)
        if dtype is None:
            _assert_same(_load(classes[name], folder).state_dict(), expected)


def _info(out: Path) -> dict:
    return json.loads((out / "magicpose_info.json").read_text())


def _argv(tiny, mode: str, checkpoint: Path, out: Path, *flags: str, tokenizer: bool = True) -> list[str]:
    """``magicpose convert`` with the tiny models' configurations and (``tokenizer``) their tokenizer."""
    own_tokenizer = ["--tokenizer", str(tiny["tokenizer"])] if tokenizer else []
    return convert_argv(mode, checkpoint, out, "--config-from", str(tiny["configs"]), *own_tokenizer, *flags)


def _empty_prompt_embeds(out: Path) -> torch.Tensor:
    return load_file(out / "empty_prompt" / "diffusion_pytorch_model.safetensors")["embeds"]


# -- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["magicpose", "stage1", "controlnet", "sd15", "sd15_safetensors"])
def test_every_format_converts_bit_exactly(tiny, tmp_path, kind):
    convert = {
        "magicpose": convert_magicpose,
        "stage1": convert_stage1,
        "controlnet": convert_controlnet,
        "sd15": convert_sd15,
        "sd15_safetensors": convert_sd15,
    }[kind]
    out = convert(
        tiny["paths"][kind],
        tmp_path / "out",
        tokenizer=tiny["tokenizer"],
        config_from=tiny["configs"],
        log=None,
    )
    names = {
        "magicpose": ["unet", "appearance_unet", "controlnet", "vae", "text_encoder"],
        "stage1": ["unet", "appearance_unet", "vae", "text_encoder"],
        "controlnet": ["controlnet"],
        "sd15": ["unet", "vae", "text_encoder"],
        "sd15_safetensors": ["unet", "vae", "text_encoder"],
    }[kind]
    _check_components(out, tiny["c"], names)
    info = _info(out)
    source = tiny["paths"][kind].name
    assert info["kind"] == "converted" and info["source"] == source and source in info["description"]
    assert info["unexpected_keys"] == []
    if kind != "controlnet":
        assert (out / "empty_prompt" / "config.json").is_file() and (out / "tokenizer").is_dir()
        assert POSITION_IDS in info["ignored_keys"] and "betas" in info["ignored_keys"]
        assert "model_ema.decay" in info["ignored_keys"]
    if kind in ("magicpose", "stage1"):
        leftover = (
            "appearance_control_model." if kind == "magicpose" else "control_model."
        ) + "input_hint_block."
        assert any(k.startswith(leftover) for k in info["ignored_keys"])
        assert sorted(info["filled"]) == [
            "appearance_unet.conv_norm_out.bias",
            "appearance_unet.conv_norm_out.weight",
            "appearance_unet.conv_out.bias",
            "appearance_unet.conv_out.weight",
        ]
    if kind.startswith("sd15"):
        assert (out / "scheduler" / "scheduler_config.json").is_file()
    assert not list(tmp_path.glob("out.*"))  # no temporary sibling left


def test_sd_layout_unet_converts_bit_exactly(tmp_path):
    """The 4-level SD 1.5 layout (downsamplers, upsamplers, attention-free levels) of the sd-small models."""
    c = make_components("sd-small")
    path = tmp_path / "model_state-110000.th"
    torch.save(original_files(c)["magicpose"], path)
    tokenizer = tmp_path / "tokenizer"
    offline_clip_tokenizer().save_pretrained(str(tokenizer))
    out = convert_magicpose(
        path,
        tmp_path / "out",
        tokenizer=tokenizer,
        config_from=_config_folder(tmp_path / "configs", c),
        log=None,
    )
    _check_components(out, c, ["unet", "appearance_unet", "controlnet", "vae", "text_encoder"])


def _images(n: int, seed: int, size: int = 32) -> list[Image.Image]:
    rng = np.random.RandomState(seed)
    return [Image.fromarray((rng.rand(size, size, 3) * 255).astype(np.uint8)) for _ in range(n)]


def test_converted_pipeline_generates_the_same_frames(tiny, tmp_path):
    out = tmp_path / "pipe"
    assert main(_argv(tiny, "magicpose", tiny["paths"]["magicpose"], out)) == 0
    converted = MagicPosePipeline.from_pretrained(out, local_files_only=True)
    original = MagicPosePipeline(**make_components("tiny"))  # the same seeds: the same weights, fresh modules
    assert torch.equal(converted.empty_prompt_embeds, original.encode_prompt("", torch.device("cpu"))[0])
    frames = [
        magicpose_frames(pipe, _images(1, 7)[0], _images(2, 1), seed=3) for pipe in (converted, original)
    ]
    assert np.array_equal(frames[0], frames[1])
    from magicpose.weights import weights_description

    assert "converted from model_state-110000.th by magicpose convert magicpose" in weights_description(out)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_output_is_the_cast_original(tiny, tmp_path, dtype):
    name = {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    out = convert_magicpose(
        tiny["paths"]["magicpose"],
        tmp_path / "out",
        dtype=name,
        tokenizer=tiny["tokenizer"],
        config_from=tiny["configs"],
        log=None,
    )
    _check_components(
        out, tiny["c"], ["unet", "appearance_unet", "controlnet", "vae", "text_encoder"], dtype=dtype
    )
    ids = offline_clip_tokenizer()("", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():  # computed in float32, then cast
        expected = tiny["c"]["text_encoder"](ids)[0].to(dtype)
    assert torch.equal(_empty_prompt_embeds(out), expected)


def test_empty_prompt_embedding_with_tokenizer(tiny, tmp_path):
    out = convert_sd15(
        tiny["paths"]["sd15"],
        tmp_path / "out",
        tokenizer=tiny["tokenizer"],
        config_from=tiny["configs"],
        log=None,
    )
    tokenizer = CLIPTokenizer.from_pretrained(str(out / "tokenizer"), local_files_only=True)
    ids = tokenizer("", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = tiny["c"]["text_encoder"](ids)[0]
    assert torch.equal(_empty_prompt_embeds(out), expected)


def test_empty_prompt_embedding_from_known_clip_ids(tiny, tmp_path):
    """A text encoder with CLIP's vocabulary needs no tokenizer: "" is [BOS] + [EOS] * 76."""
    text_encoder = clip_vocab_text_encoder()
    c = dict(tiny["c"], text_encoder=text_encoder)
    path = tmp_path / "sd.safetensors"
    save_file({k: v.contiguous() for k, v in original_files(c)["sd15"].items()}, path)
    out = convert_sd15(path, tmp_path / "out", config_from=_config_folder(tmp_path / "configs", c), log=None)
    with torch.no_grad():
        expected = text_encoder(torch.tensor([[49406] + [49407] * 76]))[0]
    assert torch.equal(_empty_prompt_embeds(out), expected)
    assert not (out / "tokenizer").exists()
    _check_components(out, c, ["text_encoder"])


def test_pipeline_without_tokenizer_loads_and_runs(tiny, tmp_path):
    """No --tokenizer: the pipeline is saved with tokenizer null and uses the stored empty-prompt embedding."""
    from magicpose.weights import load_pipeline

    text_encoder = clip_vocab_text_encoder()
    c = dict(tiny["c"], text_encoder=text_encoder)
    path = tmp_path / "model_state-110000.th"
    torch.save(original_files(c)["magicpose"], path)
    out = convert_magicpose(
        path, tmp_path / "out", config_from=_config_folder(tmp_path / "configs", c), log=None
    )
    pipe = load_pipeline(out)
    assert pipe.tokenizer is None and pipe.empty_prompt_embeds is not None
    frames = magicpose_frames(pipe, _images(1, 7)[0], _images(1, 1), steps=1, seed=3)
    assert frames.shape == (1, 32, 32, 3) and np.isfinite(frames).all()


def test_unknown_key_is_reported_by_name(tiny, tmp_path, capsys):
    path = tmp_path / "extra.th"
    torch.save({**tiny["files"]["magicpose"], "some_stray.weight": torch.zeros(3)}, path)
    out = tmp_path / "out"
    assert main(_argv(tiny, "magicpose", path, out)) == 0
    captured = capsys.readouterr()
    assert f"warning: ignored 1 unexpected keys of '{path}': some_stray.weight" in captured.err
    assert str(out) in captured.out
    assert _info(out)["unexpected_keys"] == ["some_stray.weight"]


def test_controlnet_init_file_converts_either_part(tiny, tmp_path, capsys):
    """control_sd15_ini.ckpt (SD 1.5 + a ControlNet initialisation): each mode takes its part, names the rest."""
    path = tmp_path / "control_sd15_ini.ckpt"
    torch.save({**tiny["files"]["sd15"], **tiny["files"]["controlnet"]}, path)
    sd = convert_sd15(
        path, tmp_path / "sd", tokenizer=tiny["tokenizer"], config_from=tiny["configs"], log=None
    )
    _check_components(sd, tiny["c"], ["unet", "vae", "text_encoder"])
    assert _info(sd)["unexpected_keys"] == sorted(tiny["files"]["controlnet"])
    controlnet = convert_controlnet(path, tmp_path / "cn", config_from=tiny["configs"], log=None)
    _check_components(controlnet, tiny["c"], ["controlnet"])
    assert "model.diffusion_model.input_blocks.0.0.weight" in _info(controlnet)["unexpected_keys"]
    assert (
        f"warning: ignored {len(tiny['files']['controlnet'])} unexpected keys of '{path}'"
        in capsys.readouterr().err
    )


def test_config_from_a_single_model_folder(tiny, tmp_path):
    out = convert_controlnet(
        tiny["paths"]["controlnet"], tmp_path / "cn", config_from=tiny["configs"] / "controlnet", log=None
    )
    _check_components(out, tiny["c"], ["controlnet"])


def test_kind_detection(tiny):
    for kind, files in tiny["files"].items():
        assert detect_kind(files) == kind
    init = {**tiny["files"]["sd15"], **tiny["files"]["controlnet"]}
    assert detect_kind(init) == "controlnet_init"
    assert detect_kind({"foo.weight": torch.zeros(1)}) == "unknown"
    assert sorted(load_checkpoint(tiny["paths"]["controlnet"])) == sorted(tiny["files"]["controlnet"])


# -- errors ---------------------------------------------------------------------------------------------


def _write_broken(tmp_path: Path, tiny, case: str) -> Path:
    if case == "truncated_pth":
        data = tiny["paths"]["magicpose"].read_bytes()
        path = tmp_path / "model_state-110000.th"
        path.write_bytes(data[: len(data) // 2])
    elif case == "truncated_safetensors":
        data = tiny["paths"]["sd15_safetensors"].read_bytes()
        path = tmp_path / "v1-5-pruned.safetensors"
        path.write_bytes(data[: len(data) // 2])
    elif case == "missing_keys":
        files = dict(tiny["files"]["magicpose"])
        for key in (
            "pose_control_model.zero_convs.0.0.weight",
            UNET + "out.2.bias",
            VAE + "encoder.conv_in.weight",
        ):
            del files[key]
        path = tmp_path / "incomplete.th"
        torch.save(files, path)
    elif case == "missing_file":
        path = tmp_path / "model_state-110000.th"
    elif case == "random_bytes":  # never answered with advice to unpickle unsafely
        path = tmp_path / "model_state-110000.th"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    else:  # unsafe pickle
        path = tmp_path / "with_args.th"
        torch.save({"state_dict": tiny["files"]["magicpose"], "args": argparse.Namespace(lr=1e-5)}, path)
    return path


@pytest.mark.parametrize(
    "mode, file, expected",
    [
        (
            "magicpose",
            "controlnet",
            "is a ControlNet checkpoint (control_model.* with zero_convs), not a final MagicPose "
            "checkpoint: convert it with `magicpose convert controlnet`",
        ),
        ("controlnet", "magicpose", "is a final MagicPose checkpoint"),
        ("controlnet", "stage1", "is a MagicPose stage-1 checkpoint"),
        ("stage1", "sd15", "convert it with `magicpose convert sd15`"),
        ("sd15", "diffusers", "already in diffusers layout"),
    ],
)
def test_wrong_kind_is_refused(tiny, tmp_path, capsys, mode, file, expected):
    path, out = tiny["paths"][file], tmp_path / "out" / "converted"
    line = refused_in_one_line(capsys, _argv(tiny, mode, path, out), out)
    assert str(path) in line and expected in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "case, mode, expected",
    [
        ("truncated_pth", "magicpose", "the file is truncated or damaged: download it again"),
        ("truncated_safetensors", "sd15", "the file is truncated or damaged: download it again"),
        ("missing_keys", "magicpose", "lacks 3 keys"),
        ("missing_file", "magicpose", "does not exist"),
        ("random_bytes", "magicpose", "the file is truncated or damaged: download it again"),
        ("unsafe_pickle", "magicpose", "--allow-unsafe-pickle only if you trust where the file came from"),
    ],
)
def test_bad_file_is_refused_without_output(tiny, tmp_path, capsys, case, mode, expected):
    path, out = _write_broken(tmp_path, tiny, case), tmp_path / "out" / "converted"
    argv = _argv(tiny, mode, path, out)
    line = refused_in_one_line(capsys, argv, out)
    assert str(path) in line and expected in line
    assert not (tmp_path / "out").exists()
    if case == "missing_keys":
        for key in (
            "pose_control_model.zero_convs.0.0.weight",
            UNET + "out.2.bias",
            VAE + "encoder.conv_in.weight",
        ):
            assert key in line
    if case == "unsafe_pickle":
        assert "argparse.Namespace" in line
        assert main(argv + ["--allow-unsafe-pickle"]) == 0
        _check_components(out, tiny["c"], ["unet", "controlnet"])


def test_existing_output_is_refused_unless_overwrite(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    check_convert_overwrite(
        _argv(tiny, "controlnet", tiny["paths"]["controlnet"], out, tokenizer=False), out, capsys
    )
    _check_components(out, tiny["c"], ["controlnet"])


def test_a_file_as_the_tokenizer_folder_is_called_a_file(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    argv = _argv(
        tiny, "sd15", tiny["paths"]["sd15"], out, "--tokenizer", str(tiny["paths"]["sd15"]), tokenizer=False
    )
    line = refused_in_one_line(capsys, argv, out)
    assert line.startswith(
        f"error: tokenizer folder '{tiny['paths']['sd15']}' is a file, not a folder: pass the "
        "folder of a CLIP tokenizer"
    )


def test_text_encoder_without_clip_vocabulary_needs_a_tokenizer(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    line = refused_in_one_line(capsys, _argv(tiny, "sd15", tiny["paths"]["sd15"], out, tokenizer=False), out)
    assert "--tokenizer" in line


def test_stage2_training_starts_from_a_converted_stage1_file(tiny, tmp_path):
    # The original's stage 2 also needs an unreleased optimizer_state_latest.th; the converted folder is enough.
    from accelerate.state import AcceleratorState

    from magicpose.training.config import load_config
    from magicpose.training.magicpose_trainer import MagicPoseTrainer

    out = tmp_path / "stage1"
    assert main(_argv(tiny, "stage1", tiny["paths"]["stage1"], out)) == 0
    overrides = {
        "model.pretrained_dir": out,
        "model.appearance_unet": out / "appearance_unet",
        "data.root": make_square_dataset(tmp_path / "data"),
        "output_dir": tmp_path / "train",
        "validation.every_steps": 0,
        "checkpoint.every_steps": 1000,
        "train.max_steps": 2,
    }
    AcceleratorState._reset_state(reset_partial_state=True)
    cfg = load_config(
        Path(__file__).resolve().parents[1] / "configs" / "tiny_pose_control.yaml",
        [f"{k}={v}" for k, v in overrides.items()],
        stage="pose_control",
    )
    trainer = MagicPoseTrainer(cfg)
    model = trainer.accelerator.unwrap_model(trainer.model)
    original = tiny["c"]
    started = {k: v.detach().clone() for k, v in model.appearance_unet.state_dict().items()}
    body = [
        k for k in original["appearance_unet"].state_dict() if not k.startswith(("conv_norm_out", "conv_out"))
    ]
    original_appearance, original_unet = (
        original["appearance_unet"].state_dict(),
        original["unet"].state_dict(),
    )
    assert all(torch.equal(started[k], original_appearance[k]) for k in body)
    assert all(torch.equal(v, original_unet[k]) for k, v in model.unet.state_dict().items())
    assert torch.equal(trainer.context, _empty_prompt_embeds(out))
    trainer.train()
    assert trainer.global_step == 2
    trained = load_file(
        tmp_path / "train" / "final" / "appearance_unet" / "diffusion_pytorch_model.safetensors"
    )
    assert any(not torch.equal(trained[k], started[k]) for k in body)
