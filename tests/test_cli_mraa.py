"""`magicpose infer --generator mraa`: the reference moved as a driving video moves, in each mode; its refusals."""

import numpy as np
import pytest
from gan_runs import EXAMPLE, infer_args, infer_frames, pngs
from PIL import Image

from magicpose import cli
from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.tiny_models import make_mraa_pipeline

DRIVING = EXAMPLE / "driving"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folders = {}
    for avd in (True, False):
        folder = tmp_path_factory.mktemp("mraa") / ("with_avd" if avd else "no_avd")
        make_mraa_pipeline(avd=avd).save_pretrained(folder)
        folders[avd] = folder
    return folders


@pytest.mark.parametrize("mode", ["standard", "relative", "avd"])
def test_each_mode_writes_the_pipelines_frames_for_every_driving_frame(weights, tmp_path, mode):
    out = tmp_path / "mraa.mp4"
    frames = infer_frames(
        out,
        "--driving-video",
        str(DRIVING),
        "--max-frames",
        "5",
        "--mode",
        mode,
        generator="mraa",
        weights=weights[True],
    )
    reference = Image.open(EXAMPLE / "reference.png").convert("RGB")
    driving = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(DRIVING.glob("*.png"))[:5]]
    pipe = MRAAPipeline.from_pretrained(weights[True])
    expected = list(pipe.iter_frames(reference, driving, mode=mode, height=32, width=32))
    assert len(frames) == 5
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))
    assert out.is_file() and (tmp_path / "mraa_preview.png").is_file()
    assert not (tmp_path / "mraa_poses").exists()  # no poses are extracted for MRAA


def test_the_preview_shows_reference_driving_frame_and_output(weights, tmp_path):
    out = tmp_path / "mraa.mp4"
    frames = infer_frames(
        out, "--max-frames", "2", "--mode", "standard", generator="mraa", weights=weights[True]
    )
    assert len(frames) == 2  # the example's driving frames by default
    with Image.open(tmp_path / "mraa_preview.png") as grid:
        first_row = np.asarray(grid.convert("RGB"))[:32]
    from magicpose.image_utils import center_crop_resize
    from magicpose.video import SEPARATOR_PX

    driving0 = np.asarray(center_crop_resize(Image.open(DRIVING / "0000.png").convert("RGB"), 32, 32))
    gap = SEPARATOR_PX  # reference | driving frame | output, black separators between
    assert first_row.shape[1] == 3 * 32 + 2 * gap
    assert np.array_equal(first_row[:, 32 + gap : 64 + gap], driving0)
    assert np.array_equal(first_row[:, 64 + 2 * gap :], frames[0])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--poses", str(EXAMPLE / "poses")], "MRAA is driven by a video, not by poses"),
        (["--align", "none"], "--align shapes extracted poses"),
        (["--no-smooth"], "--no-smooth shapes extracted poses"),
    ],
)
def test_flags_mraa_cannot_use_are_refused_in_one_line(weights, tmp_path, capsys, extra, message):
    args = infer_args(tmp_path / "out.mp4", *extra, generator="mraa", weights=weights[True])
    assert cli.main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not list(tmp_path.iterdir())


def test_an_unknown_mode_is_an_argparse_error_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["infer", "--generator", "mraa", "--mode", "sideways"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "invalid choice: 'sideways'" in err[0]


def test_mode_belongs_to_mraa_and_avd_needs_its_network(weights, tmp_path, capsys):
    assert cli.main(infer_args(tmp_path / "a.mp4", "--mode", "relative")) != 0
    assert "--mode is MRAA's" in capsys.readouterr().err
    assert cli.main(infer_args(tmp_path / "b.mp4", generator="mraa", weights=weights[False])) != 0
    assert "--mode avd needs the AVD network" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    out = tmp_path / "c.mp4"
    frames = infer_frames(
        out, "--mode", "relative", "--max-frames", "3", generator="mraa", weights=weights[False]
    )
    assert len(frames) == 3 and len(pngs(tmp_path / "c_frames")) == 3


def test_the_embedded_demo_moves_the_example_dancer_as_the_example_driving_frames_move(tmp_path):
    frames = infer_frames(tmp_path / "demo.mp4", "--max-frames", "2", generator="mraa")
    assert len(frames) == 2 and frames[0].shape == (
        64,
        64,
        3,
    )  # the demo weights' size, with their AVD network
    reference = np.asarray(Image.open(EXAMPLE / "reference.png").convert("RGB").resize((64, 64)), dtype=float)
    driving = np.asarray(Image.open(DRIVING / "0000.png").convert("RGB").resize((64, 64)), dtype=float)
    # the output is the reference person (its colours), not the driving dancer
    assert np.abs(frames[0] - reference).mean() < np.abs(frames[0] - driving).mean()
