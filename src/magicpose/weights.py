"""Loading a MagicPose pipeline from a local path, with one-line errors for bad folders.

Two kinds of folder load: a saved pipeline (``model_index.json``, from ``save_pretrained``, `magicpose
convert` or a finished stage-2 run's ``pipeline/``), and a training checkpoint
(``checkpoints/checkpoint-<step>/``: the trained modules, completed by the frozen VAE and UNet of the
pretrained folder its ``trainer_state.json`` names).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from magicpose.errors import InputError, first_line
from magicpose.model_index import pipeline_class_name

REQUIRED_COMPONENTS = ("vae", "unet", "appearance_unet", "controlnet", "scheduler")
# May be saved as null: a converted checkpoint stores the empty-prompt embedding instead.
OPTIONAL_COMPONENTS = ("text_encoder", "tokenizer")
# Absent from folders written before it was a component (they keep empty_prompt_embeds.safetensors instead).
LATER_COMPONENTS = ("empty_prompt",)
INFO_FILE = "magicpose_info.json"  # optional: what these weights are (e.g. random demo weights)
CHECKPOINT_STATE_FILE = "trainer_state.json"  # marks a training checkpoint (magicpose.training.checkpoints)
_SAFETENSORS_DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F64": torch.float64,
}


def _read_json(path: Path):
    """The parsed JSON of ``path``, or None when it cannot be read or parsed (an informational file)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def check_component_configs(folder: Path) -> None:
    """Each component's config file parses as JSON: a damaged one would otherwise send diffusers to the hub
    and end in a message about connecting to huggingface.co."""
    for config in sorted([*folder.glob("*/config.json"), *folder.glob("*/scheduler_config.json")]):
        try:
            parsed = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(
                f"weights folder '{folder}': '{config.relative_to(folder)}' cannot be read as JSON "
                f"({first_line(err)}): re-create or re-convert the weights"
            ) from None
        if not isinstance(parsed, dict):
            raise InputError(
                f"weights folder '{folder}': '{config.relative_to(folder)}' holds a JSON "
                f"{type(parsed).__name__}, not a model configuration: re-create or re-convert the "
                "weights"
            )


def require_folder(path: str | Path, what: str, fix: str) -> Path:
    """``path`` as a Path, or an :class:`InputError` line saying that the ``what`` is a file or is missing, then
    ``fix``."""
    folder = Path(path)
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"{what} '{folder}' {state}: {fix}")
    return folder


def check_pipeline_folder(path: str | Path) -> Path:
    """Raise :class:`InputError` unless ``path`` looks like a saved ``MagicPosePipeline`` or a training checkpoint."""
    folder = require_folder(
        path,
        "weights folder",
        "pass a folder made by MagicPosePipeline.save_pretrained or `magicpose convert`",
    )
    if (folder / CHECKPOINT_STATE_FILE).is_file():
        _checkpoint_pretrained_dir(folder)
        return folder
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        single = folder / "config.json"
        if single.is_file():
            config = _read_json(single)
            kind = (
                config.get("_class_name", "a single model") if isinstance(config, dict) else "a single model"
            )
            raise InputError(
                f"weights folder '{folder}' holds one model ({kind}), not a MagicPose pipeline: "
                "pass the pipeline folder that contains model_index.json"
            )
        raise InputError(
            f"weights folder '{folder}' has no model_index.json: pass a folder made by "
            "MagicPosePipeline.save_pretrained or `magicpose convert`"
        )
    try:
        index = json.loads(index_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(
            f"cannot read '{index_file}' ({err}): the weights folder is damaged, re-create it"
        ) from err
    if not isinstance(index, dict):
        raise InputError(f"'{index_file}' is not a JSON object: the weights folder is damaged, re-create it")
    name = pipeline_class_name(index)
    if name == "Pose2VidPipeline":
        raise InputError(
            f"weights folder '{folder}' holds a Pose2VidPipeline (Everybody Dance Now), not a "
            "MagicPosePipeline: pass --generator pose2vid"
        )
    if name != "MagicPosePipeline":
        raise InputError(
            f"weights folder '{folder}' holds a {name}, not a MagicPosePipeline: "
            "convert the checkpoint with `magicpose convert`"
        )
    for name in REQUIRED_COMPONENTS + OPTIONAL_COMPONENTS + tuple(n for n in LATER_COMPONENTS if n in index):
        if name not in index:
            raise InputError(
                f"weights folder '{folder}' lacks the '{name}' component in model_index.json: "
                "re-save the complete pipeline"
            )
        saved_as_none = isinstance(index[name], list) and index[name][:1] == [None]
        if name in OPTIONAL_COMPONENTS + LATER_COMPONENTS and saved_as_none:
            continue
        if not (folder / name).is_dir():
            raise InputError(
                f"weights folder '{folder}' is missing its '{name}' subfolder: copy the complete "
                "pipeline folder"
            )
    return folder


def weights_description(path: str | Path) -> str | None:
    info = Path(path) / INFO_FILE
    if not info.is_file():
        return None
    data = _read_json(info)
    return data.get("description") if isinstance(data, dict) else None


def _checkpoint_pretrained_dir(folder: Path) -> Path:
    """The pretrained folder (frozen VAE and UNet) a training checkpoint was trained from, checked."""
    state = _read_json(folder / CHECKPOINT_STATE_FILE)
    if not isinstance(state, dict) or "pretrained_dir" not in state:
        raise InputError(
            f"training checkpoint '{folder}' does not record its pretrained folder (written by an older "
            "magicpose): pass the run's pipeline/ folder, or resume the run to write a new checkpoint"
        )
    pretrained = Path(state["pretrained_dir"])
    for name in ("vae", "unet"):
        if not (pretrained / name).is_dir():
            raise InputError(
                f"training checkpoint '{folder}' takes its frozen models from '{pretrained}', which has "
                f"no {name}/ folder: restore that folder, or pass the run's pipeline/ folder"
            )
    if not (folder / "appearance_unet").is_dir():
        raise InputError(
            f"training checkpoint '{folder}' has no appearance_unet/ folder: pass a complete checkpoint"
        )
    return pretrained


def stored_dtype(folder: Path) -> torch.dtype | None:
    """The dtype a diffusers/transformers folder's safetensors weights are stored in (None: unknown)."""
    from safetensors import safe_open

    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                dtype = _SAFETENSORS_DTYPES.get(f.get_slice(key).get_dtype())
                if dtype is not None:
                    return dtype
    return None


def load_as_stored(cls, folder: Path, **kwargs):
    """``cls.from_pretrained(folder)`` in the dtype the weights are stored in (diffusers would load
    float32), so saving it again writes the same bits."""
    dtype = stored_dtype(folder)
    if dtype is not None:
        kwargs["dtype" if cls.__module__.startswith("transformers") else "torch_dtype"] = dtype
    return cls.from_pretrained(folder, **kwargs)


def _load_checkpoint(folder: Path, dtype: torch.dtype):
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    from magicpose.empty_prompt import load_empty_prompt_embeds
    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

    pretrained = _checkpoint_pretrained_dir(folder)
    controlnet = folder / "controlnet"
    pipe = MagicPosePipeline(
        vae=AutoencoderKL.from_pretrained(pretrained / "vae", torch_dtype=dtype),
        text_encoder=None,
        tokenizer=None,
        unet=UNet2DConditionModel.from_pretrained(pretrained / "unet", torch_dtype=dtype),
        appearance_unet=UNet2DConditionModel.from_pretrained(folder / "appearance_unet", torch_dtype=dtype),
        controlnet=ControlNetModel.from_pretrained(controlnet, torch_dtype=dtype)
        if controlnet.is_dir()
        else None,
        scheduler=MagicPosePipeline.default_scheduler(),
    )
    pipe.empty_prompt_embeds = load_empty_prompt_embeds(folder)
    return pipe


def load_pipeline(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A MagicPosePipeline from a checked local pipeline folder or training checkpoint, on ``device``/``dtype``."""
    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

    folder = check_pipeline_folder(path)
    check_component_configs(folder)
    try:
        if (folder / CHECKPOINT_STATE_FILE).is_file():
            pipe = _load_checkpoint(folder, dtype)
        else:
            pipe = MagicPosePipeline.from_pretrained(folder, local_files_only=True, dtype=dtype)
    except Exception as err:  # diffusers raises many kinds; the user needs the folder and the reason
        raise InputError(
            f"cannot load the weights in '{folder}' ({first_line(err)}): re-create or re-convert them"
        ) from err
    return pipe.to(device)


def _load_face_checkpoint(folder: Path, state: dict, dtype: torch.dtype):
    """A face-stage training checkpoint: its ``face_enhancer/`` and the frozen body generator it names."""
    from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline

    body = Path(str(state.get("body_generator")))
    if not (body / "config.json").is_file():
        raise InputError(
            f"face-stage checkpoint '{folder}' takes its body generator from '{body}', which is "
            "gone: restore that folder, or pass the run's final/ folder"
        )
    try:
        return Pose2VidPipeline(
            generator=Pose2VidGenerator.from_pretrained(body, torch_dtype=dtype),
            face_enhancer=FaceEnhancer.from_pretrained(folder / "face_enhancer", torch_dtype=dtype),
        )
    except Exception as err:
        raise InputError(
            f"cannot load the face-stage checkpoint '{folder}' ({first_line(err)}): pass a "
            "complete checkpoint"
        ) from err


def load_pose2vid_pipeline(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A :class:`~magicpose.pipelines.pipeline_pose2vid.Pose2VidPipeline` from a checked local folder: a
    pipeline folder (``magicpose convert pose2vid``, a run's ``final/``, a body-stage checkpoint) or a
    face-stage checkpoint (its face enhancer, with the frozen body generator its ``trainer_state.json``
    names)."""
    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline

    folder = Path(path)
    state = _read_json(folder / CHECKPOINT_STATE_FILE) if folder.is_dir() else None
    if isinstance(state, dict) and state.get("stage") == "pose2vid_face":
        return _load_face_checkpoint(folder, state, dtype).to(device)
    return _load_gan_pipeline(folder, Pose2VidPipeline, "pose2vid", device, dtype)


def load_vid2vid_pipeline(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A :class:`~magicpose.pipelines.pipeline_vid2vid.Vid2VidPipeline` from a checked local folder
    (``magicpose convert vid2vid``, a run's ``final/`` or a checkpoint)."""
    from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline

    return _load_gan_pipeline(Path(path), Vid2VidPipeline, "vid2vid", device, dtype)


def load_mraa_pipeline(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """An :class:`~magicpose.pipelines.pipeline_mraa.MRAAPipeline` from a checked local folder (``magicpose
    convert mraa``, a run's ``final/`` or a checkpoint)."""
    from magicpose.pipelines.pipeline_mraa import MRAAPipeline

    return _load_gan_pipeline(Path(path), MRAAPipeline, "mraa", device, dtype)


def _load_gan_pipeline(folder: Path, cls, what: str, device: str, dtype: torch.dtype):
    """A GAN pipeline folder (``generator/`` and the pipeline's ``model_index.json``), each problem one line."""
    index = _read_json(folder / "model_index.json") if folder.is_dir() else None
    found = pipeline_class_name(index) if isinstance(index, dict) else None
    if found != cls.__name__:
        held = (
            f"holds a {found}"
            if found
            else ("has no model_index.json" if folder.is_dir() else "does not exist")
        )
        raise InputError(
            f"{what} weights folder '{folder}' {held}: pass a folder made by "
            f"`magicpose convert {what}` or by {what} training"
        )
    check_component_configs(folder)
    if not (folder / "generator").is_dir():
        raise InputError(
            f"{what} weights folder '{folder}' is missing its 'generator' subfolder: copy the complete folder"
        )
    try:
        pipe = cls.from_pretrained(folder, local_files_only=True, dtype=dtype)
    except Exception as err:
        raise InputError(
            f"cannot load the {what} weights in '{folder}' ({first_line(err)}): re-create or re-convert them"
        ) from err
    return pipe.to(device)
