"""OpenPose JSON reading (BODY_18 / BODY_25) and exact write/read round trips."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from magicpose.pose import (
    BODY25_TO_BODY18,
    FramePose,
    PersonPose,
    PoseInputError,
    read_openpose_json,
    write_openpose_json,
)


def random_frame(seed: int, people: int = 2) -> FramePose:
    rng = np.random.default_rng(seed)
    arr = rng.uniform(-50, 600, (people, 130, 3)).astype(np.float32)
    arr[..., 2] = rng.uniform(0, 1, (people, 130)).astype(np.float32)
    arr[:, ::7, 2] = 0.0  # some missing points keep their (garbage) coordinates
    return FramePose.from_array(arr, 640, 480)


def write_raw(path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_round_trip_is_exact(tmp_path):
    frame = random_frame(0, people=3)
    path = tmp_path / "f_keypoints.json"
    write_openpose_json(frame, path)
    back = read_openpose_json(path)
    assert (back.width, back.height) == (640, 480)
    assert len(back.people) == 3
    assert np.array_equal(back.to_array(), frame.to_array())
    assert back == frame


def test_written_file_layout(tmp_path):
    frame = random_frame(1, people=1)
    path = tmp_path / "out" / "x.json"  # parent folder is created
    write_openpose_json(frame, path)
    data = json.loads(path.read_text())
    assert data["version"] == 1.3
    assert (data["canvas_width"], data["canvas_height"]) == (640, 480)
    person = data["people"][0]
    assert len(person["pose_keypoints_2d"]) == 54
    assert len(person["hand_left_keypoints_2d"]) == 63
    assert len(person["hand_right_keypoints_2d"]) == 63
    assert len(person["face_keypoints_2d"]) == 210
    assert person["pose_keypoints_2d"][:3] == [float(v) for v in frame.people[0].body[0]]
    assert os.listdir(path.parent) == ["x.json"]  # no temp file left behind
    if os.name == "posix":
        assert (os.stat(path).st_mode & 0o777) == 0o644


def test_write_replaces_existing_file_atomically(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("old")
    write_openpose_json(FramePose(8, 8, []), path)
    assert read_openpose_json(path) == FramePose(8, 8, [])
    assert os.listdir(tmp_path) == ["f.json"]


def test_non_finite_points_are_written_as_missing(tmp_path):
    body = np.ones((18, 3), np.float32)
    body[4] = (np.nan, 3.0, 0.9)
    path = tmp_path / "f.json"
    write_openpose_json(FramePose(10, 10, [PersonPose(body=body)]), path)
    back = read_openpose_json(path).people[0].body
    assert back[4].tolist() == [0.0, 0.0, 0.0]
    assert np.array_equal(back[5], body[5])


def test_body25_is_mapped_to_body18(tmp_path):
    # Point j of BODY_25 gets x = 10 + j, y = 100 + j, score = (j + 1) / 100, so every index is traceable.
    flat = []
    for j in range(25):
        flat += [10.0 + j, 100.0 + j, (j + 1) / 100]
    path = tmp_path / "b25.json"
    write_raw(path, {"version": 1.3, "people": [{"pose_keypoints_2d": flat}]})
    frame = read_openpose_json(path, width=320, height=240)
    assert (frame.width, frame.height) == (320, 240)
    body = frame.people[0].body
    assert body.shape == (18, 3)
    expected_src = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    assert list(BODY25_TO_BODY18) == expected_src
    for i, j in enumerate(expected_src):
        assert body[i].tolist() == pytest.approx([10.0 + j, 100.0 + j, (j + 1) / 100])
    xs = set(body[:, 0].tolist())
    assert 18.0 not in xs  # MidHip (BODY_25 index 8) dropped
    assert not xs & {29.0, 30.0, 31.0, 32.0, 33.0, 34.0}  # feet (19-24) dropped
    # Hands and face absent -> all missing.
    p = frame.people[0]
    assert not p.left_hand.any() and not p.right_hand.any() and not p.face.any()


def test_body18_input_is_accepted(tmp_path):
    flat = [float(v) for v in range(54)]
    path = tmp_path / "b18.json"
    write_raw(
        path,
        {"people": [{"pose_keypoints_2d": flat, "hand_left_keypoints_2d": [], "face_keypoints_2d": []}],
         "canvas_width": 100, "canvas_height": 50},
    )  # fmt: skip
    frame = read_openpose_json(path, width=999, height=999)  # file fields win over the arguments
    assert (frame.width, frame.height) == (100, 50)
    np.testing.assert_array_equal(frame.people[0].body, np.arange(54, dtype=np.float32).reshape(18, 3))
    assert not frame.people[0].left_hand.any()


def test_hands_and_face_are_read(tmp_path):
    lh = [float(v) for v in range(63)]
    rh = [float(v) + 1000 for v in range(63)]
    face = [float(v) + 5000 for v in range(210)]
    path = tmp_path / "hf.json"
    person = {"pose_keypoints_2d": [], "hand_left_keypoints_2d": lh, "hand_right_keypoints_2d": rh,
              "face_keypoints_2d": face}  # fmt: skip
    write_raw(path, {"people": [person], "canvas_width": 10, "canvas_height": 10})
    p = read_openpose_json(path).people[0]
    assert not p.body.any()
    np.testing.assert_array_equal(p.left_hand.reshape(-1), np.array(lh, np.float32))
    np.testing.assert_array_equal(p.right_hand.reshape(-1), np.array(rh, np.float32))
    np.testing.assert_array_equal(p.face.reshape(-1), np.array(face, np.float32))


@pytest.mark.parametrize(
    ("key", "count"),
    [
        ("pose_keypoints_2d", 51),
        ("pose_keypoints_2d", 60),
        ("hand_left_keypoints_2d", 60),
        ("face_keypoints_2d", 204),
    ],
)
def test_bad_length_raises_naming_file_and_count(tmp_path, key, count):
    path = tmp_path / "weird_keypoints.json"
    write_raw(path, {"people": [{key: [1.0] * count}], "canvas_width": 10, "canvas_height": 10})
    with pytest.raises(PoseInputError) as info:
        read_openpose_json(path)
    msg = str(info.value)
    assert "weird_keypoints.json" in msg and str(count) in msg and key in msg
    assert "\n" not in msg


def test_missing_canvas_size_says_to_pass_it(tmp_path):
    path = tmp_path / "nocanvas.json"
    write_raw(path, {"people": []})
    with pytest.raises(PoseInputError, match=r"nocanvas\.json.*pass the canvas size"):
        read_openpose_json(path)
    assert read_openpose_json(path, width=64, height=32) == FramePose(64, 32, [])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 1.3}'])
def test_malformed_files_raise_pose_input_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PoseInputError, match="bad.json"):
        read_openpose_json(path, width=10, height=10)


def test_missing_file_raises_pose_input_error(tmp_path):
    with pytest.raises(PoseInputError, match="nope.json"):
        read_openpose_json(tmp_path / "nope.json", width=10, height=10)


@pytest.mark.parametrize(
    "literal, shown", [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e400", "inf")]
)
def test_non_finite_numbers_are_refused_naming_file_person_and_key(tmp_path, literal, shown):
    numbers = ["10", "20", "0.9"] * 18
    numbers[4] = literal  # the y of point 1
    path = tmp_path / "f_keypoints.json"
    path.write_text(
        '{"canvas_width": 64, "canvas_height": 64, "people": [{}, {"pose_keypoints_2d": ['
        + ", ".join(numbers)
        + "]}]}",
        encoding="utf-8",
    )
    with pytest.raises(PoseInputError) as info:
        read_openpose_json(path)
    assert str(info.value) == (
        f"OpenPose JSON '{path}': person 1 'pose_keypoints_2d' holds {shown} (number 4), "
        "not a finite value; write a missing point as 0, 0, 0 (score 0) or regenerate the file"
    )


def test_far_off_canvas_but_finite_numbers_are_read(tmp_path):
    path = tmp_path / "f_keypoints.json"
    write_raw(
        path,
        {
            "canvas_width": 64,
            "canvas_height": 64,
            "people": [{"pose_keypoints_2d": [-1e30, 1e300, 1.0] * 18}],
        },
    )
    body = read_openpose_json(path).people[0].body
    assert body[0].tolist() == [np.float32(-1e30), np.inf, 1.0]  # 1e300 is beyond float32: inf, never drawn


def test_write_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    import magicpose.pose.openpose_json as module

    calls = []
    monkeypatch.setattr(module, "write_text_atomic", lambda path, text: calls.append((path, text)))
    write_openpose_json(FramePose(8, 6, []), tmp_path / "sub" / "f.json")
    assert calls == [
        (tmp_path / "sub" / "f.json", '{"version": 1.3, "canvas_width": 8, "canvas_height": 6, "people": []}')
    ]


def test_a_huge_canvas_and_deeply_nested_json_are_one_line(tmp_path):
    path = tmp_path / "huge_keypoints.json"
    write_raw(path, {"people": [], "canvas_width": 100000, "canvas_height": 100000})
    with pytest.raises(PoseInputError) as err:
        read_openpose_json(path)
    assert str(err.value) == (
        f"OpenPose JSON '{path}': a canvas of 100000x100000 is larger than 16384 pixels on a "
        "side; fix canvas_width/canvas_height (the size of the video the keypoints were "
        "measured on)"
    )
    deep = tmp_path / "deep_keypoints.json"
    deep.write_text('{"people": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(PoseInputError, match=r"deep_keypoints.json' is not valid JSON \(nested too deeply\)"):
        read_openpose_json(deep, 64, 64)
