"""The conversions: final MagicPose, stage 1, ControlNet and SD 1.5 checkpoints to diffusers folders, and
Everybody Dance Now generators to a Pose2VidPipeline folder (:mod:`.pose2vid`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from magicpose.convert import kinds
from magicpose.convert.configs import build_model
from magicpose.convert.extract import Extraction, Part, extract, fill_from, stderr_line
from magicpose.convert.loading import load_checkpoint
from magicpose.convert.writing import cast, check_output, parse_dtype, staged_output, stored_dtype, write_info
from magicpose.empty_prompt import CLIP_VOCAB_SIZE, compute_empty_prompt_embeds, save_empty_prompt_embeds
from magicpose.errors import InputError, first_line
from magicpose.weights import require_folder

Log = Callable[[str], None]
HEAD = ("conv_norm_out.", "conv_out.")  # the UNet output head, absent from the original appearance UNet
TOKENIZER_FIX = "pass the folder of a CLIP tokenizer (vocab.json and merges.txt, such as SD 1.5's tokenizer/)"


@dataclass(frozen=True)
class Mode:
    """What a mode takes from the checkpoint (component, key prefix) and writes."""

    parts: tuple[tuple[str, str], ...]
    description: str  # of the written weights, for magicpose_info.json
    ignore_prefixes: tuple[str, ...] = field(default=())  # known, unused leftovers


# the VAE and text encoder of SD 1.5, in every checkpoint but a lone ControlNet's
SD_BASE = (("vae", kinds.VAE), ("text_encoder", kinds.TEXT))
MODES = {
    "magicpose": Mode(
        (("unet", kinds.UNET), ("appearance_unet", kinds.APPEARANCE), ("controlnet", kinds.POSE), *SD_BASE),
        "MagicPose pipeline",
        # The appearance model was cloned from a ControlNet-style wrapper: its hint encoder is never run.
        ignore_prefixes=(kinds.APPEARANCE + "input_hint_block.",),
    ),
    "stage1": Mode(
        (("unet", kinds.UNET), ("appearance_unet", kinds.CONTROL), *SD_BASE),
        "MagicPose stage-1 (appearance control) weights",
        ignore_prefixes=(kinds.CONTROL + "input_hint_block.",),
    ),
    "controlnet": Mode((("controlnet", kinds.CONTROL),), "ControlNet"),
    "sd15": Mode((("unet", kinds.UNET), *SD_BASE), "Stable Diffusion 1.5"),
}
# the GAN generators' modes: everything is read from the tensors
GAN_MODES = {"pose2vid": "an Everybody Dance Now", "vid2vid": "a vid2vid", "mraa": "an MRAA"}


def load_tokenizer(tokenizer):
    """A ``CLIPTokenizer`` from a folder (or a pipeline folder holding ``tokenizer/``); objects pass through."""
    if tokenizer is None or not isinstance(tokenizer, (str, Path)):
        return tokenizer
    from transformers import CLIPTokenizer

    folder = require_folder(tokenizer, "tokenizer folder", TOKENIZER_FIX)
    own_files = ("vocab.json", "tokenizer.json", "tokenizer_config.json")
    if (folder / "tokenizer").is_dir() and not any((folder / f).is_file() for f in own_files):
        folder = folder / "tokenizer"
    try:
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:  # transformers raises many kinds for a bad folder
        raise InputError(
            f"cannot load a CLIP tokenizer from '{folder}' ({first_line(err)}): {TOKENIZER_FIX}"
        ) from err


def _check_text_inputs(part: Part, tokenizer) -> None:
    """Fail before loading a multi-GB file when the empty prompt cannot be tokenised."""
    vocab = part.config.config.get("vocab_size", CLIP_VOCAB_SIZE)
    if tokenizer is None and vocab != CLIP_VOCAB_SIZE:
        raise InputError(
            f"the text encoder's vocabulary ({part.config.source}) has {vocab} tokens, not CLIP's "
            f"{CLIP_VOCAB_SIZE}, so the empty prompt's token ids are unknown: pass --tokenizer <its "
            "tokenizer folder>"
        )
    if tokenizer is not None and len(tokenizer) > vocab:
        raise InputError(
            f"the tokenizer has {len(tokenizer)} tokens but the text encoder's vocabulary "
            f"({part.config.source}) has {vocab}: pass the tokenizer made for this text encoder"
        )


def _empty_prompt(part: Part, stored: dict[str, torch.Tensor], tokenizer, dtype: torch.dtype | None):
    """The embedding of "" computed in float32 from the stored weights, then cast to the output dtype."""
    as_float = {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}  # no copy for fp32
    embeds = compute_empty_prompt_embeds(build_model(part.config, as_float), tokenizer)
    return embeds.to(dtype or stored_dtype(stored))


def _save_components(folder: Path, models: dict, tokenizer, names: tuple[str, ...]) -> None:
    from diffusers import ModelMixin

    for name in names:
        model = models[name]
        if isinstance(model, ModelMixin):
            model.save_pretrained(folder / name, safe_serialization=True)
        else:  # transformers writes safetensors only
            model.save_pretrained(folder / name)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder / "tokenizer"))


def _write(mode: str, folder: Path, models: dict, tokenizer, embeds: torch.Tensor | None) -> None:
    """The converted models; the empty-prompt embedding as the pipeline's component (or, in the folders that
    are not pipelines, as the same ``empty_prompt/`` folder beside the models)."""
    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

    if mode == "magicpose":
        pipe = MagicPosePipeline(
            vae=models["vae"],
            text_encoder=models["text_encoder"],
            tokenizer=tokenizer,
            unet=models["unet"],
            appearance_unet=models["appearance_unet"],
            controlnet=models["controlnet"],
            scheduler=MagicPosePipeline.default_scheduler(),
        )
        pipe.empty_prompt_embeds = embeds
        pipe.save_pretrained(folder, safe_serialization=True)
        return
    if embeds is not None:
        save_empty_prompt_embeds(embeds, folder)
    if mode == "stage1":
        _save_components(folder, models, tokenizer, ("vae", "unet", "text_encoder", "appearance_unet"))
    elif mode == "controlnet":
        models["controlnet"].save_pretrained(folder, safe_serialization=True)
    else:
        _save_components(folder, models, tokenizer, ("vae", "unet", "text_encoder"))
        MagicPosePipeline.default_scheduler().save_pretrained(folder / "scheduler")


def _check_options(mode: str, tokenizer, config_from, face, family) -> None:
    """Refuse options of another mode (one line naming the option)."""
    if mode in GAN_MODES:
        for option, value in (("--tokenizer", tokenizer), ("--config-from", config_from)):
            if value is not None:
                raise InputError(
                    f"{option} does not apply to `magicpose convert {mode}` ({GAN_MODES[mode]} "
                    f"generator's configuration is read from its tensors): drop {option}"
                )
        if mode == "pose2vid":
            return
    for option, value in (("--face", face), ("--family", family)):
        if value is not None:
            raise InputError(
                f"{option} is an option of `magicpose convert pose2vid` (Everybody Dance Now), not of "
                f"`magicpose convert {mode}`: drop {option}"
            )


def convert(
    mode: str,
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    tokenizer=None,
    config_from: str | Path | None = None,
    allow_unsafe_pickle: bool = False,
    overwrite: bool = False,
    face: str | Path | None = None,
    family: str | None = None,
    log: Log | None = stderr_line,
) -> Path:
    """Convert ``checkpoint`` with ``mode`` (one of :data:`MODES` or :data:`GAN_MODES`) into ``output_dir``; see the
    public wrappers. ``face`` and ``family`` are pose2vid's; ``tokenizer`` and ``config_from`` the others'."""
    if mode not in MODES and mode not in GAN_MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {sorted([*MODES, *GAN_MODES])}")
    _check_options(mode, tokenizer, config_from, face, family)
    if mode == "pose2vid":
        from magicpose.convert.pose2vid import convert_pose2vid

        return convert_pose2vid(
            checkpoint,
            output_dir,
            face=face,
            family=family,
            dtype=dtype,
            allow_unsafe_pickle=allow_unsafe_pickle,
            overwrite=overwrite,
            log=log,
        )
    if mode in ("vid2vid", "mraa"):  # convert/vid2vid.py's convert_vid2vid, convert/mraa.py's convert_mraa
        import importlib

        converter = getattr(importlib.import_module(f"magicpose.convert.{mode}"), f"convert_{mode}")
        return converter(
            checkpoint,
            output_dir,
            dtype=dtype,
            allow_unsafe_pickle=allow_unsafe_pickle,
            overwrite=overwrite,
            log=log,
        )
    log = log or (lambda message: None)
    spec, path = MODES[mode], Path(checkpoint)
    target = parse_dtype(dtype)
    inputs = [checkpoint, config_from, tokenizer if isinstance(tokenizer, (str, Path)) else None]
    out = check_output(output_dir, overwrite, inputs)  # before any slow work
    tokenizer = load_tokenizer(tokenizer)
    head: list[str] = []
    parts = []
    for name, prefix in spec.parts:
        part = Part.make(name, prefix, config_from, may_be_missing=head if name == "appearance_unet" else ())
        if name == "unet":
            head = [k for k in part.shapes if k.startswith(HEAD)]
        parts.append(part)
    text = next((p for p in parts if p.name == "text_encoder"), None)
    if text is not None:
        _check_text_inputs(text, tokenizer)

    log(f"loading '{path}'")
    state_dict = load_checkpoint(path, allow_unsafe_pickle=allow_unsafe_pickle)
    kind = kinds.check_kind(path, state_dict, mode)
    log(f"'{path.name}': {kinds.DESCRIPTIONS[kind]}, {len(state_dict)} tensors")
    result: Extraction = extract(state_dict, parts, path, spec.ignore_prefixes)
    if mode in ("magicpose", "stage1"):
        # Never used (the pipeline stops the appearance UNet after its last self-attention write), but a
        # UNet2DConditionModel must have one: the main UNet's keeps the folder loadable and meaningful.
        fill_from(result, "appearance_unet", "unet", head)

    embeds = None
    if text is not None:
        log("computing the empty-prompt embedding")
        embeds = _empty_prompt(text, result.tensors["text_encoder"], tokenizer, target)
    models = {p.name: build_model(p.config, cast(result.tensors[p.name], target)) for p in parts}
    log(f"writing '{out}'")
    with staged_output(out, overwrite, inputs) as folder:
        _write(mode, folder, models, tokenizer, embeds)
        write_info(
            folder,
            mode=mode,
            source=path,
            kind=kind,
            description=spec.description,
            dtype=target,
            configs={p.name: p.config.source for p in parts},
            ignored=result.ignored,
            unexpected=result.unexpected,
            filled=result.filled,
        )
    return out


def _mode_converter(mode: str, doc: str) -> Callable[..., Path]:
    """The public ``convert_<mode>`` function: :func:`convert` with ``mode`` fixed. Every mode takes the same
    options; a mode without a text encoder drops ``tokenizer`` (kept for a uniform signature)."""
    uses_tokenizer = any(name == "text_encoder" for name, _ in MODES[mode].parts)

    def converter(
        checkpoint,
        output_dir,
        *,
        dtype=None,
        tokenizer=None,
        config_from=None,
        allow_unsafe_pickle=False,
        overwrite=False,
        log: Log | None = stderr_line,
    ) -> Path:
        return convert(
            mode,
            checkpoint,
            output_dir,
            dtype=dtype,
            tokenizer=tokenizer if uses_tokenizer else None,
            config_from=config_from,
            allow_unsafe_pickle=allow_unsafe_pickle,
            overwrite=overwrite,
            log=log,
        )

    converter.__name__ = converter.__qualname__ = f"convert_{mode}"
    converter.__doc__ = doc
    return converter


convert_magicpose = _mode_converter(
    "magicpose",
    """A final MagicPose checkpoint (``model_state-110000.th``) -> a complete ``MagicPosePipeline`` folder.

    The appearance UNet's unused output head, absent from the original, is a copy of the main UNet's
    (recorded under "filled" in ``magicpose_info.json``).
    """,
)
convert_stage1 = _mode_converter(
    "stage1",
    """A stage-1 checkpoint (``model_state-10000.th``) -> ``vae/ unet/ text_encoder/ appearance_unet/``.

    Usable for stage-2 training as ``model.pretrained_dir=<out> model.appearance_unet=<out>/appearance_unet``.
    """,
)
convert_controlnet = _mode_converter(
    "controlnet",
    """A ControlNet 1.x checkpoint (``control_v11p_sd15_openpose.pth``) -> a ``ControlNetModel`` folder.

    ``tokenizer`` is accepted for a uniform signature and unused (a ControlNet has no text encoder).
    """,
)
convert_sd15 = _mode_converter(
    "sd15",
    """An SD 1.5 single file (``.ckpt``/``.safetensors``) -> ``vae/ unet/ text_encoder/ scheduler/``.""",
)
