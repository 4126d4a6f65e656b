"""Tests for magicpose.video."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from magicpose.errors import InputError
from magicpose.files import RECORD
from magicpose.video import (
    FrameFolderWriter,
    VideoWriter,
    atomic_outputs,
    make_preview_frame,
    read_video,
    video_info,
    write_preview_grid,
)


def _blocks(width: int, height: int, i: int) -> np.ndarray:
    """Flat colour blocks (smooth content that H.264 keeps well), varying a little with i."""
    f = np.zeros((height, width, 3), np.uint8)
    f[: height // 2, : width // 2] = (200, 40, 40)
    f[: height // 2, width // 2 :] = (40, 200, 40)
    f[height // 2 :, : width // 2] = (40, 40, 200)
    f[height // 2 :, width // 2 :] = (120 + 10 * i, 120, 60)
    return f


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_video_roundtrip(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    frames = [_blocks(64, 48, i) for i in range(5)]
    with VideoWriter(path, fps=8) as w:
        for f in frames:
            w.write(f)
    assert w.frames_written == 5
    assert os.listdir(tmp_path) == ["out.mp4"]
    info = video_info(path)
    assert info == {"frames": 5, "width": 64, "height": 48, "fps": 8.0}
    back = list(read_video(path))
    assert len(back) == 5
    for got, want in zip(back, frames):
        assert got.dtype == np.uint8 and got.shape == (48, 64, 3)
        assert _mae(got, want) < 10


def test_video_odd_size_is_padded_not_scaled(tmp_path) -> None:
    path = tmp_path / "odd.mp4"
    frames = [_blocks(63, 47, i) for i in range(3)]
    with VideoWriter(path, fps=12) as w:
        for f in frames:
            w.write(Image.fromarray(f) if w.frames_written == 1 else f)  # PIL accepted too
    info = video_info(path)
    assert (info["width"], info["height"], info["frames"]) == (64, 48, 3)
    assert info["fps"] == pytest.approx(12.0)
    back = list(read_video(path))
    for got, want in zip(back, frames):
        assert got.shape == (48, 64, 3)
        assert _mae(got[:47, :63], want) < 10


def test_video_fractional_fps(tmp_path) -> None:
    path = tmp_path / "ntsc.mp4"
    with VideoWriter(path, fps=30000 / 1001) as w:
        for i in range(3):
            w.write(_blocks(32, 32, i))
    assert video_info(path)["fps"] == pytest.approx(29.97, abs=0.01)


def test_video_failure_keeps_previous_output(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with VideoWriter(path) as w:
            w.write(_blocks(64, 48, 0))
            raise RuntimeError("boom")
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.mp4"]


def _two_frames_then_an_exception(w: VideoWriter) -> None:
    w.write(_blocks(64, 48, 0))
    w.write(_blocks(64, 48, 1))
    raise RuntimeError("boom")


def _no_frame(w: VideoWriter) -> None:
    pass


def _frames_of_two_sizes(w: VideoWriter) -> None:
    w.write(_blocks(64, 48, 0))
    w.write(_blocks(48, 64, 0))


def _a_float_frame(w: VideoWriter) -> None:
    w.write(np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize(
    "write, error, match",
    [
        (_two_frames_then_an_exception, RuntimeError, "boom"),
        (_no_frame, ValueError, "no frames"),
        (_frames_of_two_sizes, ValueError, "same size"),
        (_a_float_frame, ValueError, "uint8"),
    ],
)
def test_video_failed_write_leaves_nothing(tmp_path, write, error, match) -> None:
    """An exception in the caller's block, no frame at all, a frame of another size, a frame not uint8."""
    with pytest.raises(error, match=match):
        with VideoWriter(tmp_path / "out.mp4") as w:
            write(w)
    assert os.listdir(tmp_path) == []


def test_read_video_errors(tmp_path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(InputError, match="does not exist") as info:
        read_video(missing)  # raises at call time, not at first next()
    assert str(missing) in str(info.value)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match="cannot read video"):
        video_info(junk)


def test_frame_folder_writer_exact(tmp_path) -> None:
    folder = tmp_path / "frames"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (10, 7, 3), dtype=np.uint8) for _ in range(3)]
    with FrameFolderWriter(folder) as w:
        paths = [w.write(f) for f in frames]
    assert paths == [folder / f"{i:06d}.png" for i in range(3)]
    assert sorted(os.listdir(folder)) == [RECORD, "000000.png", "000001.png", "000002.png"]
    assert json.loads((folder / RECORD).read_text())["files"] == ["000000.png", "000001.png", "000002.png"]
    for p, f in zip(paths, frames):
        np.testing.assert_array_equal(np.asarray(Image.open(p)), f)
    assert os.listdir(tmp_path) == ["frames"]


def test_frame_folder_writer_failure_and_replace(tmp_path) -> None:
    folder = tmp_path / "frames"
    with pytest.raises(RuntimeError):
        with FrameFolderWriter(folder) as w:
            w.write(np.zeros((4, 4, 3), np.uint8))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []

    # an earlier output survives a failure and is replaced only on success
    with FrameFolderWriter(folder) as w:
        w.write(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(RuntimeError):
        with FrameFolderWriter(folder) as w:
            w.write(np.ones((4, 4, 3), np.uint8))
            raise RuntimeError("boom")
    assert sorted(os.listdir(folder)) == [RECORD, "000000.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "000000.png")), 0)
    with FrameFolderWriter(folder, pattern="f{:03d}.png") as w:
        w.write(np.full((4, 4, 3), 9, np.uint8))
    assert sorted(os.listdir(folder)) == [RECORD, "f000.png"]
    assert os.listdir(tmp_path) == ["frames"]

    # a file the user put into that folder is never deleted: the writer refuses and leaves everything as it was
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(
        InputError, match=r"'.*frames' now holds files magicpose did not write there \(notes.txt\)"
    ):
        with FrameFolderWriter(folder) as w:
            w.write(np.zeros((4, 4, 3), np.uint8))
    assert sorted(os.listdir(folder)) == [RECORD, "f000.png", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"
    assert os.listdir(tmp_path) == ["frames"]


def test_atomic_outputs_commit_and_rollback(tmp_path) -> None:
    video, frames, grid = tmp_path / "v.mp4", tmp_path / "fr", tmp_path / "g.png"
    with pytest.raises(RuntimeError):
        with atomic_outputs() as tmp:
            with (
                VideoWriter(tmp(video), atomic=False) as vw,
                FrameFolderWriter(tmp(frames), atomic=False) as fw,
            ):
                for i in range(2):
                    vw.write(_blocks(32, 32, i))
                    fw.write(_blocks(32, 32, i))
            write_preview_grid(tmp(grid), [_blocks(32, 32, 0)])
            raise RuntimeError("late failure after everything was written")
    assert os.listdir(tmp_path) == []

    with atomic_outputs() as tmp:
        with VideoWriter(tmp(video), atomic=False) as vw, FrameFolderWriter(tmp(frames), atomic=False) as fw:
            for i in range(2):
                vw.write(_blocks(32, 32, i))
                fw.write(_blocks(32, 32, i))
        write_preview_grid(tmp(grid), [_blocks(32, 32, 0)])
        assert os.listdir(tmp_path) != [] and not video.exists()  # only temporaries so far
    assert sorted(os.listdir(tmp_path)) == ["fr", "g.png", "v.mp4"]
    assert video_info(video)["frames"] == 2
    assert sorted(os.listdir(frames)) == [RECORD, "000000.png", "000001.png"]


def test_make_preview_frame() -> None:
    ref = np.full((100, 50, 3), 10, np.uint8)  # -> 64 high, 32 wide
    pose = Image.fromarray(np.full((32, 32, 3), 20, np.uint8))  # -> 64x64
    out = np.random.default_rng(3).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    prev = make_preview_frame(ref, pose, out)
    assert prev.dtype == np.uint8
    assert prev.shape == (64, 32 + 64 + 48 + 8, 3)
    np.testing.assert_array_equal(prev[:, -48:], out)
    assert (prev[:, :32] == 10).all()
    assert (prev[:, 32:36] == 0).all() and (prev[:, 100:104] == 0).all()
    assert (prev[:, 36:100] == 20).all()


def test_write_preview_grid(tmp_path) -> None:
    a = np.full((10, 20, 3), 50, np.uint8)
    b = np.full((6, 12, 3), 200, np.uint8)
    path = write_preview_grid(tmp_path / "grid.png", [a, b])
    assert os.listdir(tmp_path) == ["grid.png"]
    img = np.asarray(Image.open(path))
    assert img.shape == (10 + 4 + 6, 20, 3)
    np.testing.assert_array_equal(img[:10], a)
    assert (img[10:14] == 0).all()
    np.testing.assert_array_equal(img[14:, :12], b)
    assert (img[14:, 12:] == 0).all()


def test_outputs_carry_the_mark_that_lets_a_rerun_replace_them(tmp_path) -> None:
    from magicpose.files import check_beside, written_by_magicpose

    with VideoWriter(tmp_path / "ours.mp4") as writer:
        writer.write(_blocks(16, 16, 0))
    write_preview_grid(tmp_path / "ours.png", [_blocks(16, 16, 0)])
    Image.fromarray(_blocks(16, 16, 0)).save(tmp_path / "theirs.png")
    (tmp_path / "theirs.mp4").write_bytes(
        (tmp_path / "ours.mp4").read_bytes().replace(b"magicpose", b"othertool")
    )
    assert written_by_magicpose(tmp_path / "ours.mp4") and written_by_magicpose(tmp_path / "ours.png")
    assert not written_by_magicpose(tmp_path / "theirs.png") and not written_by_magicpose(
        tmp_path / "theirs.mp4"
    )
    assert video_info(tmp_path / "theirs.mp4")["frames"] == 1  # still a valid video: only the tag differs
    check_beside(tmp_path / "ours.png", tmp_path / "out.mp4", "--output")
    with pytest.raises(InputError, match="already exists and was not written by magicpose"):
        check_beside(tmp_path / "theirs.png", tmp_path / "out.mp4", "--output")
