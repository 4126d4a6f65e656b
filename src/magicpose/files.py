"""Making output folders so that a failed run leaves no empty folder behind, and checking them first."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from magicpose.errors import InputError


def make_parents(*folders: str | Path) -> list[Path]:
    """``mkdir -p`` each folder; returns the folders that did not exist before, deepest first."""
    created: list[Path] = []
    for folder in map(Path, folders):
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for f in reversed(missing):
            f.mkdir(exist_ok=True)
        created = missing + created
    return created


def remove_if_empty(folders: Iterable[Path]) -> None:
    """``rmdir`` each folder in order (deepest first), leaving any that is not empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def parents_removed_on_error(*folders: str | Path) -> Iterator[None]:
    """Create ``folders`` (and their parents); if the block fails, remove those it created that stay empty."""
    created = make_parents(*folders)
    try:
        yield
    except BaseException:
        remove_if_empty(created)
        raise


def check_writable(path: Path) -> None:
    """Fail before any work if ``path`` cannot be created, rather than after generating: create its folder and
    a probe file in it for real (``os.access`` says yes to root even on /proc), then remove what was made."""
    if path.is_dir():
        raise InputError(f"output '{path}' is a folder: pass a file name such as {path / 'out.mp4'}")
    parent = path.parent if str(path.parent) else Path(".")
    created: list[Path] = []
    try:
        created = make_parents(parent)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".magicpose-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InputError(f"cannot write to '{path}' ({reason}): choose another --output") from None
    finally:
        remove_if_empty(created)
