"""`magicpose infer --generator pose2vid`: the Everybody Dance Now pipeline behind the same command."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from magicpose import cli
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.pose import load_pose_sequence

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_data"
FAST = ["--image", str(EXAMPLE / "reference.png"), "--device", "cpu", "--dtype", "float32", "--height", "32",
        "--width", "32"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pose2vid") / "weights"
    generator = Pose2VidGenerator(ngf=4, n_downsample_global=3, n_blocks_global=1, n_blocks_local=1)  # sides: x16
    Pose2VidPipeline(generator=generator, face_enhancer=FaceEnhancer(variant="official")).save_pretrained(folder)
    return folder


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_infer_with_pose2vid_writes_the_pipelines_frames(weights, tmp_path):
    poses = EXAMPLE / "pose_json"
    out = tmp_path / "dance.mp4"
    assert cli.main(["infer", "--generator", "pose2vid", "--weights", str(weights), "--poses", str(poses),
                     "--output", str(out), *FAST]) == 0
    written = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "dance_frames").glob("*.png"))]
    sequence = load_pose_sequence(poses)
    pipe = Pose2VidPipeline.from_pretrained(weights)
    keypoints = [sequence.pose(i) for i in range(len(sequence))]
    expected = list(pipe.iter_frames(sequence, 32, 32, pose_keypoints=keypoints))
    without_face = list(pipe.iter_frames(sequence, 32, 32))
    assert len(written) == len(expected) == 16
    assert all(np.array_equal(a, b) for a, b in zip(written, expected))
    assert any(not np.array_equal(a, b) for a, b in zip(expected, without_face))  # the face enhancer ran
    assert out.is_file() and (tmp_path / "dance_preview.png").is_file()


@pytest.mark.parametrize("case", ["missing weights", "magicpose weights", "bad size"])
def test_pose2vid_refusals_are_one_line_and_write_nothing(weights, tmp_path, capsys, case):
    extra = {"missing weights": ["--weights", str(tmp_path / "nowhere")],
             "magicpose weights": ["--weights", str(REPO / "pretrained_weights" / "demo")],
             "bad size": ["--weights", str(weights), "--height", "40"]}[case]
    out = tmp_path / "out" / "dance.mp4"
    args = ["infer", "--generator", "pose2vid", "--poses", str(EXAMPLE / "poses"), "--output", str(out), *FAST,
            *extra]
    assert cli.main(args) == 2
    line = _error_line(capsys)
    assert {"missing weights": "does not exist", "magicpose weights": "holds a MagicPosePipeline",
            "bad size": "multiples of 16"}[case] in line
    assert not (tmp_path / "out").exists()


def test_magicpose_generator_on_pose2vid_weights_names_the_flag(weights, tmp_path, capsys):
    out = tmp_path / "dance.mp4"
    assert cli.main(["infer", "--weights", str(weights), "--poses", str(EXAMPLE / "poses"), "--output", str(out),
                     *FAST]) == 2
    assert "pass --generator pose2vid" in _error_line(capsys)
