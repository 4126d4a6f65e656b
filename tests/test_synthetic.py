"""Tests for magicpose.synthetic: identities, motions, exact keypoints, rendering and the dataset writer."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import magicpose.synthetic.dataset as synthetic
from magicpose.data.layout import list_videos
from magicpose.errors import InputError
from magicpose.files import RECORD
from magicpose.pose import FramePose, draw_pose, read_openpose_json
from magicpose.synthetic import (
    ID_RANGES,
    DanceState,
    Identity,
    Motion,
    keypoints_from_state,
    make_synthetic,
    pose_sequence,
    render_background,
    render_ground_truth,
    render_person,
    split_ids,
)
from magicpose.video import VideoWriter

SIZE = 64
FRAMES = 3


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _make_small(root: Path, seed: int = 3) -> Path:
    """The small dataset the tests share: two training and two test videos of FRAMES frames of SIZE pixels."""
    return make_synthetic(
        root,
        num_train_videos=2,
        num_test_videos=2,
        frames_per_video=FRAMES,
        size=SIZE,
        seed=seed,
        progress=False,
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return _make_small(tmp_path_factory.mktemp("synthetic") / "data")


def _pixel(image: np.ndarray, point: np.ndarray) -> np.ndarray:
    return image[int(point[1]), int(point[0])].astype(int)


# --------------------------------------------------------------------------------------------------
# dataset writer


def test_same_seed_gives_identical_files_and_another_seed_differs(dataset, tmp_path):
    again = _make_small(tmp_path / "again")
    other = _make_small(tmp_path / "other", seed=4)
    first, second, third = _hashes(dataset), _hashes(again), _hashes(other)
    # 2 splits x 2 videos x 3 frames x (frame, pose map, json) + meta.json + the record of the files written
    assert len(first) == 2 * 2 * FRAMES * 3 + 2
    assert first == second
    assert set(third) == set(first)
    frames = [name for name in first if name.startswith(("train_set", "test_set"))]
    assert len(frames) == 12
    assert all(first[name] != third[name] for name in frames)
    # nothing but the dataset itself was left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "other"]


def test_meta_and_held_out_ids(dataset):
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["generator"] == "magicpose.synthetic"
    assert (meta["seed"], meta["size"], meta["frames_per_video"]) == (3, SIZE, FRAMES)
    assert meta["version"] == synthetic.GENERATOR_VERSION
    train, test = meta["splits"]["train"], meta["splits"]["test"]
    assert sorted(train) == ["vid_0000", "vid_0001"] and sorted(test) == ["vid_0000", "vid_0001"]
    train_ids = {v["identity"] for v in train.values()}
    test_ids = {v["identity"] for v in test.values()}
    train_motions = {v["motion"] for v in train.values()}
    test_motions = {v["motion"] for v in test.values()}
    assert len(train_ids) == len(test_ids) == len(train_motions) == len(test_motions) == 2
    assert not train_ids & test_ids and not train_motions & test_motions
    low, high = ID_RANGES["train"]
    assert all(low <= i < high for i in train_ids | train_motions)
    low, high = ID_RANGES["test"]
    assert all(low <= i < high for i in test_ids | test_motions)
    assert ID_RANGES["train"][1] <= ID_RANGES["test"][0]
    assert meta["id_ranges"] == {k: list(v) for k, v in ID_RANGES.items()}


def test_split_ids_are_held_out_for_every_seed_and_independent_of_the_other_split():
    for seed in range(5):
        train, test = split_ids(seed, "train", 30), split_ids(seed, "test", 30)
        assert len({i for i, _ in train}) == 30 and len({m for _, m in train}) == 30
        assert not {i for i, _ in train} & {i for i, _ in test}
        assert not {m for _, m in train} & {m for _, m in test}
        assert split_ids(seed, "test", 5) == test[:5]
    assert split_ids(0, "train", 3) != split_ids(1, "train", 3)


def test_layout_is_readable_and_every_frame_is_paired(dataset):
    for split in ("train", "test"):
        videos = list_videos(dataset, split)
        assert [v.name for v in videos] == ["vid_0000", "vid_0001"]
        for video in videos:
            assert [f.name for f in video.frames] == ["0000", "0001", "0002"]
            for frame in video.frames:
                assert frame.image.stem == frame.pose.stem
                json_path = (
                    dataset / f"openpose_json_{split}_set" / video.name / f"{frame.name}_keypoints.json"
                )
                assert json_path.is_file()
                assert np.asarray(Image.open(frame.image)).shape == (SIZE, SIZE, 3)


def test_files_hold_the_exact_keypoints_pose_maps_and_renders(dataset):
    meta = json.loads((dataset / "meta.json").read_text())
    for split in ("train", "test"):
        for name, ids in meta["splits"][split].items():
            identity, motion = Identity.from_id(ids["identity"]), Motion.from_id(ids["motion"])
            poses = pose_sequence(identity, motion, FRAMES, SIZE)
            for k, pose in enumerate(poses):
                frame = read_openpose_json(
                    dataset / f"openpose_json_{split}_set" / name / f"{k:04d}_keypoints.json"
                )
                assert (frame.width, frame.height) == (SIZE, SIZE)
                assert len(frame.people) == 1 and frame.people[0] == pose  # bit-exact round trip
                pose_map = np.asarray(Image.open(dataset / f"pose_map_{split}_set" / name / f"{k:04d}.png"))
                np.testing.assert_array_equal(pose_map, draw_pose(frame))
                image = np.asarray(Image.open(dataset / f"{split}_set" / name / f"{k:04d}.png"))
                np.testing.assert_array_equal(image, render_person(identity, pose, SIZE))


def test_existing_outputs(dataset, tmp_path):
    # an earlier synthetic dataset is replaced whole
    target = tmp_path / "data"
    make_synthetic(
        target, num_train_videos=3, num_test_videos=1, frames_per_video=2, size=SIZE, progress=False
    )
    make_synthetic(
        target, num_train_videos=1, num_test_videos=1, frames_per_video=2, size=SIZE, progress=False
    )
    assert [v.name for v in list_videos(target, "train")] == ["vid_0000"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    # anything else is refused and left alone
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(InputError, match=r"holds files magicpose did not write there \(keep.txt\)"):
        make_synthetic(other, 1, 1, 1, size=SIZE, progress=False)
    assert [p.name for p in other.iterdir()] == ["keep.txt"]


def _make_synthetic_argv(output: Path, size: int) -> list[str]:
    """``magicpose make-synthetic``'s options for one train and one test video of two frames each."""
    return [
        "--output",
        str(output),
        "--train-videos",
        "1",
        "--test-videos",
        "1",
        "--frames",
        "2",
        "--size",
        str(size),
    ]


def test_rerun_never_wipes_a_video_added_to_the_dataset(tmp_path, capsys):
    """The user makes a synthetic dataset, adds their own dance with add-video, then reruns make-synthetic on the
    same folder: refused in one line naming the added video; the video and the dataset stay as they were."""
    from magicpose.cli import main
    from magicpose.data.from_video import add_video

    target = tmp_path / "data"
    make_synthetic(
        target, num_train_videos=1, num_test_videos=1, frames_per_video=2, size=SIZE, progress=False
    )
    # the user's own dance: a video and its OpenPose JSON (here made from a test video's frames and keypoints)
    video, json_dir = tmp_path / "mine.mp4", target / "openpose_json_test_set" / "vid_0000"
    with VideoWriter(video, fps=8) as writer:
        for frame in sorted((target / "test_set" / "vid_0000").glob("*.png")):
            writer.write(np.asarray(Image.open(frame)))
    add_video(video, json_dir, target, name="mine")
    video.unlink()
    before = _hashes(target)
    capsys.readouterr()
    assert main(["make-synthetic", *_make_synthetic_argv(target, size=SIZE)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(
            f"error: output folder '{target}' holds files magicpose did not write there "
            "(openpose_json_train_set/mine/"
        )
        and err.count("\n") == 1
    )
    assert _hashes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    # a part of the dataset is not a dataset of its own to replace
    with pytest.raises(InputError, match=r"train_set' holds files magicpose did not write there"):
        make_synthetic(target / "train_set", 1, 0, 2, size=SIZE, progress=False)
    assert _hashes(target) == before
    # while add-video --overwrite may replace one of make-synthetic's own videos
    with VideoWriter(video, fps=8) as writer:
        for frame in sorted((target / "test_set" / "vid_0000").glob("*.png")):
            writer.write(np.asarray(Image.open(frame)))
    add_video(video, json_dir, target, name="vid_0000", overwrite=True)
    assert (target / "train_set" / "vid_0000" / RECORD).is_file()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"frames_per_video": 0}, "frames per video"),
        ({"size": 16}, "frame size"),
        ({"num_train_videos": -1}, "train videos"),
        ({"num_train_videos": 0, "num_test_videos": 0}, "nothing to write"),
        ({"seed": -2}, "seed"),
        (
            {"num_train_videos": 10**11},
            "the number of train videos must be at most 100,000, got 100,000,000,000",
        ),
        ({"frames_per_video": 10**6}, "frames per video must be at most 100,000"),
    ],
)
def test_bad_arguments_are_one_line_input_errors(tmp_path, kwargs, message):
    args = {
        "num_train_videos": 1,
        "num_test_videos": 1,
        "frames_per_video": 1,
        "size": SIZE,
        "progress": False,
    }
    with pytest.raises(InputError, match=message) as err:
        make_synthetic(tmp_path / "out", **{**args, **kwargs})
    assert "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


def test_an_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing_render(identity, pose, size):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return render_person(identity, pose, size)

    monkeypatch.setattr(synthetic, "render_person", failing_render)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic(tmp_path / "out", 2, 1, 3, size=SIZE, progress=False)
    assert len(calls) == 4
    assert not any(tmp_path.iterdir())


def test_the_make_synthetic_command(tmp_path, capsys):
    from magicpose.commands import make_synthetic as command

    parser = command.add_parser(argparse.ArgumentParser().add_subparsers())
    args = parser.parse_args([*_make_synthetic_argv(tmp_path / "cli", size=48), "--seed", "7"])
    assert command.run(args) == 0
    meta = json.loads((tmp_path / "cli" / "meta.json").read_text())
    assert (meta["seed"], meta["size"], meta["frames_per_video"]) == (7, 48, 2)
    assert len(list_videos(tmp_path / "cli", "test")[0].frames) == 2
    assert "wrote 1 train and 1 test videos" in capsys.readouterr().out
    defaults = parser.parse_args(["--output", "x"])
    assert (defaults.train_videos, defaults.test_videos, defaults.frames, defaults.size, defaults.seed) == (
        200,
        20,
        24,
        128,
        0,
    )


# --------------------------------------------------------------------------------------------------
# identities, motions and keypoints


def test_ids_are_deterministic_and_validated():
    assert Identity.from_id(7) == Identity.from_id(7)
    assert Identity.from_id(7) != Identity.from_id(8)
    assert Motion.from_id(3).state(1.25) == Motion.from_id(3).state(1.25)
    assert Motion.from_id(3).state(1.25) != Motion.from_id(4).state(1.25)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            Identity.from_id(bad)
        with pytest.raises(ValueError):
            Motion.from_id(bad)
    ident = Identity.from_id(11)
    total = (
        ident.ankle_height
        + ident.shin
        + ident.thigh
        + ident.torso_length
        + ident.neck_length
        + 2 * ident.head_radius
    )
    assert total == pytest.approx(1.0)


def test_identities_vary_in_every_attribute():
    people = [Identity.from_id(i) for i in range(60)]
    for name in ("hair_style", "top_pattern", "sleeves", "bottom_style", "wall_pattern", "floor_pattern"):
        assert len({getattr(p, name) for p in people}) >= 3, name
    for name in ("skin", "hair", "top", "bottom", "wall_top"):
        assert len({getattr(p, name) for p in people}) >= 20, name
    assert len({round(p.shoulder_width, 3) for p in people}) >= 30


def test_motion_is_smooth_and_moves():
    motion = Motion.from_id(5)
    ident = Identity.from_id(5)
    poses = [motion.keypoints(ident, t, 128).body[:, :2] for t in np.arange(0, 3, 1 / 64)]
    steps = np.abs(np.diff(np.stack(poses), axis=0)).max(axis=(1, 2))
    assert steps.max() < 6.0  # at most a few pixels per 1/64 s: no jumps
    assert np.ptp(np.stack(poses)[:, 4], axis=0).max() > 15  # the right wrist travels
    states = [motion.state(t) for t in np.arange(0, 12, 0.02)]
    assert min(s.eye_open for s in states) == 0.0 and max(s.eye_open for s in states) == 1.0  # it blinks


def test_keypoints_scale_with_the_canvas_and_mark_hidden_points():
    ident = Identity.from_id(2)
    state = DanceState()
    small, big = keypoints_from_state(ident, state, 64), keypoints_from_state(ident, state, 256)
    np.testing.assert_allclose(small.to_array()[:, :2] * 4, big.to_array()[:, :2], rtol=1e-5, atol=1e-3)
    assert (big.to_array()[:, 2] == 1).all()  # standing, facing the camera: everything visible
    # turned: the far ear is hidden (a turn to the image right hides the left ear), and face points too
    turned = keypoints_from_state(ident, DanceState(yaw=45), 256)
    assert turned.body[16, 2] == 1 and turned.body[17, 2] == 0
    assert (turned.face[:, 2] == 0).any() and turned.face[[30, 36, 45, 68, 69], 2].tolist() == [1, 1, 1, 1, 1]
    assert keypoints_from_state(ident, DanceState(yaw=-45), 256).body[[16, 17], 2].tolist() == [0, 1]
    # shifted off the canvas: points outside get score 0, points inside keep 1
    shifted = keypoints_from_state(ident, DanceState(camera_x=0.45), 128).to_array()
    outside = (shifted[:, 0] < 0) | (shifted[:, 0] >= 128) | (shifted[:, 1] < 0) | (shifted[:, 1] >= 128)
    assert outside.any() and (~outside).any()
    assert (shifted[outside, 2] == 0).all() and (shifted[~outside, 2] == 1).all()


def test_pose_sequence_transfers_the_motion_onto_each_body():
    """ "A performing M": the same joint angles on A's own proportions."""
    motion = Motion.from_id(9)
    a, b = Identity.from_id(1), Identity.from_id(2)
    pa, pb = pose_sequence(a, motion, 4, 128), pose_sequence(b, motion, 4, 128)
    limbs = [(2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (11, 12), (12, 13), (1, 0)]
    for qa, qb in zip(pa, pb):
        for i, j in limbs[:-1]:
            da, db = qa.body[j, :2] - qa.body[i, :2], qb.body[j, :2] - qb.body[i, :2]
            np.testing.assert_allclose(da / np.linalg.norm(da), db / np.linalg.norm(db), atol=1e-4)
        assert not np.allclose(qa.body[:, :2], qb.body[:, :2], atol=1.0)  # different bodies
    assert [p.to_array().tolist() for p in pa] == [
        motion.keypoints(a, k / synthetic.FPS, 128).to_array().tolist() for k in range(4)
    ]


# --------------------------------------------------------------------------------------------------
# rendering


def test_body_joints_are_inside_the_figure():
    checked = 0
    for i in range(12):
        ident, motion = Identity.from_id(i), Motion.from_id(100 + i)
        background = render_background(ident, 128)
        for t in (0.0, 0.9, 1.7):
            pose = motion.keypoints(ident, t, 128)
            image = render_person(ident, pose, 128)
            for joint in range(16):  # all but the ears
                if pose.body[joint, 2] == 1:
                    diff = np.abs(
                        _pixel(image, pose.body[joint]) - _pixel(background, pose.body[joint])
                    ).sum()
                    assert diff > 30, (i, t, joint, diff)
                    checked += 1
    assert checked > 400


def test_render_leaves_the_background_alone_away_from_the_figure():
    ident = Identity.from_id(4)
    pose = keypoints_from_state(ident, DanceState(), 128)
    image, background = render_person(ident, pose, 128), render_background(ident, 128)
    body = pose.body[:, :2]
    far = np.ones((128, 128), dtype=bool)
    x0, y0 = body.min(axis=0) - 0.25 * 128
    x1, y1 = body.max(axis=0) + 0.25 * 128
    far[max(int(y0), 0) : int(y1), max(int(x0), 0) : int(x1)] = False
    assert far.sum() > 1000
    np.testing.assert_array_equal(image[far], background[far])
    assert render_ground_truth(ident, [pose, pose], 128)[1].tobytes() == image.tobytes()


def test_identities_differ_and_poses_differ():
    state = DanceState()
    images = [
        render_person(Identity.from_id(i), keypoints_from_state(Identity.from_id(i), state, 128), 128).astype(
            int
        )
        for i in range(6)
    ]
    for i in range(6):
        for j in range(i + 1, 6):
            assert np.abs(images[i] - images[j]).mean() > 15, (i, j)
    ident = Identity.from_id(0)
    up = DanceState(r_arm_raise=160, l_arm_raise=160, r_knee=60, l_knee=60, r_leg_lift=30, l_leg_lift=30)
    a = images[0]
    b = render_person(ident, keypoints_from_state(ident, up, 128), 128).astype(int)
    changed = np.abs(a - b).sum(axis=2) > 30
    assert changed.sum() > 400


def _changed_box(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 0)
    return xs, ys


def test_mouth_and_eyes_change_only_their_own_pixels():
    ident = Identity.from_id(3)
    size = 256
    closed = keypoints_from_state(ident, DanceState(mouth_open=0.0), size)
    opened = keypoints_from_state(ident, DanceState(mouth_open=1.0), size)
    inner = closed.face[60:68, :2]
    assert np.abs(inner[[1, 2, 3]] - inner[[7, 6, 5]]).max() < 1e-3  # closed lips meet
    assert np.abs(opened.face[66, 1] - opened.face[62, 1]) > 3
    # only the mouth points move
    moved = np.abs(closed.to_array() - opened.to_array()).max(axis=1) > 0
    assert set(np.nonzero(moved)[0] - 60) <= set(range(48, 68))
    xs, ys = _changed_box(render_person(ident, closed, size), render_person(ident, opened, size))
    assert len(xs) > 10
    mouth = opened.face[48:68, :2]
    assert xs.min() >= mouth[:, 0].min() - 2 and xs.max() <= mouth[:, 0].max() + 2
    assert ys.min() >= mouth[:, 1].min() - 2 and ys.max() <= mouth[:, 1].max() + 2

    shut = keypoints_from_state(ident, DanceState(eye_open=0.0), size)
    lids = shut.face[36:48, :2]
    assert np.abs(lids[[1, 2, 7, 8], 1] - lids[[5, 4, 11, 10], 1]).max() < 1e-3  # lids meet
    xs, ys = _changed_box(render_person(ident, closed, size), render_person(ident, shut, size))
    assert len(xs) > 10
    eyes = np.concatenate([shut.face[36:48, :2], closed.face[36:48, :2]])  # shut and open lids
    assert xs.min() >= eyes[:, 0].min() - 4 and xs.max() <= eyes[:, 0].max() + 4
    assert ys.min() >= eyes[:, 1].min() - 4 and ys.max() <= eyes[:, 1].max() + 4


def test_clothing_pattern_moves_with_the_torso():
    """The top's pattern is painted in torso coordinates: moving the dancer down moves the stripes with it."""
    ident = next(Identity.from_id(i) for i in range(100) if Identity.from_id(i).top_pattern == "hstripes")
    size = 128
    a = keypoints_from_state(ident, DanceState(), size)
    b = keypoints_from_state(ident, DanceState(camera_y=8 / size), size)
    np.testing.assert_allclose(b.body[:, 1] - a.body[:, 1], 8, atol=1e-3)
    ia, ib = render_person(ident, a, size), render_person(ident, b, size)
    neck, hip = a.body[1, :2], (a.body[8, :2] + a.body[11, :2]) / 2
    x, y0, y1 = int(neck[0]), int(neck[1]) + 4, int(hip[1]) - 4
    column_a, column_b = ia[y0:y1, x].astype(int), ib[y0 + 8 : y1 + 8, x].astype(int)
    assert np.abs(column_a - column_b).max() <= 2
    assert np.ptp(column_a, axis=0).max() > 40  # the stripes are there
    assert np.abs(column_a - ib[y0:y1, x].astype(int)).max() > 40  # and they did move


def test_frames_are_readable_at_64_pixels():
    """At 64x64 the figure fills a good part of the frame."""
    ident, motion = Identity.from_id(6), Motion.from_id(6)
    pose = motion.keypoints(ident, 0.5, 64)
    image, background = render_person(ident, pose, 64), render_background(ident, 64)
    figure = np.abs(image.astype(int) - background.astype(int)).sum(axis=2) > 20
    ys, xs = np.nonzero(figure)
    assert np.ptp(ys) > 0.6 * 64 and figure.sum() > 0.12 * 64 * 64


def test_dance_state_replace_keeps_other_fields():
    state = dataclasses.replace(DanceState(), mouth_open=0.5)
    assert state.mouth_open == 0.5 and state.eye_open == 1.0


def test_render_of_a_sequence_matches_frames():
    ident, motion = Identity.from_id(8), Motion.from_id(8)
    frames, poses = synthetic.synthesize_video(ident, motion, 3, 64)
    assert len(frames) == len(poses) == 3
    for frame, pose in zip(frames, poses):
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, render_person(ident, pose, 64))
    assert FramePose(64, 64, [poses[0]]).people[0] == poses[0]


def test_one_identity_dataset_for_a_person_specific_generator(tmp_path):
    out = make_synthetic(
        tmp_path / "one",
        num_train_videos=2,
        num_test_videos=1,
        frames_per_video=2,
        size=32,
        seed=3,
        progress=False,
        identity=1870260047,
    )
    meta = json.loads((out / "meta.json").read_text())
    videos = [v for split in meta["splits"].values() for v in split.values()]
    assert meta["single_identity"] == 1870260047 and {v["identity"] for v in videos} == {1870260047}
    assert [v["motion"] for v in meta["splits"]["train"].values()] == [m for _, m in split_ids(3, "train", 2)]
    frame = np.asarray(Image.open(out / "train_set" / "vid_0000" / "0000.png"))
    expected = render_person(
        Identity.from_id(1870260047),
        pose_sequence(
            Identity.from_id(1870260047), Motion.from_id(meta["splits"]["train"]["vid_0000"]["motion"]), 2, 32
        )[0],
        32,
    )
    np.testing.assert_array_equal(frame, expected)
