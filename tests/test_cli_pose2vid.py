"""`magicpose infer --generator pose2vid`: the Everybody Dance Now pipeline behind the same command."""

from pathlib import Path

import numpy as np
import pytest
import torch
from gan_runs import EXAMPLE, FAST, REPO, infer_args, infer_frames, pngs
from PIL import Image

from magicpose import cli
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.pose import load_pose_sequence


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pose2vid") / "weights"
    generator = Pose2VidGenerator(
        ngf=4, n_downsample_global=3, n_blocks_global=1, n_blocks_local=1
    )  # sides: x16
    Pose2VidPipeline(generator=generator, face_enhancer=FaceEnhancer(variant="official")).save_pretrained(
        folder
    )
    return folder


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_infer_with_pose2vid_writes_the_pipelines_frames(weights, tmp_path):
    poses = EXAMPLE / "pose_json"
    out = tmp_path / "dance.mp4"
    written = infer_frames(out, *FAST, generator="pose2vid", weights=weights, poses=poses)
    sequence = load_pose_sequence(poses)
    pipe = Pose2VidPipeline.from_pretrained(weights)
    keypoints = [sequence.pose(i) for i in range(len(sequence))]
    expected = list(pipe.iter_frames(sequence, 32, 32, pose_keypoints=keypoints))
    without_face = list(pipe.iter_frames(sequence, 32, 32))
    assert len(written) == len(expected) == 16
    assert all(np.array_equal(a, b) for a, b in zip(written, expected))
    assert any(not np.array_equal(a, b) for a, b in zip(expected, without_face))  # the face enhancer ran
    assert out.is_file() and (tmp_path / "dance_preview.png").is_file()


def test_face_blend_flag_reaches_the_pipeline(weights, tmp_path):
    """The weights record the hard paste; --face-blend feather writes the feathered frames instead."""
    poses = EXAMPLE / "pose_json"
    sequence = load_pose_sequence(poses)
    keypoints = [sequence.pose(i) for i in range(len(sequence))]
    pipe = Pose2VidPipeline.from_pretrained(weights)
    assert pipe.face_enhancer.config.paste == "hard"
    out = tmp_path / "feathered.mp4"
    written = infer_frames(
        out, "--face-blend", "feather", *FAST, generator="pose2vid", weights=weights, poses=poses
    )
    feathered = list(pipe.iter_frames(sequence, 32, 32, pose_keypoints=keypoints, face_blend="feather"))
    hard = list(pipe.iter_frames(sequence, 32, 32, pose_keypoints=keypoints))
    assert len(written) == 16 and all(np.array_equal(a, b) for a, b in zip(written, feathered, strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(feathered, hard))


def test_face_blend_without_pose2vid_is_refused(tmp_path, capsys):
    out = tmp_path / "out" / "dance.mp4"
    assert cli.main(infer_args(out, "--face-blend", "feather", *FAST, poses=EXAMPLE / "poses")) == 2
    assert _error_line(capsys) == (
        "error: --face-blend is for pose2vid's face enhancer: add --generator pose2vid, or drop the flag"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["missing weights", "magicpose weights", "bad size", "too small"])
def test_pose2vid_refusals_are_one_line_and_write_nothing(weights, tmp_path, capsys, case):
    extra = {
        "missing weights": ["--weights", str(tmp_path / "nowhere")],
        "magicpose weights": ["--weights", str(REPO / "pretrained_weights" / "demo")],
        "bad size": ["--weights", str(weights), "--height", "40"],
        "too small": ["--weights", str(weights), "--height", "16", "--width", "16"],
    }[case]
    out = tmp_path / "out" / "dance.mp4"
    assert cli.main(infer_args(out, *FAST, *extra, generator="pose2vid", poses=EXAMPLE / "poses")) == 2
    line = _error_line(capsys)
    assert {
        "missing weights": "does not exist",
        "magicpose weights": "holds a MagicPosePipeline",
        "bad size": "multiples of 16",
        "too small": "--height and --width must be at least 32 for these pose2vid weights, got 16x16",
    }[case] in line
    assert not (tmp_path / "out").exists()


def test_magicpose_generator_on_pose2vid_weights_names_the_flag(weights, tmp_path, capsys):
    out = tmp_path / "dance.mp4"
    assert cli.main(infer_args(out, *FAST, weights=weights, poses=EXAMPLE / "poses")) == 2
    assert "pass --generator pose2vid" in _error_line(capsys)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def test_infer_py_renders_the_example_dancer_with_the_demo_weights(tmp_path):
    """The README's `python infer.py --generator pose2vid`: the committed demo weights at their training size
    (64x64), on the example's OpenPose JSON (the face enhancer runs), close to the true renders."""
    import subprocess
    import sys

    from magicpose.image_utils import center_crop_resize
    from magicpose.synthetic import Identity, Motion, pose_sequence, render_ground_truth, split_ids
    from magicpose.weights import load_pose2vid_pipeline

    out = tmp_path / "edn.mp4"
    run = subprocess.run(
        [sys.executable, "infer.py", "--generator", "pose2vid", "--output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (
        "note: Everybody Dance Now demo weights" in run.stdout
        and "generating 16 frames at 64x64" in run.stdout
    )
    written = pngs(tmp_path / "edn_frames")
    sequence = load_pose_sequence(EXAMPLE / "pose_json")
    pipe = load_pose2vid_pipeline(
        REPO / "pretrained_weights" / "pose2vid_demo", device="cpu", dtype=torch.float32
    )
    keypoints = [sequence.pose(i) for i in range(len(sequence))]
    assert pipe.generator.default_size == (64, 64) and pipe.face_enhancer is not None
    expected = list(pipe.iter_frames(sequence, 64, 64, pose_keypoints=keypoints))
    assert len(written) == 16 and all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))

    # the true renders of the example (scripts/make_demo_assets.py: seed 7, the second held-out motion, 4 fps)
    (identity_id, _), (_, motion_id) = split_ids(7, "test", 2)
    identity = Identity.from_id(identity_id)
    people = pose_sequence(identity, Motion.from_id(motion_id), 16, 128, fps=4.0)
    truth = [
        np.asarray(center_crop_resize(Image.fromarray(t), 64, 64))
        for t in render_ground_truth(identity, people, 128)
    ]
    reference = np.asarray(center_crop_resize(Image.open(EXAMPLE / "reference.png").convert("RGB"), 64, 64))
    generated = np.mean([_psnr(a, b) for a, b in zip(written, truth, strict=True)])
    copied = np.mean([_psnr(reference, b) for b in truth])
    # measured: 31.5 dB generated, 21.1 dB copying the reference
    assert generated > 28.0 and generated > copied + 3.0, (generated, copied)
