"""MRAA's self-reconstruction evaluation: `magicpose evaluate --mode reconstruction`."""

import json

import numpy as np
import pytest
from PIL import Image

from magicpose.cli import main
from magicpose.eval.reconstruction import reconstruct_videos
from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.tiny_models import make_mraa_pipeline


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mraa") / "weights"
    make_mraa_pipeline(avd=False).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for v, frames in (("clip_a", 3), ("clip_b", 2)):
        (root / "test" / v).mkdir(parents=True)
        for k in range(frames):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
                root / "test" / v / f"{k}.png"
            )
    return root


def test_each_video_is_rebuilt_from_its_first_frame_with_the_background_moving(weights, dataset, tmp_path):
    pipe = MRAAPipeline.from_pretrained(weights)
    out = reconstruct_videos(pipe, dataset, "test", tmp_path / "recon", progress=False)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["clip_a", "clip_b"]
    gen = sorted((out / "clip_a" / "gen_images").iterdir())
    gt = sorted((out / "clip_a" / "gt_images").iterdir())
    assert [p.name for p in gen] == [p.name for p in gt] == ["00000.png", "00001.png", "00002.png"]
    frames = [np.asarray(Image.open(p)) for p in gt]
    expected = list(pipe.iter_frames(frames[0], frames, height=32, width=32, background=True))
    assert all(np.array_equal(np.asarray(Image.open(p)), e) for p, e in zip(gen, expected, strict=True))


def test_the_command_scores_l1_and_skips_what_needs_weights(weights, dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MAGICPOSE_EVAL_WEIGHTS", raising=False)
    monkeypatch.setenv("MAGICPOSE_POSE_WEIGHTS", str(tmp_path / "none"))
    out = tmp_path / "recon"
    args = [
        "evaluate",
        str(out),
        "--mode",
        "reconstruction",
        "--mraa-weights",
        str(weights),
        "--dataset",
        str(dataset),
    ]
    assert main(args) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["metrics"]) == {"l1"} and set(report["skipped"]) == {"akd", "mkr", "aed"}
    assert report["counts"]["frames"] == 5
    pairs = [
        (
            np.asarray(Image.open(out / v / "gen_images" / f), dtype=float),
            np.asarray(Image.open(out / v / "gt_images" / f), dtype=float),
        )
        for v in ("clip_a", "clip_b")
        for f in sorted(p.name for p in (out / v / "gt_images").iterdir())
    ]
    assert report["metrics"]["l1"] == pytest.approx(np.mean([np.abs(a - b).mean() / 255 for a, b in pairs]))
    capsys.readouterr()
    assert main(args) == 0  # a second run replaces the first run's output
    assert json.loads((out / "evaluation.json").read_text())["metrics"] == report["metrics"]


def test_reconstruction_flags_are_checked_in_one_line(weights, dataset, tmp_path, capsys):
    cases = [
        (["--mode", "reconstruction", "--dataset", str(dataset)], "needs --mraa-weights"),
        (["--mraa-weights", str(weights)], "belong to --mode reconstruction"),
        (
            ["--mode", "reconstruction", "--mraa-weights", str(tmp_path), "--dataset", str(dataset)],
            "has no model_index.json",
        ),
        (
            ["--mode", "reconstruction", "--mraa-weights", str(weights), "--dataset", str(tmp_path)],
            "neither 'test_set/' nor 'test/'",
        ),
    ]
    for extra, message in cases:
        assert main(["evaluate", str(tmp_path / "out"), *extra]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "out").exists()
