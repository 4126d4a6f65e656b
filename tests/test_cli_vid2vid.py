"""`magicpose infer --generator vid2vid` and the page's vid2vid choice: the Vid2VidPipeline behind the same
command, writing exactly the pipeline's frames."""

from pathlib import Path

import numpy as np
import pytest
import torch
from gan_runs import EXAMPLE, FAST, REFERENCE, REPO, infer_args, infer_frames, pngs, size_flags

from magicpose import cli
from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline
from magicpose.pose import load_pose_sequence
from magicpose.pose.extract import BACKENDS
from magicpose.video import VideoWriter, video_info
from magicpose.weights import load_vid2vid_pipeline


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vid2vid") / "weights"
    generator = Vid2VidGenerator(
        ngf=8, n_downsample_G=3, n_blocks=2, n_blocks_local=1, n_scales_spatial=2, sample_size=(32, 32)
    )
    Vid2VidPipeline(generator=generator).save_pretrained(folder)
    return folder


def test_infer_with_vid2vid_writes_the_pipelines_frames(weights, tmp_path):
    poses = EXAMPLE / "poses"
    out = tmp_path / "dance.mp4"
    written = infer_frames(out, *FAST, generator="vid2vid", weights=weights, poses=poses)
    expected = list(Vid2VidPipeline.from_pretrained(weights).iter_frames(load_pose_sequence(poses), 32, 32))
    assert len(written) == len(expected) == 16
    assert all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))
    assert out.is_file() and (tmp_path / "dance_preview.png").is_file()


def test_the_embedded_vid2vid_demo_runs_by_default(tmp_path):
    """Without --weights: the CPU demo (pretrained_weights/vid2vid_demo) at its own 64x64, on the example."""
    out = tmp_path / "demo.mp4"
    assert cli.main(["infer", "--generator", "vid2vid", "--output", str(out), "--device", "cpu"]) == 0
    written = pngs(tmp_path / "demo_frames")
    demo = load_vid2vid_pipeline(REPO / "pretrained_weights" / "vid2vid_demo")  # float32, as the CLI loads it
    expected = list(demo.iter_frames(load_pose_sequence(EXAMPLE / "poses"), 64, 64))
    assert len(written) == 16 and all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))


def test_vid2vid_with_pose2vid_weights_or_a_bad_size_is_one_line(weights, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    pose2vid = REPO / "pretrained_weights" / "pose2vid_demo"
    assert cli.main(infer_args(out, *FAST, generator="vid2vid", weights=pose2vid)) == 2
    assert capsys.readouterr().err == (
        f"error: vid2vid weights folder '{pose2vid}' holds a Pose2VidPipeline: pass "
        "a folder made by `magicpose convert vid2vid` or by vid2vid training\n"
    )
    bad_size = [*REFERENCE, *size_flags(40, 32)]
    assert cli.main(infer_args(out, *bad_size, generator="vid2vid", weights=weights)) == 2
    assert "multiples of 16 for these vid2vid weights" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "x_frames").exists()


def test_the_page_offers_vid2vid_and_writes_what_the_cli_writes(weights, tmp_path):
    from magicpose.ui.jobs import JobForm, JobRunner, UIConfig, infer_options
    from magicpose.ui.uploads import DrivingSource

    page = JobRunner(UIConfig(output_dir=tmp_path / "page", vid2vid_weights=str(weights), device="cpu"))
    outputs = page.run(
        JobForm(str(EXAMPLE / "reference.png"), generator="vid2vid", height=32, width=32),
        log=lambda line: None,
    )
    cli_frames = infer_frames(tmp_path / "cli.mp4", *FAST, generator="vid2vid", weights=weights)
    page_frames = pngs(outputs.frames_dir)
    assert len(page_frames) == 16
    assert all(np.array_equal(a, b) for a, b in zip(page_frames, cli_frames, strict=True))
    from magicpose.errors import InputError

    with pytest.raises(
        InputError, match="vid2vid needs its weights: start the page with --vid2vid-weights DIR"
    ):
        infer_options(JobForm("x.png", generator="vid2vid"), UIConfig(), tmp_path / "o.mp4", DrivingSource())


def test_vid2vid_follows_a_driving_video(weights, tmp_path, monkeypatch):
    """--driving-video with vid2vid: poses extracted from each of the video's frames (a stand-in extractor that
    sees the example's person everywhere), one generated frame each, exactly the pipeline's frames on the poses
    infer saved beside the output."""
    from test_ui import SamePerson

    monkeypatch.setitem(BACKENDS, "same-person", SamePerson)
    video = tmp_path / "driving.mp4"
    with VideoWriter(video, fps=8) as writer:
        for i in range(5):
            writer.write(np.full((48, 48, 3), 40 * i, np.uint8))
    out = tmp_path / "dance.mp4"
    driving = ["--driving-video", str(video), "--backend", "same-person", *FAST]
    written = infer_frames(out, *driving, generator="vid2vid", weights=weights)
    followed = load_pose_sequence(tmp_path / "dance_poses" / "pose_json")
    expected = list(Vid2VidPipeline.from_pretrained(weights).iter_frames(followed, 32, 32))
    assert len(written) == len(followed) == 5 and video_info(out)["frames"] == 5
    assert all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))
