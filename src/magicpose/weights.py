"""Loading a MagicPose pipeline folder from a local path, with one-line errors for bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from magicpose.errors import InputError, first_line

REQUIRED_COMPONENTS = ("vae", "unet", "appearance_unet", "controlnet", "scheduler")
# May be saved as null: a converted checkpoint stores the empty-prompt embedding instead.
OPTIONAL_COMPONENTS = ("text_encoder", "tokenizer")
INFO_FILE = "magicpose_info.json"  # optional: what these weights are (e.g. random demo weights)


def _read_json(path: Path):
    """The parsed JSON of ``path``, or None when it cannot be read or parsed (an informational file)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def check_pipeline_folder(path: str | Path) -> Path:
    """Raise :class:`InputError` unless ``path`` looks like a saved ``MagicPosePipeline``."""
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"weights folder '{folder}' {what}: pass a folder made by "
                         "MagicPosePipeline.save_pretrained or `magicpose convert`")
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        single = folder / "config.json"
        if single.is_file():
            config = _read_json(single)
            kind = config.get("_class_name", "a single model") if isinstance(config, dict) else "a single model"
            raise InputError(f"weights folder '{folder}' holds one model ({kind}), not a MagicPose pipeline: "
                             "pass the pipeline folder that contains model_index.json")
        raise InputError(f"weights folder '{folder}' has no model_index.json: pass a folder made by "
                         "MagicPosePipeline.save_pretrained or `magicpose convert`")
    try:
        index = json.loads(index_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read '{index_file}' ({err}): the weights folder is damaged, re-create it") from err
    if not isinstance(index, dict):
        raise InputError(f"'{index_file}' is not a JSON object: the weights folder is damaged, re-create it")
    if index.get("_class_name") != "MagicPosePipeline":
        raise InputError(f"weights folder '{folder}' holds a {index.get('_class_name')}, not a MagicPosePipeline: "
                         "convert the checkpoint with `magicpose convert`")
    for name in REQUIRED_COMPONENTS + OPTIONAL_COMPONENTS:
        if name not in index:
            raise InputError(f"weights folder '{folder}' lacks the '{name}' component in model_index.json: "
                             "re-save the complete pipeline")
        saved_as_none = isinstance(index[name], list) and index[name][:1] == [None]
        if name in OPTIONAL_COMPONENTS and saved_as_none:
            continue
        if not (folder / name).is_dir():
            raise InputError(f"weights folder '{folder}' is missing its '{name}' subfolder: copy the complete "
                             "pipeline folder")
    return folder


def weights_description(path: str | Path) -> str | None:
    info = Path(path) / INFO_FILE
    if not info.is_file():
        return None
    data = _read_json(info)
    return data.get("description") if isinstance(data, dict) else None


def load_pipeline(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """``MagicPosePipeline.from_pretrained`` on a checked local folder, moved to ``device``/``dtype``."""
    from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

    folder = check_pipeline_folder(path)
    try:
        pipe = MagicPosePipeline.from_pretrained(folder, local_files_only=True, dtype=dtype)
    except Exception as err:  # diffusers raises many kinds; the user needs the folder and the reason
        raise InputError(f"cannot load the weights in '{folder}' ({first_line(err)}): re-create or re-convert them") from err
    return pipe.to(device)
