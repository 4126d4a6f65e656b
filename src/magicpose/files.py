"""Making output folders so that a failed run leaves no empty folder behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path


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
