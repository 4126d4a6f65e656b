"""Writing converted weights: dtype casting, the info file, and an all-or-nothing output folder."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from magicpose.errors import InputError
from magicpose.files import (
    atomic_path,
    check_not_input,
    check_replaceable,
    check_writable_folder,
    parents_removed_on_error,
)
from magicpose.weights import INFO_FILE  # its "description" is shown when the weights are used

DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """None keeps the stored dtype of each tensor."""
    if dtype is None or isinstance(dtype, torch.dtype) and dtype in DTYPE_NAMES:
        return dtype
    if isinstance(dtype, str) and dtype.lower() in DTYPES:
        return DTYPES[dtype.lower()]
    raise InputError(
        f"unknown dtype {dtype!r}: choose fp32, fp16 or bf16 (or leave it out to keep the stored one)"
    )


def cast(tensors: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Floating tensors in ``dtype``, contiguous, each with storage of its own (safetensors requires both)."""
    out, seen = {}, set()
    for key, tensor in tensors.items():
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensor = tensor.contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen:  # views of one storage in the original file would be refused when saving
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        out[key] = tensor
    return out


def stored_dtype(tensors: dict[str, torch.Tensor]) -> torch.dtype:
    """The dtype most of the floating tensors have."""
    counts: dict[torch.dtype, int] = {}
    for t in tensors.values():
        if t.is_floating_point():
            counts[t.dtype] = counts.get(t.dtype, 0) + t.numel()
    return max(counts, key=counts.get) if counts else torch.float32


def check_output(output_dir: str | Path, overwrite: bool, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Refuse, before any work, an output that is or holds an input, exists (unless ``overwrite``, which replaces
    only an earlier output of magicpose), or cannot be written."""
    out = Path(output_dir)
    check_not_input(out, inputs, "output folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"output '{out}' is a file: pass a folder name for the converted weights")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(
                f"output folder '{out}' already exists and is not empty: choose another folder, or pass "
                "--overwrite to replace it"
            )
        check_replaceable(out, "output folder", inputs, kind="weights")
    check_writable_folder(out, "output folder")
    return out


@contextlib.contextmanager
def staged_output(
    output_dir: str | Path, overwrite: bool, inputs: Iterable[str | Path | None] = ()
) -> Iterator[Path]:
    """Yield a temporary sibling folder that becomes ``output_dir`` only if the block succeeds
    (``magicpose.files.atomic_path``): on any error it is removed, with any parent folder this made, so no partial
    output is ever left; an existing output is replaced only once the new one is complete."""
    out = check_output(output_dir, overwrite, inputs)
    with parents_removed_on_error(out.parent), atomic_path(out, kind="weights") as tmp:
        tmp.mkdir()
        yield tmp


def write_info(
    folder: Path,
    *,
    mode: str,
    source: Path,
    kind: str,
    description: str,
    dtype: torch.dtype | None,
    configs: dict[str, str],
    ignored: list[str],
    unexpected: list[str],
    filled: dict[str, str],
    extra: dict | None = None,
) -> Path:
    """``magicpose_info.json``: what was converted, from what, how; ``extra`` adds mode-specific entries."""
    info = {
        "kind": "converted",
        "description": f"{description} converted from {source.name} by magicpose convert {mode}",
        "source": source.name,
        "source_kind": kind,
        "mode": mode,
        "dtype": DTYPE_NAMES.get(dtype, "as stored"),
        "configs": configs,
        "ignored_keys": ignored,
        "unexpected_keys": unexpected,
        "filled": filled,
        **(extra or {}),
    }
    path = folder / INFO_FILE
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path
