"""Checkpoint folders: ``<output>/checkpoints/checkpoint-<step>/``, written atomically.

A checkpoint is written under a temporary name and renamed only when complete, so a crash during
the write leaves the previous checkpoints as they were; ``--resume latest`` only ever sees complete
ones. Each holds every trained tensor once: the trained modules as diffusers folders
(``appearance_unet/``, ``controlnet/``; loadable by ``from_pretrained`` and, with the run's frozen
models, by ``magicpose infer --weights <checkpoint>``), beside the rest of accelerate's state
(optimizer, RNG states), the empty-prompt embedding and ``trainer_state.json`` (the step, the stage
and the pretrained folder the frozen models come from).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from magicpose.errors import InputError

STATE_FILE = "trainer_state.json"
# Fault injection for the resume tests: "sigkill-after-step:N" or "sigkill-in-checkpoint:N".
FAULT_ENV = "MAGICPOSE_FAULT"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def temporary_path(output_dir: str | Path, step: int) -> Path:
    # Deterministic, so every rank writes into the same folder.
    return checkpoint_root(output_dir) / f".checkpoint-{step}.tmp"


def finalize(tmp: Path, step: int, state: dict) -> Path:
    """Write the trainer state last, then rename: the checkpoint exists only once complete."""
    (tmp / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=2) + "\n")
    final = tmp.parent / f"checkpoint-{step}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def prune(output_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, and leftovers of interrupted writes."""
    root = checkpoint_root(output_dir)
    for stale in root.glob(".checkpoint-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    if keep_last > 0:
        for old in list_checkpoints(output_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)


def resolve_resume(output_dir: str | Path, resume: str | None) -> Path | None:
    """``None`` (fresh start), ``"latest"`` (newest complete checkpoint, or a fresh start) or a path."""
    if resume is None:
        return None
    if resume == "latest":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise InputError(f"checkpoint '{path}' is not a complete checkpoint folder (no {STATE_FILE}): "
                         "pass --resume latest or a checkpoints/checkpoint-<step> folder")
    return path


def read_step(checkpoint: Path) -> int:
    return int(read_state(checkpoint)["step"])


def read_state(checkpoint: Path) -> dict:
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())


def load_module_weights(module: torch.nn.Module, folder: Path) -> None:
    """Load a diffusers folder's safetensors (one file or shards) into ``module``, strictly, in place."""
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() \
        else ["diffusion_pytorch_model.safetensors"]
    state = {}
    for name in files:
        state.update(load_file(str(folder / name)))
    module.load_state_dict(state, strict=True)


def fault(kind: str, step: int) -> None:
    """Kill this process at the point named by ``$MAGICPOSE_FAULT`` (tests of crash safety)."""
    if os.environ.get(FAULT_ENV) == f"{kind}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def due(step: int, every: int, max_steps: int) -> bool:
    """Whether a checkpoint is written after ``step``: every ``every`` steps and at the last (0: never)."""
    return bool(every) and (step % every == 0 or step == max_steps)


def save(accelerator, output_dir: str | Path, step: int, keep_last: int, state: dict,
         write_extra: Callable[[Path], None] | None = None) -> None:
    """Write ``checkpoint-<step>`` with every rank: accelerate's state (the trainers' save hooks put the
    trained networks there), then on the main process ``write_extra(folder)``, then ``trainer_state.json``
    and the rename. A crash at any point leaves the previous checkpoints complete."""
    tmp = temporary_path(output_dir, step)
    if accelerator.is_main_process:
        prune(output_dir, keep_last=0)  # leftovers of an interrupted write
        tmp.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if write_extra is not None:
            write_extra(tmp)
        fault("sigkill-in-checkpoint", step)
        finalize(tmp, step, state)
        prune(output_dir, keep_last)
    accelerator.wait_for_everyone()


def write_seen_samples(output_dir: str | Path, rank: int, seen: list[int]) -> None:
    """The dataset indices one process trained on (``logging.record_samples``), for the sharding tests."""
    folder = Path(output_dir) / "seen_samples"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank-{rank}.json").write_text(json.dumps(seen))


def check_output_dir(accelerator, output_dir: Path) -> None:
    """Create ``output_dir`` (main process) and prove it writable now, not after hours of training."""
    if not accelerator.is_main_process:
        return
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write to output_dir '{output_dir}' ({err.strerror}): pass a writable output_dir") \
            from err


def validation_videos(root: str | Path, split: str) -> list:
    """The videos validation will draw from, checked at start-up (a missing split is one line)."""
    from magicpose.data.layout import list_videos

    try:
        videos = list_videos(root, split)
    except InputError as err:
        raise InputError(f"validation (split '{split}'): {err}; or set validation.every_steps=0") from err
    if not videos or len(videos[0].frames) < 2:
        raise InputError(f"validation needs a video of at least 2 frames in split '{split}' of '{root}': add one, "
                         "or set validation.every_steps=0")
    return videos
