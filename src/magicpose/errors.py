"""User-facing error types.

`InputError` is raised for problems the user can fix (a missing file, a bad size).  Its message is a
single line that names the offending file or value and says what to do, so the CLI can print it as is
and exit non-zero without a traceback.
"""

from __future__ import annotations

__all__ = ["Cancelled", "InputError", "first_line"]


class InputError(ValueError):
    """A bad user input; the message is one line naming the file/value and the fix."""

    def __init__(self, message: str) -> None:
        # Collapse any embedded newlines (e.g. from a library's exception text) to keep one line.
        super().__init__(" ".join(str(message).split()))


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of a library's exception message (or its type), for quoting in an InputError."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__


class Cancelled(Exception):
    """The user stopped a job (the page's Stop button); whatever it was writing has been removed."""
