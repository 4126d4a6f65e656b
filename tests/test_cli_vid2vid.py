"""`magicpose infer --generator vid2vid` and the page's vid2vid choice: the Vid2VidPipeline behind the same
command, writing exactly the pipeline's frames."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from magicpose import cli
from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline
from magicpose.pose import load_pose_sequence
from magicpose.weights import load_vid2vid_pipeline

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_data"
FAST = [
    "--image",
    str(EXAMPLE / "reference.png"),
    "--device",
    "cpu",
    "--dtype",
    "float32",
    "--height",
    "32",
    "--width",
    "32",
]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vid2vid") / "weights"
    generator = Vid2VidGenerator(
        ngf=8, n_downsample_G=3, n_blocks=2, n_blocks_local=1, n_scales_spatial=2, sample_size=(32, 32)
    )
    Vid2VidPipeline(generator=generator).save_pretrained(folder)
    return folder


def _pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def test_infer_with_vid2vid_writes_the_pipelines_frames(weights, tmp_path):
    poses = EXAMPLE / "poses"
    out = tmp_path / "dance.mp4"
    assert (
        cli.main(
            [
                "infer",
                "--generator",
                "vid2vid",
                "--weights",
                str(weights),
                "--poses",
                str(poses),
                "--output",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    written = _pngs(tmp_path / "dance_frames")
    expected = list(Vid2VidPipeline.from_pretrained(weights).iter_frames(load_pose_sequence(poses), 32, 32))
    assert len(written) == len(expected) == 16
    assert all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))
    assert out.is_file() and (tmp_path / "dance_preview.png").is_file()


def test_the_embedded_vid2vid_demo_runs_by_default(tmp_path):
    """Without --weights: the CPU demo (pretrained_weights/vid2vid_demo) at its own 64x64, on the example."""
    out = tmp_path / "demo.mp4"
    assert cli.main(["infer", "--generator", "vid2vid", "--output", str(out), "--device", "cpu"]) == 0
    written = _pngs(tmp_path / "demo_frames")
    demo = load_vid2vid_pipeline(REPO / "pretrained_weights" / "vid2vid_demo")  # float32, as the CLI loads it
    expected = list(demo.iter_frames(load_pose_sequence(EXAMPLE / "poses"), 64, 64))
    assert len(written) == 16 and all(np.array_equal(a, b) for a, b in zip(written, expected, strict=True))


def test_vid2vid_with_pose2vid_weights_or_a_bad_size_is_one_line(weights, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    pose2vid = REPO / "pretrained_weights" / "pose2vid_demo"
    assert (
        cli.main(["infer", "--generator", "vid2vid", "--weights", str(pose2vid), "--output", str(out), *FAST])
        == 2
    )
    assert capsys.readouterr().err == (
        f"error: vid2vid weights folder '{pose2vid}' holds a Pose2VidPipeline: pass "
        "a folder made by `magicpose convert vid2vid` or by vid2vid training\n"
    )
    assert (
        cli.main(
            [
                "infer",
                "--generator",
                "vid2vid",
                "--weights",
                str(weights),
                "--output",
                str(out),
                *FAST[:-4],
                "--height",
                "40",
                "--width",
                "32",
            ]
        )
        == 2
    )
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
    assert (
        cli.main(
            [
                "infer",
                "--generator",
                "vid2vid",
                "--weights",
                str(weights),
                "--output",
                str(tmp_path / "cli.mp4"),
                *FAST,
            ]
        )
        == 0
    )
    page_frames, cli_frames = _pngs(outputs.frames_dir), _pngs(tmp_path / "cli_frames")
    assert len(page_frames) == 16
    assert all(np.array_equal(a, b) for a, b in zip(page_frames, cli_frames, strict=True))
    from magicpose.errors import InputError

    with pytest.raises(
        InputError, match="vid2vid needs its weights: start the page with --vid2vid-weights DIR"
    ):
        infer_options(JobForm("x.png", generator="vid2vid"), UIConfig(), tmp_path / "o.mp4", DrivingSource())
