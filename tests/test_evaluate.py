"""`magicpose evaluate`: every metric against an independent computation, with tiny random networks."""

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import Tensor, nn

from magicpose.cli import main
from magicpose.errors import InputError
from magicpose.eval.evaluate import EvaluationOptions, evaluate_videos, format_value
from magicpose.eval.folders import pair_folders
from magicpose.eval.inception_fid import FIDInceptionV3, load_fid_inception
from magicpose.eval.keypoints import frame_akd_mkr
from magicpose.eval.lpips import VGG16Features
from magicpose.eval.networks import WEIGHTS_ENV
from magicpose.eval.preprocess import (
    clean_fid_input,
    fid_vid_frame,
    fvd_frame,
    gif_round_trip,
    pytorch_fid_input,
)
from magicpose.pose.schema import PersonPose

FRAMES, H, W = 18, 32, 40

pytestmark = pytest.mark.usefixtures("two_torch_threads")  # LPIPS' VGG16, Inception-v3: see conftest.py


class _TinyLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 7, stride=4)

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.conv(x)).mean((2, 3))


class TinyInception(nn.Module):
    """Stands in for clean-fid's Inception TorchScript: a ``layers`` module on (x - 128) / 128, 6-d features."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = _TinyLayers()

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor:
        return self.layers((x - 128) / 128)


class TinyI3D(nn.Module):
    """Stands in for StyleGAN-V's I3D TorchScript: same keyword arguments, 5-d features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 5, (3, 9, 9), stride=(2, 8, 8))

    def forward(
        self, x: Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True
    ) -> Tensor:
        return torch.tanh(self.conv(x)).mean((2, 3, 4))


class TinyResNet3D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, (3, 5, 5), stride=(2, 4, 4))

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.conv(x / 100)).mean((2, 3, 4))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A folder holding random networks under the usual file names."""
    folder = tmp_path_factory.mktemp("eval_weights")
    torch.manual_seed(0)
    torch.jit.script(TinyInception()).save(str(folder / "inception-2015-12-05.pt"))
    torch.jit.script(TinyI3D()).save(str(folder / "i3d_torchscript.pt"))
    torch.jit.script(TinyResNet3D()).save(str(folder / "resnet-50-kinetics.pth"))
    torch.save(VGG16Features().state_dict(), folder / "vgg16-397923af.pth")
    torch.save(
        {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 128, 256, 512, 512))},
        folder / "vgg.pth",
    )
    return folder


def _video(seed: int, n: int = FRAMES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:H, :W]
    frames = []
    for k in range(n):
        frame = np.stack([(x * 6 + k * 9) % 256, (y * 7 + k * 5) % 256, np.full_like(x, 40 * seed % 256)], -1)
        frames.append(np.clip(frame + rng.integers(-10, 10, frame.shape), 0, 255).astype(np.uint8))
    return frames


def _noisy(frames: list[np.ndarray], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + seed)
    return [np.clip(f.astype(int) + rng.integers(-30, 30, f.shape), 0, 255).astype(np.uint8) for f in frames]


def _write(folder, frames) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{k:05d}.png")


def _dataset_output(root, identical: bool = False) -> dict[str, tuple[list, list]]:
    """What `magicpose infer-dataset` writes: <video>/gen_images and <video>/gt_images."""
    videos = {}
    for seed, name in enumerate(("dance_a", "dance_b")):
        gt = _video(seed)
        gen = gt if identical else _noisy(gt, seed)
        _write(root / name / "gen_images", gen)
        _write(root / name / "gt_images", gt)
        videos[name] = (gen, gt)
    return videos


def _run(capsys, *args) -> tuple[int, str, str]:
    rc = main(["evaluate", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_evaluate_matches_independent_computations(tmp_path, weights, capsys, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    videos = _dataset_output(tmp_path / "run")
    rc, out, err = _run(
        capsys,
        tmp_path / "run",
        "--eval-weights",
        weights,
        "--pose-weights",
        tmp_path,
        "--fid-protocol",
        "clean-fid",
    )
    assert rc == 0, err
    report = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    got = report["metrics"]
    pairs = [pair for gen, gt in videos.values() for pair in zip(gen, gt)]
    grey = lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)  # noqa: E731
    expected = {
        "l1": np.mean([np.abs(a.astype(float) - b).mean() / 255 for a, b in pairs]),
        "l1_disco": np.mean([np.abs(a.astype(float) - b).mean() / (H * W) for a, b in pairs]),
        "psnr": np.mean([peak_signal_noise_ratio(b, a, data_range=255) for a, b in pairs]),
        "psnr_disco": np.mean(
            [20 * np.log10(255 / np.sqrt((((a.astype(int) - b) % 256) ** 2 % 256).mean())) for a, b in pairs]
        ),
        "ssim": np.mean([structural_similarity(grey(a), grey(b)) for a, b in pairs]),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9), name
    assert got["lpips"] > 0 and got["lpips_disco"] > 0 and got["lpips"] != pytest.approx(got["lpips_disco"])
    assert got["fid"] > 0 and got["fid_vid"] > 0 and got["fvd"] > 0
    # no pose extractor weights in --pose-weights, no identity embedder in the folder
    assert set(report["skipped"]) == {"akd", "mkr", "aed"}
    assert "dwpose pose extractor needs" in report["skipped"]["akd"]
    assert "--identity-embedder reid_embedder.pt" in report["skipped"]["aed"]
    assert report["counts"] == {"videos": 2, "frames": 2 * FRAMES, "clips": 2 * (FRAMES - 16 + 1)}
    assert report["per_video"]["dance_b"]["frames"] == FRAMES
    assert report["per_video"]["dance_a"]["ssim"] == pytest.approx(
        np.mean([structural_similarity(grey(a), grey(b)) for a, b in zip(*videos["dance_a"])]), rel=1e-9
    )
    assert "clean-fid's protocol" in report["protocol"]["fid"] and "stride 1" in report["protocol"]["fvd"]
    assert "raw frames" in report["protocol"]["fvd"] and "ActivityNet mean" in report["protocol"]["fid_vid"]
    table = (tmp_path / "run" / "evaluation.md").read_text()
    assert table.endswith("\n<!-- written by magicpose -->\n")  # the mark that lets a rerun replace it
    table = table.removesuffix("\n<!-- written by magicpose -->\n")
    assert "| FID-VID ↓ |" in table and f"| {got['fid_vid']:.2f} |" in table and table in out


def test_a_set_against_itself_scores_zero_distance(tmp_path, weights, capsys):
    _dataset_output(tmp_path / "same", identical=True)
    rc, out, err = _run(
        capsys,
        tmp_path / "same",
        "--eval-weights",
        weights,
        "-o",
        tmp_path / "r.json",
        "--fid-protocol",
        "clean-fid",
    )
    assert rc == 0, err
    got = json.loads((tmp_path / "r.json").read_text())["metrics"]
    assert (
        got["l1"] == 0 and got["psnr"] == 100 and got["psnr_disco"] == 100 and got["ssim"] == pytest.approx(1)
    )
    assert got["lpips"] == 0 and got["lpips_disco"] == 0  # LPIPS of identical images with a random backbone
    for name in ("fid", "fid_vid", "fvd"):
        assert 0 <= got[name] < 1e-6, name  # a rounding residue is never negative
    assert "-0.00" not in out and "| 0.00 | 0.00 | 0.00 |" in out  # FID, FID-VID, FVD


def test_values_that_round_to_zero_print_without_a_sign():
    assert format_value("fid", -1e-9) == "0.00" and format_value("fvd", -0.004) == "0.00"
    assert format_value("ssim", -1e-7) == "0.0000" and format_value("l1_disco", -0.0) == "0.000e+00"
    assert format_value("fid", -0.006) == "-0.01" and format_value("fid_vid", 12.345) == "12.35"  # only zeros


def test_clips_reach_the_network_as_sliding_windows_within_each_video(tmp_path):
    """FVD's clip slicing on hand-built videos: frame k of a video is flat grey 10 k."""
    lengths = {"a": 19, "b": 17, "c": 10}
    for name, n in lengths.items():
        frames = [np.full((24, 24, 3), 10 * k, np.uint8) for k in range(n)]
        _write(tmp_path / "gen" / name, frames)
        _write(tmp_path / "gt" / name, frames)
    seen = []

    def recorder(x: Tensor) -> Tensor:  # (B, 3, T, 224, 224) in [-1, 1] -> which frames each clip holds
        indices = torch.round((x[:, 0, :, 0, 0] + 1) * 127.5 / 10).long()
        seen.extend(indices.tolist())
        return torch.stack([x.mean((1, 2, 3, 4)), x[:, :, 0].mean((1, 2, 3))], 1)

    pairs = pair_folders(tmp_path / "gen", tmp_path / "gt")
    options = EvaluationOptions(metrics=("fvd",), gif=False, batch_size=8)
    report = evaluate_videos(pairs, options, features={"fvd": recorder}, progress=False)
    windows = [list(range(s, s + 16)) for n in lengths.values() for s in range(n - 16 + 1)]
    assert sorted(seen) == sorted(windows + windows)  # each side's clips (the sides' batches interleave)
    assert report["counts"]["clips"] == 4 + 2 + 0
    assert abs(report["metrics"]["fvd"]) < 1e-9


def test_batching_does_not_change_the_numbers(tmp_path, weights):
    _dataset_output(tmp_path / "run")
    pairs = pair_folders(tmp_path / "run")
    from magicpose.eval.networks import load_feature_network

    features = {
        "fid": load_feature_network("inception", weights / "inception-2015-12-05.pt"),
        "fvd": load_feature_network("i3d", weights / "i3d_torchscript.pt"),
    }
    results = [
        evaluate_videos(
            pairs,
            EvaluationOptions(metrics=("fid", "fvd", "psnr"), batch_size=b, fid_protocol="clean-fid"),
            features=features,
            progress=False,
        )["metrics"]
        for b in (1, 5, 64)
    ]
    for other in results[1:]:
        for name in ("fid", "fvd", "psnr"):
            assert other[name] == pytest.approx(results[0][name], rel=1e-6, abs=1e-9)


def test_missing_networks_are_skipped_with_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    _dataset_output(tmp_path / "run")
    rc, out, _ = _run(capsys, tmp_path / "run", "--pose-weights", tmp_path)
    assert rc == 0
    report = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert set(report["skipped"]) == {"lpips", "lpips_disco", "fid", "fid_vid", "fvd", "akd", "mkr", "aed"}
    assert "--pytorch-fid-inception pt_inception-2015-12-05-6726825d.pth" in report["skipped"]["fid"]
    assert "--i3d" in report["skipped"]["fvd"]
    assert set(report["metrics"]) == {"l1", "l1_disco", "psnr", "psnr_disco", "ssim"}
    assert "| skipped |" in out and "FID skipped: needs" in out


def _marker_frame(points: dict[int, tuple[int, int]]) -> np.ndarray:
    """Body keypoint k drawn as one pixel of colour (10 k + 5, 255, 0) at (x, y)."""
    frame = np.zeros((H, W, 3), np.uint8)
    for k, (x, y) in points.items():
        frame[y, x] = (10 * k + 5, 255, 0)
    return frame


def _marker_extractor(frame: np.ndarray) -> list[PersonPose]:
    """A pose extractor for marker frames: finds the keypoints _marker_frame drew."""
    body = np.zeros((18, 3), np.float32)
    ys, xs = np.nonzero((frame[..., 1] == 255) & (frame[..., 2] == 0))
    for x, y in zip(xs, ys):
        body[(frame[y, x, 0] - 5) // 10] = (x, y, 0.9)
    return [PersonPose(body=body)] if len(xs) else []


def test_akd_and_mkr_follow_mraa(tmp_path):
    truth = [{k: (2 + k, 3 + k) for k in range(10)}, {k: (20, 2 + k) for k in range(4)}, {}]
    generated = [
        {k: (2 + k + 3, 3 + k) for k in range(8)},  # 8 of 10 found, each 3 px off in x: |dx|, |dy| mean 1.5
        {0: (20, 2), 1: (20, 3), 5: (1, 1)},  # 2 of 4 found, exact; keypoint 5 is not in the truth
        {0: (5, 5)},  # no keypoint in the truth: counts for neither metric
    ]
    _write(tmp_path / "gen", [_marker_frame(p) for p in generated])
    _write(tmp_path / "gt", [_marker_frame(p) for p in truth])
    pairs = pair_folders(tmp_path / "gen", tmp_path / "gt")
    report = evaluate_videos(
        pairs, EvaluationOptions(metrics=("akd", "mkr")), pose_extractor=_marker_extractor, progress=False
    )
    assert report["metrics"]["akd"] == pytest.approx((1.5 + 0.0) / 2)
    assert report["metrics"]["mkr"] == pytest.approx((2 / 10 + 2 / 4) / 2)
    assert frame_akd_mkr(np.zeros((18, 3)), np.zeros((18, 3))) == (None, None)


def test_too_few_frames_for_a_clip_is_skipped_not_faked(tmp_path, weights, capsys):
    _write(tmp_path / "gen", _video(0, 10))
    _write(tmp_path / "gt", _video(0, 10))
    rc, _, err = _run(
        capsys,
        tmp_path / "gen",
        tmp_path / "gt",
        "--eval-weights",
        weights,
        "--metrics",
        "fid,fvd",
        "-o",
        tmp_path / "r.json",
        "--fid-protocol",
        "clean-fid",
    )
    assert rc == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert "fvd" not in report["metrics"] and "video of 16 frames" in report["skipped"]["fvd"]
    assert report["metrics"]["fid"] == pytest.approx(0, abs=1e-6)  # one video of frames, against itself


def _error(capsys, *args) -> str:
    rc, out, err = _run(capsys, *args)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    return err


def test_mismatched_folders_give_one_line_and_no_output(tmp_path, capsys):
    gt = _video(0)
    _write(tmp_path / "gt" / "v", gt)
    _write(tmp_path / "gen" / "v", gt[:-1])  # one frame short
    assert "frame '00017' is in" in _error(capsys, tmp_path / "gen", tmp_path / "gt")
    (tmp_path / "gen" / "v" / "00003.png").rename(
        tmp_path / "gen" / "v" / "00017.png"
    )  # same count, one renamed
    err = _error(capsys, tmp_path / "gen", tmp_path / "gt")
    assert "'00003' is in" in err and "paired by name" in err
    _write(tmp_path / "gen2" / "w", gt)
    assert "video 'w' is in" in _error(capsys, tmp_path / "gen2", tmp_path / "gt")
    assert "holds frames but" in _error(capsys, tmp_path / "gen" / "v", tmp_path / "gt")
    assert "not `magicpose infer-dataset` output" in _error(capsys, tmp_path / "gen")
    assert "does not exist" in _error(capsys, tmp_path / "nowhere", tmp_path / "gt")
    assert not list(tmp_path.rglob("*.json"))


def test_different_sizes_are_refused_unless_resized(tmp_path, capsys):
    gt = _video(0, 4)
    small = [np.asarray(Image.fromarray(f).resize((W // 2, H // 2))) for f in gt]
    _write(tmp_path / "gt", gt)
    _write(tmp_path / "gen", small)
    err = _error(capsys, tmp_path / "gen", tmp_path / "gt")
    assert "20x16" in err and "40x32" in err and "--resize" in err
    rc, _, _ = _run(
        capsys, tmp_path / "gen", tmp_path / "gt", "--resize", "--metrics", "l1", "-o", tmp_path / "r.json"
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert rc == 0 and report["resized_videos"] == ["gen"]
    resized = [cv2.resize(s, (W, H), interpolation=cv2.INTER_LINEAR) for s in small]
    expected = np.mean([np.abs(a.astype(float) - b).mean() / 255 for a, b in zip(resized, gt)])
    assert report["metrics"]["l1"] == pytest.approx(expected, rel=1e-12)


def test_bad_flags_give_one_line(tmp_path, capsys):
    _dataset_output(tmp_path / "run")
    assert "unknown metric 'fidd'" in _error(capsys, tmp_path / "run", "--metrics", "l1,fidd")
    assert "must end in .json" in _error(capsys, tmp_path / "run", "-o", tmp_path / "r.txt")
    assert "--i3d" in _error(capsys, tmp_path / "run", "--i3d", tmp_path / "absent.pt")
    assert "--clip-length 0" in _error(capsys, tmp_path / "run", "--clip-length", "0")
    not_script = tmp_path / "i3d.pt"
    torch.save({"w": torch.zeros(1)}, not_script)
    assert "not a TorchScript file" in _error(
        capsys, tmp_path / "run", "--i3d", not_script, "--metrics", "fvd"
    )
    assert not (tmp_path / "run" / "evaluation.json").exists()


def _pair_of(tmp_path, h: int, w: int, n: int = 2):
    frames = [np.full((h, w, 3), 60 + 10 * k, np.uint8) for k in range(n)]
    _write(tmp_path / "gen", frames)
    _write(tmp_path / "gt", frames)
    return tmp_path / "gen", tmp_path / "gt"


def test_frames_smaller_than_a_metric_needs_are_refused_before_scoring(
    tmp_path, weights, capsys, monkeypatch
):
    import magicpose.eval.evaluate as module

    monkeypatch.setattr(module, "_read", lambda *a: pytest.fail("a frame was read for scoring"))
    gen, gt = _pair_of(tmp_path, 6, 9)
    err = _error(capsys, gen, gt, "--metrics", "l1,ssim", "-o", tmp_path / "r.json")
    assert err == (
        f"error: video 'gen': frames are 9x6 ('{gt / '00000.png'}'), smaller than the 7x7 pixels SSIM "
        "needs: leave ssim out of --metrics or evaluate frames of at least 7x7\n"
    )
    (tmp_path / "gen").rename(tmp_path / "small_gen")
    (tmp_path / "gt").rename(tmp_path / "small_gt")
    gen, gt = _pair_of(tmp_path, 12, 20)  # enough for SSIM, not for LPIPS' VGG when its weights are there
    err = _error(
        capsys, gen, gt, "--metrics", "ssim,lpips", "--eval-weights", weights, "-o", tmp_path / "r.json"
    )
    assert "frames are 20x12" in err and "the 16x16 pixels LPIPS needs: leave lpips out of --metrics" in err
    assert not list(tmp_path.rglob("r.*"))


def test_small_frames_are_scored_by_the_metrics_that_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    gen, gt = _pair_of(tmp_path, 12, 20)
    rc, _, _ = _run(capsys, gen, gt, "--metrics", "l1,ssim,lpips", "-o", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert rc == 0 and report["metrics"] == {"l1": 0.0, "ssim": 1.0} and list(report["skipped"]) == ["lpips"]


def test_output_in_a_new_folder_is_created_and_removed_again_on_failure(tmp_path, capsys, monkeypatch):
    import magicpose.eval.evaluate as module

    gen, gt = _pair_of(tmp_path, 8, 8)
    out = tmp_path / "new" / "deeper" / "eval.json"
    rc, stdout, _ = _run(capsys, gen, gt, "--metrics", "l1", "-o", out)
    assert rc == 0 and stdout.endswith(f"wrote {out} and {out.with_suffix('.md')}\n")
    assert sorted(p.name for p in out.parent.iterdir()) == ["eval.json", "eval.md"]  # no temporaries left
    assert json.loads(out.read_text())["metrics"] == {"l1": 0.0}

    def fail(*args, **kwargs):
        raise InputError("scoring failed")

    monkeypatch.setattr(module, "evaluate_videos", fail)
    assert (
        _error(capsys, gen, gt, "--metrics", "l1", "-o", tmp_path / "other" / "x" / "e.json")
        == "error: scoring failed\n"
    )
    assert not (tmp_path / "other").exists()


def test_unwritable_output_is_refused_before_scoring(tmp_path, capsys, monkeypatch):
    import magicpose.eval.evaluate as module

    monkeypatch.setattr(module, "evaluate_videos", lambda *a, **k: pytest.fail("scoring started"))
    gen, gt = _pair_of(tmp_path, 8, 8)
    (tmp_path / "file").write_text("x")
    err = _error(capsys, gen, gt, "--metrics", "l1", "-o", tmp_path / "file" / "e.json")
    assert err.startswith(f"error: cannot write to '{tmp_path / 'file' / 'e.json'}' (") and err.endswith(
        "): choose another --output\n"
    )
    (tmp_path / "e.md").mkdir()
    assert _error(capsys, gen, gt, "--metrics", "l1", "-o", tmp_path / "e.json") == (
        f"error: '{tmp_path / 'e.md'}' (written beside --output '{tmp_path / 'e.json'}') is a folder: choose another "
        "--output\n"
    )
    assert (tmp_path / "file").read_text() == "x" and not (tmp_path / "e.json").exists()
    # a notes file of the user's where the table would go is never overwritten; the command's own table is
    (tmp_path / "n.md").write_text("# my notes\n")
    assert _error(capsys, gen, gt, "--metrics", "l1", "-o", tmp_path / "n.json") == (
        f"error: '{tmp_path / 'n.md'}' (written beside --output '{tmp_path / 'n.json'}') already exists and was not "
        "written by magicpose: move it away or choose another --output\n"
    )
    assert (tmp_path / "n.md").read_text() == "# my notes\n" and not (tmp_path / "n.json").exists()
    monkeypatch.undo()
    for _ in range(2):
        assert main(["evaluate", str(gen), str(gt), "--metrics", "l1", "-o", str(tmp_path / "ok.json")]) == 0


def test_device_is_checked_even_without_a_network_metric(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gen, gt = _pair_of(tmp_path, 8, 8)
    out = tmp_path / "r.json"
    assert (
        _error(capsys, gen, gt, "--metrics", "l1", "--device", "bogus", "-o", out)
        == "error: --device 'bogus' is not a device: use cpu, cuda, cuda:N or mps\n"
    )
    assert (
        _error(capsys, gen, gt, "--metrics", "l1", "--device", "cuda:1", "-o", out)
        == f"error: --device cuda:1: this machine has no CUDA GPU that PyTorch can use (torch {torch.__version__}): use "
        "--device cpu\n"
    )
    assert (
        _error(capsys, gen, gt, "--metrics", "l1", "--device", "meta", "-o", out)
        == "error: --device 'meta' is not supported: use cpu, cuda, cuda:N or mps\n"
    )
    assert not out.exists()
    rc, _, _ = _run(capsys, gen, gt, "--metrics", "l1", "--device", "cpu", "-o", out)
    assert rc == 0 and out.exists()


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--batch-size", "0", "--batch-size 0 must be at least 1 (16 by default)"),
        ("--batch-size", "-3", "--batch-size -3 must be at least 1 (16 by default)"),
        (
            "--batch-size",
            "100000",
            "--batch-size 100000 is more than 256: use at most 256 (16 by default); one batch "
            "or clip is held in memory at once",
        ),
        ("--clip-length", "0", "--clip-length 0 must be at least 1 (16 by default)"),
        (
            "--clip-length",
            "5000",
            "--clip-length 5000 is more than 256: use at most 256 (16 by default); one batch "
            "or clip is held in memory at once",
        ),
        ("--clip-stride", "0", "--clip-stride 0 must be at least 1 (1 by default)"),
    ],
)
def test_numeric_options_are_checked_before_any_work(tmp_path, capsys, monkeypatch, flag, value, message):
    import magicpose.commands.evaluate as command

    monkeypatch.setattr(command, "Path", lambda *a: pytest.fail("a path was looked at"))
    assert _error(capsys, tmp_path / "absent", flag, value) == f"error: {message}\n"


def test_an_empty_generated_folder_is_called_empty(tmp_path, capsys):
    _, gt = _pair_of(tmp_path, 8, 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    fix = (
        "pass the folder holding the generated frames (`magicpose infer-dataset --output DIR` writes them to "
        "DIR/<video>/gen_images/)"
    )
    out = ("-o", tmp_path / "r.json")
    assert (
        _error(capsys, empty, gt, "--metrics", "l1", *out)
        == f"error: generated folder '{empty}' is empty: {fix}\n"
    )
    # without GT_DIR too: the folder is empty, not "not infer-dataset output" that wants a second argument
    assert (
        _error(capsys, empty, "--metrics", "l1", *out)
        == f"error: generated folder '{empty}' is empty: {fix}\n"
    )
    (empty / "notes.txt").write_text("x")
    assert _error(capsys, empty, "--metrics", "l1", *out) == (
        f"error: generated folder '{empty}' holds no frames (.png .jpg .jpeg .bmp .webp) and no video folders: "
        f"{fix}\n"
    )
    assert (
        _error(capsys, gt, tmp_path / "empty2", "--metrics", "l1", *out)
        == f"error: ground-truth folder '{tmp_path / 'empty2'}' does not exist: pass a folder of frames or of video "
        "folders\n"
    )
    (tmp_path / "empty2").mkdir()
    assert (
        _error(capsys, gt, tmp_path / "empty2", "--metrics", "l1", *out)
        == f"error: ground-truth folder '{tmp_path / 'empty2'}' is empty: pass the folder holding the ground-truth "
        "frames\n"
    )
    # infer-dataset output whose gen_images of one video is empty
    _write(tmp_path / "run" / "v" / "gt_images", [np.zeros((8, 8, 3), np.uint8)])
    (tmp_path / "run" / "v" / "gen_images").mkdir()
    assert _error(capsys, tmp_path / "run", "--metrics", "l1", *out) == (
        f"error: video 'v': the generated folder '{tmp_path / 'run' / 'v' / 'gen_images'}' holds no frames "
        "(.png .jpg .jpeg .bmp .webp): put the video's generated frames there, or evaluate folders without video "
        "'v'\n"
    )
    assert not (tmp_path / "r.json").exists()


class _Recorder:
    """A feature network that keeps every input it is given (one array per item) and returns simple features."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def __call__(self, x: Tensor) -> Tensor:
        self.inputs.extend(x.numpy())
        return torch.stack([x.mean(tuple(range(1, x.ndim))), x.std(tuple(range(1, x.ndim)))], 1)

    def holds(self, expected: np.ndarray) -> bool:
        return any(a.shape == expected.shape and np.array_equal(a, expected) for a in self.inputs)


def test_with_resize_the_networks_read_the_original_generated_frame(tmp_path):
    """--resize: per-frame metrics compare at the ground truth's size; FID, FID-VID and FVD resize each generated
    frame from the file itself, as DisCo (pytorch-fid and its clip loader read the files)."""
    gt = _video(0, 16)
    small = [np.asarray(Image.fromarray(f).resize((W // 2 + 3, H // 2))) for f in _noisy(gt, 0)]
    _write(tmp_path / "gt", gt)
    _write(tmp_path / "gen", small)
    recorders = {name: _Recorder() for name in ("fid", "fid_vid", "fvd")}
    pairs = pair_folders(tmp_path / "gen", tmp_path / "gt", resize=True)
    report = evaluate_videos(
        pairs, EvaluationOptions(metrics=("l1", "fid", "fid_vid", "fvd")), features=recorders, progress=False
    )
    resized = [cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in small]
    assert report["metrics"]["l1"] == pytest.approx(
        np.mean([np.abs(a.astype(float) - b).mean() / 255 for a, b in zip(resized, gt)]), rel=1e-12
    )
    for original, wrong in zip(small, resized):
        assert recorders["fid"].holds(pytorch_fid_input(original))
        assert not recorders["fid"].holds(pytorch_fid_input(wrong))
    first_clip = {
        name: np.stack([prepare(f) for f in small], axis=1)
        for name, prepare in (("fid_vid", fid_vid_frame), ("fvd", fvd_frame))
    }
    for name, clip in first_clip.items():
        assert recorders[name].holds(clip), name
        assert not recorders[name].holds(
            np.stack([fvd_frame(f) if name == "fvd" else fid_vid_frame(f) for f in resized], axis=1)
        ), name
    assert len(recorders["fid"].inputs) == 32 and len(recorders["fvd"].inputs) == 2  # both sides


def test_clips_are_raw_frames_by_default_and_gif_is_an_option(tmp_path, capsys):
    frames = _video(0, 16)
    _write(tmp_path / "gen", frames)
    _write(tmp_path / "gt", frames)
    pairs = pair_folders(tmp_path / "gen", tmp_path / "gt")
    raw_clip = np.stack([fvd_frame(f) for f in frames], axis=1)
    gif_clip = np.stack([fvd_frame(gif_round_trip(f)) for f in frames], axis=1)
    assert not np.array_equal(raw_clip, gif_clip)  # these frames have more colours than a palette holds
    for options, expected in (
        (EvaluationOptions(metrics=("fvd",)), raw_clip),
        (EvaluationOptions(metrics=("fvd",), gif=True), gif_clip),
    ):
        recorder = _Recorder()
        report = evaluate_videos(pairs, options, features={"fvd": recorder}, progress=False)
        assert len(recorder.inputs) == 2 and all(np.array_equal(x, expected) for x in recorder.inputs)
        assert ("GIF palette" in report["protocol"]["fvd"]) == options.gif
    # the command: raw frames by default, --gif for the palette, --no-gif still accepted (a no-op now)
    for flags, palette in (
        ((), False),
        (("--gif",), True),
        (("--no-gif",), False),
        (("--gif", "--no-gif"), False),
    ):
        rc, _, err = _run(
            capsys, tmp_path / "gen", tmp_path / "gt", "--metrics", "fvd", "-o", tmp_path / "r.json", *flags
        )
        assert rc == 0, err
        protocol = json.loads((tmp_path / "r.json").read_text())["protocol"]["fvd"]
        assert ("GIF palette" in protocol) == palette and ("raw frames" in protocol) != palette, flags


def _random_fid_inception(path) -> None:
    """pytorch-fid's file layout with random weights whose activations stay O(1) (He-scaled convolutions)."""
    torch.manual_seed(0)
    model = FIDInceptionV3()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    torch.save(model.state_dict(), path)


def _pytorch_fid_features(paths, model) -> np.ndarray:
    """pytorch-fid's get_activations, written out: PIL RGB, ToTensor, one batch, bilinear resize to 299 and
    2x - 1 in the model, float32 features stored into a float64 array."""
    batch = torch.stack(
        [
            torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
            for p in paths
        ]
    )
    x = 2 * torch.nn.functional.interpolate(batch, size=(299, 299), mode="bilinear", align_corners=False) - 1
    with torch.no_grad():
        act = np.empty((len(paths), 2048))
        act[:] = model(x).numpy()
    return act


def _sample_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance of two small samples (n < D) without a D x D square root: with centred rows A and B,
    the nonzero eigenvalues of S1 S2 are the squared singular values of A B^T / (n - 1), so
    Tr (S1 S2)^(1/2) is the sum of those singular values (an independent route to pytorch-fid's number)."""
    ca, cb = a - a.mean(0), b - b.mean(0)
    n = len(a)
    tr_covmean = np.linalg.svd(ca @ cb.T / (n - 1), compute_uv=False).sum()
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + (ca**2).sum() / (n - 1) + (cb**2).sum() / (n - 1) - 2 * tr_covmean)


def test_fid_protocol_picks_the_network_and_the_resize(tmp_path, weights, capsys, monkeypatch):
    """pytorch-fid (the default) and clean-fid, each against an independent computation of that protocol."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert EvaluationOptions().fid_protocol == "pytorch-fid"
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("inception-2015-12-05.pt", "i3d_torchscript.pt"):
        (folder / name).write_bytes((weights / name).read_bytes())
    _random_fid_inception(folder / "pt_inception-2015-12-05-6726825d.pth")
    gt = _video(0, 3)
    _write(tmp_path / "gen", _noisy(gt, 0))
    _write(tmp_path / "gt", gt)
    got = {}
    for protocol in ("pytorch-fid", "clean-fid"):
        flags = ("--fid-protocol", protocol) if protocol == "clean-fid" else ()  # pytorch-fid: the default
        rc, _, err = _run(
            capsys,
            tmp_path / "gen",
            tmp_path / "gt",
            "--metrics",
            "fid",
            "--eval-weights",
            folder,
            "-o",
            tmp_path / "r.json",
            *flags,
        )
        assert rc == 0, err
        report = json.loads((tmp_path / "r.json").read_text())
        got[protocol] = report["metrics"]["fid"]
        assert f"{protocol}'s protocol" in report["protocol"]["fid"]

    paths = {side: sorted((tmp_path / side).glob("*.png")) for side in ("gen", "gt")}
    model = load_fid_inception(folder / "pt_inception-2015-12-05-6726825d.pth")
    expected = _sample_frechet(
        _pytorch_fid_features(paths["gen"], model), _pytorch_fid_features(paths["gt"], model)
    )
    assert got["pytorch-fid"] == pytest.approx(expected, rel=1e-5) and expected > 1e-3

    script = torch.jit.load(str(folder / "inception-2015-12-05.pt"))

    def clean_features(files):
        x = torch.from_numpy(
            np.stack([clean_fid_input(np.asarray(Image.open(p).convert("RGB"))) for p in files])
        )
        return script(x, return_features=True).detach().double().numpy()

    expected_clean = _sample_frechet(clean_features(paths["gen"]), clean_features(paths["gt"]))
    assert got["clean-fid"] == pytest.approx(expected_clean, rel=1e-5)
    assert abs(got["clean-fid"] - got["pytorch-fid"]) > 1e-3 * got["pytorch-fid"]  # other numbers


def test_fid_network_file_refusals_name_the_flag(tmp_path, weights, capsys, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    gen, gt = _pair_of(tmp_path, 8, 8)
    out = ("-o", tmp_path / "r.json", "--metrics", "fid")
    script = weights / "inception-2015-12-05.pt"
    err = _error(capsys, gen, gt, "--pytorch-fid-inception", script, *out)
    assert f"'{script}' is a TorchScript file" in err and "--inception with --fid-protocol clean-fid" in err
    truncated = tmp_path / "pt_inception.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    assert f"cannot read '{truncated}'" in _error(capsys, gen, gt, "--pytorch-fid-inception", truncated, *out)
    state_dict = tmp_path / "state.pth"
    torch.save({"w": torch.zeros(1)}, state_dict)
    err = _error(capsys, gen, gt, "--inception", state_dict, "--fid-protocol", "clean-fid", *out)
    assert "is not a TorchScript file" in err and "goes to --pytorch-fid-inception" in err
    other_script = tmp_path / "other.pt"
    (other_script).write_bytes((weights / "i3d_torchscript.pt").read_bytes())
    err = _error(capsys, gen, gt, "--inception", other_script, "--fid-protocol", "clean-fid", *out)
    assert err == (
        f"error: '{other_script}' has no 'layers' module: --inception takes clean-fid's FID Inception-v3 "
        "TorchScript (inception-2015-12-05.pt, StyleGAN2-ADA's file that clean-fid uses)\n"
    )
    assert "--pytorch-fid-inception" in _error(
        capsys, gen, gt, "--pytorch-fid-inception", tmp_path / "no.pth", *out
    )
    # the TorchScript alone, under the default protocol: FID skipped, and the reason names both ways out
    rc, _, _ = _run(capsys, gen, gt, "--inception", script, *out)
    reason = json.loads((tmp_path / "r.json").read_text())["skipped"]["fid"]
    assert rc == 0 and "--pytorch-fid-inception" in reason and "--fid-protocol clean-fid" in reason


class TinyEmbedder(nn.Module):
    """Mean colour of each third of the frame's height: 9 numbers a person's clothing changes."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([part.mean(dim=(2, 3)) for part in x.chunk(3, dim=2)], 1).flatten(1)


def test_aed_is_the_mean_squared_distance_of_identity_embeddings(tmp_path, capsys):
    from magicpose.eval.identity import identity_input

    embedder = tmp_path / "reid_embedder.pt"
    torch.jit.script(TinyEmbedder()).save(str(embedder))
    videos = _dataset_output(tmp_path / "out")
    rc, _, _ = _run(
        capsys, str(tmp_path / "out"), "--metrics", "l1,aed", "--identity-embedder", str(embedder)
    )
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    net = TinyEmbedder()
    expected = np.mean(
        [
            float(
                (
                    (
                        net(torch.from_numpy(identity_input(a))[None])
                        - net(torch.from_numpy(identity_input(b))[None])
                    )
                    ** 2
                ).sum()
            )
            for gen, gt in videos.values()
            for a, b in zip(gen, gt, strict=True)
        ]
    )
    assert rc == 0 and report["skipped"] == {}
    assert report["metrics"]["aed"] == pytest.approx(expected, rel=1e-6) and expected > 0
    assert "Σ(Δ²)" in report["protocol"]["aed"]
