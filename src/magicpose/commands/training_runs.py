"""What the training commands share around a run: one line and exit status 2 for a bad input (a config, a
checkpoint, a loss that stops being a number), one ``interrupted:`` line and 130 for Ctrl-C, and no output
folder left behind empty by a run that failed.

Used by ``magicpose train`` (and ``train_appearance.py``, ``train_pose_control.py``), ``train-pose2vid``
(``train_pose2vid.py``), ``train-vid2vid`` (``train_vid2vid.py``) and ``train-base`` (``train_base.py``), with
the parser plumbing these commands share."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path

from magicpose import files
from magicpose.errors import InputError, print_error

# What a failed run wrote into an output_dir it created, and that is of no use without a checkpoint: removed,
# so that the folder is removed too when nothing else is in it.
BOOKKEEPING = ("config.yaml", ".write-test")


def _missing(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not (folder.exists() or folder.is_symlink()):
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    return missing


def discard_unused(output_dir: Path, created: list[Path]) -> None:
    """After a failed run: when this run created ``output_dir`` and left no checkpoint in it, remove its own
    bookkeeping (the config copy, leftovers of an unfinished checkpoint) and then every folder it created that
    is empty. A folder that existed before the run is never touched."""
    from magicpose.training import checkpoints

    if output_dir not in created or checkpoints.list_checkpoints(output_dir):
        return
    for name in BOOKKEEPING:
        with contextlib.suppress(OSError):
            (output_dir / name).unlink()
    root = checkpoints.checkpoint_root(output_dir)
    for stale in root.glob(".checkpoint-*.tmp"):
        files.remove_path(stale)
    files.remove_if_empty([root, output_dir / "logs", *created])


def run_training(load: Callable[[], object], start: Callable[[object], None]) -> int:
    """``load()`` the config (an object with ``output_dir``), then ``start(cfg)`` the run; returns the exit
    status: 0, 2 (one ``error:`` line) or 130 (Ctrl-C, one ``interrupted:`` line naming the checkpoint kept).
    A run that fails leaves no output folder of its own empty behind (:func:`discard_unused`)."""
    output_dir: Path | None = None
    created: list[Path] = []
    try:
        cfg = load()
        output_dir = Path(cfg.output_dir)
        created = _missing(output_dir)
        start(cfg)
    except InputError as err:
        _discard(output_dir, created)
        print_error(str(err))
        return 2
    except KeyboardInterrupt:
        _discard(output_dir, created)
        print_error(interrupted(output_dir), prefix="interrupted")
        return 130
    except BaseException:
        _discard(output_dir, created)
        raise
    return 0


def _discard(output_dir: Path | None, created: list[Path]) -> None:
    if output_dir is not None:
        discard_unused(output_dir, created)


def interrupted(output_dir: Path | None) -> str:
    if output_dir is None:
        return "training stopped before it started; nothing was written"
    from magicpose.training import checkpoints

    found = checkpoints.list_checkpoints(output_dir)
    if not found:
        return "training stopped; no checkpoint was written, nothing was exported"
    return (
        f"training stopped; the last checkpoint kept is '{found[-1]}': resume with --resume latest "
        "(nothing was exported)"
    )


# -- what the training command modules share around their parsers and trainers ---------------------------------


def add_training_parser(
    subparsers, name: str, summary: str, description: str, add_arguments: Callable
) -> argparse.ArgumentParser:
    """The ``magicpose <name>`` subcommand: ``summary`` is its line in ``magicpose --help``."""
    parser = subparsers.add_parser(
        name, help=f"{summary} (see: magicpose {name} --help)", description=description
    )
    add_arguments(parser)
    return parser


def script_main(description: str, add_arguments: Callable, run: Callable, argv: list[str] | None) -> int:
    """A ``train_*.py`` script: the subcommand's own flags, without the subcommand."""
    from magicpose.errors import ArgumentParser

    parser = ArgumentParser(description=description)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def describe_and_train(trainer, describe: Callable, fixed_part: str | None = None) -> None:
    """Print what the run trains (``describe(trainer)``) and train. ``fixed_part``: what
    ``train.fix_global_steps`` holds fixed, warned about when no ``model.init_from`` trained it before."""
    cfg, acc = trainer.cfg, trainer.accelerator
    acc.print(describe(trainer))
    if fixed_part and cfg.train.fix_global_steps and not cfg.model.init_from and trainer.global_step == 0:
        acc.print(f"warning: train.fix_global_steps without model.init_from holds {fixed_part}")
    trainer.train()
