"""Reading an original checkpoint file into a flat ``{key: tensor}`` dict, with one-line errors.

Pickled checkpoints are loaded with ``weights_only=True`` by default: unpickling arbitrary Python
objects can run arbitrary code, so a file that needs it is refused unless the user says they trust it.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from magicpose.errors import InputError, first_line
from magicpose.files import check_regular_file

DAMAGED = "the file is truncated or damaged: download it again"


def _damaged(path: Path, err: BaseException) -> InputError:
    return InputError(f"cannot read checkpoint '{path}' ({first_line(err)}): {DAMAGED}")


def _refused_pickle(path: Path, err: BaseException) -> InputError:
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    what = f" (such as {found.group(1)})" if found else ""
    return InputError(
        f"checkpoint '{path}' holds Python objects beyond tensors{what}, which weights-only loading refuses "
        "because unpickling them can run arbitrary code: re-run with --allow-unsafe-pickle only if you trust "
        "where the file came from"
    )


def _is_refused_global(err: BaseException, path: Path) -> bool:
    """True when weights-only unpickling refused a Python object (as opposed to unreadable bytes). An unknown
    opcode ("Unsupported operand") counts only in a file that starts as a pickle does (the PROTO opcode): random
    bytes raise it too, and must not be answered with advice to unpickle them unsafely."""
    text = str(err)
    if "Weights only load failed" not in text:
        return False
    if "Unsupported global" in text or "Unsupported class" in text or "GLOBAL" in text:
        return True
    try:
        with open(path, "rb") as f:
            starts_as_pickle = f.read(1) == b"\x80"
    except OSError:
        starts_as_pickle = False
    return "Unsupported operand" in text and starts_as_pickle


def _torch_load(path: Path, allow_unsafe_pickle: bool):
    weights_only = not allow_unsafe_pickle
    if zipfile.is_zipfile(path):  # the zip format can be memory-mapped: no copy of a multi-GB file in RAM
        try:
            return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def _read(path: Path, allow_unsafe_pickle: bool):
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return _torch_load(path, allow_unsafe_pickle)


def load_checkpoint(
    path: str | Path, allow_unsafe_pickle: bool = False, nested: bool = False
) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` or ``torch.save`` file, with any nested ``state_dict`` unwrapped.

    Non-tensor entries (``global_step``, hyper-parameters) are dropped. ``nested``: a dict of state dicts (one
    per network, as MRAA's ``{"generator": {...}, "region_predictor": {...}}``) is read as one state dict with
    ``<network>.`` prefixes.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"checkpoint '{path}' does not exist: check the path")
    if path.is_dir():
        raise InputError(
            f"checkpoint '{path}' is a folder: pass the checkpoint file itself (.th, .pth, .ckpt, "
            ".safetensors)"
        )
    check_regular_file(path, "checkpoint", "pass the checkpoint file itself (.th, .pth, .ckpt, .safetensors)")
    if not os.access(path, os.R_OK):
        raise InputError(f"checkpoint '{path}' is not readable: check its permissions")
    try:
        data = _read(path, allow_unsafe_pickle)
    except pickle.UnpicklingError as err:
        if not allow_unsafe_pickle and _is_refused_global(err, path):
            raise _refused_pickle(path, err) from None
        raise _damaged(path, err) from None
    except MemoryError:
        raise
    except Exception as err:  # zip, EOF, OSError, safetensors and unpickling errors all mean unreadable bytes
        raise _damaged(path, err) from None
    while isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise InputError(
            f"checkpoint '{path}' holds a {type(data).__name__}, not a dict of tensors: pass an "
            "original checkpoint (a state dict saved with torch.save, or a .safetensors file)"
        )
    tensors = {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if nested:
        for name, part in data.items():
            if isinstance(part, dict):
                tensors.update({f"{name}.{k}": v for k, v in part.items() if isinstance(v, torch.Tensor)})
    if not tensors:
        raise InputError(
            f"checkpoint '{path}' holds no tensors: pass the model checkpoint, not a training log or "
            "an optimizer state"
        )
    return tensors
