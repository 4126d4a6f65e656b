"""The files the program writes: atomic replacement, ownership of output folders, and checks before any work.

Atomic replacement (one implementation for every command)
---------------------------------------------------------
Every output is written under a hidden temporary sibling of its final path (same folder, so the rename is atomic
on one filesystem) and committed by :func:`commit`: each file is fsynced, then

* a file replaces the old one with ``os.replace`` (readers see the old or the new file, never a mix);
* a folder is swapped in with Linux's ``renameat2(RENAME_EXCHANGE)``, one atomic step, after which the old
  folder (now under the temporary name) is deleted. Where the exchange is unavailable (other systems, some
  filesystems) the old folder is renamed aside, the new one renamed in, then the old deleted; a crash between
  the two renames leaves the old folder complete under its aside name, and the next commit or check of that
  path (:func:`restore_aside`) puts it back.

A SIGKILL at any step therefore leaves the old or the new output complete at the final path (tested by fault
injection at every step, ``tests/test_files.py``). :func:`atomic_outputs` groups several outputs that appear
together.

Ownership: a folder the program did not write is never replaced
---------------------------------------------------------------
Every folder committed here carries a record, ``.magicpose-output.json``, listing the files written into it.
Replacing a folder is allowed only when every file in it is listed in its own record (an earlier output of the
program) or it is empty; anything else (a user's file added inside, a folder the program never wrote, a
video added into a dataset by another command, which keeps a record of its own) is refused with one line
naming the folder, before any work (:func:`check_replaceable`) and again at the swap itself. A folder is never
replaced when it is ``/``, the home folder, or holds an input of the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from magicpose.errors import InputError

PathLike = str | os.PathLike[str]
RECORD = ".magicpose-output.json"

# Fault injection for the crash tests: called with the name of each step of a commit ("written", "synced",
# "exchanged", "aside", "replaced"); a test sets it to a function that SIGKILLs the process at one of them.
fault_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if fault_hook is not None:
        fault_hook(name)


# -- temporary names ------------------------------------------------------------------------------------------


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


def _hidden_name(stem: str, tail: str) -> str:
    """``.{stem}{tail}``, the stem shortened (whole characters) so the name fits in NAME_MAX bytes."""
    room = NAME_MAX - 1 - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return f".{stem}{tail}"


def temp_sibling(path: PathLike) -> Path:
    """A fresh hidden sibling of ``path`` that keeps its suffix, e.g. ``out.mp4`` -> ``.out.1a2b3c4d.tmp.mp4``.

    The random token lets concurrent runs target the same output without clobbering each other; keeping the
    suffix lets libraries that guess the format from the name still work."""
    path = Path(path)
    return path.with_name(_hidden_name(path.stem, f".{secrets.token_hex(4)}.tmp{path.suffix}"))


def _aside_name(final: Path) -> Path:
    return final.with_name(_hidden_name(final.name, f".{secrets.token_hex(4)}.old"))


def _asides(final: Path) -> list[Path]:
    parent = final.parent if str(final.parent) else Path(".")
    prefix = _hidden_name(final.name, ".12345678.old")[: -len("12345678.old")]
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    return [
        e
        for e in entries
        if e.name.startswith(prefix)
        and e.name.endswith(".old")
        and len(e.name) == len(prefix) + 8 + len(".old")
        and e.is_dir()
        and not e.is_symlink()
    ]


def restore_aside(final: PathLike) -> None:
    """Put back a folder left under its aside name by a crash between the two renames of a replacement."""
    final = Path(final)
    if final.exists() or final.is_symlink():
        return
    found = _asides(final)
    if len(found) == 1:
        with contextlib.suppress(OSError):
            os.rename(found[0], final)


def remove_path(path: PathLike) -> None:
    """Delete a file, link or folder if present, ignoring errors (failure paths and the program's own temporaries)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            path.unlink()


# -- durability ------------------------------------------------------------------------------------------------


def _fsync(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. folders cannot be opened on Windows; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: PathLike) -> None:
    """fsync a file, or every file and folder under a folder, so that a rename after it cannot expose data
    still in the page cache after a power loss."""
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        _fsync(path)
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root) / name
            if not full.is_symlink():
                _fsync(full)
        _fsync(Path(root), directory=True)


def _fsync_parent(path: Path) -> None:
    _fsync(path.parent if str(path.parent) else Path("."), directory=True)


# -- the records of what the program wrote -------------------------------------------------------------------


def _files_under(folder: Path) -> list[str]:
    """Every non-folder entry under ``folder`` (files, links, pipes...), as POSIX paths relative to it."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
            found.append((rel / name).as_posix())
    return sorted(found)


# What each kind of output folder is, for the message that refuses to replace one kind with another.
KINDS = {
    "frames": "frames written by infer",
    "poses": "poses written by extract-poses or infer",
    "weights": "weights written by convert",
    "dataset": "a dataset written by make-synthetic",
    "video": "a video written by add-video",
    "training": "a training export",
    "checkpoint": "a checkpoint",
    "base": "stage-0 weights written by train-base",
    "reconstruction": "MRAA reconstructions written by evaluate --mode reconstruction",
}
Kind = str | tuple[str, ...] | None


def write_record(folder: PathLike, kind: str | None = None) -> Path:
    """Record every file now in ``folder`` as written by the program, and which kind of output it is (one of
    :data:`KINDS`); call it on the finished temporary."""
    from magicpose import __version__

    folder = Path(folder)
    files = [f for f in _files_under(folder) if f != RECORD]
    path = folder / RECORD
    record = {"written_by": f"magicpose {__version__}", "output": kind, "files": files}
    path.write_text(json.dumps(record, indent=0) + "\n")
    return path


RECORD_LEVELS = 4  # how far up a folder inside a recorded output (a video of a dataset) looks for its record


def foreign_files(folder: PathLike, nested: bool = False) -> list[str]:
    """The files in ``folder`` that its record does not list, relative to it, sorted: what replacing the folder
    would destroy of someone else's. The record is the folder's own or, with ``nested`` (a command that replaces
    one part of an output of the same layout: add-video replacing one video of a synthetic dataset), the nearest
    one above it; with none, or an unreadable one, every file is foreign."""
    folder = Path(folder)
    present = [f for f in _files_under(folder) if f != RECORD]
    record, prefix = _owner_record(folder, nested)
    try:
        listed = set(record["files"])
    except (KeyError, TypeError):
        listed = set()
    return [f for f in present if prefix + f not in listed]


def _owner_record(folder: Path, nested: bool) -> tuple[dict | None, str]:
    """The record that covers ``folder`` (see :func:`foreign_files`) and ``folder``'s path relative to it."""
    owner, prefix = folder, ""
    for level in range(RECORD_LEVELS + 1):
        if (owner / RECORD).is_file() or level == RECORD_LEVELS or owner.parent == owner or not nested:
            break
        prefix = f"{owner.name}/{prefix}"
        owner = owner.parent
    try:
        record = json.loads((owner / RECORD).read_text())
    except (OSError, ValueError):
        return None, prefix
    return (record if isinstance(record, dict) else None), prefix


def _other_kind(folder: Path, kind: Kind, nested: bool) -> str | None:
    """The kind recorded for ``folder`` when it is not ``kind`` (None when it is, or either is unknown)."""
    record, _ = _owner_record(folder, nested)
    recorded = record.get("output") if record else None
    wanted = (kind,) if isinstance(kind, str) else kind
    if not wanted or not isinstance(recorded, str) or recorded in wanted:
        return None
    return recorded


def _wrong_kind(folder: Path, recorded: str, kind: Kind, flag: str) -> InputError:
    wanted = kind if isinstance(kind, str) else kind[0]
    return InputError(
        f"output folder '{folder}' holds {KINDS.get(recorded, recorded)}, not "
        f"{KINDS.get(wanted, wanted)}: choose another {flag} (an output is replaced only by the "
        "command that wrote it)"
    )


def _guarded(folder: Path) -> str | None:
    """Why ``folder`` may never be replaced, or None."""
    try:
        resolved = folder.resolve()
    except (OSError, RuntimeError):
        return "its path cannot be resolved"
    if resolved == Path(resolved.anchor):
        return "it is the root folder"
    with contextlib.suppress(RuntimeError, KeyError):
        if resolved == Path.home().resolve():
            return "it is the home folder"
    return None


def _contains(folder: Path, path: Path) -> bool:
    try:
        folder, path = folder.resolve(), path.resolve()
    except (OSError, RuntimeError):
        return False
    return path == folder or folder in path.parents


def check_not_input(
    output: PathLike,
    inputs: Iterable[PathLike | None],
    flag: str,
    input_folders: Iterable[PathLike | None] = (),
) -> None:
    """Refuse an output that is, or is a folder holding, one of the run's inputs (writing it would destroy it), or
    that lies inside one of ``input_folders`` (a pose folder, a dataset: new files there would change the input)."""
    output = Path(output)
    for given in inputs:
        if given is None or str(given) == "":
            continue
        if _contains(output, Path(given)):
            what = "is" if output.resolve() == Path(given).resolve() else "holds"
            raise InputError(
                f"output '{output}' {what} the input '{given}': choose another {flag} (an input is "
                "never overwritten)"
            )
    for folder in input_folders:
        if (
            folder is not None
            and str(folder) != ""
            and Path(folder).is_dir()
            and _contains(Path(folder), output)
            and not _contains(output, Path(folder))
        ):  # the same folder is the case above
            raise InputError(
                f"output '{output}' lies inside the input folder '{folder}': choose another {flag} "
                "(files written there would become part of the input)"
            )


def check_replaceable(
    folder: PathLike,
    flag: str,
    inputs: Iterable[PathLike | None] = (),
    nested: bool = False,
    kind: Kind = None,
) -> None:
    """Refuse, before any work, to write the output folder ``folder`` where it would replace what the program did
    not write: ``/``, the home folder, a folder holding an input, a file, or an existing folder holding files
    that are not an earlier output of the program's (see the module's docstring). ``flag`` names the option that
    chose the folder, for the fix."""
    folder = Path(folder)
    restore_aside(folder)
    check_not_input(folder, inputs, flag)
    if not (folder.exists() or folder.is_symlink()):
        return
    reason = _guarded(folder)
    if reason is None and (folder.is_symlink() or not folder.is_dir()):
        reason = "it is a file, not a folder the program wrote"
    if reason is not None:
        raise InputError(f"output folder '{folder}' cannot be replaced: {reason}; choose another {flag}")
    foreign = foreign_files(folder, nested)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(
            f"output folder '{folder}' holds files magicpose did not write there ({shown}): move them "
            f"away or choose another {flag} (only an earlier output of magicpose is replaced)"
        )
    recorded = _other_kind(folder, kind, nested)
    if recorded is not None:
        raise _wrong_kind(folder, recorded, kind, flag)


# -- commits ---------------------------------------------------------------------------------------------------


def _load_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
use_exchange = _RENAMEAT2 is not None  # tests turn it off to exercise the two-rename path


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux); False where the system or filesystem cannot."""
    if not use_exchange or _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here, use the two renames
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_folder(tmp: Path, final: Path, nested: bool, kind: Kind) -> None:
    foreign = foreign_files(final, nested)
    if foreign:  # checked again at the swap: a file may have been added during the run
        raise InputError(
            f"output folder '{final}' now holds files magicpose did not write there "
            f"({', '.join(foreign[:3])}): nothing was replaced; move them away and run again"
        )
    recorded = _other_kind(final, kind, nested)
    if recorded is not None:
        raise _wrong_kind(final, recorded, kind, "output")
    if _exchange(tmp, final):
        _step("exchanged")
        _fsync_parent(final)
        shutil.rmtree(tmp, ignore_errors=True)  # the old output, now under the temporary name
        return
    old = _aside_name(final)
    os.rename(final, old)
    _step("aside")
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old, final)  # put the previous output back
        raise
    _step("replaced")
    _fsync_parent(final)
    shutil.rmtree(old, ignore_errors=True)


def commit(
    tmp: PathLike, final: PathLike, record: bool = True, nested: bool = False, kind: Kind = None
) -> Path:
    """Move the finished temporary ``tmp`` (a file or a folder) onto ``final`` atomically, as the module's docstring
    describes; a folder gets its record of written files first (``record=False`` for folders whose layout is read
    by other programs that must not see an extra file). Returns ``final``."""
    tmp, final = Path(tmp), Path(final)
    restore_aside(final)
    is_folder = tmp.is_dir() and not tmp.is_symlink()
    if is_folder and record:
        write_record(tmp, kind if isinstance(kind, str) or kind is None else kind[0])
    _step("written")
    fsync_tree(tmp)
    _step("synced")
    if is_folder and final.is_dir() and not final.is_symlink():
        reason = _guarded(final)
        if reason is not None:
            raise InputError(f"output folder '{final}' cannot be replaced: {reason}")
        _replace_folder(tmp, final, nested, kind)
    else:
        os.replace(tmp, final)
        _step("replaced")
        _fsync_parent(final)
    return final


@contextlib.contextmanager
def atomic_path(final: PathLike, record: bool = True, kind: Kind = None) -> Iterator[Path]:
    """Yield a temporary sibling path of ``final``; write a file or a folder there. On success it is committed onto
    ``final`` (:func:`commit`); on error it is deleted and ``final`` is untouched."""
    tmp = temp_sibling(final)
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    if tmp.exists() or tmp.is_symlink():
        try:
            commit(tmp, final, record=record, kind=kind)
        except BaseException:
            remove_path(tmp)
            raise


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary sibling, fsync, rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_outputs(nested: bool = False) -> Iterator[Callable[..., Path]]:
    """Several outputs that appear together: yield ``tmp(final, kind=None) -> Path``; on success every temporary that was
    created is committed onto its final path (in the order asked for; ``nested`` as for :func:`commit`), on error
    all are deleted.

    A rename that itself fails after earlier ones succeeded leaves those committed (rare: same-folder renames)."""
    pairs: list[tuple[Path, Path, Kind]] = []

    def tmp(final: PathLike, kind: Kind = None) -> Path:
        t = temp_sibling(final)
        pairs.append((t, Path(final), kind))
        return t

    try:
        yield tmp
        for t, final, kind in pairs:
            if t.exists() or t.is_symlink():
                commit(t, final, nested=nested, kind=kind)
    except BaseException:
        for t, _, _ in pairs:
            remove_path(t)
        raise


# -- files written beside a named output -----------------------------------------------------------------------
# A preview or table written beside the path the user named is replaced only when it carries magicpose's mark:
# the PNG text chunk "Software", the mp4 "comment" tag, or a Markdown comment line.
MARK = "magicpose"


def mark_text() -> str:
    from magicpose import __version__

    return f"{MARK} {__version__}"


def written_by_magicpose(path: PathLike) -> bool:
    """Whether the file ``path`` carries magicpose's mark (a file of another program, or unreadable: False)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            from PIL import Image

            with Image.open(path) as image:
                return str(image.info.get("Software", "")).startswith(MARK)
        if suffix == ".mp4":
            import av

            with av.open(os.fspath(path)) as container:
                return str(container.metadata.get("comment", "")).startswith(MARK)
        if suffix == ".md":
            return path.read_text(encoding="utf-8").rstrip().endswith(f"<!-- written by {MARK} -->")
    except Exception:  # noqa: BLE001 - whatever cannot be read as ours is not ours
        return False
    return False


def check_beside(path: PathLike, named: PathLike, flag: str) -> None:
    """Refuse, before any work, a file written beside the output named by ``flag`` (``out_preview.png`` beside
    ``out.mp4``) where a file magicpose did not write, or a folder, already stands."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_dir() and not path.is_symlink():
        raise InputError(f"'{path}' (written beside {flag} '{named}') is a folder: choose another {flag}")
    if not written_by_magicpose(path):
        raise InputError(
            f"'{path}' (written beside {flag} '{named}') already exists and was not written by "
            f"magicpose: move it away or choose another {flag}"
        )


# -- inputs that are not regular files ---------------------------------------------------------------------------


def check_regular_file(path: PathLike, what: str, fix: str) -> None:
    """Refuse a named pipe, socket or device as an input file: reading one can block forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the caller's own check names it
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise InputError(f"{what} '{path}' is {kind}, not a file: {fix}")


# -- output folders made for a run ---------------------------------------------------------------------------------
MKDIR_TRIES = (
    10  # how often make_parents looks again when another process removes a folder it is making inside
)


def make_parents(*folders: str | Path) -> list[Path]:
    """``mkdir -p`` each folder; returns the folders this call created, deepest first.

    Safe when other processes make and remove the same folders at the same time (the ranks of a multi-GPU
    ``infer-dataset`` share their output folder): a folder another process made first is not returned, so it is
    never removed as this call's own, and a parent that another process removes (the empty folder it made, in
    its clean-up) between the look and the ``mkdir`` is made again."""
    created: list[Path] = []
    for folder in map(Path, folders):
        for attempt in range(MKDIR_TRIES):
            missing = []
            f = folder
            while not f.exists():
                missing.append(f)
                f = f.parent
            made: list[Path] = []
            try:
                for f in reversed(missing):
                    try:
                        f.mkdir()
                    except FileExistsError:  # made by another process since the look: not ours
                        if not f.is_dir():
                            raise
                    else:
                        made.insert(0, f)
            except FileNotFoundError:  # a parent was removed since the look: look again
                created = made + created
                if attempt == MKDIR_TRIES - 1:
                    raise
                continue
            created = made + created
            break
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


def _probe(folder: Path, shown: Path, flag: str) -> None:
    for attempt in range(MKDIR_TRIES):
        created: list[Path] = []
        try:
            created = make_parents(folder)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".magicpose-probe-"):
                pass
            return
        except OSError as err:
            if isinstance(err, FileNotFoundError) and not folder.exists() and attempt < MKDIR_TRIES - 1:
                continue  # another process's probe removed the folder it made, found here by this one: again
            reason = err.strerror or type(err).__name__
            raise InputError(f"cannot write to '{shown}' ({reason}): choose another {flag}") from None
        finally:
            remove_if_empty(created)


def check_writable(path: Path, flag: str = "--output") -> None:
    """Fail before any work if the file ``path`` cannot be created, rather than after generating: create its folder
    and a probe file in it for real (``os.access`` says yes to root even on /proc), then remove what was made."""
    path = Path(path)
    if len(os.fsencode(path.name)) > NAME_MAX:  # checked first: even asking whether it exists fails then
        raise InputError(
            f"cannot write to '{path}' (its name is longer than {NAME_MAX} bytes): choose another {flag}"
        )
    if path.is_dir():
        raise InputError(
            f"output '{path}' is a folder: pass a file name such as {path / ('out' + (path.suffix or '.mp4'))}"
        )
    _probe(path.parent if str(path.parent) else Path("."), path, flag)


def check_writable_folder(folder: Path, flag: str = "--output") -> None:
    """As :func:`check_writable`, for an output folder: it can be created (or written into) here."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output '{folder}' is a file: pass a folder name, or choose another {flag}")
    _probe(folder, folder, flag)
