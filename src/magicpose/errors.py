"""User-facing error types.

`InputError` is raised for problems the user can fix (a missing file, a bad size).  Its message is a
single line that names the offending file or value and says what to do, so the CLI can print it as is
and exit non-zero without a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

__all__ = ["ArgumentParser", "Cancelled", "InputError", "first_line", "print_error"]


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class InputError(ValueError):
    """A bad user input; the message is one line naming the file/value and the fix."""

    def __init__(self, message: str) -> None:
        # Collapse any embedded newlines (e.g. from a library's exception text) to keep one line, and drop the
        # terminal colour codes some libraries put in their messages.
        super().__init__(" ".join(_ANSI.sub("", str(message)).split()))


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of a library's exception message (or its type), for quoting in an InputError."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__


class Cancelled(Exception):
    """The user stopped a job (the page's Stop button); whatever it was writing has been removed."""


def print_error(message: str, prefix: str = "error") -> None:
    """Print ``<prefix>: <message>`` to stderr on a line of its own: any live tqdm bar is closed first, so the
    line never lands in the middle of a progress bar's."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        tqdm = None
    for bar in list(getattr(tqdm, "_instances", ()) or ()):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a broken bar must not hide the error itself
            pass
    print(f"{prefix}: {message}", file=sys.stderr, flush=True)


class ArgumentParser(argparse.ArgumentParser):
    """argparse in the package's error style: a bad or missing flag is one ``error:`` line naming it and pointing
    to ``--help`` (exit status 2), not argparse's usage block followed by the message. Subcommand parsers made
    with ``add_subparsers`` inherit it."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{message} (see: {self.prog} --help)")
        raise SystemExit(2)
