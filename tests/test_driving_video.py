"""`magicpose infer --driving-video` and `magicpose extract-poses`: extract -> smooth -> align -> generate in one
command, the intermediate poses beside the output, and one clear line for each way it can fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from cli_cases import DEMO_WEIGHTS, bash_script, script_run
from PIL import Image

from magicpose import cli
from magicpose.files import RECORD
from magicpose.pose import FramePose, PersonPose, load_pose_sequence, read_openpose_json
from magicpose.pose.extract import BACKENDS, PoseExtractor
from magicpose.synthetic import Identity, Motion, pose_sequence, render_ground_truth, split_ids
from magicpose.video import VideoWriter, read_video, video_info

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "example_data" / "reference.png"
FAST = ["--steps", "2", "--device", "cpu", "--dtype", "float32", "--seed", "3"]
SIZE = 128
FRAMES = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dancer(index: int, frames: int, fps: float = 8.0):
    (identity_id, motion_id), *_ = split_ids(100 + index, "test", 1)
    identity = Identity.from_id(identity_id)
    people = pose_sequence(identity, Motion.from_id(motion_id), frames, SIZE, fps=fps)
    return people, render_ground_truth(identity, people, SIZE)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A driving video of one synthetic dancer, its true keypoints, and the reference's (the example's)."""
    root = tmp_path_factory.mktemp("driving")
    people, renders = _dancer(0, FRAMES)
    video = root / "dance.mp4"
    with VideoWriter(video, fps=12) as writer:
        for frame in renders:
            writer.write(frame)
    decoded = list(read_video(video))
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"))
    reference_person = read_openpose_json(REPO / "example_data" / "pose_json" / "0000_keypoints.json").people[
        0
    ]
    return {
        "video": video,
        "decoded": decoded,
        "people": people,
        "reference": reference,
        "reference_person": reference_person,
        "root": root,
    }


class Oracle(PoseExtractor):
    """Knows the answer: the true keypoints of each decoded frame (matched by pixels), the reference's for the
    reference image; ``empty`` sees nobody anywhere."""

    name: ClassVar[str] = "oracle"
    weight_files: ClassVar[tuple[str, ...]] = ()
    world: ClassVar[dict] = {}
    empty: ClassVar[bool] = False

    @classmethod
    def from_weights_dir(cls, weights_dir=None, device="cpu"):
        return cls()

    def __call__(self, image):
        if self.empty:
            return []
        if np.array_equal(image, self.world["reference"]):
            return [self.world["reference_person"]]
        for frame, person in zip(self.world["decoded"], self.world["people"], strict=True):
            if np.array_equal(image, frame):
                return [person, PersonPose(body=person.body * [0.3, 0.3, 1])]  # and a small bystander
        raise AssertionError("a frame the oracle never saw")


@pytest.fixture
def oracle(world, monkeypatch):
    monkeypatch.setitem(BACKENDS, "oracle", Oracle)
    monkeypatch.setattr(Oracle, "world", world)
    monkeypatch.setattr(Oracle, "empty", False)
    return Oracle


def _json_people(folder: Path) -> list[np.ndarray]:
    return [
        np.array(json.loads(f.read_text())["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)
        for f in sorted(folder.glob("*_keypoints.json"))
    ]


def _pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def _driven(world, *flags: str) -> list[str]:
    """``magicpose infer`` driven by the world's video through the oracle extractor, tiny and fast."""
    return ["infer", "--driving-video", str(world["video"]), "--backend", "oracle", *flags, *FAST]


def _extract_poses(source: Path, out: Path, *flags: str) -> list[str]:
    return ["extract-poses", str(source), "-o", str(out), *flags]


def test_driving_video_runs_every_stage_and_saves_what_it_followed(world, oracle, tmp_path, capsys):
    out = tmp_path / "me.mp4"
    assert cli.main(_driven(world, "--output", str(out))) == 0
    printed = capsys.readouterr().out
    assert (
        f"driving: {FRAMES} frames from '{world['video']}' ({FRAMES} with a person), smoothed, aligned: bones"
        in printed
    )
    frames = _pngs(tmp_path / "me_frames")
    assert len(frames) == FRAMES and video_info(out)["fps"] == pytest.approx(12.0)  # the driving video's rate
    # the raw extraction is the tracked dancer (not the bystander), in the driving video's pixels
    raw = _json_people(tmp_path / "me_poses" / "extracted" / "pose_json")
    for got, person in zip(raw, world["people"], strict=True):
        np.testing.assert_allclose(got[:18], person.body, atol=1e-3)
    # what the generator followed is on the reference's canvas, and rerunning with it gives the same video
    final = sorted((tmp_path / "me_poses" / "pose_json").glob("*.json"))
    assert [f.name for f in final] == [f"{i:06d}_keypoints.json" for i in range(FRAMES)]
    assert json.loads(final[0].read_text())["canvas_width"] == world["reference"].shape[1]
    assert len(_pngs(tmp_path / "me_poses" / "poses")) == FRAMES
    preview = np.asarray(Image.open(tmp_path / "me_alignment.png"))
    assert preview.shape == (SIZE, 3 * SIZE + 8, 3)
    rerun = tmp_path / "rerun.mp4"
    assert (
        cli.main(
            ["infer", "--poses", str(tmp_path / "me_poses" / "pose_json"), "--output", str(rerun), *FAST]
        )
        == 0
    )
    assert all(np.array_equal(a, b) for a, b in zip(_pngs(tmp_path / "rerun_frames"), frames, strict=True))


def test_align_none_and_no_smooth_follow_the_extracted_poses_exactly(world, oracle, tmp_path):
    out = tmp_path / "raw.mp4"
    flags = ["--align", "none", "--no-smooth", "--stride", "2", "--max-frames", "2"]
    assert cli.main(_driven(world, "--output", str(out), *flags)) == 0
    final = _json_people(tmp_path / "raw_poses" / "pose_json")
    assert len(final) == 2 and video_info(out)["fps"] == pytest.approx(6.0)  # 12 fps / stride 2
    for got, person in zip(final, world["people"][:4:2], strict=True):
        np.testing.assert_allclose(got[:18], person.body, atol=1e-3)


def test_aligned_poses_are_the_alignment_of_the_smoothed_extraction(world, oracle, tmp_path):
    from magicpose.pose.align import align_poses
    from magicpose.pose.smooth import smooth_keypoints

    out = tmp_path / "g.mp4"
    assert cli.main(_driven(world, "--output", str(out), "--align", "global")) == 0
    truth = [FramePose(SIZE, SIZE, [p]) for p in world["people"]]
    reference = FramePose(SIZE, SIZE, [world["reference_person"]])
    expected = align_poses(reference, smooth_keypoints(truth, 12.0), "global", canvas=(SIZE, SIZE))
    got = _json_people(tmp_path / "g_poses" / "pose_json")
    for frame, person in zip(expected, got, strict=True):
        np.testing.assert_allclose(person[:18], frame.people[0].body, atol=1e-2)


def test_extract_poses_writes_json_and_maps_that_infer_reads(world, oracle, tmp_path, capsys):
    out = tmp_path / "poses"
    assert cli.main(_extract_poses(world["video"], out, "--backend", "oracle", "--no-smooth")) == 0
    assert f"{FRAMES} frames at 12 fps, {FRAMES} with a person" in capsys.readouterr().out
    sequence = load_pose_sequence(out / "pose_json")
    assert len(sequence) == FRAMES and sequence.has_keypoints
    assert all(np.array_equal(a, b) for a, b in zip(_pngs(out / "poses"), sequence, strict=True))
    assert all(len(sequence.pose(i).people) == 1 for i in range(FRAMES))  # the bystander is dropped
    assert (
        cli.main(_extract_poses(world["video"], tmp_path / "all", "--backend", "oracle", "--person", "all"))
        == 0
    )
    assert all(
        len(load_pose_sequence(tmp_path / "all" / "pose_json").pose(i).people) == 2 for i in range(FRAMES)
    )


def test_extract_poses_from_one_photo(world, oracle, tmp_path, capsys):
    photo = tmp_path / "me.png"
    Image.fromarray(world["reference"]).save(photo)
    assert cli.main(_extract_poses(photo, tmp_path / "me", "--backend", "oracle")) == 0
    [body] = _json_people(tmp_path / "me" / "pose_json")
    np.testing.assert_allclose(body[:18], world["reference_person"].body, atol=1e-3)
    assert [p.name for p in (tmp_path / "me" / "pose_json").iterdir()] == ["me_keypoints.json"]


def test_extract_poses_with_the_dwpose_backend_on_tiny_onnx_models(world, tmp_path):
    pytest.importorskip("onnxruntime")
    from test_extract_dwpose import PERSON_CELL, write_models

    from magicpose.pose.extract.dwpose import DWPoseExtractor

    weights = write_models(tmp_path / "weights", [PERSON_CELL])
    for smooth in (
        [],
        ["--no-smooth"],
    ):  # the tiny model sees the same pose in every frame: smoothing keeps it
        out = tmp_path / f"poses{len(smooth)}"
        assert cli.main(_extract_poses(world["video"], out, "--weights-dir", str(weights), *smooth)) == 0
        extractor = DWPoseExtractor.from_weights_dir(weights)
        expected = [extractor(frame)[0].to_array() for frame in world["decoded"]]
        got = [load_pose_sequence(out / "pose_json").pose(i).people[0].to_array() for i in range(FRAMES)]
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-3)


def _tree(root: Path) -> dict:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing_weights",
        "nobody_in_video",
        "unreadable_video",
        "missing_video",
        "poses_and_video",
        "nobody_in_reference",
        "bad_stride",
    ],
)
@pytest.mark.parametrize("command", ["infer", "extract-poses"])
def test_driving_failures_are_one_line_and_write_nothing(
    world, oracle, tmp_path, capsys, monkeypatch, case, command
):
    if command == "extract-poses" and case in ("poses_and_video", "nobody_in_reference"):
        pytest.skip("infer only")
    (tmp_path / "work").mkdir()
    video, backend, extra = world["video"], ["--backend", "oracle"], []
    expected = {
        "missing_weights": "the dwpose pose extractor needs yolox_l.onnx, dw-ll_ucoco_384.onnx in",
        "nobody_in_video": f"no person was found in any of the {FRAMES} frames of",
        "unreadable_video": "cannot read video",
        "missing_video": "does not exist",
        "poses_and_video": "pass either --poses or --driving-video, not both",
        "nobody_in_reference": "no person was found in the reference image: pass its keypoints with "
        "--reference-pose",
        "bad_stride": "--stride 0 must be at least 1",
    }[case]
    if case == "missing_weights":
        backend = ["--backend", "dwpose", "--weights-dir", str(tmp_path / "work" / "none")]
    elif case == "nobody_in_video":
        monkeypatch.setattr(Oracle, "empty", True)
    elif case == "unreadable_video":
        video = tmp_path / "work" / "broken.mp4"
        video.write_bytes(b"\0not a video" * 100)
    elif case == "missing_video":
        video = tmp_path / "work" / "nope.mp4"
    if case in (
        "unreadable_video",
        "missing_video",
    ):  # the input's problem is named before the extractor's files
        backend = ["--backend", "dwpose", "--weights-dir", str(tmp_path / "work" / "none")]
    elif case == "poses_and_video":
        extra = ["--poses", str(REPO / "example_data" / "poses")]
    elif case == "nobody_in_reference":
        monkeypatch.setattr(Oracle, "world", {**world, "reference_person": PersonPose()})
    elif case == "bad_stride":
        extra = ["--stride", "0"]
    out = tmp_path / "work" / "out"
    if command == "infer":
        argv = [
            "infer",
            "--driving-video",
            str(video),
            "--output",
            str(out / "me.mp4"),
            *backend,
            *extra,
            *FAST,
        ]
    else:
        argv = _extract_poses(video, out, *backend, *extra)
    before = _tree(tmp_path / "work")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], err
    assert _tree(tmp_path / "work") == before


def test_driving_video_script_with_the_dwpose_backend(world, tmp_path):
    """The bash script end to end in a fresh process, on the tiny ONNX DWPose models (a constant person)."""
    import subprocess

    pytest.importorskip("onnxruntime")
    from test_extract_dwpose import PERSON_CELL, write_models

    weights = write_models(tmp_path / "weights", [PERSON_CELL])
    out = tmp_path / "out" / "me.mp4"
    arguments = [
        str(REFERENCE),
        str(world["video"]),
        str(out),
        str(DEMO_WEIGHTS),
        "--weights-dir",
        str(weights),
    ]
    command = bash_script("inference_driving_video.sh", *arguments, "--steps", "2", "--device", "cpu")
    run = subprocess.run(command, **script_run(tmp_path))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(list((tmp_path / "out" / "me_frames").glob("*.png"))) == FRAMES
    assert len(list((tmp_path / "out" / "me_poses" / "pose_json").glob("*.json"))) == FRAMES
    usage = subprocess.run(
        bash_script("inference_driving_video.sh", "one-arg"), capture_output=True, text=True
    )
    assert usage.returncode == 2 and usage.stderr.startswith("error: missing arguments; usage: ")


def test_normalize_to_replaces_alignment_on_a_driving_video(world, oracle, tmp_path, capsys):
    from magicpose.pose.normalize import normalize_poses
    from magicpose.pose.smooth import smooth_keypoints

    target_dir = REPO / "example_data" / "pose_json"
    out = tmp_path / "edn.mp4"
    base = _driven(world, "--normalize-to", str(target_dir))
    assert cli.main([*base, "--output", str(out), "--align", "none"]) == 0
    assert f"normalised to '{target_dir}'" in capsys.readouterr().out
    target = load_pose_sequence(target_dir)
    truth = [FramePose(SIZE, SIZE, [p]) for p in world["people"]]
    expected = normalize_poses(smooth_keypoints(truth, 12.0), [target.pose(i) for i in range(len(target))])
    got = _json_people(tmp_path / "edn_poses" / "pose_json")
    for frame, person in zip(expected, got, strict=True):
        np.testing.assert_allclose(person[:18], frame.people[0].body, atol=1e-2)
    assert cli.main([*base, "--output", str(tmp_path / "x.mp4")]) == 2  # with the default --align bones
    assert "pass --align none with it" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_extract_poses_never_replaces_a_folder_with_other_files(world, oracle, tmp_path, capsys):
    videos = tmp_path / "Videos"
    videos.mkdir()
    (videos / "holiday.mp4").write_bytes(b"precious")
    assert cli.main(_extract_poses(world["video"], videos, "--backend", "oracle")) == 2
    assert "holds files magicpose did not write there (holiday.mp4)" in capsys.readouterr().err
    assert sorted(p.name for p in videos.iterdir()) == ["holiday.mp4"]
    out = tmp_path / "poses"  # an earlier pose folder is replaced
    for _ in range(2):
        assert cli.main(_extract_poses(world["video"], out, "--backend", "oracle")) == 0
    assert sorted(p.name for p in out.iterdir()) == [RECORD, "pose_json", "poses"]
    # ... but not once the user has put a file of their own inside it (the old check looked only at the top)
    (out / "pose_json" / "my_edit_keypoints.json").write_text("{}")
    capsys.readouterr()
    assert cli.main(_extract_poses(world["video"], out, "--backend", "oracle")) == 2
    assert (
        "holds files magicpose did not write there (pose_json/my_edit_keypoints.json)"
        in capsys.readouterr().err
    )
    assert (out / "pose_json" / "my_edit_keypoints.json").read_text() == "{}"
    # and never the folder holding the video it reads
    source = tmp_path / "dance"
    source.mkdir()
    (source / "dance.mp4").write_bytes(world["video"].read_bytes())
    assert cli.main(_extract_poses(source / "dance.mp4", source, "--backend", "oracle")) == 2
    assert f"output '{source}' holds the input '{source / 'dance.mp4'}'" in capsys.readouterr().err
    assert sorted(p.name for p in source.iterdir()) == ["dance.mp4"]


def test_rerun_never_deletes_a_users_file_in_the_saved_driving_poses(world, oracle, tmp_path, capsys):
    out = tmp_path / "me.mp4"
    argv = _driven(world, "--output", str(out))
    assert cli.main(argv) == 0
    mine = tmp_path / "me_poses" / "pose_json" / "000000_keypoints.fixed.json"
    mine.write_text("hand-corrected")
    before = _tree(tmp_path)
    capsys.readouterr()
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: output folder '{tmp_path / 'me_poses'}' holds files magicpose did not write there "
        "(pose_json/000000_keypoints.fixed.json): move them away or choose another --output (only an earlier output "
        "of magicpose is replaced)\n"
    )
    assert _tree(tmp_path) == before


def test_extract_poses_checks_the_device_before_the_extractor(world, tmp_path, capsys):
    flags = ["--backend", "dwpose", "--weights-dir", str(tmp_path / "none"), "--device", "bogus"]
    argv = _extract_poses(world["video"], tmp_path / "out", *flags)
    assert cli.main(argv) == 2
    assert (
        capsys.readouterr().err == "error: --device 'bogus' is not a device: use cpu, cuda, cuda:N or mps\n"
    )
    assert list(tmp_path.iterdir()) == []
