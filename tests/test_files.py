"""The one atomic-write module (magicpose.files): a SIGKILL at every step of a replacement leaves the old or the
new output complete; an output folder holding anything the program did not write is never replaced."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from magicpose import files
from magicpose.errors import InputError
from magicpose.files import (
    RECORD,
    atomic_outputs,
    atomic_path,
    check_not_input,
    check_regular_file,
    check_replaceable,
    commit,
    foreign_files,
    restore_aside,
    write_bytes_atomic,
)

FILE_STEPS = ["written", "synced", "replaced"]
FOLDER_STEPS = {True: ["written", "synced", "exchanged"], False: ["written", "synced", "aside", "replaced"]}


def _write_folder(folder: Path, tag: str, n: int = 5) -> None:
    folder.mkdir()
    for i in range(n):
        (folder / f"{i:06d}.png").write_text(f"{tag} frame {i}")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.json").write_text(f"{tag} deep")


def _folder_state(folder: Path) -> str | None:
    """'old' or 'new' when ``folder`` holds exactly one complete version, else a description of the mix."""
    if not folder.is_dir():
        return None
    names = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != RECORD
    )
    for tag, n in (("old", 5), ("new", 3)):
        expected = sorted([f"{i:06d}.png" for i in range(n)] + ["sub/deep.json"])
        if (
            names == expected
            and all((folder / f"{i:06d}.png").read_text() == f"{tag} frame {i}" for i in range(n))
            and (folder / "sub" / "deep.json").read_text() == f"{tag} deep"
        ):
            return tag
    return f"mixed: {names}"


def _killed_at(step: str, action) -> bool:
    """Run ``action`` in a forked child that SIGKILLs itself when the commit reaches ``step``; True if it did."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest

        def hook(name: str) -> None:
            if name == step:
                os.kill(os.getpid(), signal.SIGKILL)

        files.fault_hook = hook
        try:
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.parametrize("step", FILE_STEPS)
def test_sigkill_at_each_step_of_a_file_replacement_leaves_old_or_new(tmp_path, step) -> None:
    final = tmp_path / "out.json"
    final.write_text("old " * 1000)
    assert _killed_at(step, lambda: write_bytes_atomic(final, b"new " * 2000))
    assert final.read_text() in ("old " * 1000, "new " * 2000)
    assert final.read_text() == ("new " * 2000 if step == "replaced" else "old " * 1000)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_sigkill_at_each_step_of_a_folder_replacement_leaves_old_or_new(
    tmp_path, monkeypatch, exchange
) -> None:
    if exchange and not files.use_exchange:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this system")
    monkeypatch.setattr(files, "use_exchange", exchange)
    seen = []
    for step in FOLDER_STEPS[exchange]:
        case = tmp_path / step
        case.mkdir()
        final = case / "frames"
        with atomic_path(final) as tmp:
            _write_folder(tmp, "old")

        def replace(final=final) -> None:
            with atomic_path(final) as tmp:
                _write_folder(tmp, "new", n=3)

        assert _killed_at(step, replace), step
        if step == "aside":  # between the two renames: the old folder is complete under its aside name
            assert not final.exists()
            [aside] = [p for p in case.iterdir() if p.name.endswith(".old")]
            assert _folder_state(aside) == "old"
            restore_aside(final)  # what the next check or commit of that path does first
        seen.append(_folder_state(final))
    expected = {True: ["old", "old", "new"], False: ["old", "old", "old", "new"]}[exchange]
    assert seen == expected


def test_sigkill_while_writing_leaves_the_old_output(tmp_path) -> None:
    final = tmp_path / "frames"
    with atomic_path(final) as tmp:
        _write_folder(tmp, "old")

    def half_written() -> None:
        with atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "000000.png").write_text("new frame 0")
            os.kill(os.getpid(), signal.SIGKILL)

    assert _killed_at("never", half_written)
    assert _folder_state(final) == "old"


def test_replace_keeps_the_record_and_swaps_an_earlier_output(tmp_path) -> None:
    final = tmp_path / "frames"
    with atomic_path(final) as tmp:
        _write_folder(tmp, "old")
    record = json.loads((final / RECORD).read_text())
    assert record["files"] == [
        "000000.png",
        "000001.png",
        "000002.png",
        "000003.png",
        "000004.png",
        "sub/deep.json",
    ]
    assert foreign_files(final) == []
    with atomic_path(final) as tmp:
        _write_folder(tmp, "new", n=3)
    assert _folder_state(final) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no temporary or old copy left


def test_a_users_file_inside_an_output_folder_is_never_deleted(tmp_path) -> None:
    final = tmp_path / "frames"
    with atomic_path(final) as tmp:
        _write_folder(tmp, "old")
    (final / "sub" / "my notes.txt").write_text("mine")
    with pytest.raises(InputError) as err:
        check_replaceable(final, "--output")
    assert str(err.value) == (
        f"output folder '{final}' holds files magicpose did not write there (sub/my notes.txt): "
        "move them away or choose another --output (only an earlier output of magicpose is "
        "replaced)"
    )
    # and at the swap itself, for a file added while the run was working
    with pytest.raises(InputError, match="now holds files magicpose did not write there"):
        with atomic_path(final) as tmp:
            _write_folder(tmp, "new", n=3)
    assert (final / "sub" / "my notes.txt").read_text() == "mine"
    assert (
        _folder_state(final)
        == "mixed: ['000000.png', '000001.png', '000002.png', '000003.png', '000004.png', "
        "'sub/deep.json', 'sub/my notes.txt']"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_folders_the_program_did_not_write_are_refused(tmp_path, monkeypatch) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "a.png").write_text("x")
    with pytest.raises(InputError, match=r"holds files magicpose did not write there \(a.png\)"):
        check_replaceable(theirs, "--output")
    (theirs / RECORD).write_text("not json")  # a damaged record proves nothing
    with pytest.raises(InputError, match=r"\(a.png\)"):
        check_replaceable(theirs, "--output")
    many = tmp_path / "many"
    many.mkdir()
    for i in range(5):
        (many / f"{i}.txt").write_text("x")
    with pytest.raises(InputError, match=r"\(0.txt, 1.txt, 2.txt and 2 more\)"):
        check_replaceable(many, "-o")
    empty = tmp_path / "empty"
    empty.mkdir()
    check_replaceable(empty, "--output")  # nothing to lose
    check_replaceable(tmp_path / "new", "--output")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(
        InputError, match="it is a file, not a folder the program wrote; choose another --output"
    ):
        check_replaceable(a_file, "--output")
    with pytest.raises(InputError, match="it is the root folder"):
        check_replaceable("/", "--output")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(InputError, match="it is the home folder"):
        check_replaceable(home, "--output")


def test_a_folder_added_by_another_command_keeps_its_own_record_and_is_foreign(tmp_path) -> None:
    dataset = tmp_path / "data"
    with atomic_path(dataset) as tmp:
        (tmp / "train_set" / "vid_0000").mkdir(parents=True)
        (tmp / "train_set" / "vid_0000" / "0000.png").write_text("x")
    with atomic_path(dataset / "train_set" / "my_dance") as tmp:  # add-video's own output, its own record
        tmp.mkdir()
        (tmp / "000000.png").write_text("y")
    assert foreign_files(dataset / "train_set" / "my_dance") == []
    assert foreign_files(dataset) == [f"train_set/my_dance/{RECORD}", "train_set/my_dance/000000.png"]
    # for a command replacing one video of it (nested), a video inside the dataset is covered by the dataset's
    # record, a file added into it is not; for any other command the part of a recorded output is foreign
    assert foreign_files(dataset / "train_set" / "vid_0000", nested=True) == []
    assert foreign_files(dataset / "train_set" / "vid_0000") == ["0000.png"]
    (dataset / "train_set" / "vid_0000" / "extra.png").write_text("z")
    assert foreign_files(dataset / "train_set" / "vid_0000", nested=True) == ["extra.png"]
    assert foreign_files(tmp_path) == sorted(
        f"data/{f}"
        for f in [
            RECORD,
            "train_set/vid_0000/0000.png",
            "train_set/vid_0000/extra.png",
            f"train_set/my_dance/{RECORD}",
            "train_set/my_dance/000000.png",
        ]
    )


def test_outputs_that_are_or_hold_an_input_are_refused(tmp_path) -> None:
    video = tmp_path / "dance.mp4"
    video.write_bytes(b"v")
    with pytest.raises(InputError) as err:
        check_not_input(tmp_path / "dance.mp4", [None, video], "--output")
    assert str(err.value) == (
        f"output '{tmp_path / 'dance.mp4'}' is the input '{video}': choose another --output "
        "(an input is never overwritten)"
    )
    with pytest.raises(InputError, match=f"output '{tmp_path}' holds the input"):
        check_replaceable(tmp_path, "--output", inputs=[video])
    check_not_input(tmp_path / "other.mp4", [video], "--output")


def test_atomic_outputs_all_or_nothing(tmp_path) -> None:
    with pytest.raises(RuntimeError):
        with atomic_outputs() as tmp:
            tmp(tmp_path / "a.txt").write_text("a")
            tmp(tmp_path / "b").mkdir()
            raise RuntimeError("late")
    assert list(tmp_path.iterdir()) == []
    with atomic_outputs() as tmp:
        tmp(tmp_path / "a.txt").write_text("a")
        tmp(tmp_path / "b").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b"]
    assert (tmp_path / "a.txt").read_text() == "a"


def test_commit_of_a_file_onto_a_file(tmp_path) -> None:
    final = tmp_path / "x.bin"
    final.write_bytes(b"old")
    tmp = tmp_path / ".x.tmp"
    tmp.write_bytes(b"new")
    assert commit(tmp, final) == final and final.read_bytes() == b"new" and not tmp.exists()


def test_named_pipes_and_sockets_are_refused_as_input_files(tmp_path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as err:
        check_regular_file(fifo, "reference image", "pass an image file")
    assert str(err.value) == f"reference image '{fifo}' is a named pipe, not a file: pass an image file"
    sock_path = tmp_path / "s.mp4"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(InputError, match="is a socket, not a file"):
            check_regular_file(sock_path, "video", "pass a video file")
    with pytest.raises(InputError, match="is a device, not a file"):
        check_regular_file("/dev/null", "video", "pass a video file")
    check_regular_file(tmp_path, "folder", "unused")  # folders and missing paths are the callers' to name
    check_regular_file(tmp_path / "missing", "x", "unused")


def test_temporary_and_aside_names_fit_the_file_system_for_long_names(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(files, "use_exchange", False)
    final = tmp_path / ("é" * 120 + ".d")  # 242 bytes: its temporary and aside names must be shortened
    assert len(os.fsencode(files.temp_sibling(final).name)) <= 255
    assert files.temp_sibling(final).name.endswith(".tmp.d")
    with atomic_path(final) as tmp:
        _write_folder(tmp, "old")

    def replace() -> None:
        with atomic_path(final) as tmp:
            _write_folder(tmp, "new", n=3)

    assert _killed_at("aside", replace)
    assert not final.exists()
    restore_aside(final)
    assert _folder_state(final) == "old"
    replace()
    assert _folder_state(final) == "new"
    # only the killed run's unfinished temporary is left beside it (hidden; its name is shortened too)
    assert sorted(p.name.endswith(".tmp.d") for p in tmp_path.iterdir()) == [False, True]


def test_an_output_is_replaced_only_by_the_kind_that_wrote_it(tmp_path) -> None:
    final = tmp_path / "out"
    with atomic_path(final, kind="dataset") as tmp:
        _write_folder(tmp, "old")
    assert json.loads((final / RECORD).read_text())["output"] == "dataset"
    check_replaceable(final, "--output", kind="dataset")
    check_replaceable(final, "--output", kind=("video", "dataset"))
    check_replaceable(final, "--output")  # no kind asked for: any earlier output of magicpose
    with pytest.raises(InputError) as err:
        check_replaceable(final, "--output", kind="frames")
    assert str(err.value) == (
        f"output folder '{final}' holds a dataset written by make-synthetic, not frames written "
        "by infer: choose another --output (an output is replaced only by the command that "
        "wrote it)"
    )
    with pytest.raises(InputError, match="holds a dataset written by make-synthetic, not frames"):
        with atomic_path(final, kind="frames") as tmp:  # and at the swap itself
            _write_folder(tmp, "new", n=3)
    assert _folder_state(final) == "old"
