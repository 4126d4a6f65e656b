"""Tests for magicpose.data.from_video (``magicpose add-video``): layout, pairing, subsampling, the keypoints
kept for the pose2vid face stage, all-or-nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from magicpose.cli import main
from magicpose.data.consecutive import ConsecutivePairDataset
from magicpose.data.from_video import add_video
from magicpose.data.layout import list_videos
from magicpose.data.pairs import PairDataset
from magicpose.errors import InputError
from magicpose.files import RECORD
from magicpose.pose.openpose_json import read_openpose_json, write_openpose_json
from magicpose.pose.render import draw_pose
from magicpose.pose.schema import NUM_BODY, FramePose, PersonPose
from magicpose.video import VideoWriter, read_video

W, H, N = 64, 48, 6
NAMES = [f"{i:06d}" for i in range(N)]


def _frame(i: int) -> np.ndarray:
    """A horizontal gradient with a bright block that moves with i: distinct frames, not near-constant."""
    f = np.zeros((H, W, 3), np.uint8)
    f[..., 0] = np.linspace(20, 220, W, dtype=np.uint8)[None, :]
    f[..., 2] = 40 * (i % 5)
    f[10:30, 4 + 8 * i : 16 + 8 * i] = (250, 250, 60)
    return f


def _pose(i: int) -> FramePose:
    """A body-only person whose keypoints shift with i, on the video's canvas."""
    body = np.zeros((NUM_BODY, 3), np.float32)
    body[:, 0] = np.linspace(10, 50, NUM_BODY) + i
    body[:, 1] = np.linspace(5, 42, NUM_BODY)
    body[:, 2] = 1.0
    return FramePose(W, H, [PersonPose(body=body)])


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, Path]:
    """(video, OpenPose JSON folder) as OpenPose would write them for a 6-frame 64x48 video."""
    folder = tmp_path_factory.mktemp("source")
    video = folder / "dance.mp4"
    with VideoWriter(video, fps=8) as writer:
        for i in range(N):
            writer.write(_frame(i))
    for i in range(N):
        write_openpose_json(_pose(i), folder / "json" / f"dance_{i:012d}_keypoints.json")
    return video, folder / "json"


def _visible(folder: Path) -> list[str]:
    """The names in ``folder`` without hidden ones (the record of written files)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _jsons(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under root (hidden ones included) with a hash of its content ('' for folders)."""
    out = {}
    if root.exists():
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                out[os.path.relpath(os.path.join(dirpath, d), root)] = ""
            for f in filenames:
                p = Path(dirpath) / f
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_layout_frames_and_pose_maps(source, tmp_path) -> None:
    video, json_dir = source
    out = add_video(video, json_dir, tmp_path / "data")
    assert out == tmp_path / "data" / "train_set" / "dance"
    pose_dir = tmp_path / "data" / "pose_map_train_set" / "dance"
    assert _visible(out) == [f"{n}.png" for n in NAMES]
    assert _visible(pose_dir) == [f"{n}.png" for n in NAMES]
    decoded = list(read_video(video))
    assert len(decoded) == N
    maps = [draw_pose(read_openpose_json(p)) for p in _jsons(json_dir)]
    for i, name in enumerate(NAMES):
        assert np.array_equal(_png(out / f"{name}.png"), decoded[i])
        assert np.array_equal(_png(pose_dir / f"{name}.png"), maps[i])
    assert len({m.tobytes() for m in maps}) == N  # every frame really has its own pose
    assert {p.name for p in (tmp_path / "data").rglob(".*")} == {RECORD}  # no temporaries left

    videos = list_videos(tmp_path / "data", "train")
    assert [v.name for v in videos] == ["dance"] and [f.name for f in videos[0].frames] == NAMES
    ds = PairDataset(tmp_path / "data", "train", height=32, width=32)
    assert len(ds) == N
    item = ds[3]
    for key in ("reference", "image", "pose"):
        assert item[key].shape == (3, 32, 32) and item[key].dtype.is_floating_point
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0 and item["image"].min() < 0.0
    assert -1.0 <= item["reference"].min() and item["reference"].max() <= 1.0
    assert 0.0 <= item["pose"].min() and item["pose"].max() <= 1.0 and item["pose"].max() > 0.5
    assert item["video"] == "dance"


def test_every_and_max_frames_keep_original_indices(source, tmp_path) -> None:
    video, json_dir = source
    out = add_video(video, json_dir, tmp_path, name="clip", split="test", every=2, max_frames=2)
    assert _visible(out) == ["000000.png", "000002.png"]
    pose_dir = tmp_path / "pose_map_test_set" / "clip"
    assert _visible(pose_dir) == ["000000.png", "000002.png"]
    assert np.array_equal(_png(out / "000002.png"), list(read_video(video))[2])
    assert np.array_equal(_png(pose_dir / "000002.png"), draw_pose(read_openpose_json(_jsons(json_dir)[2])))


def _add_video_argv(video: Path, json_dir: Path, root: Path, name: str = "v") -> list[str]:
    """The arguments of ``magicpose add-video`` adding ``video`` with its OpenPose JSON folder as ``name``."""
    return [
        "add-video",
        "--video",
        str(video),
        "--pose-json",
        str(json_dir),
        "--root",
        str(root),
        "--name",
        name,
    ]


def test_cli_success_and_overwrite(source, tmp_path, capsys) -> None:
    video, json_dir = source
    root = tmp_path / "data"
    args = _add_video_argv(video, json_dir, root)
    assert main(args + ["--max-frames", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "3 frame pairs" in out[0] and str(root / "train_set" / "v") in out[0]
    assert main(args + ["--overwrite", "--every", "5"]) == 0  # replaces the whole folder: no stale frames
    assert _visible(root / "train_set" / "v") == ["000000.png", "000005.png"]
    assert _visible(root / "pose_map_train_set" / "v") == ["000000.png", "000005.png"]
    assert _visible(root / "openpose_json_train_set" / "v") == [
        "000000_keypoints.json",
        "000005_keypoints.json",
    ]
    assert sorted(
        p.relative_to(root).as_posix() for p in root.rglob(".*")
    ) == [  # no temporary left, the records
        f"{split}/v/{RECORD}" for split in ("openpose_json_train_set", "pose_map_train_set", "train_set")
    ]


def test_a_file_as_the_pose_json_folder_is_called_a_file(source, tmp_path) -> None:
    video, json_dir = source
    one = sorted(json_dir.glob("*.json"))[0]
    with pytest.raises(InputError) as err:
        add_video(video, one, tmp_path / "data")
    assert str(err.value).startswith(f"OpenPose JSON folder '{one}' is a file, not a folder: ")
    assert not (tmp_path / "data").exists()


def test_overwrite_never_deletes_a_users_file_or_the_input(source, tmp_path, capsys) -> None:
    """A user adds their notes to a video folder, then replaces the video: refused, the notes stay; and
    --pose-json pointing into the dataset's own keypoint folder is never replaced by --overwrite."""
    video, json_dir = source
    root = tmp_path / "data"
    args = _add_video_argv(video, json_dir, root)
    assert main(args) == 0
    notes = root / "train_set" / "v" / "notes.txt"
    notes.write_text("my notes")
    capsys.readouterr()
    assert main(args + ["--overwrite"]) == 2
    assert capsys.readouterr().err == (
        f"error: output folder '{root / 'train_set' / 'v'}' holds files magicpose did "
        "not write there (notes.txt): move them away or choose another --name (only "
        "an earlier output of magicpose is replaced)\n"
    )
    assert notes.read_text() == "my notes"
    notes.unlink()
    kept = root / "openpose_json_train_set" / "v"
    assert main(_add_video_argv(video, kept, root) + ["--overwrite"]) == 2
    assert f"is the input '{kept}'" in capsys.readouterr().err
    assert _visible(kept) == [f"{n}_keypoints.json" for n in NAMES]


def test_keypoints_are_kept_for_the_face_stage(source, tmp_path) -> None:
    video, json_dir = source
    root = tmp_path / "data"
    add_video(video, json_dir, root, every=2)
    kept = root / "openpose_json_train_set" / "dance"
    assert _visible(kept) == [f"{i:06d}_keypoints.json" for i in (0, 2, 4)]
    sources = _jsons(json_dir)
    for i in (0, 2, 4):  # byte for byte, renamed after their frames
        assert (kept / f"{i:06d}_keypoints.json").read_bytes() == sources[i].read_bytes()
    # the pose2vid face stage reads them: frames 2 and 4 at half size (64x48 -> 32x24, no crop)
    ds = ConsecutivePairDataset(root, "train", height=24, width=32, keypoints=True)
    assert len(ds) == 2 and ds[1]["name"] == "000004"
    for key, i in (("keypoints_prev", 2), ("keypoints", 4)):
        expected = _pose(i).people[0].body * np.float32([0.5, 0.5, 1.0])
        assert torch.allclose(ds[1][key], torch.from_numpy(expected), rtol=0, atol=1e-5)  # float32 rounding


def _fails(capsys, root: Path, args: list[str], *named: Path) -> None:
    """`magicpose add-video args` exits 2 with one 'error:' line naming `named` and leaves root untouched."""
    before = _snapshot(root)
    capsys.readouterr()
    assert main(["add-video", "--root", str(root), *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    for path in named:
        assert str(path) in lines[0], lines[0]
    assert _snapshot(root) == before


@pytest.fixture
def root(source, tmp_path) -> Path:
    """A dataset root that already holds a video 'other'."""
    video, json_dir = source
    add_video(video, json_dir, tmp_path / "data", name="other", max_frames=2)
    return tmp_path / "data"


def test_count_mismatch_is_refused(source, root, tmp_path, capsys) -> None:
    video, json_dir = source
    five = tmp_path / "five"
    shutil.copytree(json_dir, five)
    _jsons(five)[-1].unlink()
    _fails(capsys, root, ["--video", str(video), "--pose-json", str(five)], video, five)
    err_root = tmp_path / "fresh"  # a root that does not exist is not created either
    _fails(capsys, err_root, ["--video", str(video), "--pose-json", str(five)], video, five)
    assert not err_root.exists()


def test_count_mismatch_message(source, tmp_path) -> None:
    video, json_dir = source
    five = tmp_path / "five"
    shutil.copytree(json_dir, five)
    _jsons(five)[-1].unlink()
    with pytest.raises(InputError, match=r"has 6 frames .* holds 5 OpenPose JSON files.*--write_json"):
        add_video(video, five, tmp_path / "data")


def test_malformed_json_is_refused(source, root, tmp_path, capsys) -> None:
    video, json_dir = source
    bad_dir = tmp_path / "bad"
    shutil.copytree(json_dir, bad_dir)
    bad = _jsons(bad_dir)[3]  # after three frames were already written to the temporaries
    bad.write_text("{not json", encoding="utf-8")
    _fails(capsys, root, ["--video", str(video), "--pose-json", str(bad_dir)], bad)


def test_wrong_canvas_is_refused(source, root, tmp_path, capsys) -> None:
    video, json_dir = source
    other = tmp_path / "other_canvas"
    shutil.copytree(json_dir, other)
    wrong = _jsons(other)[2]
    write_openpose_json(FramePose(2 * W, 2 * H, _pose(2).people), wrong)
    _fails(capsys, root, ["--video", str(video), "--pose-json", str(other)], wrong)
    with pytest.raises(InputError, match=f"{2 * W}x{2 * H} canvas .* {W}x{H}"):
        add_video(video, other, root)


def test_missing_video_is_refused(source, root, tmp_path, capsys) -> None:
    _, json_dir = source
    missing = tmp_path / "nope.mp4"
    _fails(capsys, root, ["--video", str(missing), "--pose-json", str(json_dir)], missing)


def test_existing_video_needs_overwrite(source, root, capsys) -> None:
    video, json_dir = source
    args = ["--video", str(video), "--pose-json", str(json_dir), "--name", "other"]
    _fails(capsys, root, args, root / "train_set" / "other")
    err = capsys.readouterr().err
    assert err == ""
    with pytest.raises(InputError, match="--overwrite"):
        add_video(video, json_dir, root, name="other")
