"""Checkpoint folders: ``<output>/checkpoints/checkpoint-<step>/``, written atomically.

A checkpoint is written under a temporary name and committed (:func:`magicpose.files.commit`) only when
complete, so a crash during the write leaves the previous checkpoints as they were; ``--resume latest``
only ever sees complete ones. A checkpoint to resume from is checked before any step: its
``trainer_state.json`` (readable, a step, the stage of this run) and then accelerate's files, each problem
one line naming the folder. Each holds every trained tensor once: the trained modules as diffusers folders
(``appearance_unet/``, ``controlnet/``; loadable by ``from_pretrained`` and, with the run's frozen
models, by ``magicpose infer --weights <checkpoint>``), beside the rest of accelerate's state
(optimizer, RNG states), the empty-prompt embedding and ``trainer_state.json`` (the step, the stage
and the pretrained folder the frozen models come from).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file

from magicpose import files
from magicpose.errors import InputError, first_line

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
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def temporary_path(output_dir: str | Path, step: int) -> Path:
    # Deterministic, so every rank writes into the same folder.
    return checkpoint_root(output_dir) / f".checkpoint-{step}.tmp"


def finalize(tmp: Path, step: int, state: dict) -> Path:
    """Write the trainer state last, then commit: the checkpoint exists only once complete."""
    (tmp / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=2) + "\n")
    return files.commit(tmp, tmp.parent / f"checkpoint-{step}", kind="checkpoint")


def prune(output_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, and leftovers of interrupted writes. A checkpoint holding
    a file the trainer did not write there (a note the user added) is kept, with a warning naming it."""
    root = checkpoint_root(output_dir)
    for stale in root.glob(".checkpoint-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    if keep_last > 0:
        for old in list_checkpoints(output_dir)[:-keep_last]:
            # a checkpoint of an earlier version has no record: its trainer_state.json marks it as the trainer's
            foreign = files.foreign_files(old) if (old / files.RECORD).is_file() else []
            if foreign:
                print(
                    f"warning: '{old}' is kept although older than the last {keep_last}: it holds files the "
                    f"trainer did not write there ({', '.join(foreign[:3])})",
                    file=sys.stderr,
                )
                continue
            shutil.rmtree(old, ignore_errors=True)


def resolve_resume(output_dir: str | Path, resume: str | None, stage: str | None = None) -> Path | None:
    """``None`` (fresh start), ``"latest"`` (newest complete checkpoint, or a fresh start) or a path; the
    checkpoint's state is checked (:func:`check_state`) when ``stage`` is given."""
    if resume is None:
        return None
    if resume == "latest":
        found = list_checkpoints(output_dir)
        checkpoint = found[-1] if found else None
    else:
        checkpoint = Path(resume)
        if not (checkpoint / STATE_FILE).is_file():
            raise InputError(
                f"checkpoint '{checkpoint}' is not a complete checkpoint folder (no {STATE_FILE}): "
                "pass --resume latest or a checkpoints/checkpoint-<step> folder"
            )
    if checkpoint is not None and stage is not None:
        check_state(checkpoint, stage, latest=resume == "latest")
    return checkpoint


def _fix(checkpoint: Path, latest: bool) -> str:
    if latest:
        return (
            f"delete '{checkpoint}' to resume from the checkpoint before it, or pass --resume "
            "<checkpoint folder>"
        )
    return "pass another checkpoint folder to --resume, or --resume latest"


def check_state(checkpoint: Path, stage: str, latest: bool = False) -> dict:
    """The checkpoint's ``trainer_state.json``, refused in one line when damaged or of another stage."""
    path = Path(checkpoint) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
        step = state["step"]
        if (
            isinstance(step, bool)
            or not isinstance(step, int)
            or step < 0
            or not isinstance(state.get("stage"), str)
        ):
            raise ValueError("no stage, or no step that is a whole number of at least 0")
    except (OSError, ValueError, KeyError, TypeError) as err:
        reason = f"no '{err.args[0]}'" if isinstance(err, KeyError) else first_line(err)
        raise InputError(
            f"checkpoint '{checkpoint}' has a damaged {STATE_FILE} ({reason}): {_fix(checkpoint, latest)}"
        ) from None
    if state["stage"] != stage:
        raise InputError(
            f"checkpoint '{checkpoint}' was written by stage {state['stage']}, this run trains stage "
            f"{stage}: resume from a checkpoint of this stage, or choose another output_dir"
        )
    return state


def load_state(accelerator, checkpoint: Path, latest: bool = False) -> None:
    """accelerate's ``load_state`` (the trainers' load hooks included); a damaged or foreign file in the
    checkpoint (a truncated ``optimizer.bin``, weights of other shapes) is one line naming the folder."""
    try:
        accelerator.load_state(str(checkpoint))
    except InputError:
        raise
    except Exception as err:  # torch, safetensors, pickle: many kinds; the user needs the folder and the fix
        raise InputError(
            f"cannot resume from checkpoint '{checkpoint}' ({first_line(err)}): it is damaged or "
            f"was written by a run with other model settings; {_fix(checkpoint, latest)}"
        ) from None


def read_step(checkpoint: Path) -> int:
    return int(read_state(checkpoint)["step"])


def read_state(checkpoint: Path) -> dict:
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())


def check_replaceable_outputs(
    output_dir: Path,
    names: Iterable[str],
    start_step: int,
    max_steps: int,
    inputs: Iterable[str | Path | None] = (),
) -> None:
    """Before any step: the folders this run will replace at its end (``names`` in ``output_dir``, e.g.
    ``final``) and the checkpoints it will write over must hold nothing magicpose did not write, nor an input
    of the run (e.g. ``model.init_from`` pointing into this output_dir)."""
    inputs = list(inputs)
    for name in names:
        files.check_replaceable(output_dir / name, "output_dir", inputs=inputs, kind="training")
    for checkpoint in list_checkpoints(output_dir):
        if start_step < int(_NAME.match(checkpoint.name).group(1)) <= max_steps:
            files.check_replaceable(checkpoint, "output_dir", inputs=inputs, kind="checkpoint")


def check_finite(modules: dict[str, torch.nn.Module], step: int) -> None:
    """Refuse to save weights that are not all finite (a run that diverged between two loss checks). Called by
    every process: the parameters are the same on all (unlike, say, BatchNorm statistics), so all stop alike."""
    for name, module in modules.items():
        for key, tensor in module.named_parameters():
            if not torch.isfinite(tensor).all():
                raise InputError(
                    f"the {name} weights became non-finite ({key}) by step {step}: nothing of step "
                    f"{step} was saved; lower train.learning_rate or set train.max_grad_norm"
                )


def stop_if_not_finite(accelerator, bad_loss: float | None, step: int, output_dir: Path) -> None:
    """Stop every process, before the optimizer step, when any process's loss of ``step`` is not finite
    (``bad_loss``: this process's non-finite loss, or None). One small all-reduce, so that the processes agree."""
    flag = torch.tensor([0.0 if bad_loss is None else 1.0], device=accelerator.device)
    if accelerator.reduce(flag, reduction="max").item() > 0:
        raise nonfinite_loss_error(bad_loss, step, output_dir)


def nonfinite_loss_error(value: float | None, step: int, output_dir: Path) -> InputError:
    """The one line that stops a run whose loss is no longer a number."""
    shown = "non-finite (on another process)" if value is None or math.isfinite(value) else f"{value}"
    return InputError(
        f"the loss became {shown} at step {step}: lower train.learning_rate or set "
        f"train.max_grad_norm; nothing of step {step} or later was saved ({kept(output_dir)})"
    )


def kept(output_dir: Path) -> str:
    """Which checkpoint of the run is kept, for the last line of a stopped run."""
    found = list_checkpoints(output_dir)
    if not found:
        return "no checkpoint was written"
    return f"the last checkpoint kept is '{found[-1]}': resume with --resume latest"


def load_module_weights(module: torch.nn.Module, folder: Path) -> None:
    """Load a diffusers folder's safetensors (one file or shards) into ``module``, strictly, in place."""
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    files = (
        sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if index.is_file()
        else ["diffusion_pytorch_model.safetensors"]
    )
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


def save(
    accelerator,
    output_dir: str | Path,
    step: int,
    keep_last: int,
    state: dict,
    write_extra: Callable[[Path], None] | None = None,
) -> None:
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
    files.write_text_atomic(folder / f"rank-{rank}.json", json.dumps(seen))


def check_output_dir(accelerator, output_dir: Path) -> None:
    """Create ``output_dir`` (main process) and prove it writable now, not after hours of training."""
    if not accelerator.is_main_process:
        return
    try:
        files.make_parents(output_dir)
        probe = output_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise InputError(
            f"cannot write to output_dir '{output_dir}' ({err.strerror}): pass a writable output_dir"
        ) from err


def validation_videos(root: str | Path, split: str) -> list:
    """The videos validation will draw from, checked at start-up (a missing split is one line)."""
    from magicpose.data.layout import list_videos

    try:
        videos = list_videos(root, split)
    except InputError as err:
        raise InputError(f"validation (split '{split}'): {err}; or set validation.every_steps=0") from err
    if not videos or len(videos[0].frames) < 2:
        raise InputError(
            f"validation needs a video of at least 2 frames in split '{split}' of '{root}': add one, "
            "or set validation.every_steps=0"
        )
    return videos
