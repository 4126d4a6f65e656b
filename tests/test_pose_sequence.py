"""Pose-sequence loading: folders of images or OpenPose JSON, .npy arrays, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from magicpose.pose import (
    FramePose,
    PersonPose,
    PoseInputError,
    draw_pose,
    load_pose_sequence,
    natural_sort_key,
    read_openpose_json,
    write_openpose_json,
)


def save_png(path, value: int, size=(12, 8), mode="RGB") -> np.ndarray:
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[..., 0] = value
    arr[..., 2] = 255 - value
    Image.fromarray(arr).convert(mode).save(path)
    return arr


def random_frame(rng: np.random.Generator, w: int = 96, h: int = 64) -> FramePose:
    arr = np.zeros((2, 130, 3), np.float32)
    arr[..., 0] = rng.uniform(0, w, (2, 130))
    arr[..., 1] = rng.uniform(0, h, (2, 130))
    arr[..., 2] = rng.random((2, 130)) < 0.8
    return FramePose.from_array(arr, w, h)


def assert_one_line_error(path, call) -> str:
    with pytest.raises(PoseInputError) as info:
        call()
    msg = str(info.value)
    assert str(path) in msg
    assert "\n" not in msg
    return msg


def test_natural_sort_key_orders_numbers_by_value():
    names = ["frame_10", "frame_2", "Frame_1", "frame_002b", "a", "frame_2a"]
    assert sorted(names, key=natural_sort_key) == [
        "a",
        "Frame_1",
        "frame_2",
        "frame_2a",
        "frame_002b",
        "frame_10",
    ]


def test_image_folder_natural_order_rgb_and_laziness(tmp_path, monkeypatch):
    expected = {}
    for i in (10, 2, 1):
        expected[i] = save_png(tmp_path / f"frame_{i}.png", value=20 * i)
    (tmp_path / ".DS_Store").write_bytes(b"junk")  # hidden files are ignored
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))

    seq = load_pose_sequence(tmp_path)
    assert opened == []  # nothing decoded up front
    assert len(seq) == 3
    assert seq.names == ["frame_1", "frame_2", "frame_10"]
    assert seq.source == tmp_path and seq.kind == "images"
    frame = seq[2]
    assert [str(p) for p in opened] == [str(tmp_path / "frame_10.png")]
    assert frame.dtype == np.uint8 and frame.shape == (8, 12, 3)
    np.testing.assert_array_equal(frame, expected[10])
    np.testing.assert_array_equal(seq[-3], expected[1])
    assert [int(f[0, 0, 0]) for f in seq] == [20, 40, 200]
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(TypeError):
        seq.pose(0)


def test_images_of_any_mode_and_size_become_rgb(tmp_path):
    save_png(tmp_path / "a.png", 100, size=(5, 7), mode="L")
    save_png(tmp_path / "b.png", 100, size=(9, 3), mode="RGBA")
    Image.fromarray(np.full((4, 6, 3), 77, np.uint8)).save(tmp_path / "c.bmp")
    seq = load_pose_sequence(tmp_path)
    assert [seq[i].shape for i in range(3)] == [(7, 5, 3), (3, 9, 3), (4, 6, 3)]
    assert len(np.unique(seq[0].reshape(-1, 3), axis=0)) == 1 and np.ptp(seq[0][0, 0]) == 0  # gray -> R=G=B
    assert seq[1][0, 0].tolist() == [100, 0, 155]
    assert (seq[2] == 77).all()


def test_corrupt_image_raises_only_on_access(tmp_path):
    save_png(tmp_path / "f1.png", 10)
    (tmp_path / "f2.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    seq = load_pose_sequence(tmp_path)  # no error yet
    assert len(seq) == 2
    assert seq[0].shape == (8, 12, 3)
    msg = assert_one_line_error(tmp_path / "f2.png", lambda: seq[1])
    assert "remove it" in msg


def test_json_folder_renders_like_draw_pose(tmp_path):
    rng = np.random.default_rng(0)
    frames = [random_frame(rng) for _ in range(3)]
    for i, f in enumerate(frames):
        write_openpose_json(f, tmp_path / f"clip_{i * 5}_keypoints.json")
    seq = load_pose_sequence(tmp_path)
    assert seq.kind == "json" and seq.has_keypoints
    assert seq.names == ["clip_0_keypoints", "clip_5_keypoints", "clip_10_keypoints"]
    for i, name in enumerate(seq.names):
        expected = draw_pose(read_openpose_json(tmp_path / f"{name}.json"))
        assert expected.any()
        np.testing.assert_array_equal(seq[i], expected)
        np.testing.assert_array_equal(seq[i], draw_pose(frames[i]))
        assert seq.pose(i) == frames[i]


def test_json_without_canvas_uses_given_size(tmp_path):
    (tmp_path / "a.json").write_text(
        '{"version": 1.3, "people": [{"pose_keypoints_2d": ' + str([5.0] * 54) + "}]}"
    )
    frame = load_pose_sequence(tmp_path, width=40, height=30)[0]
    assert frame.shape == (30, 40, 3)
    expected = draw_pose(FramePose(40, 30, [PersonPose(body=np.full((18, 3), 5.0, np.float32))]))
    np.testing.assert_array_equal(frame, expected)
    seq = load_pose_sequence(tmp_path)  # lazily fails on access, naming the file and the fix
    msg = assert_one_line_error(tmp_path / "a.json", lambda: seq[0])
    assert "pass the canvas size" in msg


def test_npy_pose_maps(tmp_path):
    maps = np.random.default_rng(1).integers(0, 256, (4, 16, 24, 3), dtype=np.uint8)
    path = tmp_path / "maps.npy"
    np.save(path, maps)
    seq = load_pose_sequence(path)
    assert len(seq) == 4 and seq.kind == "npy_maps" and seq.names == ["000000", "000001", "000002", "000003"]
    for i in range(4):
        np.testing.assert_array_equal(seq[i], maps[i])
    assert seq[0].flags.writeable


@pytest.mark.parametrize("k", [18, 130])
def test_npy_keypoints(tmp_path, k):
    rng = np.random.default_rng(k)
    kp = np.zeros((3, k, 3), np.float32)
    kp[..., 0] = rng.uniform(0, 80, (3, k))
    kp[..., 1] = rng.uniform(0, 60, (3, k))
    kp[..., 2] = 1.0
    path = tmp_path / "kp.npy"
    np.save(path, kp)
    seq = load_pose_sequence(path, width=80, height=60)
    assert len(seq) == 3 and seq.kind == "npy_keypoints"
    for i in range(3):
        expected = draw_pose(FramePose(80, 60, [PersonPose.from_array(kp[i])]))
        assert expected.any()
        np.testing.assert_array_equal(seq[i], expected)
    assert_one_line_error(path, lambda: load_pose_sequence(path))  # canvas size required


def test_npy_multi_person_keypoints(tmp_path):
    kp = np.zeros((2, 2, 18, 3), np.float64)
    kp[:, 0, 0] = (10, 10, 1)
    kp[:, 1, 0] = (30, 20, 1)
    path = tmp_path / "kp.npy"
    np.save(path, kp)
    seq = load_pose_sequence(path, width=40, height=40)
    assert len(seq.pose(0).people) == 2
    assert seq[1][10, 10].tolist() == [255, 0, 0] and seq[1][20, 30].tolist() == [255, 0, 0]


def test_error_missing_path(tmp_path):
    path = tmp_path / "nowhere"
    assert "does not exist" in assert_one_line_error(path, lambda: load_pose_sequence(path))


def test_error_empty_folder(tmp_path):
    (tmp_path / ".hidden").write_text("x")
    msg = assert_one_line_error(tmp_path, lambda: load_pose_sequence(tmp_path))
    assert "is empty" in msg and ".json" in msg


def test_error_mixed_folder(tmp_path):
    save_png(tmp_path / "a.png", 1)
    write_openpose_json(FramePose(8, 8, []), tmp_path / "b.json")
    msg = assert_one_line_error(tmp_path, lambda: load_pose_sequence(tmp_path))
    assert "mixes" in msg and "a.png" in msg and "b.json" in msg


def test_error_foreign_file_named(tmp_path):
    save_png(tmp_path / "a.png", 1)
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "zz.csv").write_text("hi")
    msg = assert_one_line_error(tmp_path, lambda: load_pose_sequence(tmp_path))
    assert "'notes.txt'" in msg and "remove it" in msg


def test_error_subfolder_named(tmp_path):
    save_png(tmp_path / "a.png", 1)
    (tmp_path / "sub").mkdir()
    assert "'sub'" in assert_one_line_error(tmp_path, lambda: load_pose_sequence(tmp_path))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 16, 16), np.uint8),  # no channel axis
        np.zeros((4, 16, 16, 4), np.uint8),  # RGBA
        np.zeros((4, 16, 16, 3), np.float32),  # float images
        np.zeros((4, 17, 3), np.float32),  # COCO-17 keypoints
        np.zeros((4, 18, 3), np.int64),  # integer keypoints
        np.zeros((0, 16, 16, 3), np.uint8),  # no frames
    ],
)
def test_error_npy_wrong_shape_or_dtype(tmp_path, array):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    msg = assert_one_line_error(path, lambda: load_pose_sequence(path, width=16, height=16))
    assert str(array.shape) in msg


def test_error_npy_corrupt(tmp_path):
    path = tmp_path / "broken.npy"
    path.write_bytes(b"not an npy file")
    assert_one_line_error(path, lambda: load_pose_sequence(path))


def test_error_unsupported_file_type(tmp_path):
    path = tmp_path / "poses.mp4"
    path.write_bytes(b"\x00")
    assert "unsupported" in assert_one_line_error(path, lambda: load_pose_sequence(path))


def test_single_image_and_json_files(tmp_path):
    img = save_png(tmp_path / "one.png", 50)
    seq = load_pose_sequence(tmp_path / "one.png")
    assert seq.names == ["one"]
    np.testing.assert_array_equal(seq[0], img)
    frame = random_frame(np.random.default_rng(5))
    write_openpose_json(frame, tmp_path / "one.json")
    np.testing.assert_array_equal(load_pose_sequence(tmp_path / "one.json")[0], draw_pose(frame))


@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_npy_keypoints_with_non_finite_values_are_refused_naming_the_frame(tmp_path, bad, shown):
    kp = np.zeros((300, 18, 3), np.float32)  # more than one chunk of the scan
    kp[..., 2] = 1.0
    kp[290, 5, 1] = bad
    kp[299, 0, 2] = np.nan  # a later frame: the first is named
    path = tmp_path / "kp.npy"
    np.save(path, kp)
    with pytest.raises(PoseInputError) as info:
        load_pose_sequence(path, width=40, height=40)
    assert str(info.value) == (
        f"pose array '{path}' holds {shown} in frame 290, not a finite coordinate or "
        "score: set each missing point to (0, 0, 0) (score 0 marks it missing) and save "
        "the array again"
    )


def test_npy_keypoints_far_off_canvas_load_and_render_blank(tmp_path):
    from magicpose.pose import pose_is_visible

    kp = np.zeros((3, 18, 3), np.float64)
    kp[0, :, :2], kp[1, :, :2], kp[2, :, :2] = -20.0, 1e30, 1e300
    kp[..., 2] = 1.0
    path = tmp_path / "kp.npy"
    np.save(path, kp)
    seq = load_pose_sequence(path, width=40, height=40)
    for i in range(3):
        assert not seq[i].any()
        assert not pose_is_visible(seq.pose(i))
