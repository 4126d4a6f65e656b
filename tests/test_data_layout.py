"""Tests for magicpose.data.layout: TikTok-layout listing, pairing frames and pose maps by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from magicpose.data.layout import FramePair, list_videos
from magicpose.errors import InputError


def _img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path)
    return path


def _video(
    root: Path, name: str, frames: list[str], poses: list[str] | None = None, split: str = "test"
) -> None:
    """Image files `frames` in <root>/<split>_set/<name>/, pose files `poses` (default: the same) beside."""
    for f in frames:
        _img(root / f"{split}_set" / name / f)
    for f in frames if poses is None else poses:
        _img(root / f"pose_map_{split}_set" / name / f)


def _refusal(root: Path) -> str:
    """The message of the InputError that listing ``root``'s test split raises: one line."""
    with pytest.raises(InputError) as excinfo:
        list_videos(root, "test")
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


def test_frames_pair_by_name_in_natural_order(tmp_path) -> None:
    _video(tmp_path, "vid10", ["0001.png", "0002.png"])
    # frames 1, 2, 10 (natural order, not 1, 10, 2); the pose of frame 2 is a .jpg: matched by stem
    _video(tmp_path, "vid2", ["10.png", "2.png", "1.png"], ["1.png", "10.png", "2.jpg"])
    # hidden and non-image files are ignored on both sides
    (tmp_path / "test_set" / "vid2" / ".DS_Store").write_text("x")
    (tmp_path / "test_set" / "vid2" / "notes.txt").write_text("x")
    (tmp_path / "pose_map_test_set" / "vid2" / "readme.md").write_text("x")
    # a loose file in the split folder is not a video
    (tmp_path / "test_set" / "list.txt").write_text("x")

    videos = list_videos(tmp_path, "test")
    assert [v.name for v in videos] == ["vid2", "vid10"]
    v2 = videos[0]
    assert v2.image_dir == tmp_path / "test_set" / "vid2"
    assert v2.pose_dir == tmp_path / "pose_map_test_set" / "vid2"
    images, poses = tmp_path / "test_set" / "vid2", tmp_path / "pose_map_test_set" / "vid2"
    assert v2.frames == [
        FramePair("1", images / "1.png", poses / "1.png"),
        FramePair("2", images / "2.png", poses / "2.jpg"),
        FramePair("10", images / "10.png", poses / "10.png"),
    ]
    assert [f.name for f in videos[1].frames] == ["0001", "0002"]
    assert all(f.image.stem == f.pose.stem == f.name for v in videos for f in v.frames)


def test_other_split_and_extra_pose_videos(tmp_path) -> None:
    _video(tmp_path, "a", ["0001.png"], split="disco_test")
    _img(tmp_path / "pose_map_disco_test_set" / "unused" / "0001.png")  # pose maps of a video with no frames
    _video(tmp_path, "b", ["0001.png"], split="test")
    videos = list_videos(str(tmp_path), "disco_test")  # a str root works too
    assert [(v.name, len(v.frames)) for v in videos] == [("a", 1)]
    assert videos[0].frames[0].image == tmp_path / "disco_test_set" / "a" / "0001.png"


def test_missing_pose_folder(tmp_path) -> None:
    _video(tmp_path, "v1", ["0001.png"])
    _img(tmp_path / "test_set" / "v2" / "0001.png")  # no pose_map_test_set/v2
    message = _refusal(tmp_path)
    assert f"'{tmp_path / 'pose_map_test_set' / 'v2'}'" in message
    assert "video 'v2'" in message


def test_unmatched_files_are_listed(tmp_path) -> None:
    _video(tmp_path, "v", ["0001.png", "0002.png", "0003.png"], ["0001.png", "0002.png", "0005.png"])
    message = _refusal(tmp_path)
    assert "(2 unmatched: 0003, 0005)" in message
    assert f"'{tmp_path / 'test_set' / 'v'}'" in message
    assert f"'{tmp_path / 'pose_map_test_set' / 'v'}'" in message


def test_many_unmatched_files_are_counted_and_truncated(tmp_path) -> None:
    frames = [f"{i}.png" for i in range(1, 11)]  # 1..10, poses only for 1..2
    _video(tmp_path, "v", frames, frames[:2])
    message = _refusal(tmp_path)
    assert "(8 unmatched: 3, 4, 5, 6, 7 ...)" in message  # natural order, first five shown


def test_a_frame_missing_in_the_middle_is_not_paired_by_position(tmp_path) -> None:
    # 0002 dropped from the frames but not the poses: positional pairing would shift 0003 onto 0002's pose
    _video(tmp_path, "v", ["0001.png", "0003.png"], ["0001.png", "0002.png", "0003.png"])
    assert "(1 unmatched: 0002)" in _refusal(tmp_path)


@pytest.mark.parametrize("content", [[], ["notes.txt", ".hidden.png"]])
def test_video_folder_without_images(tmp_path, content) -> None:
    _video(tmp_path, "good", ["0001.png"])
    empty = tmp_path / "test_set" / "empty"
    empty.mkdir()
    (tmp_path / "pose_map_test_set" / "empty").mkdir()
    for name in content:
        (empty / name).write_text("x")
    message = _refusal(tmp_path)
    assert f"video folder '{empty}' holds no images" in message


def test_split_without_videos(tmp_path) -> None:
    (tmp_path / "test_set").mkdir()
    (tmp_path / "pose_map_test_set").mkdir()
    (tmp_path / "test_set" / "0001.png").write_text("not a video folder")
    assert f"dataset folder '{tmp_path / 'test_set'}' holds no video folders" in _refusal(tmp_path)


@pytest.mark.parametrize("missing", ["test_set", "pose_map_test_set"])
def test_missing_split_folder(tmp_path, missing) -> None:
    _video(tmp_path, "v", ["0001.png"])
    shutil.rmtree(tmp_path / missing)
    message = _refusal(tmp_path)
    assert f"dataset folder '{tmp_path / missing}' does not exist" in message
    assert "<root>/test_set/<video>/" in message


def test_missing_root(tmp_path) -> None:
    assert f"'{tmp_path / 'nowhere' / 'test_set'}' does not exist" in _refusal(tmp_path / "nowhere")


def test_two_images_with_one_name_are_ambiguous(tmp_path) -> None:
    _video(tmp_path, "v", ["0001.png", "0002.png"])
    _img(tmp_path / "test_set" / "v" / "0002.jpg")  # which 0002 is the frame?
    message = _refusal(tmp_path)
    assert f"folder '{tmp_path / 'test_set' / 'v'}' holds two images named '0002'" in message
    assert "0002.jpg" in message and "0002.png" in message


def test_a_named_pipe_named_like_a_frame_is_named_not_skipped(tmp_path) -> None:
    import os

    _video(tmp_path, "vid", ["0001.png", "0002.png"])
    (tmp_path / "test_set" / "vid" / "0002.png").unlink()
    os.mkfifo(tmp_path / "test_set" / "vid" / "0002.png")
    assert _refusal(tmp_path) == (
        f"frame '{tmp_path / 'test_set' / 'vid' / '0002.png'}' is a named pipe, not a "
        "file: replace it with an image file"
    )
