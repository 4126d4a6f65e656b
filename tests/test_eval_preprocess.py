import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from magicpose.eval.preprocess import (
    ACTIVITYNET_MEAN,
    ClipWindows,
    clean_fid_input,
    clip_count,
    fid_vid_frame,
    fvd_frame,
    gif_round_trip,
    pytorch_fid_input,
    resize_clean,
)


def _video(n: int) -> list[np.ndarray]:
    return [np.full((1, 2, 2), k, np.float32) for k in range(n)]  # frame k holds the value k


@pytest.mark.parametrize("n, length, stride", [(20, 16, 1), (20, 16, 3), (16, 16, 1), (15, 16, 1), (9, 4, 2)])
def test_clip_windows_are_every_full_window(n, length, stride):
    windows = ClipWindows(length, stride)
    clips = [clip for frame in _video(n) for clip in windows.push(frame)]
    starts = list(range(0, n - length + 1, stride))
    assert len(clips) == len(starts) == clip_count(n, length, stride)
    for clip, start in zip(clips, starts):
        assert clip.shape == (1, length, 2, 2)  # (C, T, H, W)
        assert clip[0, :, 0, 0].tolist() == list(range(start, start + length))


def test_clips_never_span_two_videos():
    windows = ClipWindows(4, 1)
    first = [c for f in _video(5) for c in windows.push(f)]
    windows.reset()
    second = [c for f in _video(3) for c in windows.push(f + 100)]
    assert len(first) == 2 and second == []


def test_gif_round_trip_equals_a_frame_of_the_papers_16_frame_gif(tmp_path):
    imageio = pytest.importorskip("imageio")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:56]
    frames = []
    for k in range(16):
        frame = np.stack([(x * 4 + k * 7) % 256, (y * 5 + k * 3) % 256, ((x + y) * 2 + k * 11) % 256], -1)
        frame = frame.astype(np.uint8)
        frame[5:15, 5:25] = rng.integers(0, 256, (10, 20, 3))  # more than 256 colours: the palette quantises
        frames.append(frame)
    path = tmp_path / "clip.gif"
    imageio.mimsave(path, frames, duration=1000 / 3)  # as DisCo's gen_gifs_for_fvd.py writes a clip, 3 fps
    with Image.open(path) as gif:
        for k, frame in enumerate(frames):
            gif.seek(k)
            decoded = np.asarray(gif.convert("RGB"))
            np.testing.assert_array_equal(gif_round_trip(frame), decoded)
    assert not np.array_equal(gif_round_trip(frames[0]), frames[0])  # the round trip does change pixels


def test_gif_round_trip_keeps_a_frame_of_few_colours():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[2:5, 2:5] = (200, 10, 30)
    np.testing.assert_array_equal(gif_round_trip(frame), frame)


def test_network_inputs_follow_the_protocol():
    frame = np.full((30, 50, 3), 200, np.uint8)
    frame[..., 1] = 20
    assert clean_fid_input(frame).shape == pytorch_fid_input(frame).shape == (3, 299, 299)
    np.testing.assert_allclose(
        clean_fid_input(frame)[:, 100, 100], [200, 20, 200], atol=1e-3
    )  # 0-255, stretched
    np.testing.assert_allclose(
        pytorch_fid_input(frame)[:, 100, 100], np.array([200, 20, 200]) / 255 * 2 - 1, atol=1e-6
    )  # [-1, 1]
    # Hara's ActivityNet mean, not his Kinetics one ([110.63666788, 103.16065604, 96.29023126])
    assert ACTIVITYNET_MEAN.tolist() == [114.7748, 107.7354, 99.4750]
    np.testing.assert_allclose(
        fid_vid_frame(frame)[:, 5, 5], [200 - 114.7748, 20 - 107.7354, 200 - 99.4750], atol=1e-4
    )
    np.testing.assert_allclose(fvd_frame(frame)[:, 5, 5], np.array([200, 20, 200]) / 127.5 - 1, atol=1e-5)
    assert fid_vid_frame(frame).shape == (3, 112, 112) and fvd_frame(frame).shape == (3, 224, 224)
    assert fid_vid_frame(frame).dtype == fvd_frame(frame).dtype == np.float32


def _disco_resize(x: np.ndarray, size: int) -> np.ndarray:
    """DisCo's tool/metrics/resize.py make_resizer("PIL", False, "bicubic", (size, size)), written out: each
    channel resized as a PIL 'F' image, stacked, no clipping, no quantisation."""
    channels = [
        np.asarray(
            Image.fromarray(x[:, :, c].astype(np.float32), mode="F").resize((size, size), Image.BICUBIC)
        )
        for c in range(3)
    ]
    return np.stack(channels, axis=2).astype(np.float32)


def _sharp_edges(h: int = 37, w: int = 53) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, w // 3 :] = 255  # black/white edges: bicubic overshoots on both sides
    frame[h // 2 :, :, 1] = 255
    frame[::5, ::7, 2] = 255
    return frame


def test_clean_resize_is_unclipped_unquantised_float_bicubic_as_disco():
    frame = _sharp_edges()
    for size in (7, 112, 224, 299):
        out = resize_clean(frame, size)
        assert out.dtype == np.float32 and out.shape == (size, size, 3)
        np.testing.assert_array_equal(out, _disco_resize(frame, size))
    out = resize_clean(frame, 112)
    assert out.min() < -1 and out.max() > 256  # the overshoot is kept, as DisCo keeps it
    assert np.any(np.abs(out - np.round(out)) > 1e-3)  # fractions kept: not re-quantised
    clipped = resize_clean(frame, 112, clip=True)  # this package's old protocol, for comparison only
    np.testing.assert_array_equal(clipped, np.clip(out, 0, 255))
    # the network inputs carry the unclipped values
    np.testing.assert_array_equal(fvd_frame(frame), (resize_clean(frame, 224) / 127.5 - 1).transpose(2, 0, 1))
    np.testing.assert_array_equal(clean_fid_input(frame), resize_clean(frame, 299).transpose(2, 0, 1))


def test_fid_vid_frame_subtracts_the_mean_as_disco():
    """DisCo: torch float32 clip minus a float64 mean tensor (promoted to float64), then .float()."""
    frame = _sharp_edges()
    video = torch.as_tensor(_disco_resize(frame, 112)[None]).float()
    expected = (video - torch.as_tensor(np.array([114.7748, 107.7354, 99.4750]))).float()
    np.testing.assert_array_equal(fid_vid_frame(frame), expected[0].permute(2, 0, 1).numpy())


def test_pytorch_fid_input_equals_pytorch_fids_preprocessing(tmp_path):
    """pytorch-fid, written out: Image.open(path).convert('RGB'), torchvision's ToTensor (HWC uint8 -> CHW
    float / 255), a DataLoader batch, then in its InceptionV3 (resize_input, normalize_input)
    F.interpolate(size=(299, 299), mode='bilinear', align_corners=False) and 2 x - 1."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 48, 3), dtype=np.uint8) for _ in range(3)]
    frames[1] = _sharp_edges(64, 48)
    paths = []
    for k, frame in enumerate(frames):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(frame).save(paths[-1])
    to_tensor = lambda img: torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous().float().div(255)  # noqa: E731
    batch = torch.stack([to_tensor(Image.open(p).convert("RGB")) for p in paths])
    expected = 2 * F.interpolate(batch, size=(299, 299), mode="bilinear", align_corners=False) - 1
    ours = np.stack([pytorch_fid_input(np.asarray(Image.open(p).convert("RGB"))) for p in paths])
    assert ours.dtype == np.float32 and ours.shape == (3, 3, 299, 299)
    np.testing.assert_array_equal(ours, expected.numpy())  # one frame at a time equals the batch
    assert ours.min() >= -1 and ours.max() <= 1  # bilinear never overshoots
    # not the clean-fid input: another resize, another scale
    clean = np.stack([clean_fid_input(f) for f in frames]) / 127.5 - 1
    assert np.abs(clean - ours).max() > 0.1
