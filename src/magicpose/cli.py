"""The ``magicpose`` command: a registry of the subcommands in :mod:`magicpose.commands` (one module each,
its parser and its runner). ``infer.py``, ``python -m magicpose`` and the bash scripts are thin wrappers over
:func:`main`.

Every user error (missing file, bad folder, wrong size, unwritable output) is reported as one line
``error: ...`` naming the file and the fix, with exit status 2 and no output left behind.
"""

from __future__ import annotations

import argparse
import sys

from magicpose.commands import COMMANDS, command_module
from magicpose.errors import ArgumentParser, Cancelled, InputError, print_error


def build_parser() -> argparse.ArgumentParser:
    from magicpose import __version__

    parser = ArgumentParser(prog="magicpose", description="Pose retargeting with MagicPose.")
    parser.add_argument("--version", action="version", version=f"magicpose {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = command_module(name)
        command = module.add_parser(sub)
        command.set_defaults(run=module.run, command_parser=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(sys.argv[1:] if argv is None else list(argv))
    if unknown:  # said by the subcommand's parser, so that the line points to its --help
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.run(args)
    except InputError as err:
        print_error(str(err))
        return 2
    except (KeyboardInterrupt, Cancelled):
        print_error("no output was written", prefix="interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
