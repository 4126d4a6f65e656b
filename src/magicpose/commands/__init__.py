"""The ``magicpose`` subcommands: one module each, holding its parser (``add_parser(subparsers)``, which returns
the subcommand's parser) and its runner (``run(args) -> exit status``). ``magicpose.cli`` builds the command
from :data:`COMMANDS`; a module imports what it needs to run inside ``run``, so ``magicpose --help`` stays fast.

Errors a user can fix raise :class:`magicpose.errors.InputError` (one ``error:`` line, exit status 2); the
training commands report theirs themselves (:mod:`magicpose.commands.training_runs`).
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

# In the order ``magicpose --help`` lists them.
COMMANDS = (
    "infer",
    "extract-poses",
    "infer-dataset",
    "make-synthetic",
    "add-video",
    "convert",
    "evaluate",
    "ui",
    "train",
    "train-base",
    "train-pose2vid",
    "train-vid2vid",
    "train-mraa",
)


def keywords(args: argparse.Namespace, *names: str) -> dict:
    """The parsed values of the flags ``names`` (their ``dest``), as keyword arguments of the same names."""
    return {name: getattr(args, name) for name in names}


def command_module(name: str) -> ModuleType:
    """The module of subcommand ``name`` (``infer-dataset`` -> ``magicpose.commands.infer_dataset``)."""
    return importlib.import_module(f"magicpose.commands.{name.replace('-', '_')}")
